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

# The main job on the shipped data; writes everything under $(OUT)/: dataset pictures,
# the pool, codes from the shipped VDVAE and both no-learning floors, and the paper's
# Table 2 for MBC and FR-DEEP NVSS with ours beside the published numbers.
study: setup
	$(BIN)/radiolatent data list
	$(BIN)/radiolatent data pool
	$(BIN)/radiolatent data las -o $(OUT)/las_validation.png
	for spec in mbc:train mbc:test mirabest:uncertain mirabest:hybrid frdeep-n:train frdeep-f:train first-galaxy:all:train; do \
		$(BIN)/radiolatent data show $$spec -n 24 -o $(OUT)/data/$$(echo $$spec | tr ':' '_').png || exit 1; \
	done
	$(BIN)/radiolatent embed --data mbc,frdeep-n,pool --out $(OUT)/codes/vdvae.parquet
	$(BIN)/radiolatent embed --model pixels-pca --data mbc,frdeep-n --out $(OUT)/codes/pixels-pca.parquet
	$(BIN)/radiolatent embed --model random-conv --data mbc,frdeep-n --out $(OUT)/codes/random-conv.parquet
	for d in mbc nvss; do \
		$(BIN)/radiolatent classify --codes $(OUT)/codes/vdvae.parquet --codes $(OUT)/codes/pixels-pca.parquet \
			--codes $(OUT)/codes/random-conv.parquet --train $$d:train --test $$d:test --seeds 3 \
			--out $(OUT)/table2_$$d.csv > $(OUT)/table2_$$d.md || exit 1; \
		tail -n 6 $(OUT)/table2_$$d.md; \
	done
	$(BIN)/radiolatent reconstruct --model src/radiolatent/weights/vdvae-cpu -n 8 -o $(OUT)/reconstructions.png
	$(BIN)/radiolatent generate --model src/radiolatent/weights/vdvae-cpu -o $(OUT)/samples.png

test: setup
	$(BIN)/python -m pytest -q

clean-cache:
	rm -rf $${RADIOLATENT_CACHE:-$$HOME/.cache/radiolatent}
