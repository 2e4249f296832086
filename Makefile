# Two commands do all set-up on a fresh machine:
#   make app    index sample_vault/ (with progress) and serve the app at http://127.0.0.1:8501
#   make test   run the test suite
# Both create or refresh the virtual environment at .venv/ from the pinned requirements.
# make demo is the terminal tour: search, scenes, blind spots and chips printed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed


.PHONY: app demo test test-fast bench bench-smoke bench-embed bench-scenes bench-blindspots bench-chips bench-watch bench-app bench-hostile bench-fusion bench-search retrieval scene-quality blindspot-quality clean

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

bench: $(VENV)/.bench-installed     ## 10k-note indexing benchmark (~6 min, mostly obsidiantools)
	$(BIN)/python -m benchmarks.run_index --notes 10000 --repeat 3

bench-smoke: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.run_index --notes 200 --skip-obsidiantools

bench-embed: $(VENV)/.bench-installed   ## embedding throughput, search latency, vector index (~25 min)
	$(BIN)/python -m benchmarks.run_embed --max-chunks 500

bench-scenes: $(VENV)/.bench-installed  ## scene stage on the 10k-note vault, hashed vectors (~2 min)
	$(BIN)/python -m benchmarks.run_scenes --notes 10000 --repeat 3

bench-blindspots: $(VENV)/.bench-installed  ## each blind-spot detector on the 10k-note vault, hashed vectors (~4 min)
	$(BIN)/python -m benchmarks.run_blindspots --notes 10000 --repeat 3

bench-chips: $(VENV)/.bench-installed  ## chip export (all formats) vs index --no-embed on the 10k-note vault (~7 min)
	$(BIN)/python -m benchmarks.run_chips --notes 10000 --repeat 3

bench-watch: $(VENV)/.bench-installed  ## sync daemon on the 10k-note vault: one-note saves, a 1,000-op burst, idle (~20 min)
	$(BIN)/python -m benchmarks.run_watch --notes 10000

bench-app: $(VENV)/.bench-installed  ## the app in headless Chromium: first render per page, search, memory; sample + 10k vault (~25 min)
	$(BIN)/python -m benchmarks.run_app --notes 10000

bench-hostile: $(STAMP)  ## pathological notes (YAML aliases, 1 MB of links, deep nesting) indexed by ebc48bf and the working tree: time, peak memory, × bare markdown-it-py (~30 min)
	$(BIN)/python -m benchmarks.run_hostile

bench-fusion: $(STAMP)  ## every retrieval channel alone and fused on three query sets, weights fitted, index cost (~12 min)
	$(BIN)/python -m benchmarks.fusion

bench-search: $(STAMP)  ## warm search latency with the default channels on the 10k-note vault (first run embeds it, ~10 min)
	$(BIN)/python -m benchmarks.search_latency

retrieval: $(STAMP)    ## recall@5 and MRR of search for each model
	$(BIN)/python -m benchmarks.retrieval

scene-quality: $(STAMP)    ## AMI/NMI of scenes vs the sample vault's topics; the wiki's scenes (~3 min)
	$(BIN)/python -m benchmarks.scene_quality

blindspot-quality: $(STAMP)    ## recall@10 of planted gaps per kind (~1 min)
	$(BIN)/python -m benchmarks.blindspot_quality

clean:
	rm -rf $(VENV) sample_vault/.vaultmind
