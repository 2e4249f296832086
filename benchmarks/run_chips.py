"""The chip-export benchmark: is `export_chips(..., formats=["all"])` on the synthetic vault no
slower than its full index without embeddings, and does it peak at ≤ 500 MB?

    .venv/bin/python -m benchmarks.run_chips [--notes 10000] [--seed 0] [--repeat 3] [--profile]

Each round, in fresh processes (`run_index.run_measurement`: time inside the process, peak
memory = own peak RSS or the sampled PSS of its tree): `vaultmind.index(copy, state_dir=<new>,
embed=False)` — `vaultmind index --no-embed`, scenes on, so found from links alone — then
`vaultmind.export_chips(copy, <new out>, formats=["all"], state_dir=...)` on that store, its
progress callback timing the parts (scene check, reading, building, writing). Medians over
`--repeat` rounds; `--profile` (or a missed target) runs one more export under cProfile.
Results: benchmarks/results/chips-<N>.{json,md}.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._measure import measure, write_child_result
from benchmarks._report import _machine_line, _num, _vault_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, _own_cpu_seconds
from benchmarks.run_index import run_measurement
from benchmarks.run_scenes import _profile_text
from benchmarks.synth import cached_vault

BENCH = Path(__file__).resolve().parent
MODULE, LIMIT_MB = "benchmarks.run_chips", 500  # 500 MB = 500·10⁶ bytes ≈ 476.8 MiB
PROFILE: list[cProfile.Profile] = []


def prepare_export(args: argparse.Namespace):
    """The export, its progress events timed (and the RSS high-water mark at each)."""
    import vaultmind

    events: list[tuple[str, int, int, float, float]] = []
    profiler = cProfile.Profile() if args.profile else None

    def progress(stage: str, done: int, total: int) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        events.append((stage, done, total, time.perf_counter(), rss))

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        result = vaultmind.export_chips(args.vault, args.out, formats=["all"], state_dir=args.state_dir,
                                        progress=progress)
        if profiler:
            profiler.disable()
            PROFILE.append(profiler)
        t = {}
        for s, d, _n, tick, _m in events:
            t.setdefault((s[7:], d), tick)  # the first "chips: <part>" event with this done count
        parts = {"open + scene check": t["reading", 0] - start, "reading": t["building", 0] - t["reading", 0],
                 "building": t["building", 1] - t["building", 0], "writing": t["writing", 1] - t["writing", 0]}
        files = [p for p in Path(args.out).rglob("*") if p.is_file()]
        return {"parts": parts, "maxrss_mib_at": {f"{s} {d}/{n}": m for s, d, n, _t, m in events},
                "kinds": result.stats["kinds"], "rows": result.rows, "lost": result.lost,
                "tokenizer": result.stats.get("tokenizer"), "files": len(files),
                "out_bytes": sum(p.stat().st_size for p in files)}

    return run


def child(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} export")
    for name in ("task", "vault", "result"):
        p.add_argument(name)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    result, code = measure(args, {"export": prepare_export})
    after = [lambda: {"profile": _profile_text(PROFILE[0])}] if PROFILE else []
    return write_child_result(Path(args.result), result, code, after)


def timed(task: str, vault: Path, name: str, work: Path, extra: list[str], module: str, timeout: float) -> dict:
    """One fresh-process measurement, with the CPU other processes used meanwhile."""
    busy, own = _busy_cpu_seconds(), _own_cpu_seconds()
    m = run_measurement(task, vault, name, work, timeout, extra, module=module)
    m["other_cpu_seconds"] = round(_busy_cpu_seconds() - busy - (_own_cpu_seconds() - own), 2)
    if not m["ok"]:
        raise SystemExit(f"{name} failed: {m['error']}\n{m.get('traceback', '')}")
    log(f"  {name}: {m['seconds']:.2f} s, peak {m['peak_mib']:.0f} MiB, others used {m['other_cpu_seconds']} CPU s")
    return m


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def render(r: dict[str, Any]) -> str:
    info, it, et, peak, (speed, memory) = (r["export_runs"][0]["info"], r["index_seconds"], r["export_seconds"],
                                           r["export_peak_mib"], r["targets"])
    row = lambda name, m: f"| {name} | {_num(m['median'])} | {_num(m['min'])} | {_num(m['max'])} |"  # noqa: E731
    verdict = lambda t: "PASS" if t["passed"] else "**FAIL**"  # noqa: E731
    chips = "; ".join(f"{k} {sum(v.values()):,} ({', '.join(f'{s} {n:,}' for s, n in v.items())})"
                      for k, v in info["kinds"].items())
    rows = "; ".join(f"{f} " + ", ".join(f"{s} {n:,}" for s, n in v.items()) for f, v in info["rows"].items())
    md = [f"# vaultmind chip export: {r['notes']:,} notes (seed {r['seed']}), {r['repeat']} round(s)", "",
          f"Run {r['created']}. **Machine:** {_machine_line(r['machine'])}", "", f"**Vault:** {_vault_line(r['vault'])}",
          "", "Each round, each step in a fresh process, timed inside it after the imports: `vaultmind.index(vault, "
          "state_dir=<new>, embed=False)` (= `vaultmind index --no-embed`; scenes on, so found from links alone), then "
          "`vaultmind.export_chips(vault, <new out>, formats=['all'], state_dir=...)` on that store (its scenes are "
          "current, so it does not find them again). The parts come from the export's progress callback.", "",
          "| step | median, s | min, s | max, s |", "|---|---:|---:|---:|", row("index --no-embed", it),
          row("export, all formats", et), *(row(f"— {k}", v) for k, v in r["parts"].items()), "",
          "| target | measured | limit | result |", "|---|---:|---:|---|",
          f"| {speed['name']} | {speed['value']:.2f}× | ≤ 1× | {verdict(speed)} |",
          f"| {memory['name']} | {memory['value']:.0f} MB ({peak:.0f} MiB) | ≤ {LIMIT_MB} MB | {verdict(memory)} |", "",
          f"**Memory** (own peak RSS or sampled PSS of the process tree): export {peak:.0f} MiB, index "
          f"{r['index_peak_mib']:.0f} MiB. The export's RSS high-water mark at each progress event (round 1), MiB: "
          + ", ".join(f"{k} {v:.0f}" for k, v in info["maxrss_mib_at"].items()) + ".", "",
          f"**Chips:** {chips}. Tokens counted by {info['tokenizer']}.", "",
          f"**Output:** {info['files']} files, {info['out_bytes'] / 1e6:.1f} MB. Rows per format: {rows}.", "",
          "**Other load** (CPU seconds other processes used during each measurement): index "
          + ", ".join(str(m["other_cpu_seconds"]) for m in r["index_runs"]) + "; export "
          + ", ".join(str(m["other_cpu_seconds"]) for m in r["export_runs"]) + ".", ""]
    if r["profile"]:
        md += ["## One more export under cProfile (slower than the timed runs)", "", "```",
               r["profile"]["cumulative"].strip(), "```", "", "```", r["profile"]["tottime"].strip(), "```", ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        return child(argv)
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--notes", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="profile one more export even if the targets pass")
    p.add_argument("--timeout", type=float, default=3600)
    a = p.parse_args(argv)
    machine = machine_info(BENCH.parent, ("vaultmind", "pyarrow", "tokenizers", "datasketch", "detect-secrets"))
    vault, stats, _ = cached_vault(BENCH / ".work", a.notes, a.seed)
    work = Path(tempfile.mkdtemp(prefix="chips-", dir=BENCH / ".work"))
    index, export, profile = [], [], None
    try:
        copy = work / "vault"
        shutil.copytree(vault, copy)
        for r in range(a.repeat):
            log(f"round {r + 1}/{a.repeat}")
            state = ["--state-dir", str(work / f"state-{r}")]
            index.append(timed("vaultmind", copy, f"index-{r}", work, state, "benchmarks._measure", a.timeout))
            export.append(timed("export", copy, f"export-{r}", work, [*state, "--out", str(work / f"out-{r}")],
                                MODULE, a.timeout))
        it, et = spread([m["seconds"] for m in index]), spread([m["seconds"] for m in export])
        peak = max(m["peak_mib"] for m in export)
        targets = [{"name": "export time ≤ index --no-embed time (medians)", "value": et["median"] / it["median"],
                    "passed": et["median"] <= it["median"]},
                   {"name": f"export peak memory ≤ {LIMIT_MB} MB", "value": peak * 2**20 / 1e6,
                    "passed": peak * 2**20 <= LIMIT_MB * 1e6}]
        if a.profile or not all(t["passed"] for t in targets):
            log("profiling one more export")
            extra = ["--state-dir", str(work / "state-0"), "--out", str(work / "out-profile"), "--profile"]
            profile = timed("export", copy, "export-profile", work, extra, MODULE, a.timeout)["info"].get("profile")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    parts = {k: spread([m["info"]["parts"][k] for m in export]) for k in export[0]["info"]["parts"]}
    result = {"created": dt.datetime.now().isoformat(timespec="seconds"), "notes": a.notes, "seed": a.seed,
              "repeat": a.repeat, "machine": machine, "vault": stats, "index_seconds": it, "export_seconds": et,
              "export_peak_mib": peak, "index_peak_mib": max(m["peak_mib"] for m in index), "parts": parts,
              "targets": targets, "index_runs": index, "export_runs": export, "profile": profile}
    markdown = render(result)
    json_path, md_path = save_results(BENCH / "results" / f"chips-{a.notes}", result, markdown)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
