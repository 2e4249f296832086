"""The blind-spot benchmark: time, share and peak memory of each blind-spot detector on the
synthetic vault, the time to read the detectors' input from the store, and what each detector
found there.

    .venv/bin/python -m benchmarks.run_blindspots [--notes 10000] [--seed 0] [--repeat 3]
        [--profile-above SEC] [--timeout SEC] [--keep] [--out STEM]

The vault (cached by the indexing benchmark under benchmarks/.work/) is indexed once with the
scene-stage benchmark's hashing embedder (`run_scenes.HashEmbedder`: hashed vectors, not model
vectors) and scenes (`vaultmind.index(..., embedder=HashEmbedder())`). Then, each in a fresh
process (`python -m benchmarks.run_blindspots TASK ...`, through `run_index.run_measurement`),
`--repeat` times, round-robin:

- input: `pipeline.blindspot_input(store, model_id)`, timed;
- one process per detector: the input is read first (outside the clock), then
  `find_blind_spots(data, kinds=<that detector's kinds>, limit=10, timings=t)`; the seconds are
  `t[detector]`, the memory is the process's RSS high-water mark during the call (reset just
  before it, so the input's own peak does not hide the detector's);
- all detectors: `find_blind_spots(data, limit=10, timings=t)`: the total, each detector's
  share of it, the peak.

In the first round each detector's process also calls the detector directly with limit 10,000
(after the clock) to count its findings before the limit. A detector whose median exceeds
`--profile-above` seconds (default 3) runs once more under cProfile. Results go to
benchmarks/results/blindspots-<N>.{json,md}; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import hashlib
import json
import os
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

from benchmarks._measure import _plain, measure, write_child_result
from benchmarks._report import _machine_line, _num, _vault_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, _own_cpu_seconds
from benchmarks.run_index import run_measurement
from benchmarks.run_scenes import (
    HASH_DIM,
    NOISY_SHARE,
    PROFILE_LINES,
    THREAD_VARS,
    HashEmbedder,
    _maxrss_mib,
    _pct,
    _profile_text,
    _rss_mib,
    embed_estimate,
)
from benchmarks.synth import cached_vault
from vaultmind.blindspots import DETECTORS as FOUND_BY

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
MODULE = "benchmarks.run_blindspots"
MIB = 2**20

_KINDS_OF = {d.name: d.kinds for d in FOUND_BY}
DETECTORS = tuple(_KINDS_OF)  # detector names in the order find_blind_spots runs them
LIMIT = 10  # findings per kind, as `vaultmind blindspots` shows by default
COUNT_LIMIT = 10_000  # the limit of the direct call that counts findings before the limit
TOP_TITLES = 3
EVIDENCE_ITEMS, EVIDENCE_CHARS = 5, 160  # how much of a top finding's evidence the JSON keeps
PROFILE_ABOVE = 3.0  # seconds: a detector slower than this (median) is profiled
SOURCES = ("src/vaultmind/pipeline.py", "src/vaultmind/blindspots")
PACKAGES = ("vaultmind", "numpy", "networkx", "igraph", "rapidfuzz", "psutil")

Log = Callable[[str], None]
Measurement = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    repeat: int
    profile_above: float
    timeout: float
    keep: bool


# =========================================================================== memory
# The detectors run after the input is read, and reading it peaks above what stays resident.
# getrusage's high-water mark would hide a detector that stays below that peak, so the child
# resets the kernel's mark (VmHWM; `echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0) just before
# the measured call and reads it after.


def _hwm_mib() -> float | None:
    """The process's RSS high-water mark (VmHWM) in MiB, None where /proc is not there."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(m[1]) / 1024 if m else None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Peak:
    """RSS and high-water mark around one call: `start` after the input is resident (a
    collection first), `stop` after the call."""

    def start(self) -> None:
        gc.collect()
        self.before_hwm = _hwm_mib() or _maxrss_mib()  # the peak so far: imports, store, input
        self.rss_before = _rss_mib()
        self.reset = _reset_hwm()

    def stop(self) -> dict[str, Any]:
        during = _hwm_mib() if self.reset else _maxrss_mib()
        during = during if during is not None else _maxrss_mib()
        return {
            "rss_before_mib": self.rss_before,
            "high_water_before_mib": self.before_hwm,
            "high_water_reset": self.reset,
            "peak_during_mib": during,  # with a reset: the call's own peak, the resident input included
            "growth_mib": during - self.rss_before,
            "process_peak_mib": max(self.before_hwm, during),
            "rss_after_mib": _rss_mib(),
        }


# =========================================================================== child tasks
# Each prepare_* runs in the measured process: it reads what it needs outside the clock and
# returns the callable that `benchmarks._measure.measure` times. What runs after the clock
# goes into `_AFTER`, run by `child_main` once the timing is taken.

_AFTER: list[Callable[[], dict[str, Any]]] = []


def prepare_index(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """The set-up: `vaultmind.index(vault, state_dir, embedder=HashEmbedder())`, scenes on
    (the default), so the store holds what `blindspot_input` reads."""
    import vaultmind

    embedder = HashEmbedder()

    def run() -> dict[str, Any]:
        summary = vaultmind.index(args.vault, state_dir=args.state_dir, embedder=embedder)
        return {"summary": _plain(summary), "model_id": embedder.model_id}

    return run


def _input_counts(data: Any) -> dict[str, Any]:
    return {
        "notes": len(data.notes),
        "links": len(data.links),
        "wanted_links": sum(1 for r in data.links if r.target_path is None),
        "files": len(data.files),
        "note_vectors": 0 if data.vectors is None else len(data.vectors[0]),
        "chunks": 0 if data.chunks is None else len(data.chunks[1]),
        "vector_dim": 0 if data.vectors is None else int(data.vectors[1].shape[1]),
        "chunk_text_chars": sum(len(t) for _h, t, _l in data.chunk_text.values()),
        "scenes": len(data.scenes),
        "unplaced": len(data.unplaced),
        "hubs": len(data.hubs),
        "documents": len(data.documents),
        "aliases": sum(len(a) for a in data.aliases.values()),
        "tagged_notes": len(data.tags),
    }


def prepare_input(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`pipeline.blindspot_input(store, model_id)` on the indexed store."""
    from vaultmind import pipeline
    from vaultmind.store import Store

    model_id = HashEmbedder().model_id
    store = Store.open(args.state_dir, create=False)
    peak = _Peak()
    found: list[Any] = []

    def run() -> dict[str, Any]:
        peak.start()
        tick = time.perf_counter()
        found.append(pipeline.blindspot_input(store, model_id))
        total = time.perf_counter() - tick
        return {"total": total, "memory": peak.stop()}

    def after() -> dict[str, Any]:
        store.close()
        return {"input": _input_counts(found[0])} if found else {}

    _AFTER.append(after)
    return run


def _short(value: Any) -> Any:
    """Evidence, kept small for the JSON: lists cut to EVIDENCE_ITEMS, strings to EVIDENCE_CHARS."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value[:EVIDENCE_ITEMS]] + (["…"] if len(value) > EVIDENCE_ITEMS else [])
    if isinstance(value, str) and len(value) > EVIDENCE_CHARS:
        return value[: EVIDENCE_CHARS - 1] + "…"
    return value


def _some(evidence: Sequence[Any]) -> list[Any]:
    """The first few link occurrences of a finding's evidence and its other facts."""
    links = [e for e in evidence if isinstance(e, dict) and e.get("type") == "link"]
    return links[:3] + [e for e in evidence if not (isinstance(e, dict) and e.get("type") == "link")][:EVIDENCE_ITEMS]


def _capped(n: int) -> bool:
    """A count equal to a cap the detectors put on their own output (`limit` for the gap
    detectors, 3·`limit` for the others) may have been cut."""
    return n in (COUNT_LIMIT, 3 * COUNT_LIMIT)


def _findings(spots: Sequence[Any]) -> dict[str, Any]:
    """Counts per kind and the first TOP_TITLES of each kind (the runner's order: best first)."""
    by_kind: dict[str, list[Any]] = {}
    for s in spots:
        by_kind.setdefault(s.kind, []).append(s)
    return {
        "counts": {k: len(v) for k, v in by_kind.items()},
        "ids": {k: [s.id for s in v] for k, v in by_kind.items()},
        "top": {k: [{"title": s.title, "score": round(s.score, 4), "id": s.id, "notes": list(s.notes)[:EVIDENCE_ITEMS],
                     "evidence": _short(_some(s.evidence))} for s in v[:TOP_TITLES]]
                for k, v in by_kind.items()},
    }


def prepare_detect(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """Read the input (outside the clock), then `find_blind_spots(data, kinds=..., limit=10,
    timings=t)` for one detector's kinds (`--detector NAME`) or for all (`--detector all`)."""
    from vaultmind import pipeline
    from vaultmind.blindspots import find_blind_spots
    from vaultmind.store import Store

    model_id = HashEmbedder().model_id
    name = args.detector
    kinds = None if name == "all" else list(_KINDS_OF[name])
    tick = time.perf_counter()
    with Store.open(args.state_dir, create=False) as store:
        data = pipeline.blindspot_input(store, model_id)
    input_seconds = time.perf_counter() - tick
    peak = _Peak()
    profiler = cProfile.Profile() if args.profile else None
    found: list[Any] = []

    def run() -> dict[str, Any]:
        timings: dict[str, float] = {}
        modules = set(sys.modules)
        peak.start()
        tick = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        spots = find_blind_spots(data, kinds=kinds, limit=LIMIT, timings=timings)
        if profiler is not None:
            profiler.disable()
        total = time.perf_counter() - tick
        memory = peak.stop()
        found.extend(spots)
        new = sorted(set(sys.modules) - modules)
        roots = sorted({m.split(".")[0] for m in new if not m.startswith("_")} - sys.stdlib_module_names
                       - {"vaultmind"})
        return {"detector": name, "kinds": kinds, "total": total, "timings": timings, "memory": memory,
                "input_seconds": input_seconds, "imported_modules": len(new), "imported_roots": roots}

    def after() -> dict[str, Any]:
        out: dict[str, Any] = {"findings": _findings(found)}
        if profiler is not None:
            out["profile"] = _profile_text(profiler)
        if args.count and name != "all":
            tick = time.perf_counter()
            spots = next(d for d in FOUND_BY if d.name == name).find(data, COUNT_LIMIT)
            out["uncapped"] = {"limit": COUNT_LIMIT, "seconds": time.perf_counter() - tick,
                               "counts": dict(Counter(s.kind for s in spots))}
        return out

    _AFTER.append(after)
    return run


CHILD_TASKS = {"index": prepare_index, "input": prepare_input, "detect": prepare_detect}


def child_main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.run_blindspots TASK VAULT RESULT_JSON [options]`: one measurement."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} TASK")
    p.add_argument("task", choices=sorted(CHILD_TASKS))
    p.add_argument("vault", type=Path)
    p.add_argument("result", type=Path)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--detector", choices=[*DETECTORS, "all"], default="all")
    p.add_argument("--count", action="store_true", help="detect: count findings with limit 10,000 after the clock")
    p.add_argument("--profile", action="store_true", help="detect: run the call under cProfile")
    args = p.parse_args(argv)
    result, code = measure(args, CHILD_TASKS)
    return write_child_result(args.result, result, code, _AFTER)


# =========================================================================== parent steps


def _measure_once(task: str, vault: Path, name: str, run_dir: Path, s: Settings, state: Path,
                  extra: Sequence[str] = ()) -> Measurement:
    """One measurement in a fresh process, with the load average before it and the CPU
    seconds other processes used while it ran (as in run_scenes)."""
    load = os.getloadavg()[0]
    busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
    m = run_measurement(task, vault, name, run_dir, s.timeout, ["--state-dir", str(state), *extra], module=MODULE)
    other = max((_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own), 0.0)
    wall = m["wall_seconds"]
    return m | {
        "load_average_before": round(load, 2),
        "other_cpu_seconds": round(other, 2),
        "other_cpu_share": round(other / wall, 3) if wall else None,
    }


def _seconds_of(m: Measurement, detector: str) -> float:
    info = m["info"]
    return info["total"] if detector in ("all", "input") else info["timings"][detector]


def _log_done(log: Log, m: Measurement, detector: str) -> Measurement:
    if m["ok"]:
        mem = m["info"].get("memory", {})
        peak = f", peak {mem['peak_during_mib']:.0f} MiB (+{mem['growth_mib']:.0f})" if mem else ""
        seconds = _seconds_of(m, detector) if detector != "index" else m["seconds"]
        log(f"   {seconds:.3f} s (process {m['wall_seconds']:.1f} s){peak}; "
            f"other processes used {m['other_cpu_seconds']:.1f} CPU s meanwhile")
    else:
        log(f"   not measured: {m['error']}")
    return m


def combine(runs: list[Measurement], detector: str) -> Measurement:
    """The run nearest the median of `runs` (by the detector's seconds, or the call's total),
    with every run's seconds, memory and load."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return runs[-1]
    values = [_seconds_of(r, detector) for r in ok]
    median = statistics.median(values)
    typical = min(ok, key=lambda r: abs(_seconds_of(r, detector) - median))
    out = typical | {
        "runs_seconds": values,
        "median_seconds": median,
        "best_seconds": min(values),
        "runs_memory": [r["info"]["memory"] for r in ok],
        "peak_during_mib_max": max(r["info"]["memory"]["peak_during_mib"] for r in ok),
        "growth_mib_max": max(r["info"]["memory"]["growth_mib"] for r in ok),
        "process_peak_mib_max": max(r["info"]["memory"]["process_peak_mib"] for r in ok),
        "runs_other_cpu_share": [r.get("other_cpu_share") for r in ok],
        "runs_failed": len(runs) - len(ok),
    }
    if detector == "all":
        out["runs_timings"] = [r["info"]["timings"] for r in ok]
        out["runs_total"] = values
    else:
        out["runs_total"] = [r["info"]["total"] for r in ok]
    counted = [r["info"]["uncapped"] for r in ok if r["info"].get("uncapped")]
    if counted:
        out["uncapped"] = counted[0]
    return out


def source_digests() -> dict[str, str]:
    """Short hashes of the detectors' sources: which version was measured."""
    out = {}
    for item in SOURCES:
        path = REPO / item
        for f in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            if f.is_file():
                out[f.relative_to(REPO).as_posix()] = hashlib.blake2b(f.read_bytes(), digest_size=6).hexdigest()
    return out


def scene_benchmark(notes: int) -> dict[str, Any] | None:
    """The scene-stage benchmark's result for the same vault size, if there is one."""
    path = RESULTS_DIR / f"scenes-{notes}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fresh = data["measurements"]["fresh"]
        return {"source": path.relative_to(REPO).as_posix(), "created": data.get("created"),
                "stage_seconds": fresh["chosen_seconds"], "stat": data["settings"]["stat"],
                "peak_mib": fresh.get("peak_mib_max", fresh.get("peak_mib"))}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summarise(steps: dict[str, Any]) -> dict[str, Any]:
    """Per detector: median seconds alone, median seconds and share inside the all-detector
    call, memory, findings."""
    every = steps.get("all")
    rows = {}
    for name in DETECTORS:
        m = steps["detectors"].get(name)
        if not m or not m["ok"]:
            rows[name] = {"ok": False, "error": (m or {}).get("error")}
            continue
        in_all = shares = None
        if every and every["ok"]:
            times = [t[name] for t in every["runs_timings"] if name in t]
            in_all = statistics.median(times) if times else None
            shares = [t[name] / total for t, total in zip(every["runs_timings"], every["runs_total"]) if name in t]
        rows[name] = {
            "ok": True,
            "kinds": list(_KINDS_OF[name]),
            "seconds": m["median_seconds"],
            "runs_seconds": m["runs_seconds"],
            "seconds_in_all": in_all,
            "share_of_all": statistics.median(shares) if shares else None,
            "peak_mib": m["peak_during_mib_max"],
            "growth_mib": m["growth_mib_max"],
            "rss_before_mib": m["info"]["memory"]["rss_before_mib"],
            "findings_shown": m["info"]["findings"]["counts"],
            "findings_before_limit": (m.get("uncapped") or {}).get("counts"),
            "uncapped_seconds": (m.get("uncapped") or {}).get("seconds"),
            "top": m["info"]["findings"]["top"],
            "imported_roots": m["info"].get("imported_roots", []),
        }
    out: dict[str, Any] = {"detectors": rows}
    if every and every["ok"]:
        timed = statistics.median([sum(t.values()) for t in every["runs_timings"]])
        out["all"] = {"seconds": every["median_seconds"], "runs_seconds": every["runs_seconds"],
                      "detectors_seconds": timed, "outside_detectors_seconds": every["median_seconds"] - timed,
                      "peak_mib": every["peak_during_mib_max"], "growth_mib": every["growth_mib_max"],
                      "process_peak_mib": every["process_peak_mib_max"],
                      "rss_before_mib": every["info"]["memory"]["rss_before_mib"],
                      "findings_shown": every["info"]["findings"]["counts"]}
    inp = steps.get("input")
    if inp and inp["ok"]:
        out["input"] = {"seconds": inp["median_seconds"], "runs_seconds": inp["runs_seconds"],
                        "rss_before_mib": inp["info"]["memory"]["rss_before_mib"],
                        "peak_mib": inp["peak_during_mib_max"], "growth_mib": inp["growth_mib_max"],
                        "counts": inp["info"].get("input")}
    if "all" in out and "input" in out:
        out["input_plus_all_seconds"] = out["input"]["seconds"] + out["all"]["seconds"]
    return out


def context(summary: dict[str, Any], steps: dict[str, Any], notes: int) -> dict[str, Any]:
    """The blind-spot pass (input + all detectors) next to the scene stage (the scene-stage
    benchmark's result and this run's own index) and the embed estimate."""
    total = summary.get("input_plus_all_seconds")
    scenes = scene_benchmark(notes)
    index = steps.get("index") or {}
    index_scenes = ((index.get("info") or {}).get("summary") or {}).get("phases", {}).get("scenes")
    estimate = embed_estimate(notes)
    out = {"blindspot_pass_seconds": total, "scene_benchmark": scenes, "index_scenes_phase_seconds": index_scenes,
           "index_seconds": index.get("seconds"), "embed_estimate": estimate}
    if total is not None:
        if scenes:
            out["vs_scene_stage"] = total / scenes["stage_seconds"]
        if index_scenes:
            out["vs_index_scenes_phase"] = total / index_scenes
        if estimate:
            out["share_of_embed_estimate"] = total / estimate["min_embed_seconds"]
    return out


def checks(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    steps = result["measurements"]
    named = [("index (set-up)", steps.get("index")), ("input", steps.get("input")),
             *((f"detector {n}", steps["detectors"].get(n)) for n in DETECTORS), ("all detectors", steps.get("all"))]
    for name, m in named:
        if m is None:
            continue
        if not m["ok"]:
            out.append(f"{name}: failed: {m['error']}")
            continue
        if m.get("runs_failed"):
            out.append(f"{name}: {m['runs_failed']} of the runs failed; the median is over the others")
        shares = m.get("runs_other_cpu_share") or [m.get("other_cpu_share")]
        worst = max((x for x in shares if x is not None), default=None)
        if worst is not None and worst > NOISY_SHARE:
            out.append(f"{name}: other processes used up to {worst:.2f} cores on average meanwhile "
                       f"(load average before: {m.get('load_average_before')}); this timing may be skewed")
        if m["info"].get("after_error"):
            out.append(f"{name}: the work after the clock failed: {m['info']['after_error']}")
        memory = m["info"].get("memory")
        if memory and not memory.get("high_water_reset"):
            out.append(f"{name}: the RSS high-water mark could not be reset before the call; its peak is "
                       "the process's (the input's peak may hide the call's)")
    every = steps.get("all")
    for name in DETECTORS:
        m = steps["detectors"].get(name)
        if not m or not m["ok"] or not every or not every["ok"]:
            continue
        alone, together = m["info"]["findings"]["ids"], every["info"]["findings"]["ids"]
        differ = [k for k in _KINDS_OF[name] if alone.get(k, []) != together.get(k, [])]
        if differ:
            out.append(f"detector {name}: its findings alone differ from the all-detector call's for "
                       f"{', '.join(differ)}")
        counted = (m.get("uncapped") or {}).get("counts") or {}
        for kind, n in counted.items():
            if n < m["info"]["findings"]["counts"].get(kind, 0):
                out.append(f"detector {name}: {n} {kind} findings with limit {COUNT_LIMIT:,}, fewer than shown")
            if _capped(n):
                out.append(f"detector {name}: {n:,} {kind} findings with limit {COUNT_LIMIT:,}, exactly a detector's "
                           "own cap (limit or 3·limit): there may be more")
    return out


# =========================================================================== orchestration


def run_benchmark(s: Settings, log: Log) -> dict[str, Any]:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO, PACKAGES)  # first, so the load average is the machine's, not ours
    threads = {name: os.environ.get(name) for name in THREAD_VARS}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log(f"vault: {s.notes} notes, seed {s.seed} ...")
    vault, stats, reused = cached_vault(WORK_DIR, s.notes, s.seed)
    log(f"  {'reused' if reused else 'generated'} {vault} ({stats['md_bytes'] / MIB:.1f} MiB)")
    run_dir = Path(tempfile.mkdtemp(prefix=f"blindspots-{s.notes}-", dir=WORK_DIR))
    try:
        steps = _run_steps(vault, run_dir, s, log)
    finally:
        if s.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    summary = summarise(steps)
    result = {
        "benchmark": "blindspots",
        "created": started,
        "notes": s.notes,
        "seed": s.seed,
        "settings": {"repeat": s.repeat, "stat": "median", "limit": LIMIT, "count_limit": COUNT_LIMIT,
                     "profile_above": s.profile_above, "model": "hash", "hash_dim": HASH_DIM},
        "thread_environment": threads,
        "machine": machine,
        "sources": source_digests(),
        "vault": stats,
        "measurements": steps,
        "summary": summary,
        "context": context(summary, steps, s.notes),
    }
    result["checks"] = checks(result)
    return result


def _run_steps(vault: Path, run_dir: Path, s: Settings, log: Log) -> dict[str, Any]:
    steps: dict[str, Any] = {"detectors": {}}
    work_vault = run_dir / "vault"
    shutil.copytree(vault, work_vault)  # the cached vault stays pristine whatever indexing writes
    state = run_dir / "state"
    log("set-up: index with hashed vectors and scenes (not part of the detectors' time) ...")
    steps["index"] = _log_done(log, _measure_once("index", work_vault, "index", run_dir, s, state), "index")
    if not steps["index"]["ok"]:
        return steps

    runs: dict[str, list[Measurement]] = {key: [] for key in ("input", *DETECTORS, "all")}
    for i in range(s.repeat):  # round-robin, so a burst of other load does not hit one detector's every run
        log(f"round {i + 1}/{s.repeat}")
        log("  input: pipeline.blindspot_input ...")
        runs["input"].append(_log_done(log, _measure_once("input", work_vault, f"input-{i}", run_dir, s, state),
                                       "input"))
        for n, name in enumerate(DETECTORS):
            extra = ["--detector", name, *(["--count"] if i == 0 else [])]
            log(f"  {name}{' (+ counting before the limit, after the clock)' if i == 0 else ''} ...")
            m = _measure_once("detect", work_vault, f"detect-{n}-{i}", run_dir, s, state, extra)
            runs[name].append(_log_done(log, m, name))
        log("  all detectors together ...")
        runs["all"].append(_log_done(log, _measure_once("detect", work_vault, f"all-{i}", run_dir, s, state,
                                                        ["--detector", "all"]), "all"))
    steps["input"] = combine(runs["input"], "input")
    for name in DETECTORS:
        steps["detectors"][name] = combine(runs[name], name)
    steps["all"] = combine(runs["all"], "all")

    steps["profiles"] = {}
    for n, name in enumerate(DETECTORS):
        m = steps["detectors"][name]
        if not m["ok"] or m["median_seconds"] <= s.profile_above:
            continue
        log(f"  profile: {name} under cProfile (not used for the timings) ...")
        p = _log_done(log, _measure_once("detect", work_vault, f"profile-{n}", run_dir, s, state,
                                         ["--detector", name, "--profile"]), name)
        steps["profiles"][name] = {"ok": p["ok"], "error": p.get("error"),
                                   "seconds_under_profiler": p["info"].get("timings", {}).get(name),
                                   "profile": p["info"].get("profile")}
    return steps


# =========================================================================== Markdown


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _findings_cell(row: dict[str, Any]) -> str:
    before = row.get("findings_before_limit")
    shown = row["findings_shown"]
    parts = []
    for kind in row["kinds"]:
        n = before.get(kind, 0) if before is not None else None
        capped = "≥ " if n is not None and _capped(n) else ""
        parts.append(f"{kind} {capped}{n:,}" if n is not None else f"{kind} ? ({shown.get(kind, 0)} shown)")
    return ", ".join(parts)


def _detector_rows(summary: dict[str, Any]) -> list[str]:
    rows = ["| # | detector | seconds (own process, median) | runs, s | seconds in the all-detector call "
            "| share of that total | peak RSS, MiB | growth over the input, MiB | findings before the limit |",
            "|---:|---|---:|---|---:|---:|---:|---:|---|"]
    for n, name in enumerate(DETECTORS, 1):
        r = summary["detectors"][name]
        if not r["ok"]:
            rows.append(f"| {n} | {name} | not measured: {_esc(str(r['error']))} | | | | | | |")
            continue
        runs = ", ".join(f"{x:.2f}" for x in r["runs_seconds"])
        rows.append(f"| {n} | {name} | **{r['seconds']:.3f}** | {runs} | {_num(r['seconds_in_all'], 3)} "
                    f"| {_pct(r['share_of_all'])} | {r['peak_mib']:,.0f} | +{r['growth_mib']:,.0f} "
                    f"| {_findings_cell(r)} |")
    a = summary.get("all")
    if a:
        runs = ", ".join(f"{x:.2f}" for x in a["runs_seconds"])
        rows.append(f"| | **all detectors** (`find_blind_spots`, one process) | **{a['seconds']:.3f}** | {runs} "
                    f"| {a['seconds']:.3f} | 100% | {a['peak_mib']:,.0f} | +{a['growth_mib']:,.0f} "
                    f"| {sum(a['findings_shown'].values())} shown (≤ {LIMIT} per kind) |")
    i = summary.get("input")
    if i:
        runs = ", ".join(f"{x:.2f}" for x in i["runs_seconds"])
        rows.append(f"| | *reading the input* (`pipeline.blindspot_input`) | {i['seconds']:.3f} | {runs} | | "
                    f"| {i['peak_mib']:,.0f} | +{i['growth_mib']:,.0f} (over {i['rss_before_mib']:,.0f} before) | |")
    return rows


def _all_line(summary: dict[str, Any]) -> str:
    a, i = summary.get("all"), summary.get("input")
    if not a:
        return "**All detectors:** not measured."
    alone = [r["seconds"] for r in summary["detectors"].values() if r.get("ok")]
    line = (f"**All detectors in one call:** {a['seconds']:.2f} s (median; runs "
            f"{', '.join(f'{x:.2f}' for x in a['runs_seconds'])}), of which the detectors' own timers "
            f"{a['detectors_seconds']:.2f} s; the rest, {a['outside_detectors_seconds']:.2f} s, is sorting, "
            f"dropping dismissed findings and cutting to the limit. The detectors' medians in their own "
            f"processes add up to {sum(alone):.2f} s. Peak RSS {a['peak_mib']:,.0f} MiB, "
            f"+{a['growth_mib']:,.0f} MiB over the {a['rss_before_mib']:,.0f} MiB resident with the input read; "
            f"the process's peak, reading the input included, {a['process_peak_mib']:,.0f} MiB.")
    if i:
        line += (f" **Input + all detectors: {summary['input_plus_all_seconds']:.2f} s** — what one "
                 "`vaultmind blindspots` costs after start-up, when the scenes are current.")
    return line


def _input_line(summary: dict[str, Any]) -> str:
    i = summary.get("input")
    if not i or not i.get("counts"):
        return ""
    c = i["counts"]
    return (f"**Input:** {c['notes']:,} notes, {c['links']:,} link occurrences ({c['wanted_links']:,} unresolved), "
            f"{c['files']:,} other files, {c['note_vectors']:,} note vectors and {c['chunks']:,} chunk vectors of "
            f"dim {c['vector_dim']}, {c['chunk_text_chars'] / 1e6:.1f} M characters of chunk text, "
            f"{c['scenes']} scenes ({c['unplaced']} unplaced, {c['hubs']} hubs), {c['documents']:,} parsed "
            f"notes with a dialogue or a question heading, {c['aliases']:,} aliases, {c['tagged_notes']:,} tagged "
            f"notes. Reading it takes **{i['seconds']:.2f} s** (median) and {i['peak_mib']:,.0f} MiB at its "
            f"peak (+{i['growth_mib']:,.0f} MiB over the {i['rss_before_mib']:,.0f} MiB after imports and opening "
            "the store).")


def _context_lines(result: dict[str, Any]) -> list[str]:
    c = result["context"]
    total = c.get("blindspot_pass_seconds")
    if total is None:
        return ["Not measured."]
    parts = [f"The blind-spot pass (input + all detectors) takes **{total:.1f} s**."]
    sc = c.get("scene_benchmark")
    if sc:
        parts.append(f"The scene stage on the same vault took {sc['stage_seconds']:.1f} s ({sc['stat']} of "
                     f"`{sc['source']}`, run {sc['created']}; peak {_num(sc['peak_mib'], 0)} MiB): the pass is "
                     f"**{c['vs_scene_stage']:.2f}×** that.")
    if c.get("index_scenes_phase_seconds"):
        parts.append(f"In this run's set-up index the scene phase took {c['index_scenes_phase_seconds']:.1f} s "
                     f"({c['vs_index_scenes_phase']:.2f}×).")
    est = c.get("embed_estimate")
    if est:
        scaled = (f", scaled from its {est['source_notes']:,} notes" if est["scaled"] else "")
        parts.append(f"Embedding the vault with a real model is estimated at {est['min_embed_seconds'] / 60:.1f}–"
                     f"{est['max_embed_seconds'] / 60:.1f} min (`{est['source']}`, run {est['source_created']}"
                     f"{scaled}): the pass is **{_pct(c['share_of_embed_estimate'], 2)}** of the smaller.")
    return [" ".join(parts)]


def _brief(finding: dict[str, Any]) -> str:
    """A few facts from a finding's evidence, to judge the title by."""
    out = []
    for e in finding.get("evidence", []):
        if not isinstance(e, dict):
            continue
        t = e.get("type")
        if t == "similarity":
            out.append(f"cosine {e['cosine']:.2f}, ranks {e.get('rank_a')}/{e.get('rank_b')}")
        elif t == "shared_terms" and e.get("terms"):
            out.append("shared terms " + ", ".join(x for x in e["terms"][:4] if x != "…"))
        elif t == "shared_context" and e.get("tags"):
            out.append("shared tags " + ", ".join(f"#{x}" for x in e["tags"][:3] if x != "…"))
        elif t == "scenes" and "a" in e:
            out.append("same scene" if e["a"] == e["b"] and e["a"] is not None else f"scenes {e['a']}/{e['b']}")
        elif t == "betweenness":
            out.append(f"betweenness {e['value']:.3f}")
        elif t == "probably_means":
            out.append(f"{e['reason']}, edit distance {e['distance']}")
        elif t == "nearest":
            out.append(f"nearest note `{e['note']}` ({e['similarity']:.2f})")
        elif t == "words":
            out.append(f"{e['words']} words")
        elif t == "count" and "turns" in e:
            out.append(f"{e['turns']} turns")
    if finding.get("notes") and finding["title"].startswith("«"):  # the titles of a pair: show where they live
        out.append("paths " + ", ".join(f"`{x}`" for x in finding["notes"][:2]))
    return _esc("; ".join(out))


def _top_lines(summary: dict[str, Any]) -> list[str]:
    rows = ["| detector | kind | # | score | title | evidence (short) |", "|---|---|---:|---:|---|---|"]
    for name in DETECTORS:
        r = summary["detectors"][name]
        if not r["ok"]:
            continue
        for kind in r["kinds"]:
            top = r["top"].get(kind, [])
            if not top:
                rows.append(f"| {name} | {kind} | | | *(none found)* | |")
            for n, f in enumerate(top, 1):
                rows.append(f"| {name} | {kind} | {n} | {f['score']:.3f} | {_esc(f['title'])} | {_brief(f)} |")
    return rows


def _profile_lines(result: dict[str, Any]) -> list[str]:
    profiles = result["measurements"].get("profiles") or {}
    threshold = result["settings"]["profile_above"]
    if not profiles:
        return [f"No detector took more than {threshold:g} s (median), so none was profiled.", ""]
    lines = []
    for name, p in profiles.items():
        if not p["ok"] or not p.get("profile"):
            lines += [f"**{name}:** the profiled run failed: {p.get('error')}", ""]
            continue
        for order in ("tottime", "cumulative"):
            body = [line for line in p["profile"][order].splitlines() if line.strip()]
            start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
            lines += [f"**{name}** under cProfile ({_num(p['seconds_under_profiler'], 2)} s with the profiler on), "
                      f"top functions by {'own' if order == 'tottime' else 'cumulative'} time:", "", "```",
                      *body[start: start + PROFILE_LINES + 1], "```", ""]
    return lines


def _load_line(result: dict[str, Any]) -> str:
    parts = []
    steps = result["measurements"]
    named = [("input", steps.get("input")), *((n, steps["detectors"].get(n)) for n in DETECTORS),
             ("all", steps.get("all"))]
    for label, m in named:
        if not m or not m["ok"]:
            continue
        shares = [x for x in (m.get("runs_other_cpu_share") or []) if x is not None]
        if shares:
            parts.append(f"{label} {', '.join(f'{x:.2f}' for x in shares)}")
    threads = result.get("thread_environment") or {}
    blas = ", ".join(f"{k}={v}" for k, v in threads.items() if v) or "BLAS thread variables unset (library default)"
    other = ("; ".join(parts) + f" cores (the machine has {result['machine']['cpu_count']})") if parts else "not measured"
    return (f"**Other load:** CPU used by other processes while each process ran, on average, per run: {other}. "
            f"**Threads:** {blas}.")


def _vectors_line() -> str:
    return (
        f"**Vectors: hashed, not model vectors.** The set-up index embeds with the scene-stage benchmark's "
        f"`HashEmbedder` (signed feature hashing of words and word pairs into {HASH_DIM} dims, L2-normalised), "
        "because embedding 10,000 notes with the real model takes ~35 min; the scenes are found from these "
        "vectors too. The synthetic vault's 20 themes have their own vocabularies, so hashed vectors still "
        "group notes by theme. The cost of the vector work — missing links' n × n similarity blocks, the scene "
        "centroids, each orphan's nearest note — depends on the numbers of notes, chunks and dimensions, not on "
        "the model; what can differ is how many pairs pass the similarity floors (missing-link candidates, "
        "scene-gap pairs) and the scene partition, so the findings below say more about the synthetic vault "
        "than about what a model would find. The link-based detectors (wanted notes and broken links, "
        "orphans/dead ends/stubs, unanswered questions, bridges apart from the scenes they separate) do not "
        "read vectors at all."
    )


def _setup_line(steps: dict[str, Any]) -> str:
    m = steps.get("index")
    if not m or not m["ok"]:
        return "**Set-up:** the index failed."
    summary = m["info"]["summary"]
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in summary.get("phases", {}).items())
    return (f"**Set-up (not part of the detectors' time):** `vaultmind.index` with hashed vectors and scenes, "
            f"{m['seconds']:.1f} s ({summary.get('parsed', 0):,} parsed, {summary.get('embedded', 0):,} chunks "
            f"embedded; {phases}).")


def _imports_line(summary: dict[str, Any]) -> str:
    parts = [f"{name}: {', '.join(f'`{x}`' for x in r['imported_roots'][:8])}"
             for name, r in summary["detectors"].items() if r.get("ok") and r.get("imported_roots")]
    if not parts:
        return ""
    return ("**Imported on first use** inside each detector's own call (third-party roots; the detector modules "
            "come with `vaultmind.blindspots`, imported before the clock): " + "; ".join(parts) + ".")


def render_markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]
    lines = [
        f"# vaultmind blind-spot benchmark: {result['vault']['notes']:,} notes (seed {result['seed']})",
        "",
        f"Run {result['created']}. **Machine:** {_machine_line(result['machine'])}.",
        "",
        _load_line(result),
        "",
        f"**Vault:** {_vault_line(result['vault'])}",
        "",
        _vectors_line(),
        "",
        _setup_line(result["measurements"]),
        "",
        f"**Settings:** `--repeat {result['settings']['repeat']}` (the median counts), "
        f"`--profile-above {result['settings']['profile_above']:g}`; limit {LIMIT} findings per kind.",
        "",
        "## Time and memory per detector",
        "",
        *_detector_rows(summary),
        "",
        f"Each detector ran {result['settings']['repeat']}× in its own fresh process (round-robin with the others): "
        f"`find_blind_spots(data, kinds=<its kinds>, limit={LIMIT}, timings=t)` after the input was read and the "
        "detector modules imported; "
        "*seconds* is `t[detector]`, the median. *In the all-detector call* and *share* come from the "
        "process that ran every detector in one `find_blind_spots` call (median over its runs). *Peak RSS* is the "
        "process's RSS high-water mark during the call, reset just before it (so the resident input is included "
        "and the input's own peak is not); *growth* is that minus the RSS just before the call (largest of the "
        f"runs). *Findings before the limit*: the detector function called directly with limit {COUNT_LIMIT:,}, "
        "after the clock (the table of top findings below is what the limit of 10 shows).",
        "",
        _all_line(summary),
        "",
        _input_line(summary),
        "",
        _imports_line(summary),
        "",
        "## Context",
        "",
        *_context_lines(result),
        "",
        f"## Top {TOP_TITLES} findings per kind (as shown, best first)",
        "",
        *_top_lines(summary),
        "",
        "## Profiles",
        "",
        *_profile_lines(result),
    ]
    if result["checks"]:
        lines += ["**Checks:**", "", *(f"- {c}" for c in result["checks"]), ""]
    digests = ", ".join(f"`{k.removeprefix('src/vaultmind/')}` {v}" for k, v in result["sources"].items())
    lines += [f"Sources measured (blake2b): {digests}. See benchmarks/README.md.", ""]
    return "\n".join(lines)


# =========================================================================== CLI


def write_results(result: dict[str, Any], stem: Path | None) -> tuple[Path, Path, str]:
    """Write STEM.json and STEM.md (default: results/blindspots-<N>), via .tmp files."""
    base = stem or RESULTS_DIR / f"blindspots-{result['notes']}"
    markdown = render_markdown(result)
    return (*save_results(base, result, markdown), markdown)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                description="vaultmind blind-spot benchmark (see benchmarks/README.md)")
    p.add_argument("--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--repeat", type=int, default=3,
                   help="fresh processes per detector (and for the input and the all-detector call); the "
                        "median counts (default 3)")
    p.add_argument("--profile-above", type=float, default=PROFILE_ABOVE,
                   help=f"profile each detector whose median exceeds SEC seconds (default {PROFILE_ABOVE:g}; "
                        "0: every detector; inf: none)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per measurement (default 3600)")
    p.add_argument("--keep", action="store_true", help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None,
                   help="write OUT.json and OUT.md instead of benchmarks/results/blindspots-<N>.*")
    a = p.parse_args(argv)
    if a.notes < 2 or a.repeat < 1:
        p.error("--notes must be at least 2 and --repeat at least 1")
    return Settings(a.notes, a.seed, a.repeat, a.profile_above, a.timeout, a.keep), a.out


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
