"""The scene-stage benchmark: time, per-step shares and peak memory of finding scenes on the
synthetic vault, the cost after editing one note, the id stability that edit leaves, and the
cost of a call that finds nothing changed.

    .venv/bin/python -m benchmarks.run_scenes [--notes 10000] [--seed 0] [--repeat K]
        [--stat median|best] [--model hash|e5|use] [--profile] [--blas-threads T]
        [--timeout SEC] [--keep] [--out STEM] [--check]

The vault is indexed once (`vaultmind.index(..., scenes=False)`) with a fast deterministic
hashing embedder (`HashEmbedder` below; `--model e5` uses the real model instead, slow: use a
small `--notes`). Then, each in a fresh process (`python -m benchmarks.run_scenes TASK ...`,
through `run_index.run_measurement`, so process wall time and peak memory are taken as in the
other benchmarks):

1. `pipeline.update_scenes(store, Config(), model_id, force=True)` on a copy of that store with
   no scenes yet (every id is a birth), `--repeat` times, each on a fresh copy;
2. the same after appending a sentence to one note and re-indexing with scenes=False (the
   re-index is its own process and is not part of the stage's time), plus how many notes kept
   their scene id;
3. `pipeline.update_scenes(store, Config(), model_id)` with nothing changed (returns False).

Inside the measured call, `pipeline.scene_fingerprint`, `pipeline.scene_input`,
`scenes.build_scenes` (with its own per-step seconds) and `Store.put_scene_run` are wrapped
with timers, so the real `update_scenes` runs and its parts are still timed. Results go to
benchmarks/results/scenes-<N>.{json,md}; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._measure import _plain, markdown_files, measure, write_child_result
from benchmarks._report import _machine_line, _num, _vault_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, _own_cpu_seconds
from benchmarks.run_index import run_measurement
from benchmarks.synth import cached_vault

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
EMBED_RESULTS = RESULTS_DIR / "embed.json"
MODULE = "benchmarks.run_scenes"
MIB = 2**20

HASH_DIM = 384  # e5-small's dimension, so the similarity step does the same arithmetic
HASH_VERSION = 1  # part of the model id: bump when the hashing changes
MODELS = ("hash", "e5", "use")
TARGET_SHARE = 0.10  # PASS when the scene stage takes < 10% of the estimated embed time
NOISY_SHARE = 0.1  # other processes' CPU, in cores, above which a timing is flagged
NOCHANGE_REPEATS = 5  # extra warm no-change calls after the measured one
TOP_LABELS = 10
PROFILE_LINES = 25
EDIT_SENTENCE = (
    "Benchmark edit: one more sentence appended to this note, to measure the scene stage "
    "after a small change."
)
BUILD_STEPS = ("graph", "communities", "labels", "ids", "measures", "map")
# (key, label) of the parts of one scene-stage call, in the order they run
PARTS = (
    ("fingerprint", "fingerprint (what changed?)"),
    ("read", "read inputs (`pipeline.scene_input`)"),
    *((f"build.{s}", f"build: {s}") for s in BUILD_STEPS),
    ("build.other", "build: rest of `build_scenes`"),
    ("write", "assemble the map + store write"),
)
SCENE_SOURCES = ("src/vaultmind/pipeline.py", "src/vaultmind/scenes")

Log = Callable[[str], None]
Measurement = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    repeat: int
    stat: str
    model: str
    profile: bool
    timeout: float
    keep: bool
    blas_threads: int | None = None


THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# =========================================================================== the hashing embedder

_TOKEN = re.compile(r"\w+")
_PAIR = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class HashEmbedder:
    """A fast deterministic stand-in for a sentence model: signed feature hashing of the
    lower-cased words and adjacent word pairs of a text into `dim` buckets, L2-normalised.
    Texts that share words (the synthetic vault's themes have their own vocabularies) get
    close vectors; it knows nothing of meaning. Same text → same vector in every process."""

    def __init__(self, dim: int = HASH_DIM) -> None:
        self.dim = dim
        self.model_id = f"bench-hash-{dim}-v{HASH_VERSION}"
        self._words: dict[str, int] = {}

    def _word(self, word: str) -> int:
        h = self._words.get(word)
        if h is None:
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            self._words[word] = h
        return h

    def _vector(self, text: str) -> np.ndarray:
        words = _TOKEN.findall(text.lower())
        if not words:
            vector = np.zeros(self.dim, dtype=np.float32)
            vector[0] = 1.0
            return vector
        h = np.fromiter((self._word(w) for w in words), dtype=np.uint64, count=len(words))
        features = np.concatenate([h, _mix((h[:-1] * _PAIR) ^ h[1:])])
        buckets = (features % np.uint64(self.dim)).astype(np.intp)
        signs = np.where(features >> np.uint64(63), 1.0, -1.0)
        vector = np.bincount(buckets, weights=signs, minlength=self.dim).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0], norm = 1.0, 1.0
        return vector / norm

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    embed_queries = embed_passages


def make_embedder(model: str) -> Any:
    if model == "hash":
        return HashEmbedder()
    from vaultmind.embed import LazyModel

    return LazyModel(model)


# =========================================================================== child tasks
# Each prepare_* runs in the measured process: it opens the store and reads what it needs
# outside the clock and returns the callable that `benchmarks._measure.measure` times. What
# is read after the clock (the scene map, counts) goes into `_AFTER`, filled in by
# `child_main` once `measure` has taken the peak RSS, so it does not count.

_AFTER: list[Callable[[], dict[str, Any]]] = []


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / MIB


def prepare_index(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`vaultmind.index(vault, state_dir, embedder, scenes=False)`: the set-up the scene stage
    reads (first index, or the re-index after the edit)."""
    import vaultmind

    embedder = make_embedder(args.model)

    def run() -> dict[str, Any]:
        summary = vaultmind.index(args.vault, state_dir=args.state_dir, embedder=embedder, scenes=False)
        return {"summary": _plain(summary), "model_id": embedder.model_id}

    return run


def _maxrss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _Timers:
    """Wraps the parts of `pipeline.update_scenes` with timers (module attributes, so the
    real function runs unchanged) and collects their seconds; at each part's start and end it
    also notes the process's RSS and its high-water mark (getrusage), so the part that set the
    peak is known."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: Counter[str] = Counter()
        self.build_steps: dict[str, float] = {}
        self.edges: int | None = None
        self.memory: dict[str, dict[str, float]] = {}

    def wrap(self, owner: Any, name: str, key: str, *, optional: bool = False) -> None:
        original = getattr(owner, name, None)
        if original is None:
            if optional:
                return
            raise AttributeError(f"{owner.__name__}.{name} does not exist: update benchmarks/run_scenes.py")

        def timed(*a: Any, **kw: Any) -> Any:
            mem = self.memory.setdefault(key, {"rss_start_mib": _rss_mib()})
            tick = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - tick
                self.calls[key] += 1
                mem |= {"rss_end_mib": _rss_mib(), "high_water_end_mib": _maxrss_mib()}

        setattr(owner, name, timed)

    def install(self) -> None:
        import importlib

        from vaultmind import pipeline
        from vaultmind.store import Store

        # the scenes package itself (the attribute `vaultmind.scenes` is the API function)
        scene_stage = importlib.import_module("vaultmind.scenes")

        self.wrap(pipeline, "scene_fingerprint", "fingerprint")
        self.wrap(pipeline, "scene_input", "read")
        self.wrap(Store, "put_scene_run", "put_scene_run")
        # the build's own steps, for memory only (their seconds come from SceneRun.steps)
        for name, key in (("scene_graph", "graph"), ("find_communities", "communities"),
                          ("label_scenes", "labels"), ("match_ids", "ids"), ("note_map", "map")):
            self.wrap(scene_stage, name, f"mem.{key}", optional=True)
        # update_scenes calls build_scenes by a module-level name: pipeline's own (from-import)
        # or the scenes module's (`scene_stage.build_scenes`); wrap the one it uses
        owner = pipeline if hasattr(pipeline, "build_scenes") else getattr(pipeline, "scene_stage", scene_stage)
        original_build = owner.build_scenes

        def build(*a: Any, **kw: Any) -> Any:
            mem = self.memory.setdefault("build", {"rss_start_mib": _rss_mib()})
            tick = time.perf_counter()
            found = original_build(*a, **kw)
            self.seconds["build"] = self.seconds.get("build", 0.0) + time.perf_counter() - tick
            self.calls["build"] += 1
            mem |= {"rss_end_mib": _rss_mib(), "high_water_end_mib": _maxrss_mib()}
            self.build_steps = dict(found.steps)
            self.edges = found.edges
            return found

        owner.build_scenes = build  # looked up on the module at call time

    def parts(self, total: float) -> dict[str, float]:
        """Seconds per part of one update_scenes call; `write` is what is left: assembling
        the SceneMap, `put_scene_run` and the commit. Build steps the stage may add later
        land in `build.other`."""
        out = {"fingerprint": self.seconds.get("fingerprint", 0.0), "read": self.seconds.get("read", 0.0)}
        for step in BUILD_STEPS:
            out[f"build.{step}"] = self.build_steps.get(step, 0.0)
        build = self.seconds.get("build", 0.0)
        out["build.other"] = max(build - sum(self.build_steps.get(s, 0.0) for s in BUILD_STEPS), 0.0)
        out["write"] = max(total - out["fingerprint"] - out["read"] - build, 0.0)
        return out


def _scene_ids(scene_map: Any) -> dict[str, int | None]:
    """note path → its scene id (None: unplaced)."""
    if scene_map is None:
        return {}
    ids: dict[str, int | None] = {p: s.id for s in scene_map.scenes for p in s.notes}
    ids.update(dict.fromkeys(scene_map.unplaced))
    return ids


def stability(before: Any, after: Any) -> dict[str, Any] | None:
    """How much of the previous scene map survived: notes whose scene id (or unplaced state)
    is unchanged, placed notes that kept their id, scene ids that still exist, events."""
    if before is None or after is None:
        return None
    old, new = _scene_ids(before), _scene_ids(after)
    notes = old.keys() | new.keys()
    same = sum(1 for p in notes if p in old and p in new and old[p] == new[p])
    placed = [p for p, i in old.items() if i is not None]
    kept_placed = sum(1 for p in placed if new.get(p) == old[p])
    moved = sorted(p for p in placed if new.get(p) != old[p])
    old_ids = {s.id for s in before.scenes}
    new_ids = {s.id for s in after.scenes}
    return {
        "notes": len(notes),
        "same_scene_id": same,
        "same_share": same / len(notes) if notes else None,
        "placed_before": len(placed),
        "placed_kept_id": kept_placed,
        "placed_kept_share": kept_placed / len(placed) if placed else None,
        "notes_moved": len(moved),
        "moved_examples": moved[:10],
        "scene_ids_before": len(old_ids),
        "scene_ids_after": len(new_ids),
        "scene_ids_kept": len(old_ids & new_ids),
        "unplaced_before": len(before.unplaced),
        "unplaced_after": len(after.unplaced),
    }


def describe(scene_map: Any, store: Any) -> dict[str, Any]:
    """Counts, the size distribution and the top labels of a scene map."""
    sizes = sorted((s.size for s in scene_map.scenes), reverse=True)
    events = Counter(f"{e.level}:{e.kind}" for e in scene_map.events)
    counts = store.counts()
    return {
        "scenes": len(scene_map.scenes),
        "regions": len(scene_map.regions),
        "unplaced": len(scene_map.unplaced),
        "placed": sum(sizes),
        "hubs": len(scene_map.hubs),
        "layout": scene_map.layout,
        "model": scene_map.model,
        "sizes": sizes,
        "size_min": sizes[-1] if sizes else None,
        "size_median": statistics.median(sizes) if sizes else None,
        "size_max": sizes[0] if sizes else None,
        "scenes_size_10_plus": sum(1 for s in sizes if s >= 10),
        "notes_in_size_10_plus": sum(s for s in sizes if s >= 10),
        "size_buckets": _buckets(sizes),
        "events": dict(sorted(events.items())),
        "top": [
            {"id": s.id, "size": s.size, "label": s.label, "terms": list(s.terms), "summary": s.summary,
             "region": s.region, "density": round(s.density, 4),
             "cohesion": None if s.cohesion is None else round(s.cohesion, 4)}
            for s in scene_map.scenes[:TOP_LABELS]
        ],
        "region_labels": [{"id": r.id, "size": r.size, "scenes": len(r.scenes), "label": r.label}
                          for r in scene_map.regions[:TOP_LABELS]],
        "store_counts": dict(counts),
    }


def _buckets(sizes: Sequence[int]) -> dict[str, int]:
    edges = ((2, 4), (5, 9), (10, 49), (50, 199), (200, None))
    out = {}
    for lo, hi in edges:
        name = f"{lo}–{hi}" if hi else f"≥{lo}"
        out[name] = sum(1 for s in sizes if s >= lo and (hi is None or s <= hi))
    return out


def _input_counts(store: Any, model_id: str) -> dict[str, Any]:
    """What the stage reads, counted (after the clock): notes, links, vectors, text."""
    from vaultmind import pipeline

    data = pipeline.scene_input(store, model_id)
    note_links = sum(1 for _s, t, _w in data.links if t is not None)
    return {
        "notes": len(data.notes),
        "links": len(data.links),
        "note_links": note_links,
        "wanted_links": len(data.links) - note_links,
        "wanted_targets": len({w for _s, t, w in data.links if t is None}),
        "text_chars": sum(len(t) for t in data.texts.values()),
        "vector_notes": 0 if data.vectors is None else len(data.vectors[0]),
        "vector_dim": 0 if data.vectors is None else int(data.vectors[1].shape[1]),
    }


def prepare_stage(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """One `update_scenes(force=True)` call with its parts timed. The scene map before it
    (None on a fresh store) is read first, outside the clock."""
    from vaultmind import pipeline
    from vaultmind.config import Config
    from vaultmind.store import Store

    model_id = make_embedder(args.model).model_id
    timers = _Timers()
    timers.install()
    store = Store.open(args.state_dir, create=False)
    before = store.scene_map()
    rss_before, high_water_before = _rss_mib(), _maxrss_mib()
    profiler = cProfile.Profile() if args.profile else None

    def run() -> dict[str, Any]:
        modules = set(sys.modules)
        tick = time.perf_counter()
        with store.writer_lock():
            if profiler is not None:
                profiler.enable()
            ran = pipeline.update_scenes(store, Config(), model_id, force=True)
            if profiler is not None:
                profiler.disable()
        total = time.perf_counter() - tick
        new = sorted(set(sys.modules) - modules)
        args.result.with_suffix(".modules").write_text("\n".join(new), encoding="utf-8")
        roots = sorted({m.split(".")[0] for m in new if not m.startswith("_")} - sys.stdlib_module_names)
        return {
            "ran": ran,
            "model_id": model_id,
            "total": total,
            "parts": timers.parts(total),
            "build_steps": timers.build_steps,
            "raw": dict(timers.seconds),
            "calls": dict(timers.calls),
            "edges": timers.edges,
            "memory": {k: dict(v) for k, v in timers.memory.items()},
            "rss_before_mib": rss_before,
            "rss_after_mib": _rss_mib(),
            "high_water_before_mib": high_water_before,
            "high_water_after_mib": _maxrss_mib(),
            "imported_modules": len(new),
            "imported_roots": roots,
            "previous_run": before.run if before is not None else None,
        }

    def after() -> dict[str, Any]:
        try:
            row = store.db.execute("SELECT details FROM scene_runs ORDER BY id DESC LIMIT 1").fetchone()
            scene_map = store.scene_map()
            out = {"stored_details": json.loads(row[0]) if row and row[0] else None,
                   "result": describe(scene_map, store),
                   "input": _input_counts(store, model_id),
                   "stability": stability(before, scene_map)}
            if profiler is not None:
                out["profile"] = _profile_text(profiler)
            return out
        finally:
            store.close()

    _AFTER.append(after)
    return run


def _profile_text(profiler: cProfile.Profile) -> dict[str, str]:
    out = {}
    for order in ("cumulative", "tottime"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(order).print_stats(PROFILE_LINES)
        out[order] = stream.getvalue()
    return out


def prepare_nochange(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`update_scenes` without force on a store whose scenes are current: returns False after
    comparing the fingerprint. A few more warm calls are timed after the clock."""
    from vaultmind import pipeline
    from vaultmind.config import Config
    from vaultmind.store import Store

    model_id = make_embedder(args.model).model_id
    store = Store.open(args.state_dir, create=False)

    def run() -> dict[str, Any]:
        return {"returned": pipeline.update_scenes(store, Config(), model_id), "model_id": model_id}

    def after() -> dict[str, Any]:
        try:
            warm = []
            for _ in range(NOCHANGE_REPEATS):
                tick = time.perf_counter()
                pipeline.update_scenes(store, Config(), model_id)
                warm.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            pipeline.scene_fingerprint(store, Config(), model_id)
            fingerprint = time.perf_counter() - tick
            return {"warm_seconds": warm, "warm_median": statistics.median(warm),
                    "fingerprint_seconds": fingerprint}
        finally:
            store.close()

    _AFTER.append(after)
    return run


def prepare_imports(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """Import, in a fresh process, the modules a stage call imported on first use (listed by
    that call in RESULT.modules): what the stage pays once per process for its lazy imports."""
    import importlib

    import vaultmind  # noqa: F401 - the stage's process had it imported before the call
    from vaultmind import pipeline  # noqa: F401
    from vaultmind.config import Config  # noqa: F401
    from vaultmind.store import Store  # noqa: F401

    names = [n for n in args.modules.read_text(encoding="utf-8").splitlines() if n and n not in sys.modules]

    def run() -> dict[str, Any]:
        failed = []
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a module that only imports in context: skip it
                failed.append(name)
        return {"modules": len(names), "failed": len(failed), "failed_examples": failed[:5]}

    return run


CHILD_TASKS = {"index": prepare_index, "stage": prepare_stage, "nochange": prepare_nochange,
               "imports": prepare_imports}


def child_main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.run_scenes TASK VAULT RESULT_JSON [options]`: one measurement."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} TASK")
    p.add_argument("task", choices=sorted(CHILD_TASKS))
    p.add_argument("vault", type=Path)
    p.add_argument("result", type=Path)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--modules", type=Path, default=None, help="imports: the module list to import")
    p.add_argument("--model", choices=MODELS, default="hash")
    p.add_argument("--profile", action="store_true", help="stage: run the call under cProfile")
    args = p.parse_args(argv)
    result, code = measure(args, CHILD_TASKS)
    return write_child_result(args.result, result, code, _AFTER)


# =========================================================================== parent steps


def _measure_once(task: str, vault: Path, name: str, run_dir: Path, s: Settings,
                  state: Path, extra: Sequence[str] = ()) -> Measurement:
    """One measurement in a fresh process, with the load average before it and the CPU
    seconds other processes used while it ran."""
    load = os.getloadavg()[0]
    busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
    args = ["--state-dir", str(state), "--model", s.model, *extra]
    m = run_measurement(task, vault, name, run_dir, s.timeout, args, module=MODULE)
    other = max((_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own), 0.0)
    wall = m["wall_seconds"]
    return m | {
        "load_average_before": round(load, 2),
        "other_cpu_seconds": round(other, 2),
        "other_cpu_share": round(other / wall, 3) if wall else None,
    }


def _done(log: Log, m: Measurement, what: str = "seconds") -> Measurement:
    if m["ok"]:
        info = m["info"]
        inner = info.get("total", m["seconds"])
        log(f"   {inner:.3f} s (process {m['wall_seconds']:.1f} s), peak {m['peak_mib']:.0f} MiB; "
            f"other processes used {m['other_cpu_seconds']:.1f} CPU s meanwhile")
    else:
        log(f"   not measured: {m['error']}")
    return m


def edit_one_note(vault: Path) -> str:
    """Append a sentence (no links) to the first note by path; returns its vault path."""
    first = next(markdown_files(vault))
    with first.open("a", encoding="utf-8", newline="\n") as f:
        f.write(f"\n{EDIT_SENTENCE}\n")
    return first.relative_to(vault).as_posix()


def combine(runs: list[Measurement], stat: str) -> Measurement:
    """The run whose stage total is the `stat` (best or median) of `runs`, with all totals."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return runs[-1]
    totals = [r["info"]["total"] for r in ok]
    chosen = min(totals) if stat == "best" else statistics.median(totals)
    typical = min(ok, key=lambda r: abs(r["info"]["total"] - chosen))
    return typical | {
        "runs_total_seconds": totals,
        "best_seconds": min(totals),
        "median_seconds": statistics.median(totals),
        "chosen_seconds": chosen,
        "peak_mib_max": max(r["peak_mib"] for r in ok),
        "runs_parts": [r["info"]["parts"] for r in ok],
        "runs_other_cpu_share": [r.get("other_cpu_share") for r in ok],
    }


def embed_estimate(notes: int, path: Path = EMBED_RESULTS) -> dict[str, Any] | None:
    """The embedding benchmark's full-vault estimates (benchmarks/results/embed.json), per
    model; scaled linearly by notes when that run's vault had a different note count."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base_notes = data.get("settings", {}).get("notes")
    if not base_notes:
        return None
    scale = notes / base_notes
    models = {}
    for spec, m in data.get("models", {}).items():
        ex = m.get("extrapolated") or {}
        if not ex.get("embed_seconds_by_chars"):
            continue
        models[spec] = {
            "embed_seconds_by_chars": ex["embed_seconds_by_chars"] * scale,
            "embed_seconds_by_chunks": ex["embed_seconds_by_chunks"] * scale,
            "index_seconds": ex["index_seconds"] * scale,
        }
    if not models:
        return None
    embeds = [v for m in models.values() for k, v in m.items() if k.startswith("embed_")]
    return {
        "source": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
        "source_created": data.get("created"),
        "source_notes": base_notes,
        "scale": scale,
        "scaled": notes != base_notes,
        "models": models,
        "min_embed_seconds": min(embeds),
        "max_embed_seconds": max(embeds),
    }


def compute_target(stage: Measurement, estimate: dict[str, Any] | None) -> dict[str, Any]:
    """Scene stage total against the smallest embed estimate: PASS below TARGET_SHARE of it."""
    total = stage["chosen_seconds"] if stage.get("ok") else None
    basis = estimate["min_embed_seconds"] if estimate else None
    share = None if total is None or not basis else total / basis
    return {
        "name": "scene stage well under the time to embed the same vault (< 10% of the embed estimate)",
        "stage_seconds": total,
        "embed_estimate_seconds": basis,
        "limit_seconds": None if basis is None else basis * TARGET_SHARE,
        "share": share,
        "limit_share": TARGET_SHARE,
        "passed": None if share is None else share < TARGET_SHARE,
    }


def source_digests() -> dict[str, str]:
    """Short hashes of the scene stage's source files: which version of the code was measured
    (a dirty tree's git hash does not say)."""
    out = {}
    for item in SCENE_SOURCES:
        path = REPO / item
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                out[f.relative_to(REPO).as_posix()] = hashlib.blake2b(f.read_bytes(), digest_size=6).hexdigest()
    return out


def checks(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    first, edit, nochange = (result["measurements"].get(k) for k in ("fresh", "one_edit", "nochange"))
    for name, m in (("index (set-up)", result["measurements"].get("index")), ("fresh store", first),
                    ("lazy imports", result["measurements"].get("imports")),
                    ("after one edit", edit), ("no-change call", nochange)):
        if m is None:
            continue
        if not m["ok"]:
            out.append(f"{name}: failed: {m['error']}")
            continue
        shares = m.get("runs_other_cpu_share") or [m.get("other_cpu_share")]
        worst = max((x for x in shares if x is not None), default=None)
        if worst is not None and worst > NOISY_SHARE:
            out.append(f"{name}: other processes used up to {worst:.2f} cores on average meanwhile "
                       f"(load average before: {m.get('load_average_before')}); this timing may be skewed")
        if m["info"].get("after_error"):
            out.append(f"{name}: reading the result after the clock failed: {m['info']['after_error']}")
    for name, m in (("fresh store", first), ("after one edit", edit)):
        if not m or not m["ok"]:
            continue
        info = m["info"]
        missing = [k for k in ("fingerprint", "read", "build", "put_scene_run") if not info["calls"].get(k)]
        if missing:
            out.append(f"{name}: the timers around {', '.join(missing)} were never called — "
                       "update_scenes changed; the parts are incomplete")
        if not info.get("ran"):
            out.append(f"{name}: update_scenes(force=True) returned False")
    if first and first["ok"]:
        events = first["info"]["result"]["events"]
        scenes = first["info"]["result"]["scenes"]
        if events.get("scene:birth", 0) != scenes:
            out.append(f"fresh store: {events.get('scene:birth', 0)} scene births for {scenes} scenes "
                       "(expected every id to be a birth)")
    if nochange and nochange["ok"] and nochange["info"].get("returned") is not False:
        out.append(f"no-change call returned {nochange['info'].get('returned')!r} (expected False)")
    return out


# =========================================================================== orchestration


def run_benchmark(s: Settings, log: Log) -> dict[str, Any]:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO)  # first, so the load average is the machine's, not ours
    if s.blas_threads is not None:  # inherited by the measured processes (run_measurement copies os.environ)
        for name in THREAD_VARS:
            os.environ[name] = str(s.blas_threads)
    threads = {name: os.environ.get(name) for name in THREAD_VARS}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log(f"vault: {s.notes} notes, seed {s.seed} ...")
    vault, stats, reused = cached_vault(WORK_DIR, s.notes, s.seed)
    log(f"  {'reused' if reused else 'generated'} {vault} ({stats['md_bytes'] / MIB:.1f} MiB)")
    run_dir = Path(tempfile.mkdtemp(prefix=f"scenes-{s.notes}-", dir=WORK_DIR))
    try:
        steps, edited = _run_steps(vault, run_dir, s, log)
    finally:
        if s.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    estimate = embed_estimate(s.notes)
    result = {
        "benchmark": "scenes",
        "created": started,
        "notes": s.notes,
        "seed": s.seed,
        "settings": {"repeat": s.repeat, "stat": s.stat, "model": s.model, "profile": s.profile,
                     "hash_dim": HASH_DIM if s.model == "hash" else None, "blas_threads": s.blas_threads},
        "thread_environment": threads,
        "machine": machine,
        "scene_sources": source_digests(),
        "vault": stats,
        "edited_note": edited,
        "measurements": steps,
        "embed_estimate": estimate,
        "target": compute_target(steps["fresh"], estimate) if steps.get("fresh") else None,
    }
    result["checks"] = checks(result)
    return result


def _run_steps(vault: Path, run_dir: Path, s: Settings, log: Log) -> tuple[dict[str, Any], str | None]:
    steps: dict[str, Any] = {}
    work_vault = run_dir / "vault"
    shutil.copytree(vault, work_vault)  # step 2 edits a note; the cache stays pristine
    base = run_dir / "state-base"
    log(f"set-up: index with {s.model} vectors, scenes=False (not part of the scene stage) ...")
    steps["index"] = _done(log, _measure_once("index", work_vault, "index", run_dir, s, base))
    if not steps["index"]["ok"]:
        return steps, None

    runs = []
    state = base
    for i in range(s.repeat):
        state = run_dir / f"state-{i}"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(base, state)  # a fresh store: indexed, no scenes yet
        log(f"1. scene stage on a fresh store, run {i + 1}/{s.repeat} ...")
        runs.append(_done(log, _measure_once("stage", work_vault, f"stage-{i}", run_dir, s, state)))
    steps["fresh"] = combine(runs, s.stat)
    if not steps["fresh"]["ok"]:
        return steps, None
    modules = run_dir / f"stage-{s.repeat - 1}.modules"
    if modules.is_file():
        log("   the stage's lazy imports alone, in a fresh process ...")
        steps["imports"] = _done(log, _measure_once("imports", work_vault, "imports", run_dir, s, state,
                                                    ["--modules", str(modules)]))

    if s.profile:
        profiled = run_dir / "state-profile"
        shutil.copytree(base, profiled)
        log("   (profile: the same call under cProfile; not timed for the results) ...")
        m = _done(log, _measure_once("stage", work_vault, "stage-profile", run_dir, s, profiled, ["--profile"]))
        steps["profile"] = {"ok": m["ok"], "error": m.get("error"), "total_under_profiler": m["info"].get("total"),
                            "parts": m["info"].get("parts"), "profile": m["info"].get("profile")}

    edited = edit_one_note(work_vault)
    log(f"2. re-index after appending a sentence to {edited} (set-up) ...")
    steps["reindex"] = _done(log, _measure_once("index", work_vault, "reindex", run_dir, s, state))
    log("   scene stage after the edit ...")
    steps["one_edit"] = _done(log, _measure_once("stage", work_vault, "stage-edit", run_dir, s, state))
    log("3. no-change call ...")
    steps["nochange"] = _done(log, _measure_once("nochange", work_vault, "nochange", run_dir, s, state))
    return steps, edited


# =========================================================================== Markdown


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _secs(value: float | None, digits: int = 3) -> str:
    return _num(value, digits)


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[passed]


def _part_rows(fresh: Measurement | None, edit: Measurement | None) -> list[str]:
    def cells(m: Measurement | None, key: str) -> tuple[str, str]:
        if not m or not m["ok"]:
            return "—", "—"
        total = m["info"]["total"]
        value = m["info"]["parts"].get(key)
        return _secs(value), _pct(value / total if value is not None and total else None)

    rows = ["| part | fresh store, s | share | after one edit, s | share |", "|---|---:|---:|---:|---:|"]
    for key, label in PARTS:
        rows.append(f"| {label} | {' | '.join(cells(fresh, key))} | {' | '.join(cells(edit, key))} |")
    total = [("—", "") if not m or not m["ok"] else (_secs(m["info"]["total"]), "100%") for m in (fresh, edit)]
    rows.append(f"| **scene stage total** (`update_scenes`) | **{total[0][0]}** | {total[0][1]} "
                f"| **{total[1][0]}** | {total[1][1]} |")
    return rows


def _memory_rows(steps: dict[str, Any]) -> list[str]:
    rows = ["| process | stage total, s | process wall, s | RSS before the stage, MiB | peak memory, MiB "
            "| the stage's own growth, MiB |", "|---|---:|---:|---:|---:|---:|"]
    for key, label in (("fresh", "1. fresh store"), ("one_edit", "2. after one edit"),
                       ("nochange", "3. no-change call")):
        m = steps.get(key)
        if not m or not m["ok"]:
            continue
        info = m["info"]
        before = info.get("rss_before_mib")
        total = info.get("total", m["seconds"])
        growth = None if before is None else m["peak_mib"] - before
        rows.append(f"| {label} | {_secs(total)} | {_num(m['wall_seconds'], 2)} | {_num(before, 0)} "
                    f"| {_num(m['peak_mib'], 0)} | {_num(growth, 0)} |")
    return rows


MEMORY_PARTS = (("fingerprint", "fingerprint"), ("read", "read"), ("mem.graph", "graph"),
                ("mem.communities", "communities"), ("mem.labels", "labels"), ("mem.ids", "ids"),
                ("mem.map", "map"), ("put_scene_run", "store write"))


def _memory_steps_line(m: Measurement | None) -> str:
    """The process's RSS high-water mark at the end of each part (getrusage): the part where
    it jumps set the peak."""
    if not m or not m["ok"] or not m["info"].get("memory"):
        return ""
    mem, info = m["info"]["memory"], m["info"]
    cells, last = [], info.get("high_water_before_mib") or 0.0
    for key, label in MEMORY_PARTS:
        if key not in mem or "high_water_end_mib" not in mem[key]:
            continue
        high = mem[key]["high_water_end_mib"]
        cells.append(f"{label} {high:,.0f} (+{max(high - last, 0):,.0f})")
        last = max(last, high)
    return ("**Where the peak is reached** (fresh store; the process's RSS high-water mark in MiB at the end of "
            f"each part, + the rise during it; {info.get('high_water_before_mib', 0):,.0f} before the call): "
            + ", ".join(cells) + ".")


def _result_lines(fresh: Measurement) -> list[str]:
    info = fresh["info"]
    r, inp = info["result"], info["input"]
    buckets = ", ".join(f"{k}: {v}" for k, v in r["size_buckets"].items())
    return [
        f"**Input:** {inp['notes']:,} notes, {inp['links']:,} link occurrences "
        f"({inp['note_links']:,} to notes, {inp['wanted_links']:,} to {inp['wanted_targets']:,} missing notes), "
        f"{inp['vector_notes']:,} note vectors of dim {inp['vector_dim']}, {inp['text_chars'] / 1e6:.1f} M characters "
        f"of text; scene graph: **{info['edges']:,} edges**, {r['hubs']} hubs.",
        "",
        f"**Found:** **{r['scenes']:,} scenes** in **{r['regions']:,} regions**, **{r['unplaced']:,} unplaced** "
        f"notes ({r['placed']:,} placed); scene size min {r['size_min']}, median {_num(r['size_median'], 1)}, "
        f"max {r['size_max']}; **{r['scenes_size_10_plus']} scenes of size ≥ 10** "
        f"(holding {r['notes_in_size_10_plus']:,} notes); sizes {buckets}. Map layout: `{r['layout']}`.",
    ]


def _stability_lines(edit: Measurement | None, edited: str | None) -> list[str]:
    if not edit or not edit["ok"] or not edit["info"].get("stability"):
        return ["**Stability after one edit:** not measured."]
    st = edit["info"]["stability"]
    events = ", ".join(f"{k.split(':')[1]} {v}" for k, v in edit["info"]["result"]["events"].items()
                       if k.startswith("scene:"))
    return [
        f"**Stability after one edit** (a sentence appended to `{edited}`, re-indexed, scenes found again): "
        f"**{st['same_share']:.2%}** of {st['notes']:,} notes kept their scene id (unplaced → unplaced "
        f"counts as kept); {st['placed_kept_share']:.2%} of the {st['placed_before']:,} placed notes kept "
        f"theirs ({st['notes_moved']:,} moved); {st['scene_ids_kept']} of {st['scene_ids_before']} scene ids "
        f"survive ({st['scene_ids_after']} scenes after); unplaced {st['unplaced_before']} → "
        f"{st['unplaced_after']}. Scene id events of that run: {events}.",
    ]


def _nochange_lines(m: Measurement | None) -> list[str]:
    if not m or not m["ok"]:
        return ["**No-change call:** not measured."]
    i = m["info"]
    return [
        f"**No-change call** (`update_scenes` without force, nothing changed): returned "
        f"`{i['returned']}` in **{m['seconds'] * 1000:.1f} ms** (first call in a fresh process); "
        f"warm calls: median {i['warm_median'] * 1000:.1f} ms of {len(i['warm_seconds'])}; the fingerprint "
        f"alone {i['fingerprint_seconds'] * 1000:.1f} ms.",
    ]


def _target_lines(result: dict[str, Any]) -> list[str]:
    t, est = result.get("target"), result.get("embed_estimate")
    if not t:
        return []
    lines = ["| target | scene stage | limit | share of the embed estimate | result |", "|---|---:|---:|---:|---|"]
    lines.append(f"| {t['name']} | {_secs(t['stage_seconds'], 1)} s | < {_num(t['limit_seconds'], 0)} s "
                 f"| {_pct(t['share'], 2)} | {_verdict(t['passed'])} |")
    if est:
        per_model = "; ".join(
            f"{spec}: embed ≈ {m['embed_seconds_by_chars'] / 60:.1f} min by characters, "
            f"{m['embed_seconds_by_chunks'] / 60:.1f} min by chunks (whole index ≈ {m['index_seconds'] / 60:.1f} min)"
            for spec, m in est["models"].items())
        scaled = (f", scaled linearly from its {est['source_notes']:,} notes to {result['notes']:,}"
                  if est["scaled"] else "")
        lines += ["", f"Embed estimate from `{est['source']}` (run {est['source_created']}{scaled}): {per_model}. "
                  f"The limit uses the smallest, {est['min_embed_seconds'] / 60:.1f} min."]
    else:
        lines += ["", "No embed estimate: `benchmarks/results/embed.json` is missing or has no extrapolation."]
    return lines


def _label_rows(fresh: Measurement) -> list[str]:
    rows = ["| # | id | size | region | label | summary |", "|---:|---:|---:|---:|---|---|"]
    for n, s in enumerate(fresh["info"]["result"]["top"], 1):
        label, summary = (s[k].replace("|", "\\|").replace("\n", " ") for k in ("label", "summary"))
        rows.append(f"| {n} | {s['id']} | {s['size']} | {s['region']} | {label} | {summary} |")
    return rows


def _vectors_line(result: dict[str, Any]) -> str:
    model = result["settings"]["model"]
    if model != "hash":
        return (f"**Vectors:** the real `{model}` model (`vaultmind.embed.LazyModel('{model}')`); "
                "indexing took the set-up time below.")
    return (
        f"**Vectors: hashed, not model vectors.** The set-up index embeds with `HashEmbedder` "
        f"(this benchmark: signed feature hashing of words and word pairs into {HASH_DIM} dims, "
        "L2-normalised), because embedding 10,000 notes with the real model takes ~35 min. The "
        "synthetic vault's themes have their own vocabularies, so hashed vectors still cluster by "
        "theme. What the stage costs depends on the number of notes, links, neighbours (k) and the "
        "amount of text — the similarity step is the same n × n × dim product whatever made the "
        f"vectors ({HASH_DIM} = e5's dimension) — not on which model made them. What can differ is "
        "how many of the k-nearest pairs pass the similarity floor, so the edge count (at most "
        "links + n·k) and the partition it gives; both are reported. `--model e5 --notes N` "
        "measures with the real model."
    )


def _setup_line(steps: dict[str, Any]) -> str:
    parts = []
    for key, label in (("index", "first index (scenes=False)"), ("reindex", "re-index after the edit")):
        m = steps.get(key)
        if m and m["ok"]:
            summary = m["info"]["summary"]
            phases = ", ".join(f"{k} {v:.1f}s" for k, v in summary.get("phases", {}).items())
            parts.append(f"{label} {m['seconds']:.1f} s ({summary.get('parsed', 0):,} parsed, "
                         f"{summary.get('embedded', 0):,} chunks embedded; {phases})")
    return "**Set-up (not part of the scene stage):** " + "; ".join(parts) + "." if parts else ""


def _repeat_line(fresh: Measurement, settings: dict[str, Any]) -> str:
    totals = fresh.get("runs_total_seconds") or [fresh["info"]["total"]]
    if len(totals) == 1:
        return "Step 1 ran once."
    return (f"Step 1 ran {len(totals)}× (each on a fresh copy of the store, in a fresh process): "
            + ", ".join(f"{t:.2f}" for t in totals)
            + f" s; best {fresh['best_seconds']:.2f} s, median {fresh['median_seconds']:.2f} s; the table shows the "
            f"run nearest the {settings['stat']}.")


def _imports_line(steps: dict[str, Any]) -> str:
    fresh, m = steps.get("fresh"), steps.get("imports")
    if not fresh or not fresh["ok"] or not m or not m["ok"]:
        return ""
    info, roots = m["info"], fresh["info"].get("imported_roots", [])
    total = fresh["info"]["total"]
    shown = ", ".join(f"`{r}`" for r in roots[:12]) + (" …" if len(roots) > 12 else "")
    failed = f" ({info['failed']} would not import alone)" if info["failed"] else ""
    return (f"**Lazy imports:** the fresh-store call imported {fresh['info']['imported_modules']:,} modules on "
            f"first use ({shown}); importing them alone in a fresh process takes **{m['seconds']:.2f} s**{failed}, "
            f"≈ {m['seconds'] / total:.0%} of the stage total. A process pays this once; it is included in the "
            "times above (mostly in the step that first needs the module).")


def _profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile or not profile.get("ok") or not profile.get("profile"):
        return []
    text = profile["profile"]["tottime"]
    body = [line for line in text.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
    return ["## Profile (`--profile`)", "",
            f"The fresh-store call again under cProfile ({_num(profile['total_under_profiler'], 1)} s with the "
            "profiler on; not used for the timings above). Top functions by own time:", "", "```",
            *body[start : start + PROFILE_LINES + 1], "```", ""]


def _load_line(result: dict[str, Any]) -> str:
    """Other work on the machine during each measurement, and the BLAS thread setting."""
    parts = []
    for key, label in (("fresh", "step 1"), ("one_edit", "step 2"), ("nochange", "step 3")):
        m = result["measurements"].get(key)
        if not m or not m["ok"]:
            continue
        shares = [x for x in (m.get("runs_other_cpu_share") or [m.get("other_cpu_share")]) if x is not None]
        if shares:
            parts.append(f"{label} {', '.join(f'{x:.2f}' for x in shares)}")
    threads = result.get("thread_environment") or {}
    blas = ", ".join(f"{k}={v}" for k, v in threads.items() if v) or "BLAS thread variables unset (library default)"
    other = ("; ".join(parts) + " cores (the machine has "
             f"{result['machine']['cpu_count']})") if parts else "not measured"
    return (f"**Other load:** CPU used by other processes while each step ran, on average: {other}. "
            f"**Threads:** {blas}.")


def render_markdown(result: dict[str, Any]) -> str:
    steps = result["measurements"]
    fresh, edit = steps.get("fresh"), steps.get("one_edit")
    lines = [
        f"# vaultmind scene-stage benchmark: {result['vault']['notes']:,} notes (seed {result['seed']})",
        "",
        f"Run {result['created']}. **Machine:** {_machine_line(result['machine'])}.",
        "",
        _load_line(result),
        "",
        f"**Vault:** {_vault_line(result['vault'])}",
        "",
        _vectors_line(result),
        "",
        _setup_line(steps),
        "",
    ]
    if not fresh or not fresh["ok"]:
        lines += ["**The scene stage was not measured.**", ""]
    else:
        lines += [
            "## Time per part",
            "",
            *_part_rows(fresh, edit),
            "",
            _repeat_line(fresh, result["settings"]),
            "",
            _imports_line(steps),
            "",
            "## Memory",
            "",
            *_memory_rows(steps),
            "",
            _memory_steps_line(fresh),
            "",
            "## What the stage found (fresh store)",
            "",
            *_result_lines(fresh),
            "",
            *_stability_lines(edit, result.get("edited_note")),
            "",
            *_nochange_lines(steps.get("nochange")),
            "",
            "## Target",
            "",
            *_target_lines(result),
            "",
            f"## Top {TOP_LABELS} scenes (largest first)",
            "",
            *_label_rows(fresh),
            "",
            *_profile_lines(steps.get("profile")),
        ]
    if result["checks"]:
        lines += ["**Checks:**", "", *(f"- {c}" for c in result["checks"]), ""]
    digests = ", ".join(f"`{k.removeprefix('src/vaultmind/')}` {v}" for k, v in result["scene_sources"].items())
    lines += [
        "*Parts* are timed inside one `pipeline.update_scenes(store, Config(), model_id, force=True)` call "
        "(timers wrap `scene_fingerprint`, `scene_input`, `scenes.build_scenes` — whose own `steps` give the "
        "build rows — and `Store.put_scene_run`; *assemble + store write* is the rest: building the "
        "`SceneMap`, `put_scene_run` and the commit). Each step ran in a fresh process after its imports; "
        "*process wall* adds interpreter start-up, imports and opening the store. *Peak memory* is the larger "
        "of the process's own peak RSS (getrusage) and its sampled peak PSS; *RSS before* is taken after the "
        "imports and opening the store, just before the call. See benchmarks/README.md.",
        "",
        f"Scene-stage sources measured (blake2b): {digests}.",
        "",
    ]
    return "\n".join(lines)


# =========================================================================== CLI


def write_results(result: dict[str, Any], stem: Path | None) -> tuple[Path, Path, str]:
    """Write STEM.json and STEM.md (default: results/scenes-<N>[-<model>]), via .tmp files."""
    model = result["settings"]["model"]
    base = stem or RESULTS_DIR / (f"scenes-{result['notes']}" + ("" if model == "hash" else f"-{model}"))
    markdown = render_markdown(result)
    return (*save_results(base, result, markdown), markdown)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None, bool]:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                description="vaultmind scene-stage benchmark (see benchmarks/README.md)")
    p.add_argument("--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run step 1 K times, each on a fresh copy of the store in a fresh process (default 1)")
    p.add_argument("--stat", choices=("median", "best"), default="median",
                   help="which of the --repeat step-1 times the table and target use (default median)")
    p.add_argument("--model", choices=MODELS, default="hash",
                   help="vectors: hash (default, fast, deterministic) or a real model (e5, use: slow, use "
                        "a small --notes)")
    p.add_argument("--profile", action="store_true",
                   help="also run the fresh-store call once under cProfile and report the top functions")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="set OPENBLAS/OMP/MKL_NUM_THREADS for the measured processes (default: unset, "
                        "what a user gets; 1 shows the cost without BLAS thread contention)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per measurement (default 3600)")
    p.add_argument("--keep", action="store_true", help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None,
                   help="write OUT.json and OUT.md instead of benchmarks/results/scenes-<N>.*")
    p.add_argument("--check", action="store_true", help="exit 1 unless the target was measured and passed")
    a = p.parse_args(argv)
    if a.notes < 2 or a.repeat < 1:
        p.error("--notes must be at least 2 and --repeat at least 1")
    if a.blas_threads is not None and a.blas_threads < 1:
        p.error("--blas-threads must be at least 1")
    return (Settings(a.notes, a.seed, a.repeat, a.stat, a.model, a.profile, a.timeout, a.keep, a.blas_threads),
            a.out, a.check)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CHILD_TASKS:
        return child_main(args)
    settings, out, check = parse_args(args)

    result = run_benchmark(settings, log)
    json_path, md_path, markdown = write_results(result, out)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    if check and not (result.get("target") or {}).get("passed"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
