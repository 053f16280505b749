"""radiolatent: latent-space representations of radio galaxy images.

The names below are the public Python API (docs/api.md): the command line's verbs as plain
functions that take specs, paths and DataFrames and return pandas objects. Everything in
the subpackages is internal and may move between releases.
"""

from radiolatent.api import (
    classify,
    code_columns,
    codes_table,
    density,
    duplicates,
    embed,
    load,
    model_names,
    predict,
    read_codes,
    search,
    study,
    write_catalogue,
    write_codes,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "classify",
    "code_columns",
    "codes_table",
    "density",
    "duplicates",
    "embed",
    "load",
    "model_names",
    "predict",
    "read_codes",
    "search",
    "study",
    "write_catalogue",
    "write_codes",
]
