"""The Python face of radiolatent: the command line's verbs as plain functions.

Every function here takes what a notebook has at hand (dataset specs as the CLI writes
them, paths, DataFrames) and returns pandas, numpy or astropy-readable objects, with the
same defaults as the command of the same name. These names are the stable, public API
(`radiolatent.__all__`); everything in the subpackages is internal and may move. Examples
run from the repository root; `tests/test_api.py` runs every one.

Codes tables are DataFrames (the metadata columns, `set`, `model`, `z000`...); a function
that takes `codes` accepts such a DataFrame or the path of a parquet file `embed` wrote.
"""

from radiolatent.api.classifiers import finetune, predict_images
from radiolatent.api.tables import (
    code_columns,
    codes_table,
    embed,
    load,
    model_names,
    read_codes,
    write_catalogue,
    write_codes,
)
from radiolatent.api.tasks import classify, density, duplicates, predict, search, study

__all__ = [
    "classify",
    "code_columns",
    "codes_table",
    "density",
    "duplicates",
    "embed",
    "finetune",
    "load",
    "model_names",
    "predict",
    "predict_images",
    "read_codes",
    "search",
    "study",
    "write_catalogue",
    "write_codes",
]
