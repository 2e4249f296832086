"""The indexing benchmark: vaultmind against obsidiantools and bare markdown-it-py.

    .venv/bin/python -m benchmarks.run_index --notes 10000 [--seed 0] [--repeat 3]
        [--skip-obsidiantools] [--workers N] [--stat median|best] [--check]

Generates (or reuses, under benchmarks/.work/) a synthetic vault, runs each measurement in
a fresh process, checks the targets and writes benchmarks/results/index-<N>.{json,md}.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks._measure import EXIT_UNAVAILABLE, markdown_files
from benchmarks._report import log, machine_info, render_markdown, save_results
from benchmarks.synth import cached_vault

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
MIB = 2**20
SAMPLE_INTERVAL = 0.05
EDIT_NOTE_LINK = "Benchmark edit target"

Log = Callable[[str], None]

# (key, name, op, limit, unit, digits)
TARGETS = (
    ("speedup_vs_obsidiantools", "full index ≥ 8× faster than obsidiantools", "≥", 8.0, "×", 1),
    ("ratio_vs_markdown_it", "full index ≤ 2× bare markdown-it-py", "≤", 2.0, "×", 2),
    ("nochange_share", "no-change re-index ≤ 5% of full index", "≤", 5.0, "%", 1),
    ("peak_mib", "peak memory of full index ≤ 400 MiB", "≤", 400.0, " MiB", 0),
)


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    repeat: int
    workers: int | None
    stat: str
    skip_obsidiantools: bool
    timeout: float
    keep_work: bool


# --------------------------------------------------------------------------- processes


def _child_env() -> dict[str, str]:
    """The environment for measurement processes: the repo's src/ goes on PYTHONPATH when
    vaultmind is not installed in the running interpreter."""
    env = dict(os.environ)
    if importlib.util.find_spec("vaultmind") is None:
        parts = [str(REPO / "src"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def _tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in bytes over `proc` and all its descendants."""
    rss = pss = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            info = member.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss, pss


def _wait_sampling(popen: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, bool]:
    """Wait for `popen`, sampling its tree's memory; returns (peak RSS, peak PSS, timed out)."""
    proc = psutil.Process(popen.pid)
    peak_rss = peak_pss = 0
    deadline = time.monotonic() + timeout
    while popen.poll() is None:
        if time.monotonic() > deadline:
            popen.kill()
            popen.wait()
            return peak_rss, peak_pss, True
        rss, pss = _tree_memory(proc)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(SAMPLE_INTERVAL)
    return peak_rss, peak_pss, False


def _stderr_tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " / ".join(text[-lines:]) or "no output"


def run_measurement(
    task: str,
    vault: Path,
    name: str,
    run_dir: Path,
    timeout: float,
    extra: Sequence[str] = (),
    module: str = "benchmarks._measure",
) -> dict[str, Any]:
    """Run `python -m MODULE TASK VAULT RESULT_JSON [EXTRA...]` (by default
    `benchmarks._measure`) in a fresh process and return its result, with process wall time
    and memory figures added."""
    result_file, out_file, err_file = (run_dir / f"{name}.{ext}" for ext in ("json", "out", "err"))
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", module, task, str(vault), str(result_file), *extra]
    started = time.perf_counter()
    with out_file.open("wb") as out, err_file.open("wb") as err:
        popen = subprocess.Popen(cmd, cwd=REPO, env=_child_env(), stdout=out, stderr=err)
        peak_rss, peak_pss, timed_out = _wait_sampling(popen, timeout)
    wall = time.perf_counter() - started
    if result_file.is_file():
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    else:
        reason = f"timed out after {timeout:.0f} s" if timed_out else _stderr_tail(err_file)
        result = {"ok": False, "seconds": None, "error": reason, "info": {}}
    self_mib = result.get("maxrss_self_kib", 0) / 1024
    result |= {
        "exit_code": popen.returncode,
        "unavailable": popen.returncode == EXIT_UNAVAILABLE,
        "wall_seconds": wall,
        "maxrss_self_mib": self_mib,
        "maxrss_children_mib": result.get("maxrss_children_kib", 0) / 1024,
        "tree_rss_peak_mib": peak_rss / MIB,
        "tree_pss_peak_mib": peak_pss / MIB,
        "peak_mib": max(self_mib, peak_pss / MIB),
        "detail": "",
    }
    return result


# --------------------------------------------------------------------------- steps


def _summary(m: dict[str, Any] | None) -> dict[str, Any]:
    summary = (m or {}).get("info", {}).get("summary")
    return dict(summary) if isinstance(summary, dict) else {}


def _index_detail(m: dict[str, Any]) -> str:
    s = _summary(m)
    keys = ("notes", "links", "unresolved", "parsed", "skipped", "removed", "warnings")
    parts = [
        f"{k} {s[k]:,}" if isinstance(s.get(k), int) else f"{k} {len(s[k])}"
        for k in keys
        if k in s and isinstance(s[k], (int, list))
    ]
    phases = s.get("phases")
    if isinstance(phases, dict) and phases:
        parts.append(
            "phases: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items() if isinstance(v, (int, float)))
        )
    return "; ".join(parts)


def _full_index(vault: Path, run_dir: Path, s: Settings) -> tuple[dict[str, Any], Path]:
    """Run the full index `repeat` times, each into a fresh state dir; returns the combined
    measurement and the state dir of the last successful run."""
    runs: list[dict[str, Any]] = []
    state = run_dir / "state-0"
    for i in range(s.repeat):
        previous, state = state, run_dir / f"state-{i}"
        if i:
            shutil.rmtree(previous, ignore_errors=True)
        m = run_measurement(
            "vaultmind", vault, f"full-{i}", run_dir, s.timeout, _vaultmind_args(state, s.workers)
        )
        runs.append(m)
        if not m["ok"]:
            return m, state
    times = [r["seconds"] for r in runs]
    chosen = min(times) if s.stat == "best" else statistics.median(times)
    typical = min(runs, key=lambda r: abs(r["seconds"] - chosen))  # its summary is shown
    combined = dict(typical)
    combined |= {
        "seconds": chosen,
        "runs_seconds": times,
        "best_seconds": min(times),
        "median_seconds": statistics.median(times),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
    }
    how = (
        f"{s.stat} of {len(runs)}: " + ", ".join(f"{t:.2f}" for t in times) + " s; "
        if len(runs) > 1
        else ""
    )
    combined["detail"] = how + _index_detail(typical)
    return combined, state


def _vaultmind_args(state: Path, workers: int | None) -> list[str]:
    args = ["--state-dir", str(state)]
    return args + ["--workers", str(workers)] if workers is not None else args


def _edit_one_note(vault: Path) -> str:
    """Append a line with a new link to the first note; returns its vault-relative path."""
    first, second = (p for p, _ in zip(markdown_files(vault), range(2)))
    with first.open("a", encoding="utf-8", newline="\n") as f:
        f.write(f"\nBenchmark edit: see [[{second.stem}]] and [[{EDIT_NOTE_LINK}]].\n")
    return first.relative_to(vault).as_posix()


def _reindex(name: str, vault: Path, state: Path, run_dir: Path, s: Settings) -> dict[str, Any]:
    m = run_measurement(
        "vaultmind", vault, name, run_dir, s.timeout, _vaultmind_args(state, s.workers)
    )
    m["detail"] = _index_detail(m)
    return m


def _obsidiantools(vault: Path, run_dir: Path, s: Settings) -> dict[str, Any]:
    m = run_measurement("obsidiantools", vault, "obsidiantools", run_dir, s.timeout)
    i = m["info"]
    if m["ok"]:
        m["detail"] = (
            f"{i['notes']:,} notes, {i['graph_edges']:,} edges, "
            f"{i['nonexistent_notes']:,} nonexistent notes"
        )
    return m


def _markdown_it(vault: Path, run_dir: Path, s: Settings) -> dict[str, Any]:
    m = run_measurement("markdown-it", vault, "markdown-it", run_dir, s.timeout)
    i = m["info"]
    if m["ok"]:
        rate = i["bytes"] / MIB / m["seconds"] if m["seconds"] else 0.0
        m["detail"] = (
            f"{i['files']:,} files, {i['bytes'] / MIB:.1f} MiB, {i['tokens']:,} tokens, {rate:.1f} MiB/s"
        )
    return m


def _warm_cache(vault: Path) -> None:
    """Read every file once so all measurements see a warm page cache."""
    for dirpath, _, filenames in os.walk(vault):
        for name in filenames:
            Path(dirpath, name).read_bytes()


# --------------------------------------------------------------------------- targets


def _seconds(m: dict[str, Any] | None) -> float | None:
    return m["seconds"] if m and m["ok"] and m["seconds"] else None


def _ratio(a: float | None, b: float | None, scale: float = 1.0) -> float | None:
    return None if a is None or b is None or b == 0 else a / b * scale


def compute_targets(steps: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    full = _seconds(steps.get("full_index"))
    full_m = steps.get("full_index")
    values = {
        "speedup_vs_obsidiantools": _ratio(_seconds(steps.get("obsidiantools")), full),
        "ratio_vs_markdown_it": _ratio(full, _seconds(steps.get("markdown_it"))),
        "nochange_share": _ratio(_seconds(steps.get("reindex_nochange")), full, 100.0),
        "peak_mib": full_m["peak_mib"] if full_m and full_m["ok"] else None,
    }
    targets = []
    for key, name, op, limit, unit, digits in TARGETS:
        value = values[key]
        passed = None if value is None else (value >= limit if op == "≥" else value <= limit)
        targets.append(
            {
                "key": key,
                "name": name,
                "value": value,
                "op": op,
                "limit": limit,
                "unit": unit,
                "digits": digits,
                "passed": passed,
            }
        )
    return targets


def sanity_checks(
    steps: dict[str, dict[str, Any] | None], vault: dict[str, Any], edited: str | None
) -> list[str]:
    """Plain-language remarks on whether vaultmind's summaries look right for this vault."""
    checks: list[str] = []
    full, nochange, one = (
        _summary(steps.get(k)) for k in ("full_index", "reindex_nochange", "reindex_one_note")
    )
    if full.get("notes") not in (None, vault["notes"]):
        checks.append(
            f"full index counted {full['notes']:,} notes; the vault has {vault['notes']:,}"
        )
    if isinstance(nochange.get("parsed"), int) and nochange["parsed"] != 0:
        checks.append(f"no-change re-index parsed {nochange['parsed']} notes (expected 0)")
    if isinstance(one.get("parsed"), int) and one["parsed"] != 1:
        checks.append(f"one-note re-index parsed {one['parsed']} notes (expected 1: {edited})")
    if (
        isinstance(full.get("unresolved"), int)
        and isinstance(full.get("links"), int)
        and full["links"]
    ):
        share = full["unresolved"] / full["links"]
        checks.append(
            f"vaultmind: {full['links']:,} links, {share:.1%} unresolved; "
            f"generator: {vault['links']:,} links, {vault['unresolved_share']:.1%} unresolved"
        )
    return checks


# --------------------------------------------------------------------------- orchestration


def run_benchmark(s: Settings, log: Log) -> dict[str, Any]:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info(REPO)  # first, so the load average is the machine's, not ours
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log(f"vault: {s.notes} notes, seed {s.seed} ...")
    vault, stats, reused = cached_vault(WORK_DIR, s.notes, s.seed)
    log(f"  {'reused' if reused else 'generated'} {vault} ({stats['md_bytes'] / MIB:.1f} MiB)")
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{s.notes}-", dir=WORK_DIR))
    try:
        steps, edited = _run_steps(vault, run_dir, s, log)
    finally:
        if not s.keep_work:
            shutil.rmtree(run_dir, ignore_errors=True)
    how = f"the {s.stat} of {s.repeat} runs" if s.repeat > 1 else "a single run"
    return {
        "benchmark": "index",
        "created": started,
        "notes": s.notes,
        "seed": s.seed,
        "settings": {
            "repeat": s.repeat,
            "workers": s.workers,
            "stat": s.stat,
            "skip_obsidiantools": s.skip_obsidiantools,
        },
        "full_index_note": f"Full-index time is {how}; workers={s.workers if s.workers is not None else 'vaultmind default'}.",
        "machine": machine,
        "vault": stats,
        "edited_note": edited,
        "measurements": steps,
        "targets": compute_targets(steps),
        "checks": sanity_checks(steps, stats, edited),
    }


def _run_steps(
    vault: Path, run_dir: Path, s: Settings, log: Log
) -> tuple[dict[str, Any], str | None]:
    steps: dict[str, Any] = dict.fromkeys(
        ("full_index", "reindex_nochange", "reindex_one_note", "obsidiantools", "markdown_it")
    )
    work_vault = run_dir / "vault"
    shutil.copytree(vault, work_vault)  # vaultmind steps edit a note; the cache stays pristine
    _warm_cache(vault)
    log("e. bare markdown-it-py ...")
    steps["markdown_it"] = _done(log, _markdown_it(vault, run_dir, s))
    log(f"a. vaultmind full index x{s.repeat} ...")
    steps["full_index"], state = _full_index(work_vault, run_dir, s)
    _done(log, steps["full_index"])
    edited = None
    if steps["full_index"]["ok"]:
        log("b. vaultmind re-index, nothing changed ...")
        steps["reindex_nochange"] = _done(log, _reindex("nochange", work_vault, state, run_dir, s))
        edited = _edit_one_note(work_vault)
        log(f"c. vaultmind re-index after editing {edited} ...")
        steps["reindex_one_note"] = _done(log, _reindex("one-note", work_vault, state, run_dir, s))
    if not s.skip_obsidiantools:
        log("d. obsidiantools (slow: minutes on 10k notes) ...")
        steps["obsidiantools"] = _done(log, _obsidiantools(vault, run_dir, s))
    return steps, edited


def _done(log: Log, m: dict[str, Any]) -> dict[str, Any]:
    if m["ok"]:
        log(
            f"   {m['seconds']:.3f} s (process {m['wall_seconds']:.2f} s), peak {m['peak_mib']:.0f} MiB"
        )
    else:
        log(f"   not measured: {m['error']}")
    return m


def write_results(result: dict[str, Any], stem: Path | None) -> tuple[Path, Path, str]:
    """Write STEM.json and STEM.md (default stem: results/index-<N>), via .tmp files."""
    base = stem or RESULTS_DIR / f"index-{result['notes']}"
    markdown = render_markdown(result)
    return (*save_results(base, result, markdown), markdown)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, bool, Path | None]:
    """The run settings, whether --check was given, and the --out stem."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run_index",
        description="vaultmind indexing benchmark (see benchmarks/README.md)",
    )
    p.add_argument(
        "--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)"
    )
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument(
        "--repeat", type=int, default=1, help="full-index runs, each in a fresh process (default 1)"
    )
    p.add_argument(
        "--stat",
        choices=("median", "best"),
        default="median",
        help="which of the --repeat full-index times the targets use (default median)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="passed to vaultmind.index(workers=...)"
    )
    p.add_argument(
        "--skip-obsidiantools", action="store_true", help="do not run obsidiantools (slow)"
    )
    p.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed per measurement (default 3600)"
    )
    p.add_argument(
        "--keep-work", action="store_true", help="keep the run folder under benchmarks/.work/"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write OUT.json and OUT.md instead of benchmarks/results/index-<N>.{json,md}",
    )
    p.add_argument(
        "--check", action="store_true", help="exit 1 unless every target was measured and passed"
    )
    a = p.parse_args(argv)
    if a.notes < 2 or a.repeat < 1:
        p.error("--notes must be at least 2 and --repeat at least 1")
    settings = Settings(
        a.notes, a.seed, a.repeat, a.workers, a.stat, a.skip_obsidiantools, a.timeout, a.keep_work
    )
    return settings, a.check, a.out


def main(argv: Sequence[str] | None = None) -> int:
    settings, check, out = parse_args(argv)

    result = run_benchmark(settings, log)
    json_path, md_path, markdown = write_results(result, out)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    if check and not all(t["passed"] for t in result["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
