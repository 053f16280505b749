"""radiolatent: latent-space representations of radio galaxy images.

The names below are the public Python API (docs/api.md): the command line's verbs as plain
functions that take specs, paths and DataFrames and return pandas objects. Everything in
the subpackages is internal and may move between releases.
"""

from radiolatent import api
from radiolatent.api import *  # noqa: F403 (the public API is api.__all__)
from radiolatent.core import __version__

__all__ = ["__version__", *api.__all__]
