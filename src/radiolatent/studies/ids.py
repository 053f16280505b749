"""Typed names for the study's stages and for where an encoder's weights come from.

A stage's folder name (`stages/<name>/`, the keys of results.json) is `str(StageId)`, and
`StageId.parse` reads one back, so no module builds a name with an f-string or takes one
apart with `startswith`. Importing it imports nothing heavy (the report reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

#: the stages made once per encoder; the others have one fixed name each (below).
EncoderStage = Literal["train", "embed", "table2", "protocols"]
ENCODER_STAGES: tuple[EncoderStage, ...] = get_args(EncoderStage)
#: the suffixes of an encoder stage's name: its single-pass codes; its distilled encoder.
SINGLE = "-single"
DISTIL = "-distil"

POOL = "pool"
ENCODER_MAPS = "maps-encoders"
GENERATIVE = "generative"
MAPS = "maps"
SEARCH = "search"
DENSITY = "density"
ANOMALY = "anomaly"
SUPERVISED = "supervised"


@dataclass(frozen=True)
class StageId:
    """A per-encoder stage: `kind` of `encoder`; `single` for its single-pass codes (and
    their Table 2), `distil` for the training of its distilled single-pass encoder."""

    kind: EncoderStage
    encoder: str
    single: bool = False
    distil: bool = False

    def __str__(self) -> str:
        return f"{self.kind}-{self.encoder}" + (DISTIL if self.distil else "") + (SINGLE if self.single else "")

    @classmethod
    def parse(cls, name: str) -> StageId | None:
        """The id of a per-encoder stage's name, or None for any other stage."""
        kind, _, rest = name.partition("-")
        if kind not in ENCODER_STAGES or not rest:
            return None
        single, rest = rest.endswith(SINGLE), rest.removesuffix(SINGLE)
        distil, rest = rest.endswith(DISTIL), rest.removesuffix(DISTIL)
        return cls(kind, rest, single, distil)  # type: ignore[arg-type]  # checked against ENCODER_STAGES


@dataclass(frozen=True)
class ModelSource:
    """Where an encoder's weights come from: exactly one of a no-learning floor's name, a
    model folder (shipped), or a training stage of this study."""

    floor: str | None = None
    folder: Path | None = None
    stage: StageId | None = None

    @property
    def needs(self) -> tuple[str, ...]:
        """The stage that must run first: the training stage, if that is the source."""
        return (str(self.stage),) if self.stage else ()

    def key(self) -> str:
        """What identifies the weights in a stage's cache key (a folder: see `fingerprint`)."""
        return self.floor or str(self.stage or self.folder)
