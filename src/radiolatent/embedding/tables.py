"""Codes tables: every spec's rows encoded by one model, with where their inputs are kept."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from radiolatent.config import DEFAULT_POOL, EmbedConfig, PoolConfig
from radiolatent.data.inputs import IMAGE_ROW_COLUMN, IMAGES_COLUMN, keep_inputs, set_input, set_name
from radiolatent.embedding.encoders import Encoder, get_encoder
from radiolatent.embedding.views import DIHEDRAL_SUFFIX, encode_images, encode_orientations

if TYPE_CHECKING:
    from radiolatent.data.image_file import Cutout


def model_id(encoder: Encoder, config: EmbedConfig) -> str:
    return encoder.name + (DIHEDRAL_SUFFIX if config.dihedral_average else "")


def embed_file(
    path: str | Path,
    encoder: Encoder,
    pixel_scale_arcsec: float,
    config: EmbedConfig,
    pool_config: PoolConfig = DEFAULT_POOL,
) -> tuple[np.ndarray, np.ndarray]:
    """An image file (FITS, PNG, JPEG, .npy) as model input and its code, (64, 64) and (d,)."""
    from radiolatent.data.image_file import read_cutout

    return embed_cutout(read_cutout(Path(path)), encoder, pixel_scale_arcsec, config, pool_config)


def embed_cutout(
    cutout: Cutout,
    encoder: Encoder,
    pixel_scale_arcsec: float,
    config: EmbedConfig,
    pool_config: PoolConfig = DEFAULT_POOL,
) -> tuple[np.ndarray, np.ndarray]:
    """`embed_file` for a cutout already read (`data.image_file.read_cutout`); its own pixel
    scale wins over `pixel_scale_arcsec`."""
    from radiolatent.data.preprocess import preprocess

    scale = cutout.pixel_scale_arcsec if np.isfinite(cutout.pixel_scale_arcsec) else pixel_scale_arcsec
    image = preprocess(cutout.image[None], scale, pool_config.preprocess)
    return image[0], encode_images(encoder, image, config)[0]


def embed(
    model: str | None,
    specs: list[str],
    config: EmbedConfig | None = None,
    pool_config: PoolConfig = DEFAULT_POOL,
    progress: bool = True,
    upright: dict[bytes, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One codes table holding every spec's rows, encoded by `model`. Specs naming the
    same set ('first-galaxy' and 'first-galaxy:all', 'mbc' and 'mirabest:confident') give
    its rows once.

    `upright`: single-pass codes of this model by `image_key`, read and filled in. Codes
    averaged over orientations add each new image's upright view's codes (computed on the
    way); single-pass codes found there are not computed again. So a single-pass table
    after an 8-view one of the same sets, in the same order, costs only its other sets,
    and its codes are those it would have computed itself."""
    from radiolatent.data.codes import make_codes_table

    config = config or EmbedConfig()
    torch.set_num_threads(config.threads)
    encoder = get_encoder(model, config, pool_config)
    by_set: dict[str, str] = {}
    for spec in specs:
        by_set.setdefault(set_name(spec), spec)
    tables: list[pd.DataFrame] = []
    upright = {} if upright is None else upright
    seen: dict[bytes, np.ndarray] = {} if config.dihedral_average else upright
    for name, spec in by_set.items():  # the bar and the time estimate count images (`batched`)
        ds, pool_path = set_input(spec, pool_config)
        codes = encode_once(encoder, ds.images, config, seen, progress, upright)
        table = make_codes_table(ds.meta, codes, name, model_id(encoder, config))
        kept = keep_inputs(ds.images, pool_path)
        if kept is not None:
            after_model = list(table.columns).index("model") + 1
            table.insert(after_model, IMAGES_COLUMN, str(kept))
            table.insert(after_model + 1, IMAGE_ROW_COLUMN, np.arange(len(table)))
        tables.append(table)
    if len({IMAGES_COLUMN in t.columns for t in tables}) > 1:  # some sets kept, some not: rebuild all
        tables = [t.drop(columns=[IMAGES_COLUMN, IMAGE_ROW_COLUMN], errors="ignore") for t in tables]
    return pd.concat(tables, ignore_index=True)


#: the length of an `image_key`.
KEY_BYTES = 16


def image_key(image: np.ndarray) -> bytes:
    """An image's bytes digest: the key of its codes in `encode_once`'s maps."""
    return hashlib.blake2b(image.tobytes(), digest_size=KEY_BYTES).digest()


def encode_once(
    encoder: Encoder,
    images: np.ndarray,
    config: EmbedConfig,
    seen: dict[bytes, np.ndarray],
    progress: bool = False,
    upright: dict[bytes, np.ndarray] | None = None,
) -> np.ndarray:
    """`encode_images`, encoding each distinct image only once: `seen` maps an image's
    `image_key` to its code and is filled in (sets overlap, e.g. the pool and first-galaxy).
    Averaged over orientations, `upright` (if given) is filled with the new images' upright
    views' codes."""
    keys = [image_key(image) for image in images]
    new = {key: row for row, key in enumerate(keys) if key not in seen}
    if new:
        codes = encode_orientations(encoder, images[list(new.values())], config, progress)
        seen.update(zip(new, codes.mean))
        if upright is not None and upright is not seen:
            upright.update(zip(new, codes.upright))
    return np.stack([seen[key] for key in keys]) if keys else encode_images(encoder, images, config)


def save_codes_by_image(codes: dict[bytes, np.ndarray], path: str | Path) -> Path:
    """Write codes keyed by `image_key` (an `embed(upright=...)` map) as .npz, atomically."""
    from radiolatent.core.fileio import atomic_path

    keys = np.frombuffer(b"".join(codes), np.uint8).reshape(len(codes), KEY_BYTES)
    values = np.stack(list(codes.values())) if codes else np.zeros((0, 0), np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        np.savez(file, keys=keys, codes=values)
    return Path(path)


def load_codes_by_image(path: str | Path) -> dict[bytes, np.ndarray]:
    """`save_codes_by_image`'s map (arrays only: nothing is unpickled)."""
    with np.load(path, allow_pickle=False) as saved:
        return {key.tobytes(): code for key, code in zip(saved["keys"], saved["codes"])}
