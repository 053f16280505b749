# The two entry points a new user needs: `make study` and `make test`.
# Both set up a virtual environment in .venv first (pinned by requirements.lock).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= report
UV_VERSION := 0.13.9

.PHONY: setup study test lint install-smoke clean-cache

setup: $(VENV)/.installed

# uv installs the locked set (PyTorch's CUDA build and its libraries, ~6 GB) in about
# 35 s where pip takes about 90 s: it downloads and unpacks in parallel. It compiles
# bytecode as pip does, or every worker process would recompile torch and scikit-learn
# where PYTHONDONTWRITEBYTECODE is set. pip is the fallback if uv cannot be installed;
# both read the same lock. Importing umap once compiles and caches its nearest-neighbour
# library's numba code in the venv (about 13 s): done at setup, like the bytecode, not in
# the first command that draws a UMAP map.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	( $(BIN)/python -m pip install --quiet uv==$(UV_VERSION) && \
	  $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock -e '.[dev]' ) || \
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	$(BIN)/python -c 'import umap'
	touch $@

# The main job: the paper's study on the shipped data and the shipped checkpoints, as
# cached stages (a rerun skips what is done), written to $(OUT)/index.html and
# $(OUT)/results.json. RETRAIN=1 trains all four encoders from scratch first.
study: setup
	$(BIN)/radiolatent reproduce --out $(OUT) $(if $(RETRAIN),--retrain)

test: setup
	$(BIN)/python -m pytest -q

# ruff (rules and formatting) and mypy, configured in pyproject.toml; see .ci/lint.
lint: setup
	BIN=$(BIN) .ci/lint

# `pip install .` of the last commit into a fresh venv, newest allowed versions, no lock;
# a smoke test (see .ci/install-smoke). Not part of CI: it tests the ranges, not the lock.
install-smoke:
	.ci/install-smoke

clean-cache:
	rm -rf $${RADIOLATENT_CACHE:-$$HOME/.cache/radiolatent}
