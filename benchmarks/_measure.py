"""One measurement, run in a fresh process by `benchmarks.run_index`:

    python -m benchmarks._measure TASK VAULT RESULT_JSON [--state-dir DIR] [--workers N]

TASK is `vaultmind`, `obsidiantools` or `markdown-it`. Imports happen before the clock
starts; `seconds` covers only the measured operation. RESULT_JSON gets
`{"ok", "seconds", "error", "info", "maxrss_self_kib", "maxrss_children_kib"}`, where
the max-RSS values come from getrusage (RUSAGE_CHILDREN covers worker processes the
task started and waited for). Exit code: 0 ok, 3 tool not available, 1 the task failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3


class Unavailable(Exception):
    """The tool to measure cannot be imported or lacks the API the benchmark needs."""


def markdown_files(vault: Path) -> Iterator[Path]:
    """Every .md file under `vault`, sorted, skipping hidden folders (.obsidian, .vaultmind)."""
    for dirpath, dirnames, filenames in os.walk(vault):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md"):
                yield Path(dirpath, name)


def _plain(value: Any) -> Any:
    """A JSON-friendly version of an index summary (dataclass, object or mapping)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def prepare_vaultmind(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    try:
        import vaultmind
    except ImportError as e:
        raise Unavailable(f"cannot import vaultmind: {e}") from e
    index = getattr(vaultmind, "index", None)
    if not callable(index):
        raise Unavailable(
            f"vaultmind.index() does not exist yet (vaultmind imported from {vaultmind.__file__})"
        )

    def run() -> dict[str, Any]:
        # the indexing benchmark measures the vault core; embedding has its own (run_embed)
        summary = index(args.vault, state_dir=args.state_dir, progress=None, workers=args.workers, embed=False)
        return {
            "summary": _plain(summary),
            "vaultmind_file": vaultmind.__file__,
            "vaultmind_version": getattr(vaultmind, "__version__", None),
        }

    return run


def prepare_obsidiantools(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    try:
        from obsidiantools.api import Vault
    except ImportError as e:
        raise Unavailable(f"cannot import obsidiantools (pip install obsidiantools): {e}") from e

    def run() -> dict[str, Any]:
        vault = Vault(args.vault).connect().gather()
        return {
            "notes": len(vault.md_file_index),
            "graph_nodes": vault.graph.number_of_nodes(),
            "graph_edges": vault.graph.number_of_edges(),
            "nonexistent_notes": len(vault.nonexistent_notes),
            "isolated_notes": len(vault.isolated_notes),
        }

    return run


def prepare_markdown_it(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    try:
        from markdown_it import MarkdownIt
    except ImportError as e:
        raise Unavailable(f"cannot import markdown-it-py: {e}") from e

    def run() -> dict[str, Any]:
        md = MarkdownIt("commonmark")
        files = tokens = nbytes = 0
        for path in markdown_files(args.vault):
            text = path.read_text(encoding="utf-8")
            tokens += len(md.parse(text))
            files += 1
            nbytes += len(text.encode("utf-8"))
        return {"files": files, "bytes": nbytes, "tokens": tokens}

    return run


TASKS: dict[str, Callable[[argparse.Namespace], Callable[[], dict[str, Any]]]] = {
    "vaultmind": prepare_vaultmind,
    "obsidiantools": prepare_obsidiantools,
    "markdown-it": prepare_markdown_it,
}


def _maxrss_kib(who: int) -> int:
    return resource.getrusage(who).ru_maxrss  # KiB on Linux


Task = Callable[[argparse.Namespace], Callable[[], dict[str, Any]]]


def measure(
    args: argparse.Namespace, tasks: Mapping[str, Task] | None = None
) -> tuple[dict[str, Any], int]:
    """Prepare `args.task` (from `tasks`, default TASKS), time its run and return the result
    and the exit code. Other benchmarks pass their own tasks."""
    result: dict[str, Any] = {"ok": False, "seconds": None, "error": None, "info": {}}
    code = EXIT_FAILED
    try:
        run = (TASKS if tasks is None else tasks)[args.task](args)
        started = time.perf_counter()
        info = run()
        result |= {"ok": True, "seconds": time.perf_counter() - started, "info": info}
        code = 0
    except Unavailable as e:
        result["error"] = str(e)
        code = EXIT_UNAVAILABLE
    except Exception as e:  # noqa: BLE001 - any failure of the measured tool is a result
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    result["maxrss_self_kib"] = _maxrss_kib(resource.RUSAGE_SELF)
    result["maxrss_children_kib"] = _maxrss_kib(resource.RUSAGE_CHILDREN)
    return result, code


def write_child_result(path: Path, result: dict[str, Any], code: int,
                       after: Sequence[Callable[[], dict[str, Any]]] = ()) -> int:
    """Add what `after` hooks report (only when the measurement succeeded; a failing hook is
    recorded, the timing stands), write the child's RESULT_JSON and return its exit code."""
    if code == 0:
        for hook in after:
            try:
                result["info"] |= hook()
            except Exception as e:  # noqa: BLE001 - the timing stands; say what failed after it
                result["info"]["after_error"] = f"{type(e).__name__}: {e}"
    path.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._measure")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("vault", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    result, code = measure(args)
    args.result.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
