"""Hostile notes: a vault of one pathological note, indexed against bare markdown-it-py.

Each case is the only note of a vault, indexed (`embed=False, scenes=False`) in a child process
under a 4 GiB address-space cap, so that a blow-up fails its case, not asv: the index time inside
the child (imports excluded), its peak RSS, and that time ÷ the best of three bare markdown-it-py
parses of the same text. Sizes 1 and 4 MB (the note limit); 0.1 MB below 1,000 NOTES (smoke).
Target: every case finishes within 300 s under the cap, at a few times the bare parse.
Run only this: .venv/bin/asv run --python=same --bench '^bench_hostile'
"""

import itertools
import random
import resource
import subprocess
import sys
import timeit
from collections.abc import Callable

from markdown_it import MarkdownIt

from .vaults import NOTES, scratch

MB = [1.0, 4.0] if NOTES >= 1000 else [0.1]  # 0.1 MB for the smoke run
CAP, TIMEOUT = 4096 * 2**20, 300.0
CHILD = ("import re, sys, time, vaultmind\nstarted = time.perf_counter()\n"  # VmHWM: this process's own peak
         "vaultmind.index(sys.argv[1], embed=False, scenes=False)\n"  # (getrusage counts the parent's too)
         "print(time.perf_counter() - started, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
VOCAB = ("the hive winter dough rises slowly under a linen cloth bees cluster near honey stores and "
         "shiver to keep warm starter smells sour after twelve hours of bulk fermentation").split()


def repeat(size: int, piece: Callable[[int], str]) -> str:
    parts, total = [], 0
    while total < size:
        parts.append(piece(len(parts) + 1))
        total += len(parts[-1])
    return "".join(parts)


def prose(size: int, rng: random.Random, link_every: int = 25, tag_every: int = 0, one_line: bool = False) -> str:
    """Sentences of twelve words, eight to a paragraph, with a [[link]] and a #tag/n now and then."""
    words = (f"[[Note {rng.randrange(1000):03d}]]" if i % link_every == 0 else f"#tag/{i // tag_every}"
             if tag_every and i % tag_every == 0 else rng.choice(VOCAB) for i in itertools.count(12))
    return repeat(size, lambda n: " ".join(itertools.islice(words, 12)) + (". " if one_line or n % 8 else ".\n\n"))


LAUGHS = "\n".join(['a: &a ["lol"' + ', "lol"' * 8 + "]"]  # nine levels of nine aliases: 9^9 strings
                   + [f"{b}: &{b} [*{a}" + f", *{a}" * 8 + "]" for a, b in zip("abcdefgh", "bcdefghi")])
CASES: dict[str, Callable[[int, random.Random], str]] = {
    "plain-prose": prose,  # the control
    "yaml-self-alias": lambda s, r: "---\nanchors: &a [*a]\n---\n" + prose(s, r),
    "yaml-billion-laughs": lambda s, r: f"---\n{LAUGHS}\n---\n" + prose(2000, r),
    "index-note": lambda s, r: repeat(s, lambda n: f"[[Note {n:05d}]]\n"),
    "unclosed-wikilinks": lambda s, r: repeat(s, lambda n: f"[[{VOCAB[n % 29]} {VOCAB[7 * n % 29]}" + " \n"[n % 8 == 0]),
    "dense-links-one-line": lambda s, r: "[[b]] " * (s // 6),
    "nested-lists": lambda s, r: repeat(s, lambda n: "  " * ((n - 1) % 100) + f"- item {n}\n"),
    "nested-quotes": lambda s, r: repeat(s, lambda n: "> " * (1 + (n - 1) % 100) + f"line {n}\n"),
    "many-headings": lambda s, r: repeat(s, lambda n: f"{'#' * (1 + n % 6)} Heading {n}\nA line under heading {n}.\n\n"),
    "many-tags": lambda s, r: prose(s, r, tag_every=3),
    "many-footnotes": lambda s, r: "".join(f"Claim {n}.[^{n}]" + (" " if n % 10 else "\n\n") for n in range(1, s // 42 + 1))
    + "\n\n" + "".join(f"[^{n}]: Source {n}.\n" for n in range(1, s // 42 + 1)),
    "one-line-4x": lambda s, r: prose(4 * s, r, link_every=50, one_line=True),  # over the note limit at 4 MB
}


class Hostile:
    params, param_names = (list(CASES), MB), ["case", "MB"]
    timeout = 3600.0  # setup_cache measures every case at every size

    def setup_cache(self) -> dict[tuple[str, float], tuple[float, float, float] | str]:
        results = {}
        for (case, make), mb in itertools.product(CASES.items(), MB):
            text, vault = make(int(mb * 1_000_000), random.Random(case)), scratch("hostile")
            (vault / "note.md").write_text(text, encoding="utf-8")
            bare = min(timeit.repeat(lambda: MarkdownIt("commonmark").parse(text), number=1, repeat=3))
            try:
                done = subprocess.run([sys.executable, "-c", CHILD, str(vault)],
                                      capture_output=True, text=True, timeout=TIMEOUT, check=True,
                                      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP)))
            except subprocess.SubprocessError as e:  # a crash, MemoryError or timeout is this case's result
                results[case, mb] = f"{type(e).__name__}: {str(e.stderr or '').strip()[-300:]}"
                continue
            seconds, peak_kib = map(float, done.stdout.split())
            results[case, mb] = (seconds, peak_kib / 1024, seconds / bare)
        return results

    def setup(self, results: dict, case: str, mb: float) -> None:
        if isinstance(results[case, mb], str):  # the case failed: its benchmarks fail, saying why
            raise RuntimeError(results[case, mb])

    def track_index_seconds(self, results: dict, case: str, mb: float) -> float:
        return results[case, mb][0]

    def track_peak_mib(self, results: dict, case: str, mb: float) -> float:
        return results[case, mb][1]

    def track_vs_markdown_it(self, results: dict, case: str, mb: float) -> float:
        return results[case, mb][2]

    track_index_seconds.unit, track_peak_mib.unit, track_vs_markdown_it.unit = "s", "MiB", "×"
