"""Hybrid retrieval, measured: every channel alone and fused, on the retrieval set
(tests/data/retrieval.json: paraphrases), the cross-lingual set (crosslingual.json) and
known-item queries (known_items.json: two words only the expected note has).

    .venv/bin/python -m benchmarks.fusion [--keep DIR]

Per vault: index once with e5 alone (the old default) and once with every channel, each in a
child process (time and peak memory). Per query, each channel's note ranking is taken once
(`vaultmind.query.channel_rankings`, every channel on). Then, for every combination of the
channels e5, use and bm25 (each dense model also brings its note view), weights and the RRF
constant k are chosen by a grid search that maximises the lowest recall@5 over the six
(vault, set) pairs, then the mean MRR. Leave-one-vault-out shows whether weights fitted on
one vault hold on the other. Last, the product's own `vaultmind.search` with the default
channels is scored. Writes benchmarks/results/fusion.{json,md}; the fitted weights are what
`vaultmind/retrieval.py` ships.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import vaultmind
from vaultmind import query
from vaultmind.config import Config
from vaultmind.embed import load_channels
from vaultmind.retrieval import FITTED, Fusion, NoteRank, fuse
from vaultmind.store import Store

from benchmarks.retrieval import RESULTS, VAULTS, score

REPO = Path(__file__).resolve().parent.parent
SETS = {name: REPO / "tests" / "data" / f"{name}.json" for name in ("retrieval", "crosslingual", "known_items")}
CHANNELS = ("e5", "use", "bm25")
VIEWS = ("e5", "use", "bm25", "e5 notes", "use notes")  # each measured alone
WEIGHED = ("e5", "use", "bm25", "use notes")  # what the grid weighs ("e5 notes" is weak alone everywhere)
GRID = (0.0, 0.25, 0.5, 1.0)
KS = (5, 10, 30)
POWERS = (0.0, 1.0, 2.0, 3.0)  # how far the bm25 weight follows its confidence
DEPTH = 100

_INDEX = """
import sys, time, resource, json
import vaultmind
started = time.perf_counter()
summary = vaultmind.index(sys.argv[1], state_dir=sys.argv[2], model=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - started, "chunks": summary.chunks,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def index_in_child(vault: Path, state_dir: Path, model: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _INDEX, str(vault), str(state_dir), model], check=True,
                         capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def is_cross(q: dict[str, Any]) -> bool:
    return q["lang"] == "cross" or q.get("note_lang", q["lang"]) != q["lang"]


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
    ranks = [next((i for i, note in enumerate(notes[:10], 1) if note in q["expected"]), None)
             for notes, q in zip(ranked, qs)]
    result = score(ranks)
    cross = [r for r, q in zip(ranks, qs) if is_cross(q)]
    result["cross recall@5"] = score(cross)["recall@5"] if cross else None
    return result


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


def product(vault: Path, state_dir: Path, qs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[float]]:
    """`vaultmind.search` with the default channels, as a user gets it (warm)."""
    embedder = vaultmind.embedder()
    vaultmind.search(vault, "warm up", embedder=embedder, state_dir=state_dir)
    ranked, times = [], []
    for q in qs:
        started = time.perf_counter()
        hits = vaultmind.search(vault, q["query"], limit=10, embedder=embedder, state_dir=state_dir)
        times.append(time.perf_counter() - started)
        ranked.append([h.note for h in hits])
    return measure(ranked, qs), times


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    data: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, vault in VAULTS.items():
            if not vault.is_dir():
                print(f"skipping {name}: {vault} is not present")
                continue
            states = {model: Path(tmp) / f"{name}-{model}" for model in dict.fromkeys(("e5", Config().model, "+".join(CHANNELS)))}
            costs = {model: index_in_child(vault, state, model) for model, state in states.items()}
            print(name, "index", costs, flush=True)
            qs = {s: [q for q in json.loads(p.read_text(encoding="utf-8"))["queries"] if q["vault"] == name]
                  for s, p in SETS.items()}
            state = states["+".join(CHANNELS)]
            data[name] = {"costs": costs, "queries": qs, "state": state,
                          "rankings": {s: rankings_of(vault, state, [q["query"] for q in items]) for s, items in qs.items()}}
        vaults = list(data)
        table: dict[str, Any] = {"alone": {}, "fitted": {}, "leave one vault out": {}, "product": {}, "costs": {}}
        for view in VIEWS:
            table["alone"][view] = scores_of(data, Fusion({view: 1.0}), vaults)
        for size in (1, 2, 3):
            for combination in itertools.combinations(CHANNELS, size):
                fusion = fit(data, combination, vaults)
                spelling = "+".join(combination)
                table["fitted"][spelling] = {"fusion": _described(fusion), "scores": scores_of(data, fusion, vaults)}
                print(spelling, fusion, flush=True)
                if len(vaults) == 2 and size > 1:
                    for train, test in (vaults, vaults[::-1]):
                        alone = fit(data, combination, [train])
                        table["leave one vault out"][f"{spelling}: fit {train}, test {test}"] = {
                            "fusion": _described(alone), "scores": scores_of(data, alone, [test])}
        for name in vaults:
            times: list[float] = []
            for s, qs in data[name]["queries"].items():
                table["product"][(name, s)], took = product(VAULTS[name], data[name]["state"], qs)
                times += took
            times.sort()
            table["costs"][name] = {**data[name]["costs"], "search p50 ms": 1000 * times[len(times) // 2],
                                    "search p95 ms": 1000 * times[int(len(times) * 0.95)]}
        table["shipped"] = {spelling: _described(fusion) for spelling, fusion in FITTED.items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fusion.json").write_text(json.dumps(_plain(table), ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "fusion.md").write_text(render(table), encoding="utf-8")
    print(render(table))


def _described(fusion: Fusion) -> str:
    weights = ", ".join(f"{c} {w:g}" for c, w in fusion.weights.items() if w)
    power = f", bm25 × confidence^{fusion.lexical_power:g}" if fusion.lexical_power else ""
    return f"{weights}; k {fusion.k}{power}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {" / ".join(k) if isinstance(k, tuple) else k: _plain(v) for k, v in value.items()}
    return value


def _cells(scores: dict[Any, dict[str, Any]]) -> str:
    return " | ".join(f"{r['recall@5']:.3f} / {r['mrr']:.3f}" for r in scores.values())


def render(table: dict[str, Any]) -> str:
    pairs = list(next(iter(table["alone"].values())))
    head = " | ".join(f"{v} {s}" for v, s in pairs)
    lines = ["# Hybrid retrieval: every channel alone and fused", "",
             "recall@5 / MRR per (vault, set); search depth 10. Fitted: grid search over weights "
             f"{GRID}, k {KS} and the power the bm25 weight follows its confidence with {POWERS}, "
             "maximising the lowest recall@5 over all six (vault, set) pairs, then the mean MRR.", "",
             f"| channels | fusion | {head} |", "|---|---|" + "---:|" * len(pairs)]
    for view, scores in table["alone"].items():
        lines.append(f"| {view} alone | | {_cells(scores)} |")
    for spelling, entry in table["fitted"].items():
        lines.append(f"| {spelling} fitted | {entry['fusion']} | {_cells(entry['scores'])} |")
    default = vaultmind.Config().model
    lines.append(f"| **vaultmind.search, default `{default}`** | {table['shipped'].get(default, '')} | "
                 f"{_cells(table['product'])} |")
    lines += ["", "Cross-lingual queries inside the retrieval set (recall@5), default search: " + ", ".join(
        f"{v}: {r['cross recall@5']:.3f}" for (v, s), r in table["product"].items() if s == "retrieval"), ""]
    if table["leave one vault out"]:
        lines += ["## Leave one vault out", "", "| fitted on → tested on | fusion | " + " | ".join(SETS) + " |",
                  "|---|---|" + "---:|" * len(SETS)]
        for key, entry in table["leave one vault out"].items():
            lines.append(f"| {key} | {entry['fusion']} | {_cells(entry['scores'])} |")
        lines.append("")
    default = vaultmind.Config().model
    lines += ["## Cost", "", "Full index into an empty store, in a child process; peak RSS of that process. Warm search: "
              "`vaultmind.search` with the default channels, one loaded embedder, every query of the three sets.", "",
              "| vault | channels | full index | vs e5 alone (the old default) | peak memory |", "|---|---|---:|---:|---:|"]
    for name, c in table["costs"].items():
        for spelling in dict.fromkeys(("e5", default, "+".join(CHANNELS))):
            run = c[spelling]
            lines.append(f"| {name} | {spelling} | {run['seconds']:.1f} s | {run['seconds'] / c['e5']['seconds']:.2f}× | "
                         f"{run['peak_mib']:.0f} MiB |")
    lines += ["", "Warm search, default channels: " + "; ".join(
        f"{name} p50 {c['search p50 ms']:.0f} ms, p95 {c['search p95 ms']:.0f} ms" for name, c in table["costs"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
