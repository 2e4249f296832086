"""Hostile notes: indexing a vault of one pathological note, old code against the working tree.

    .venv/bin/python -m benchmarks.run_hostile [--before ebc48bf|none] [--cases id,id]
        [--timeout 120] [--size-mb 1] [--memory-limit 4096]

For each case, the note is written to a fresh temp vault and `vaultmind.index` runs in a child
process importing either a `git worktree` of the old commit ("before") or the working tree's
src/ ("after"); the child's wall time, peak RSS (from wait4) and outcome are set against the
bare markdown-it-py parse of the same text. Writes benchmarks/results/hostile.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
MIB = 2**20
DEPTH = 100  # nesting cases climb to this depth and start again
VOCAB = ("the", "hive", "winter", "dough", "rises", "slowly", "under", "a", "linen", "cloth",
         "bees", "cluster", "near", "honey", "stores", "and", "shiver", "to", "keep", "warm",
         "starter", "smells", "sour", "after", "twelve", "hours", "of", "bulk", "fermentation")


# --------------------------------------------------------------------------- cases


def _repeat(size: int, piece: Callable[[int], str]) -> str:
    """piece(1) + piece(2) + ... until `size` characters."""
    parts: list[str] = []
    total = n = 0
    while total < size:
        n += 1
        parts.append(piece(n))
        total += len(parts[-1])
    return "".join(parts)


def _text(size: int, rng: random.Random, *, link_every: int = 25, tag_every: int = 0,
          one_line: bool = False) -> str:
    """Sentences of 12 words until `size` bytes: a [[link]] every `link_every` words, a #tag/n
    every `tag_every`, eight sentences to a paragraph unless `one_line`."""

    def word(i: int) -> str:
        if i % link_every == 0:
            return f"[[Note {rng.randrange(1000):03d}]]"
        return f"#tag/{i // tag_every}" if tag_every and i % tag_every == 0 else rng.choice(VOCAB)

    def sentence(n: int) -> str:
        words = " ".join(word(12 * n + k) for k in range(12))
        return words[0].upper() + words[1:] + (".\n\n" if n % 8 == 0 and not one_line else ". ")

    return _repeat(size, sentence)


def _billion_laughs(size: int, rng: random.Random) -> str:
    lines = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"{b}: &{b} [" + ", ".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi")]
    return "---\n" + "\n".join(lines) + "\n---\n" + _text(2000, rng)


def _footnotes(size: int, rng: random.Random) -> str:
    count = size // 42
    refs = "".join(f"Claim {n}.[^{n}]" + ("\n\n" if n % 10 == 0 else " ") for n in range(1, count + 1))
    return refs + "\n\n" + "".join(f"[^{n}]: Source {n}.\n" for n in range(1, count + 1))


def _unclosed(n: int) -> str:
    words = f"[[{VOCAB[n % len(VOCAB)]} {VOCAB[7 * n % len(VOCAB)]}"
    return words + ("\n" if n % 8 == 0 else " ")


Generator = Callable[[int, random.Random], str]
CASES: dict[str, tuple[str, Generator]] = {
    "plain-prose": ("control: normal paragraphs with a [[link]] every 25 words", _text),
    "yaml-self-alias": ("front matter `anchors: &a [*a]`, then normal prose with links",
                        lambda s, r: "---\nanchors: &a [*a]\n---\n" + _text(s, r)),
    "yaml-billion-laughs": ("~400 B of front matter, nine levels of 9-fold aliases (9^9 strings)",
                            _billion_laughs),
    "index-note": ("one `[[Note 00001]]` per line, no blank lines",
                   lambda s, r: _repeat(s, lambda n: f"[[Note {n:05d}]]\n")),
    "unclosed-wikilinks": ("`[[` and two words, repeated, never closed; one paragraph",
                           lambda s, r: _repeat(s, _unclosed)),
    "dense-links-one-line": ("`[[b]] ` repeated on one line", lambda s, r: "[[b]] " * (s // 6)),
    "nested-lists": (f"one list, items indented 0..{DEPTH - 1} levels, again and again",
                     lambda s, r: _repeat(s, lambda n: "  " * ((n - 1) % DEPTH) + f"- item {n}\n")),
    "nested-quotes": (f"one block quote, `> ` nested 1..{DEPTH} deep, again and again",
                      lambda s, r: _repeat(s, lambda n: "> " * (1 + (n - 1) % DEPTH) + f"line {n}\n")),
    "many-headings": ("headings of levels 1-6, each with a line of text",
                      lambda s, r: _repeat(s, lambda n: f"{'#' * (1 + n % 6)} Heading {n}\n"
                                           f"A line under heading {n}.\n\n")),
    "many-tags": ("prose with a `#tag/n` every third word", lambda s, r: _text(s, r, tag_every=3)),
    "many-footnotes": ("a `[^n]` reference per sentence, then all the definitions", _footnotes),
    "one-4mb-line": ("prose with a [[link]] every 50 words, 4x size, no newline at all",
                     lambda s, r: _text(4 * s, r, link_every=50, one_line=True)),
}


def make_note(case: str, size: int) -> str:
    return CASES[case][1](size, random.Random(case))


# --------------------------------------------------------------------------- child process


def _error(e: BaseException) -> dict[str, Any]:
    """The exception's type and last line, and the innermost vaultmind frame it came through."""
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "/vaultmind/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} {ours[-1].name}" if ours else ""
    last = (str(e).strip().splitlines() or [""])[-1][:200]
    return {"ok": False, "error": f"{type(e).__name__}: {last}".rstrip(": "), "where": where}


def child(mode: str, note: Path, state: Path) -> dict[str, Any]:
    """One measurement, run inside the child: `bare` (best of 3 markdown-it-py parses),
    `index` (vaultmind.index of the note's vault) or `parse` (vaultmind.parse.parse_note)."""
    if mode == "bare":
        from markdown_it import MarkdownIt

        text, md, times = note.read_text(encoding="utf-8"), MarkdownIt("commonmark"), []
        for _ in range(3):
            started = time.perf_counter()
            md.parse(text)
            times.append(time.perf_counter() - started)
        return {"ok": True, "seconds": min(times)}
    import vaultmind
    from vaultmind.parse import parse_note

    text = note.read_text(encoding="utf-8") if mode == "parse" else ""
    result = {"vaultmind_file": vaultmind.__file__,
              "imports_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    started = time.perf_counter()
    try:
        if mode == "index":
            s = vaultmind.index(note.parent, state_dir=state, embed=False, scenes=False)
            counts = {"links": s.links, "warnings": s.warnings}
        else:
            n = parse_note(note.name, text)
            counts = {"links": len(n.links), "warnings": len(n.warnings),
                      "first_warning": n.warnings[0].message if n.warnings else None}
    except Exception as e:  # noqa: BLE001 - a crash is the result being measured
        return result | {"seconds": time.perf_counter() - started} | _error(e)
    return result | {"ok": True, "seconds": time.perf_counter() - started} | counts


# --------------------------------------------------------------------------- parent


@dataclass(frozen=True, slots=True)
class Settings:
    before: str | None
    cases: tuple[str, ...]
    timeout: float
    size_mb: float
    memory_limit: int
    output: str = "hostile"


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[Any, bool]:
    """Reap `proc` with wait4, killing it after `timeout` s: (its rusage, killed?)."""
    deadline = time.monotonic() + timeout
    try:
        while not (reaped := os.wait4(proc.pid, os.WNOHANG))[0] and time.monotonic() < deadline:
            time.sleep(0.02)
    except BaseException:  # Ctrl-C or the like: never leave a child running
        proc.kill()
        proc.wait()
        raise
    killed = not reaped[0]
    if killed:
        proc.kill()
        reaped = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(reaped[1])
    return reaped[2], killed


def _lines(f: Any) -> list[str]:
    f.seek(0)
    return f.read().decode(errors="replace").strip().splitlines()


def run_child(mode: str, src: Path, note: Path, state: Path, s: Settings) -> dict[str, Any]:
    """Run `child(mode, ...)` in a fresh interpreter importing vaultmind from `src`."""
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-m", "benchmarks.run_hostile", "child", mode, str(note), str(state)]
    limit = s.memory_limit * MIB
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, preexec_fn=(
            lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))) if limit else None)
        usage, killed = _wait(proc, s.timeout)
        stdout, stderr = _lines(out), _lines(err)
    measured = {"exit": proc.returncode, "killed": killed, "peak_mib": usage.ru_maxrss / 1024}
    if killed:
        return measured | {"ok": False, "timeout": s.timeout, "error": f"> {s.timeout:g} s (killed)"}
    try:
        result = json.loads(stdout[-1]) | measured
    except (IndexError, ValueError):
        return measured | {"ok": False, "error": f"exit {proc.returncode}: "
                           + (stderr[-1][:200] if stderr else "no output")}
    if mode != "bare" and not Path(result["vaultmind_file"]).is_relative_to(src):
        raise RuntimeError(f"child imported {result['vaultmind_file']}, not the tree at {src}")
    return result


def measure_case(case: str, trees: dict[str, Path], s: Settings, log: Callable[[str], None]
                 ) -> dict[str, Any]:
    text = make_note(case, int(s.size_mb * 1_000_000))
    row: dict[str, Any] = {"case": case, "description": CASES[case][0],
                           "bytes": len(text.encode()), "lines": text.count("\n") + 1}
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        note = Path(tmp, "vault", "note.md")
        note.parent.mkdir()
        note.write_text(text, encoding="utf-8")
        log(f"{case}: {row['bytes'] / 1e6:.2f} MB")
        row["bare"] = run_child("bare", trees["after"], note, Path(tmp, "unused"), s)
        for side, src in trees.items():
            row[side] = {mode: run_child(mode, src, note, Path(tmp, f"state-{side}"), s)
                         for mode in ("index", "parse")}
            log(f"  {side}: index {_outcome(row[side]['index'])}, {_seconds(row[side]['index'])}")
    return row


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def machine_info() -> dict[str, Any]:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu_count": os.cpu_count(), "cpu_usable": len(os.sched_getaffinity(0)),
            "memory_gib": round(ram / 2**30, 1), "load_average": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(), "python": platform.python_version(),
            "markdown_it_py": metadata.version("markdown-it-py")}


def run(s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "hostile", "machine": machine_info(),  # load first
                              "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                              "settings": {"timeout": s.timeout, "size_mb": s.size_mb,
                                           "memory_limit_mib": s.memory_limit},
                              "after": _git("describe", "--always", "--dirty", "--abbrev=12")}
    tmp = Path(tempfile.mkdtemp(prefix="vaultmind-hostile-"))
    worktree = tmp / "before"
    trees = {"after": REPO / "src"}
    try:
        if s.before:
            result["before"] = _git("rev-parse", "--short=12", s.before)
            _git("worktree", "add", "--detach", str(worktree), result["before"])
            trees = {"before": worktree / "src", **trees}
        result["cases"] = [measure_case(case, trees, s, log) for case in s.cases]
    finally:  # not _git: a failed clean-up must not hide the error that got us here
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
                       capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False)
    return result


# --------------------------------------------------------------------------- report


def _seconds(m: dict[str, Any]) -> str:
    if m.get("killed"):
        return f"> {m['timeout']:g}"
    return f"{m['seconds']:.2f}" if "seconds" in m else "—"


def _outcome(m: dict[str, Any]) -> str:
    if m["ok"]:
        return f"ok · {m['links']:,} links · {m['warnings']:,} warning" + "s" * (m["warnings"] != 1)
    where = f" (in {m['where']})" if m.get("where") else ""
    return (m["error"] + where).replace("|", "\\|")


def _side_cells(m: dict[str, Any] | None, bare: dict[str, Any]) -> list[str]:
    """index s, parse s, peak MiB, outcome, index ÷ bare for one side of one case."""
    if m is None:
        return ["—"] * 5
    index, ratio = m["index"], "—"
    if index["ok"] and bare["ok"] and bare["seconds"]:
        ratio = f"{index['seconds'] / bare['seconds']:,.1f}×"
    return [_seconds(index), _seconds(m["parse"]), f"{index['peak_mib']:,.0f}", _outcome(index), ratio]


def _row(c: dict[str, Any]) -> str:
    bare = f"{c['bare']['seconds'] * 1000:,.0f}" if c["bare"]["ok"] else c["bare"]["error"]
    size = f"{c['bytes'] / 1e6:.2f} MB" if c["bytes"] >= 10_000 else f"{c['bytes']:,} B"
    cells = [f"`{c['case']}`", size, bare, *_side_cells(c.get("before"), c["bare"]), *_side_cells(c["after"], c["bare"])]
    return "| " + " | ".join(cells) + " |"


COLUMNS = ("case", "size", "bare markdown-it-py, ms", *(f"{side}: {col}" for side in ("before", "after")
           for col in ("index, s", "parse, s", "peak, MiB", "outcome", "index ÷ bare")))
ALIGN = ("---", "---:", "---:", *(("---:", "---:", "---:", "---", "---:") * 2))
EXPLAINED = (
    "**What the columns mean.** Each figure comes from a fresh Python process. *bare markdown-it-py* "
    "is the best of three `MarkdownIt(\"commonmark\").parse(text)` calls. *index* is the wall time of "
    "`vaultmind.index(vault, embed=False, scenes=False)` on a vault holding only this note, timed "
    "inside the child (imports excluded); *parse* is `vaultmind.parse.parse_note` alone. *peak* is "
    "the index child's peak RSS from wait4, interpreter and imports included (~{imports} MiB of it), "
    "up to the kill for a killed child; one over the address-space limit fails with MemoryError. "
    "*outcome* is the links and warnings the index stored, or the exception with the innermost "
    "vaultmind frame it passed through, or the timeout. *index ÷ bare* is how many bare "
    "markdown-it-py parses one index costs; `plain-prose` shows it for a normal note (with a small "
    "`--size-mb`, the store's fixed set-up cost dominates it). The JSON has "
    "every figure, the parse children's peaks and errors included.")


def render_markdown(r: dict[str, Any]) -> str:
    m, st = r["machine"], r["settings"]
    imports = min((c["after"]["index"].get("imports_mib") or 1e9 for c in r["cases"]), default=0)
    return "\n".join([
        "# Hostile notes: indexing one pathological note, before and after", "",
        f"Run {r['created']}; after = working tree `{r['after']}`, before = "
        f"`{r.get('before', 'not run')}`; size {st['size_mb']:g} MB, timeout {st['timeout']:g} s, "
        f"address-space limit {st['memory_limit_mib']:,} MiB per child.", "",
        f"**Machine:** {m['cpu_count']} CPUs ({m['cpu_usable']} usable), {m['memory_gib']} GiB RAM, "
        f"{m['platform']}, Python {m['python']}, markdown-it-py {m['markdown_it_py']}; load average "
        f"before the run {' / '.join(map(str, m['load_average']))}.", "",
        "| " + " | ".join(COLUMNS) + " |", "|" + "|".join(ALIGN) + "|", *map(_row, r["cases"]), "",
        EXPLAINED.format(imports=f"{imports:.0f}"), "",
        "**Cases:**", "", *(f"- `{c['case']}`: {c['description']}" for c in r["cases"]), ""])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run_hostile", description=__doc__.split("\n")[0])
    p.add_argument("--before", default="ebc48bf", help="git ref of the old code, or none (default ebc48bf)")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated case ids (default all)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per child before it is killed")
    p.add_argument("--size-mb", type=float, default=1.0, help="note size in MB (default 1)")
    p.add_argument("--output", default="hostile", help="results file name in benchmarks/results/ (default hostile)")
    p.add_argument("--memory-limit", type=int, default=4096,
                   help="address-space limit per child in MiB, 0 for none (default 4096)")
    a = p.parse_args(argv)
    cases = tuple(c.strip() for c in a.cases.split(",") if c.strip())
    if unknown := [c for c in cases if c not in CASES]:
        p.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    before = None if a.before.lower() == "none" else a.before
    if before and subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                                  f"{before}^{{commit}}"], capture_output=True).returncode:
        p.error(f"--before {before}: not a commit in {REPO}")
    return Settings(before, cases, a.timeout, a.size_mb, a.memory_limit, a.output)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["child"]:
        print(json.dumps(child(args[1], Path(args[2]), Path(args[3]))))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below still runs
    settings = parse_args(args)
    result = run(settings, log)
    markdown = render_markdown(result)
    results = RESULTS / settings.output
    results.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((results.with_suffix(".json"), json.dumps(result, indent=2) + "\n"),
                       (results.with_suffix(".md"), markdown)):
        path.with_name(path.name + ".tmp").write_text(text, encoding="utf-8")
        path.with_name(path.name + ".tmp").replace(path)
    print(markdown)
    log(f"wrote {results}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
