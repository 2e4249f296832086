"""Indexing the vault core (`embed=False, scenes=False`) against obsidiantools and bare
markdown-it-py: a full index into a fresh store, its peak memory and its largest parse worker's,
re-index with nothing changed and after one edit, and the ratios. Targets: ≥ 8× faster than
obsidiantools, ≤ 2× markdown-it-py, no-change ≤ 5% of a full index, peak ≤ 400 MiB.
Run only this: .venv/bin/asv run --python=same --bench '^bench_index'
"""

import contextlib
import resource
import statistics
import timeit
from collections.abc import Callable
from pathlib import Path

from markdown_it import MarkdownIt

import vaultmind

from .vaults import NOTES, copy_vault, edit_note, notes_of, scratch, vault


def index(root: Path, state: Path) -> None:
    vaultmind.index(root, state_dir=state, embed=False, scenes=False)


def parse_all(root: Path) -> None:
    md = MarkdownIt("commonmark")
    for path in notes_of(root):
        md.parse(path.read_text(encoding="utf-8"))


def median_seconds(run: Callable[[], object], runs: int, setup: Callable[[], object] | str = "pass") -> float:
    """The median of `runs` timings of `run`, each after `setup`, timed as asv times (timeit)."""
    return statistics.median(timeit.repeat(run, setup, number=1, repeat=runs))


class Heavy:
    number = 1
    repeat = (1, 3, 300.0)
    processes = 1
    warmup_time = 0
    timeout = 1800.0


class Index(Heavy):
    def setup_cache(self) -> Path:
        return vault(NOTES)  # generated here, never in a process whose peak memory is measured

    def setup(self, root: Path) -> None:
        self.state = scratch("index-full")

    def time_full(self, root: Path) -> None:
        index(root, self.state)

    def peakmem_full(self, root: Path) -> None:
        index(root, self.state)

    def track_worker_peak_mib(self, root: Path) -> float:
        """The largest parse worker's peak RSS (0 when the vault is too small for workers)."""
        index(root, self.state)
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def time_full_with_scenes(self, root: Path) -> None:  # `vaultmind index --no-embed`: scenes from links too
        vaultmind.index(root, state_dir=self.state, embed=False)

    def time_bare_markdown_it(self, root: Path) -> None:
        parse_all(root)

    track_worker_peak_mib.unit = "MiB"


class _Indexed(Heavy):  # its subclasses share setup_cache: one copy of the vault, indexed once
    def setup_cache(self) -> Path:
        root = copy_vault(NOTES, "index-reindex")
        index(root, root.parent / "state")
        return root


class ReindexUnchanged(_Indexed):
    def time_unchanged(self, root: Path) -> None:
        index(root, root.parent / "state")


class ReindexOneNote(_Indexed):
    def setup(self, root: Path) -> None:
        edit_note(root)

    def time_one_note(self, root: Path) -> None:
        index(root, root.parent / "state")


class _Compared:  # a ratio needs both times from one process; shared by the subclasses
    timeout = 3600.0  # obsidiantools takes about 5 minutes on 10,000 notes

    def setup_cache(self) -> dict[str, float]:
        root, state, runs = vault(NOTES), scratch("index-compare"), 3 if NOTES <= 1000 else 1  # median
        times = {"markdown_it": median_seconds(lambda: parse_all(root), runs)}  # also warms the page cache
        times["full"] = median_seconds(lambda: index(root, state), runs, lambda: scratch("index-compare"))
        times["unchanged"] = median_seconds(lambda: index(root, state), runs)
        with contextlib.suppress(ImportError):  # without obsidiantools its benchmarks are skipped
            from obsidiantools.api import Vault
            times["obsidiantools"] = median_seconds(lambda: Vault(root).connect().gather(), runs)
        return times


class Ratios(_Compared):
    def track_vs_markdown_it(self, times: dict[str, float]) -> float:
        return times["full"] / times["markdown_it"]

    def track_unchanged_share(self, times: dict[str, float]) -> float:
        return 100 * times["unchanged"] / times["full"]

    track_vs_markdown_it.unit = "×"
    track_unchanged_share.unit = "%"


class Obsidiantools(_Compared):
    def setup(self, times: dict[str, float]) -> None:
        if "obsidiantools" not in times:
            raise NotImplementedError("obsidiantools is not installed: pip install obsidiantools")

    def track_seconds(self, times: dict[str, float]) -> float:
        return times["obsidiantools"]

    def track_vs_obsidiantools(self, times: dict[str, float]) -> float:
        return times["obsidiantools"] / times["full"]

    track_seconds.unit = "s"
    track_vs_obsidiantools.unit = "×"
