"""Retrieval quality: the rank of the expected note for each query, scored as recall@5 and MRR,
every channel's note ranking per query, and the fusion weights fitted on them. `bench_quality`
scores each channel alone and the product's own search; tests/test_models.py uses `evaluate`;
`python -m benchmarks.retrieval` fits the weights again and prints them with their scores
(what `vaultmind/retrieval.py` ships as FITTED).

The sets: tests/data/retrieval.json (paraphrases), crosslingual.json, and known_items.json
(two words only the expected note has). Per combination of the channels e5, use and bm25
(each dense model also brings its note view), weights and the RRF constant k are chosen by a
grid search that maximises the lowest recall@5 over the six (vault, set) pairs, then the mean
MRR; leave one vault out shows whether weights fitted on one vault hold on the other.
"""

import argparse
import itertools
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import vaultmind
from vaultmind import query
from vaultmind.config import Config
from vaultmind.embed import Embedder, load_channels
from vaultmind.retrieval import FITTED, Fusion, NoteRank, fuse
from vaultmind.store import Store

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "tests" / "data" / "retrieval.json"
VAULTS = {
    "sample": REPO / "sample_vault",
    "ru-vanadium23-wiki": REPO.parent / "shared" / "vaults" / "ru-vanadium23-wiki",
}
SETS = {name: REPO / "tests" / "data" / f"{name}.json" for name in ("retrieval", "crosslingual", "known_items")}
CHANNELS = ("e5", "use", "bm25")
VIEWS = ("e5", "use", "bm25", "e5 notes", "use notes")  # each measured alone
WEIGHED = ("e5", "use", "bm25", "use notes")  # what the grid weighs ("e5 notes" is weak alone everywhere)
GRID = (0.0, 0.25, 0.5, 1.0)
KS = (5, 10, 30)
POWERS = (0.0, 1.0, 2.0, 3.0)  # how far the bm25 weight follows its confidence
DEPTH = 100


def load_queries(vault: str | None = None, path: Path = QUERIES) -> list[dict[str, Any]]:
    queries = json.loads(path.read_text(encoding="utf-8"))["queries"]
    return [q for q in queries if vault is None or q["vault"] == vault]


def rank_of(notes: list[str], expected: list[str]) -> int | None:
    """The rank of the first expected note among `notes` (search order), or None."""
    return next((rank for rank, note in enumerate(notes, 1) if note in expected), None)


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
        hits = vaultmind.search(vault, q["query"], limit=10, embedder=embedder, state_dir=state_dir)
        rank = rank_of([h.note for h in hits], q["expected"])
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


def rankings_of(vault: Path, state_dir: Path, texts: list[str]) -> list[tuple[dict[str, list[NoteRank]], float]]:
    """Per query, every channel's note ranking and the lexical channel's confidence, as
    `vaultmind.search` takes them before fusing."""
    channels = load_channels("+".join(CHANNELS))
    everything = dict.fromkeys(VIEWS, 1.0)
    found = []
    with Store.open(state_dir) as store:
        for text in texts:
            rankings, _ids, confidence = query.channel_rankings(store, state_dir, channels, text, DEPTH, Config(),
                                                                everything)
            found.append((rankings, confidence))
    return found


def measure(ranked: list[list[str]], qs: list[dict[str, Any]]) -> dict[str, Any]:
    return score([rank_of(notes[:10], q["expected"]) for notes, q in zip(ranked, qs)])


def fused(rankings: list[tuple[dict[str, list[NoteRank]], float]], fusion: Fusion) -> list[list[str]]:
    ranked = []
    for per_query, confidence in rankings:
        weights = fusion.weights_for(confidence)
        used = {c: r for c, r in per_query.items() if fusion.weights.get(c, 0) > 0}
        ranked.append([n.note for n in fuse(used, weights, fusion.k)])
    return ranked


def scores_of(data: dict[str, Any], fusion: Fusion, vaults: list[str]) -> dict[str, Any]:
    return {(v, s): measure(fused(data[v]["rankings"][s], fusion), data[v]["queries"][s]) for v in vaults for s in SETS}


def fit(data: dict[str, Any], combination: tuple[str, ...], vaults: list[str]) -> Fusion:
    """The weights (each channel of `combination` > 0, its note view ≥ 0), k and lexical
    power with the best lowest recall@5 over `vaults` × sets, then the best mean MRR."""
    views = [v for v in WEIGHED if v.split()[0] in combination]
    best: tuple[tuple[float, float], Fusion] = ((-1.0, -1.0), Fusion({}))
    for values in itertools.product(GRID, repeat=len(views)):
        weights = dict(zip(views, values))
        if max(values) != 1.0 or any(weights[c] == 0 for c in combination):
            continue
        for k in KS:
            for power in POWERS if "bm25" in combination and len(combination) > 1 else (0.0,):
                fusion = Fusion(weights, k, power)
                found = scores_of(data, fusion, vaults)
                key = (min(r["recall@5"] for r in found.values()), sum(r["mrr"] for r in found.values()) / len(found))
                if key > best[0]:
                    best = (key, fusion)
    return best[1]


def collect(name: str, state_dir: Path) -> dict[str, Any]:
    """Index vault `name` with every channel into `state_dir`; its queries and, per set and
    query, every channel's note ranking."""
    vault = VAULTS[name]
    vaultmind.index(vault, state_dir=state_dir, model="+".join(CHANNELS))
    qs = {s: [q for q in json.loads(p.read_text(encoding="utf-8"))["queries"] if q["vault"] == name]
          for s, p in SETS.items()}
    return {"queries": qs, "rankings": {s: rankings_of(vault, state_dir, [q["query"] for q in items])
                                        for s, items in qs.items()}}


def _described(fusion: Fusion) -> str:
    weights = ", ".join(f"{c} {w:g}" for c, w in fusion.weights.items() if w)
    power = f", bm25 × confidence^{fusion.lexical_power:g}" if fusion.lexical_power else ""
    return f"{weights}; k {fusion.k}{power}"


def _line(label: str, fusion: Fusion, data: dict[str, Any], vaults: list[str]) -> str:
    scores = scores_of(data, fusion, vaults)
    return f"{label}: {_described(fusion)}\n    " + "  ".join(
        f"{v} {s} {r['recall@5']:.3f}/{r['mrr']:.3f}" for (v, s), r in scores.items())


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = {name: collect(name, Path(tmp) / name) for name, vault in VAULTS.items() if vault.is_dir()}
    vaults = list(data)
    for size in (1, 2, 3):
        for combination in itertools.combinations(CHANNELS, size):
            spelling = "+".join(combination)
            print(_line(f"{spelling} fitted", fit(data, combination, vaults), data, vaults), flush=True)
            for train, test in (vaults, vaults[::-1]) if len(vaults) == 2 and size > 1 else ():
                print(_line(f"{spelling} fitted on {train}, tested on {test}", fit(data, combination, [train]),
                            data, [test]), flush=True)
    for spelling, fusion in FITTED.items():
        print(_line(f"{spelling} shipped", fusion, data, vaults))


if __name__ == "__main__":
    main()
