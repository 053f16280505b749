"""Turn images into codes tables with any encoder: a trained model or a no-learning floor.

- `floors`: the no-learning floors `pixels-pca` and `random-conv`;
- `encoders`: encoders by name (floors, trained runs, shipped checkpoints: `models.shipped`) and the one
  that made a given table;
- `views`: batches, and the average over an image's 8 flips and quarter turns (with the
  upright view's own codes, the single-pass ones, on the way);
- `progress`: the time estimate printed before a long run;
- `tables`: `embed`, the codes table of every spec's rows, each image encoded once.
"""

from radiolatent.data.orientations import DIHEDRAL_ORDER, dihedral_views
from radiolatent.embedding.encoders import (
    VDVAE_CPU_BATCH,
    SSLEncoder,
    VDVAEEncoder,
    checked_encoder_for_table,
    encoder_for_table,
    get_encoder,
    load_encoder,
    table_embed_config,
    table_model,
)
from radiolatent.embedding.floors import FLOORS, PixelsPCA, RandomConv
from radiolatent.embedding.progress import time_estimate
from radiolatent.embedding.tables import (
    embed,
    embed_cutout,
    embed_file,
    encode_once,
    image_key,
    load_codes_by_image,
    model_id,
    save_codes_by_image,
)
from radiolatent.embedding.views import (
    DIHEDRAL_SUFFIX,
    VIEW_CHUNK,
    Encoder,
    ViewCodes,
    batched,
    batched_views,
    encode_images,
    encode_orientations,
)

__all__ = [
    "DIHEDRAL_ORDER",
    "DIHEDRAL_SUFFIX",
    "FLOORS",
    "VDVAE_CPU_BATCH",
    "VIEW_CHUNK",
    "Encoder",
    "PixelsPCA",
    "RandomConv",
    "SSLEncoder",
    "VDVAEEncoder",
    "ViewCodes",
    "batched",
    "batched_views",
    "checked_encoder_for_table",
    "dihedral_views",
    "embed",
    "embed_cutout",
    "embed_file",
    "encode_images",
    "encode_once",
    "encode_orientations",
    "encoder_for_table",
    "get_encoder",
    "image_key",
    "load_codes_by_image",
    "load_encoder",
    "model_id",
    "save_codes_by_image",
    "table_embed_config",
    "table_model",
    "time_estimate",
]
