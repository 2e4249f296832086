"""Incremental scene updates on the synthetic vault: what the sync daemon pays to bring the
scenes up to date after a small edit, against a full scene run.

    .venv/bin/python -m benchmarks.run_scene_increment [--notes 10000] [--seed 0] [--repeat 3]
        [--profile] [--keep] [--out STEM]

Set-up (timed, not part of the results): the synthetic vault (`benchmarks.synth.cached_vault`)
is copied and indexed with `vaultmind.index(..., scenes=False)` and the hashing embedder of
`benchmarks.run_scenes`. Then, in one process — the daemon's case: the scene state lives in
memory between updates and imports are paid once:

1. `pipeline.scene_state` builds the state (a full run; once per daemon start);
2. the full scene run, `pipeline.update_scenes(force=True)`, `--repeat` times, split into
   parts by the timers of `benchmarks.run_scenes` (fingerprint, `scene_input`, the steps of
   `build_scenes`, the store write);
3. `--repeat` times: a sentence appended to one note, the vault re-indexed
   (`vaultmind.index(..., scenes=False)`, set-up), then
   `pipeline.update_scenes_incremental(dirty={note})`, split by its own steps; every scene
   that does not hold the note must keep its id and members;
4. an incremental update with nothing changed;
5. with `--profile`, one more edit and update under cProfile (not used for the timings).

Target: the median incremental update takes at most 20% of the median full run. Results go
to benchmarks/results/scene-increment-<N>.{json,md}.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._report import _machine_line, _num, _vault_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, _own_cpu_seconds
from benchmarks.run_scenes import EDIT_SENTENCE, HashEmbedder, _Timers, edit_one_note
from benchmarks.synth import cached_vault

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
MODULE = "benchmarks.run_scene_increment"
TARGET_SHARE = 0.20  # the incremental update may take at most this share of a full run
PROFILE_LINES = 30
# (row label, parts of the full run, steps of the incremental update), in the order they run
ROWS = (
    ("read inputs", ("read",), ("read",)),
    ("graph (incremental: apply the change)", ("build.graph",), ("graph",)),
    ("communities (Leiden, centrality, regions)", ("build.communities",), ("communities",)),
    ("labels", ("build.labels",), ("labels",)),
    ("ids", ("build.ids",), ("ids",)),
    ("measures (wanted notes, density, cohesion)", ("build.measures",), ("measures",)),
    ("map", ("build.map",), ("map",)),
    ("fingerprint + store write", ("fingerprint", "write"), ("store",)),
)

Measurement = dict[str, Any]


def _timed(call: Callable[[], Any]) -> tuple[Any, Measurement]:
    """Run `call`; its result and seconds, with the load average before it and the CPU that
    other processes used meanwhile (in cores)."""
    load = os.getloadavg()[0]
    busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
    tick = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - tick
    other = max((_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own), 0.0)
    return result, {"seconds": seconds, "load_average_before": round(load, 2),
                    "other_cpu_share": round(other / seconds, 3) if seconds else None}


def _members(store: Any) -> dict[int, frozenset[str]]:
    scene_map = store.scene_map()
    return {s.id: frozenset(s.notes) for s in scene_map.scenes} if scene_map else {}


def full_runs(store: Any, model_id: str, repeat: int) -> list[Measurement]:
    """`update_scenes(force=True)` `repeat` times with its parts timed."""
    from vaultmind import pipeline
    from vaultmind.config import Config

    timers = _Timers()
    timers.install()
    runs = []
    for i in range(repeat):
        timers.seconds.clear()
        timers.calls.clear()
        log(f"2. full scene run {i + 1}/{repeat} ...")
        with store.writer_lock():
            _ran, m = _timed(lambda: pipeline.update_scenes(store, Config(), model_id, force=True))
        m["parts"] = timers.parts(m["seconds"])
        m["edges"] = timers.edges
        runs.append(m)
        log(f"   {m['seconds']:.2f} s")
    return runs


def incremental_runs(vault: Path, state_dir: Path, store: Any, state: Any, repeat: int,
                     profile: bool) -> tuple[list[Measurement], str, Measurement, dict[str, str] | None]:
    """`repeat` edits of one note, each re-indexed and followed by an incremental update;
    then an update with nothing changed and, with `profile`, one more edit under cProfile."""
    import vaultmind
    from vaultmind import pipeline
    from vaultmind.config import Config

    embedder = HashEmbedder()
    update = lambda dirty: pipeline.update_scenes_incremental(  # noqa: E731
        store, Config(), embedder.model_id, state, dirty)
    runs: list[Measurement] = []
    note = ""
    for i in range(repeat + int(profile)):
        before = _members(store)
        note = edit_one_note(vault)
        log(f"3. edit {i + 1}: a sentence appended to {note}; re-index (set-up) ...")
        _summary, setup = _timed(lambda: vaultmind.index(vault, state_dir=state_dir, embedder=embedder, scenes=False))
        profiler = cProfile.Profile() if i == repeat else None
        with store.writer_lock():
            if profiler is not None:
                profiler.enable()
            refresh, m = _timed(lambda: update({note}))
            if profiler is not None:
                profiler.disable()
        after = _members(store)
        untouched = {sid: notes for sid, notes in before.items() if note not in notes}
        m |= {"steps": refresh.steps, "full": refresh.full, "changed": list(refresh.changed),
              "reindex_seconds": setup["seconds"], "untouched_scenes": len(untouched),
              "untouched_kept": sum(1 for sid, notes in untouched.items() if after.get(sid) == notes),
              "scenes_after": len(after)}
        if profiler is not None:
            log(f"   under cProfile: {m['seconds']:.2f} s (not used for the timings)")
            profiled = _profile_text(profiler) | {"seconds": f"{m['seconds']:.3f}"}
            return runs, note, _nochange(update, store, note), profiled
        runs.append(m)
        log(f"   incremental update {m['seconds']:.3f} s ({'full' if refresh.full else 'incremental'}); "
            f"{m['untouched_kept']} of {len(untouched)} untouched scenes kept")
    return runs, note, _nochange(update, store, note), None


def _nochange(update: Callable[[set[str]], Any], store: Any, note: str) -> Measurement:
    log("4. incremental update with nothing changed ...")
    with store.writer_lock():
        refresh, m = _timed(lambda: update({note}))
    return m | {"steps": refresh.steps, "full": refresh.full, "changed": list(refresh.changed)}


def _profile_text(profiler: cProfile.Profile) -> dict[str, str]:
    out = {}
    for order in ("cumulative", "tottime"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(order).print_stats(PROFILE_LINES)
        out[order] = stream.getvalue()
    return out


def _median_run(runs: list[Measurement]) -> Measurement:
    middle = statistics.median(r["seconds"] for r in runs)
    return min(runs, key=lambda r: abs(r["seconds"] - middle)) | {"median_seconds": middle,
                                                                    "all_seconds": [r["seconds"] for r in runs]}


def run_benchmark(notes: int, seed: int, repeat: int, profile: bool, keep: bool) -> dict[str, Any]:
    from vaultmind import pipeline
    from vaultmind.config import Config
    from vaultmind.store import Store

    import vaultmind

    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO)  # first, so the load average is the machine's, not ours
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    source, stats, _reused = cached_vault(WORK_DIR, notes, seed)
    run_dir = Path(tempfile.mkdtemp(prefix=f"scene-increment-{notes}-", dir=WORK_DIR))
    try:
        vault, state_dir = run_dir / "vault", run_dir / "state"
        shutil.copytree(source, vault)
        embedder = HashEmbedder()
        log(f"set-up: index {notes} notes with hashed vectors, scenes=False ...")
        _summary, index = _timed(lambda: vaultmind.index(vault, state_dir=state_dir, embedder=embedder, scenes=False))
        with Store.open(state_dir) as store:
            log("1. the scene state (a full run, once per daemon start) ...")
            with store.writer_lock():
                state, build = _timed(lambda: pipeline.scene_state(store, Config(), embedder.model_id))
            full = full_runs(store, embedder.model_id, repeat)
            edits, note, nochange, profiled = incremental_runs(vault, state_dir, store, state, repeat, profile)
    finally:
        if keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    full_median, edit_median = _median_run(full), _median_run(edits)
    share = edit_median["median_seconds"] / full_median["median_seconds"]
    return {
        "benchmark": "scene-increment", "created": started, "notes": notes, "seed": seed,
        "settings": {"repeat": repeat, "profile": profile, "embedder": embedder.model_id},
        "machine": machine, "vault": stats, "edited_note": note, "edit_sentence": EDIT_SENTENCE,
        "measurements": {"index": index, "state": build, "full": full, "incremental": edits, "nochange": nochange},
        "full_median": full_median, "incremental_median": edit_median,
        "target": {"share": share, "limit": TARGET_SHARE, "passed": share <= TARGET_SHARE},
        "profile": profiled,
    }


# =========================================================================== Markdown


def _cells(m: Measurement, keys: Sequence[str], source: str) -> tuple[float, str]:
    value = sum(m[source].get(k, 0.0) for k in keys)
    return value, f"{value:.3f} | {value / m['seconds']:.0%}"


def _step_rows(full: Measurement, edit: Measurement) -> list[str]:
    rows = ["| step | full run, s | share | incremental, s | share |", "|---|---:|---:|---:|---:|"]
    used_full = used_edit = 0.0
    for label, full_keys, edit_keys in ROWS:
        a, full_cell = _cells(full, full_keys, "parts")
        b, edit_cell = _cells(edit, edit_keys, "steps")
        used_full, used_edit = used_full + a, used_edit + b
        rows.append(f"| {label} | {full_cell} | {edit_cell} |")
    rest_full, rest_edit = full["seconds"] - used_full, edit["seconds"] - used_edit
    rows.append(f"| other | {rest_full:.3f} | {rest_full / full['seconds']:.0%} | {rest_edit:.3f} "
                f"| {rest_edit / edit['seconds']:.0%} |")
    rows.append(f"| **total** | **{full['seconds']:.3f}** | 100% | **{edit['seconds']:.3f}** | 100% |")
    return rows


def _load_line(result: dict[str, Any]) -> str:
    ms = result["measurements"]
    loads = [m["load_average_before"] for m in (*ms["full"], *ms["incremental"])]
    others = [m["other_cpu_share"] for m in (*ms["full"], *ms["incremental"]) if m["other_cpu_share"] is not None]
    return (f"**Other load:** 1-minute load average before each timed call {min(loads):.2f}–{max(loads):.2f}; "
            f"CPU used by other processes while they ran: up to {max(others, default=0):.2f} cores "
            f"(the machine has {result['machine']['cpu_count']}).")


def render_markdown(result: dict[str, Any]) -> str:
    ms, full, edit = result["measurements"], result["full_median"], result["incremental_median"]
    target, nochange = result["target"], ms["nochange"]
    verdict = "PASS" if target["passed"] else "**FAIL**"
    kept = [f"{m['untouched_kept']} of {m['untouched_scenes']}" for m in ms["incremental"]]
    lines = [
        f"# vaultmind incremental scene updates: {result['vault']['notes']:,} notes (seed {result['seed']})",
        "",
        f"Run {result['created']}. **Machine:** {_machine_line(result['machine'])}.",
        "",
        _load_line(result),
        "",
        f"**Vault:** {_vault_line(result['vault'])}",
        "",
        f"**Vectors:** hashed (`{result['settings']['embedder']}`, see `benchmarks/run_scenes.py`). "
        f"**Set-up (not timed below):** index with scenes=False {ms['index']['seconds']:.1f} s; "
        f"re-index after each edit {_num(statistics.median(m['reindex_seconds'] for m in ms['incremental']), 2)} s "
        f"(median). **Scene state** (`pipeline.scene_state`: a full run that keeps what the next update needs, "
        f"stored; once per daemon start): {ms['state']['seconds']:.2f} s.",
        "",
        "## Full run vs. incremental update after a one-note edit",
        "",
        f"The edit appends one sentence to `{result['edited_note']}`. Full run: `pipeline.update_scenes(force=True)` "
        f"({', '.join(f'{s:.2f}' for s in full['all_seconds'])} s; the table shows the run nearest the median). "
        "Incremental: `pipeline.update_scenes_incremental(dirty={note})` after re-indexing the note "
        f"({', '.join(f'{s:.3f}' for s in edit['all_seconds'])} s; the run nearest the median). Both in one warm "
        "process, the store's writer lock held, as the daemon runs them.",
        "",
        *_step_rows(full, edit),
        "",
        "| target | measured | limit | result |",
        "|---|---:|---:|---|",
        f"| incremental update / full run (medians) | {target['share']:.1%} "
        f"({edit['median_seconds']:.3f} s / {full['median_seconds']:.2f} s) | ≤ {target['limit']:.0%} | {verdict} |",
        "",
        f"**Stability:** after each edit, the scenes that do not hold the edited note kept their id and members: "
        f"{', '.join(kept)}. Scenes whose members changed: "
        f"{', '.join(str(m['changed']) for m in ms['incremental'])}. Every update ran incrementally: "
        f"{all(not m['full'] for m in ms['incremental'])}.",
        "",
        f"**Nothing changed** (`dirty` = the edited note again, already up to date): {nochange['seconds']:.3f} s, "
        f"scenes whose members changed: {nochange['changed'] or 'none'}.",
        "",
    ]
    if result.get("profile"):
        body = [line for line in result["profile"]["cumulative"].splitlines() if line.strip()]
        start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
        lines += ["## Profile (`--profile`)", "",
                  f"One more edit and update under cProfile ({result['profile']['seconds']} s with the profiler on). "
                  "Top functions by cumulative time:", "", "```", *body[start : start + PROFILE_LINES + 1], "```", ""]
    return "\n".join(lines)


# =========================================================================== CLI


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--repeat", type=int, default=3, help="full runs and edits to time (default 3)")
    p.add_argument("--profile", action="store_true", help="one more edit and update under cProfile")
    p.add_argument("--keep", action="store_true", help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None,
                   help="write OUT.json and OUT.md instead of benchmarks/results/scene-increment-<N>.*")
    a = p.parse_args(argv)
    if a.notes < 2 or a.repeat < 1:
        p.error("--notes must be at least 2 and --repeat at least 1")
    result = run_benchmark(a.notes, a.seed, a.repeat, a.profile, a.keep)
    markdown = render_markdown(result)
    json_path, md_path = save_results(a.out or RESULTS_DIR / f"scene-increment-{a.notes}", result, markdown)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
