# The two entry points a new user needs: `make study` and `make test`.
# Both set up a virtual environment in .venv first (pinned by requirements.lock).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= study

.PHONY: setup study test clean-cache

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# The main job on the shipped data; writes everything under $(OUT)/.
study: setup
	$(BIN)/radiolatent data list
	$(BIN)/radiolatent data pool
	$(BIN)/radiolatent data las -o $(OUT)/las_validation.png
	for spec in mbc:train mbc:test mirabest:uncertain mirabest:hybrid frdeep-n:train frdeep-f:train first-galaxy:all:train; do \
		$(BIN)/radiolatent data show $$spec -n 24 -o $(OUT)/data/$$(echo $$spec | tr ':' '_').png || exit 1; \
	done

test: setup
	$(BIN)/python -m pytest -q

clean-cache:
	rm -rf $${RADIOLATENT_CACHE:-$$HOME/.cache/radiolatent}
