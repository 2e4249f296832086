# Two commands do all set-up on a fresh machine:
#   make demo   index sample_vault/ and show what was found
#   make test   run the test suite
# Both create or refresh the virtual environment at .venv/ from the pinned requirements.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-smoke clean

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vaultmind index sample_vault
	$(BIN)/vaultmind doctor sample_vault
	$(BIN)/vaultmind note sample_vault 00_index

test: $(STAMP)
	$(BIN)/python -m pytest -q

$(VENV)/.bench-installed: $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench-installed     ## 10k-note indexing benchmark (~6 min, mostly obsidiantools)
	$(BIN)/python -m benchmarks.run_index --notes 10000 --repeat 3

bench-smoke: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.run_index --notes 200 --skip-obsidiantools

clean:
	rm -rf $(VENV) sample_vault/.vaultmind
