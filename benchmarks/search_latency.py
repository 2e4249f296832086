"""Warm search latency with the default channels on the 10,000-note synthetic vault.

    .venv/bin/python -m benchmarks.search_latency [--notes 10000] [--queries 50]

Indexes the synthetic vault (benchmarks/synth.py, cached in benchmarks/.work/) with the
default channels into a store kept beside it (a second run reuses it: only the first pays
for embedding), then times `vaultmind.search` with one loaded embedder, as the app and the
daemon call it: the first query (loads the indexes and makes the note view), then
`--queries` more. Each channel's share is timed by calling it alone. Writes
benchmarks/results/search-latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import vaultmind
from vaultmind.config import Config

from benchmarks.synth import cached_vault

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
RESULTS = REPO / "benchmarks" / "results"


def queries(vault: Path, count: int, seed: int = 3) -> list[str]:
    """Queries made of a note's words: a heading, or four words of a sentence."""
    rng = random.Random(seed)
    notes = sorted(vault.rglob("*.md"))
    made = []
    while len(made) < count:
        words = rng.choice(notes).read_text(encoding="utf-8", errors="replace").split()
        words = [w for w in words if w.isalpha()]
        if len(words) > 8:
            start = rng.randrange(len(words) - 4)
            made.append(" ".join(words[start : start + 4]))
    return made


def timed(vault: Path, state: Path, embedder: Any, texts: list[str]) -> list[float]:
    took = []
    for text in texts:
        started = time.perf_counter()
        vaultmind.search(vault, text, limit=10, embedder=embedder, state_dir=state)
        took.append(time.perf_counter() - started)
    return took


def summary(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {"p50 ms": 1000 * statistics.median(ordered), "p95 ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    vault, _stats, _reused = cached_vault(WORK, args.notes)
    spelling = Config().model
    state = WORK / f"search-{args.notes}-{spelling}"
    started = time.perf_counter()
    summary_ = vaultmind.index(vault, state_dir=state, model=spelling, scenes=False)
    index_seconds = time.perf_counter() - started
    texts = queries(vault, args.queries + 1)
    result: dict[str, Any] = {"notes": summary_.notes, "chunks": summary_.chunks, "channels": spelling,
                              "index seconds (0 when reused)": round(index_seconds, 1)}
    embedder = vaultmind.embedder(spelling)
    result["first query ms"] = 1000 * timed(vault, state, embedder, texts[:1])[0]
    result["default"] = summary(timed(vault, state, embedder, texts[1:]))
    for channel in spelling.split("+"):
        alone = vaultmind.embedder(channel)
        timed(vault, state, alone, texts[:1])
        result[channel + " alone"] = summary(timed(vault, state, alone, texts[1:]))
    result["peak RSS MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"search-latency-{args.notes}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    lines = [f"# Warm search latency, {result['notes']:,} notes, {result['chunks']:,} chunks", "",
             f"`vaultmind.search(limit=10)` with one loaded embedder; {args.queries} queries of four words from "
             f"the vault's notes. First query (loads the indexes, makes the note view): "
             f"{result['first query ms']:.0f} ms. Peak RSS {result['peak RSS MiB']:.0f} MiB.", "",
             "| channels | p50 | p95 |", "|---|---:|---:|"]
    for key in ["default", *(c + " alone" for c in spelling.split("+"))]:
        label = f"{spelling} (default)" if key == "default" else key
        lines.append(f"| {label} | {result[key]['p50 ms']:.0f} ms | {result[key]['p95 ms']:.0f} ms |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
