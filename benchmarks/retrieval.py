"""Retrieval quality: recall@5 and MRR of `vaultmind search` on a hand-written query set
(tests/data/retrieval.json: Russian, English and cross-lingual queries with the expected note).

    .venv/bin/python -m benchmarks.retrieval [--model e5 --model use+bm25]

Indexes each vault into a temporary store per model, runs every query, and writes
benchmarks/results/retrieval.{json,md}. The same functions back tests/test_models.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import vaultmind
from vaultmind.config import Config
from vaultmind.embed import Embedder, load_channels

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "tests" / "data" / "retrieval.json"
RESULTS = REPO / "benchmarks" / "results"
VAULTS = {
    "sample": REPO / "sample_vault",
    "ru-vanadium23-wiki": REPO.parent / "shared" / "vaults" / "ru-vanadium23-wiki",
}
DEPTH = 10


def load_queries(vault: str | None = None, path: Path = QUERIES) -> list[dict[str, Any]]:
    queries = json.loads(path.read_text(encoding="utf-8"))["queries"]
    return [q for q in queries if vault is None or q["vault"] == vault]


def rank_of(hits: list[vaultmind.SearchHit], expected: list[str]) -> int | None:
    for rank, hit in enumerate(hits, 1):
        if hit.note in expected:
            return rank
    return None


def score(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "queries": len(ranks),
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def evaluate(vault: Path, queries: list[dict[str, Any]], model: str | Embedder, state_dir: Path) -> dict[str, Any]:
    """Index `vault` with `model` (a spec or an embedder) into `state_dir`, run the queries,
    score them by language."""
    embedder = load_channels(model) if isinstance(model, str) else model  # one loaded model for the run
    started = time.perf_counter()
    summary = vaultmind.index(vault, state_dir=state_dir, embedder=embedder)
    index_seconds = time.perf_counter() - started
    by_lang: dict[str, list[int | None]] = defaultdict(list)
    misses = []
    started = time.perf_counter()
    for q in queries:
        hits = vaultmind.search(vault, q["query"], limit=DEPTH, embedder=embedder, state_dir=state_dir)
        rank = rank_of(hits, q["expected"])
        by_lang[q["lang"]].append(rank)
        if rank is None or rank > 5:
            misses.append({"query": q["query"], "expected": q["expected"], "rank": rank,
                           "got": [h.note for h in hits[:3]]})
    search_seconds = time.perf_counter() - started
    all_ranks = [r for ranks in by_lang.values() for r in ranks]
    return {
        "model": summary.model,
        "all": score(all_ranks),
        "by_lang": {lang: score(ranks) for lang, ranks in sorted(by_lang.items())},
        "chunks": summary.chunks,
        "index_seconds": round(index_seconds, 2),
        "search_ms": round(1000 * search_seconds / max(1, len(queries)), 1),
        "misses": misses,
    }


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = ["# Retrieval quality", "", "| vault | model | queries | recall@5 | MRR | ru | en | cross |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for key, r in results.items():
        vault = key.split(" / ")[0]
        cells = []
        for lang in ("ru", "en", "cross"):
            s = r["by_lang"].get(lang)
            cells.append(f"{s['recall@5']:.2f} / {s['mrr']:.2f}" if s else "–")
        a = r["all"]
        lines.append(f"| {vault} | {r['model']} | {a['queries']} | {a['recall@5']:.3f} | {a['mrr']:.3f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Per language: recall@5 / MRR. Search depth 10; a miss beyond it scores 0."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="channels, as the `model` setting spells them (repeatable); "
                                                          "default e5, use and the default channels")
    args = parser.parse_args()
    models = args.model or ["e5", "use", Config().model]
    results: dict[str, dict[str, Any]] = {}
    for model in models:
        for name, vault in VAULTS.items():
            if not vault.is_dir():
                print(f"skipping {name}: {vault} is not present")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                result = evaluate(vault, load_queries(name), model, Path(tmp))
            results[f"{name} / {model}"] = result
            a = result["all"]
            print(f"{name:20} {result['model']:45} recall@5 {a['recall@5']:.3f}  MRR {a['mrr']:.3f}  "
                  f"(index {result['index_seconds']} s, {result['search_ms']} ms/query)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "retrieval.md").write_text(render(results), encoding="utf-8")
    print(render(results))


if __name__ == "__main__":
    main()
