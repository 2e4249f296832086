"""Machine facts and the Markdown rendering of an index-benchmark result."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PACKAGES = (
    "vaultmind",
    "markdown-it-py",
    "mdit-py-plugins",
    "obsidiantools",
    "networkx",
    "pandas",
    "psutil",
)


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(repo: Path, packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """CPU, memory, platform, load average, versions of `packages` and the git commit."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in packages},
        "git": _git_commit(repo),
    }


# --------------------------------------------------------------------------- Markdown


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _step_row(label: str, m: dict[str, Any] | None) -> str:
    if m is None:
        return f"| {label} | — | — | — | skipped |"
    if not m["ok"]:
        return f"| {label} | — | {_num(m['wall_seconds'])} | — | **failed:** {m['error']} |"
    return (
        f"| {label} | {_num(m['seconds'], 3)} | {_num(m['wall_seconds'])} "
        f"| {_num(m['peak_mib'], 0)} | {m['detail']} |"
    )


STEP_LABELS = (
    ("full_index", "a. vaultmind full index"),
    ("reindex_nochange", "b. vaultmind re-index, nothing changed"),
    ("reindex_one_note", "c. vaultmind re-index, one note changed"),
    ("obsidiantools", "d. obsidiantools `Vault(p).connect().gather()`"),
    ("markdown_it", "e. bare markdown-it-py (commonmark), read + parse"),
)


def _target_row(t: dict[str, Any]) -> str:
    verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[t["passed"]]
    value = "—" if t["value"] is None else f"{t['value']:,.{t['digits']}f}{t['unit']}"
    return f"| {t['name']} | {value} | {t['op']} {t['limit']:g}{t['unit']} | {verdict} |"


def _vault_line(v: dict[str, Any]) -> str:
    return (
        f"{v['notes']:,} notes, {v['attachments']:,} attachments, {v['canvases']:,} canvases "
        f"in {v['folders']} folders; {v['md_bytes'] / 2**20:.1f} MiB of Markdown "
        f"(median note {v['note_bytes_median']:,} B, largest {v['note_bytes_max']:,} B); "
        f"{v['links']:,} links, {v['unresolved_share']:.1%} unresolved "
        f"({v['missing_targets']} missing targets, the most linked one {v['top_missing_refs']}×); "
        f"{v['duplicate_name_notes']} notes share a name with another note."
    )


def _machine_line(m: dict[str, Any]) -> str:
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return (
        f"{m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, {m['platform']}, "
        f"Python {m['python']}; {pkgs}; git {m['git'] or 'n/a'}; "
        f"load average before the run {' / '.join(map(str, m['load_average']))}"
    )


def render_markdown(result: dict[str, Any]) -> str:
    steps = result["measurements"]
    lines = [
        f"# vaultmind index benchmark: {result['vault']['notes']:,} notes (seed {result['seed']})",
        "",
        f"Run {result['created']}. {result['full_index_note']}",
        "",
        f"**Machine:** {_machine_line(result['machine'])}",
        "",
        f"**Vault:** {_vault_line(result['vault'])}",
        "",
        "| step | time, s | process wall, s | peak memory, MiB | detail |",
        "|---|---:|---:|---:|---|",
        *(_step_row(label, steps.get(key)) for key, label in STEP_LABELS),
        "",
        "| target | measured | limit | result |",
        "|---|---:|---:|---|",
        *(_target_row(t) for t in result["targets"]),
    ]
    if result["checks"]:
        lines += ["", "**Checks:**", "", *(f"- {c}" for c in result["checks"])]
    lines += [
        "",
        (
            "*time* is the measured call alone, in a fresh process after its imports; "
            "*process wall* adds interpreter start-up and imports. *peak memory* is the larger "
            "of the process's own peak RSS and the sampled peak PSS of its whole process tree "
            "(workers included). See benchmarks/README.md."
        ),
        "",
    ]
    return "\n".join(lines)


def log(message: str) -> None:
    """Progress for the person running a benchmark: stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


def save_results(base: Path, result: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write BASE.json and BASE.md via .tmp files, so a killed run never leaves half a result."""
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".md")
    for path, text in (
        (json_path, json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n"),
        (md_path, markdown),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return json_path, md_path
