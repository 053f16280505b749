"""The bottom layer, which imports nothing else of radiolatent: the one error type for bad
input (`errors`), safe writes (`fileio`), processes and devices under torchrun
(`distributed`) and worker processes that end with their parent (`workers`)."""

__version__ = "0.1.0"
