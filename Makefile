# Two commands do all set-up on a fresh machine:
#   make app    index sample_vault/ (with progress) and serve the app at http://127.0.0.1:8501
#   make test   run the test suite
# Both create or refresh the virtual environment at .venv/ from the pinned requirements.
# make demo is the terminal tour: search, scenes, blind spots and chips printed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed


.PHONY: app demo test test-fast bench bench-smoke fusion clean

# torch first and pinned: a CPU build, so nothing later pulls a multi-GB CUDA build instead.
$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$$(grep '^torch==' requirements.txt)"
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

app: $(STAMP)          ## index sample_vault/ and serve the app at http://127.0.0.1:8501 (Ctrl-C stops it)
	HF_HUB_OFFLINE=1 $(BIN)/vaultmind ui sample_vault

demo: $(STAMP)
	$(BIN)/vaultmind index sample_vault
	$(BIN)/vaultmind doctor sample_vault
	$(BIN)/vaultmind search sample_vault "как пчёлы переживают зиму"
	$(BIN)/vaultmind related sample_vault "21_bulk_fermentation" -n 5
	$(BIN)/vaultmind scenes sample_vault
	$(BIN)/vaultmind scene sample_vault 1
	$(BIN)/vaultmind blindspots sample_vault -n 3
	$(BIN)/vaultmind chips sample_vault --kind dialogue --kind link_rationale -n 1

test: $(STAMP)         ## everything, the real embedding models included (CI runs this)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)    ## without the tests marked slow (real models)
	$(BIN)/python -m pytest -q -m "not slow"

$(VENV)/.bench-installed: $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

# Benchmarks run on airspeed velocity (asv.conf.json) in this environment, on a synthetic vault of
# VAULTMIND_BENCH_NOTES notes (10,000 unless set). BENCH picks benchmarks by regular expression:
#   make bench BENCH=bench_index      make bench BENCH='bench_scenes|bench_blindspots'
ASV        := HF_HUB_OFFLINE=1 $(BIN)/asv
BENCH      ?= .
SMOKE      := bench_index|bench_scenes|bench_blindspots|bench_chips

bench: $(VENV)/.bench-installed   ## every benchmark (or those BENCH names); results kept per commit in .asv/results, history in .asv/html
	$(ASV) machine --yes >/dev/null
	$(ASV) run --python=same --set-commit-hash=$$(git rev-parse HEAD) --show-stderr --bench '$(BENCH)'
	$(ASV) publish
	$(ASV) show $$(git rev-parse --short=8 HEAD) --bench '$(BENCH)'

# The smoke run keeps its own results dir: asv rewrites benchmarks.json on every run, and the
# committed .asv/results must stay as make bench left it.
bench-smoke: $(STAMP)             ## a few benchmarks once each on a 200-note vault, nothing saved (under 2 min; the test suite runs it)
	$(ASV) machine --yes >/dev/null
	sed 's#"\.asv/results"#".asv/smoke"#; s#"\.asv/html"#".asv/smoke-html"#' asv.conf.json > .asv-smoke.conf.json
	VAULTMIND_BENCH_NOTES=200 $(ASV) run --config .asv-smoke.conf.json --python=same --quick --dry-run --show-stderr --bench '$(SMOKE)'

fusion: $(STAMP)                  ## fit the search fusion weights again on the three query sets and print them (~10 min)
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.retrieval

clean:
	rm -rf $(VENV) sample_vault/.vaultmind
