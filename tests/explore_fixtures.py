"""A small real codes table for the explorer tests: the shipped VDVAE's codes of MBC test.

Built once per test session (~10 s) and shared by test_explore_api.py and
test_explore_e2e.py; each test writes it into its own folder, so map caches and label
stores never leak between tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from radiolatent.config import ActiveLearningConfig

#: the set embedded: 104 real MiraBest sources with labels, LAS and positions.
SPEC = "mbc:test"
#: fewer isolation-forest trees than the default 300: the tests check wiring, not the forest.
FAST_ACTIVE = ActiveLearningConfig(iforest_estimators=20, n_restarts=0)


@functools.lru_cache(maxsize=1)
def mbc_test_codes() -> pd.DataFrame:
    """One pass of the shipped encoder (model id `vdvae-cpu`): the 8-orientation average
    would cost 8 passes, and a dropped file is then embedded the same single-pass way."""
    from radiolatent.config import EmbedConfig
    from radiolatent.embedding import embed

    return embed(None, [SPEC], EmbedConfig(dihedral_average=False), progress=False)


def write_mbc_codes(folder: Path) -> Path:
    """The shared table as `folder/codes.parquet`."""
    from radiolatent.codes import write_codes

    return write_codes(mbc_test_codes(), Path(folder) / "codes.parquet")
