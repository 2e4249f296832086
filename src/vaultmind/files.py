"""Walk the vault, honour ignore rules, read and hash files, decode text and repair
double-encoded (mojibake) notes. Never writes into the vault.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vaultmind.types import FileKind, NoteFile, Warning

log = logging.getLogger(__name__)

# Codepages through which UTF-8 bytes are commonly mis-read and saved again as UTF-8.
# "sloppy-windows-1252" (from ftfy) also maps the five bytes cp1252 leaves undefined.
_MOJIBAKE_CODECS = ("sloppy-windows-1252", "mac_roman", "latin-1")
_MOJIBAKE_ROUNDS = 2
_BINARY_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """Obsidian's excluded files (`userIgnoreFilters`) plus vaultmind's own `ignore` globs, and
    whether symlinks that lead out of the vault are followed."""

    prefixes: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    globs: tuple[str, ...] = ()
    skip_dirs: tuple[str, ...] = ()
    follow_external: bool = False

    def ignored(self, path: str) -> bool:
        # Obsidian matches a plain filter as a path prefix ("templates/" or "README.md").
        if any(path.startswith(p) for p in self.prefixes):
            return True
        if any(rx.search(path) for rx in self.patterns):
            return True
        return any(fnmatch.fnmatchcase(path, g) or path.startswith(g.rstrip("/") + "/") for g in self.globs)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A note's decoded text (None when it could not be read at all) and its content hash."""

    text: str | None
    hash: str | None
    warnings: tuple[Warning, ...]


def obsidian_settings(vault: Path) -> dict:
    """`.obsidian/app.json`, or {} when absent or unreadable."""
    path = vault / ".obsidian" / "app.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def ignore_rules(vault: Path, extra: tuple[str, ...] = (), skip_dirs: tuple[Path, ...] = (), *,
                 follow_external: bool = False) -> IgnoreRules:
    filters = obsidian_settings(vault).get("userIgnoreFilters") or []
    prefixes, patterns = [], []
    for entry in filters:
        if not isinstance(entry, str) or not entry:
            continue
        if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
            try:
                patterns.append(re.compile(entry[1:-1]))
            except re.error:
                log.warning("ignoring invalid pattern in .obsidian/app.json: %s", entry)
        else:
            prefixes.append(entry)
    resolved = tuple(str(d.resolve()) for d in skip_dirs)
    return IgnoreRules(tuple(prefixes), tuple(patterns), tuple(extra), resolved, follow_external)


def file_kind(path: str) -> FileKind:
    lower = path.lower()
    if lower.endswith(".md"):
        return "note"
    if lower.endswith(".canvas"):
        return "canvas"
    return "attachment"


@dataclass(frozen=True, slots=True)
class VaultListing:
    """What a walk found: the files to index, the excluded files (links to them still
    resolve, as in Obsidian, but they are not read), and what went wrong."""

    files: list[NoteFile]
    excluded: list[str]
    warnings: list[Warning]


def walk_vault(vault: Path, rules: IgnoreRules, start: str = "") -> VaultListing:
    """Every file Obsidian would show, sorted by path. Dot-files and dot-folders are skipped,
    as Obsidian does; symlinked folders are followed once (a loop gets a warning); a symlink
    that leads out of the vault gets a warning and is not followed unless
    `rules.follow_external`. With `start` (a vault-relative folder), only what is inside that
    folder, as the whole walk would find it there."""
    start = start.strip("/")
    if start and _hidden(start):
        return VaultListing([], [], [])
    walk = _Walk(rules, os.path.realpath(vault))
    ignored = bool(start) and rules.ignored(start)
    escape = None if rules.follow_external else _escape(vault, walk.root, start)
    if escape is None:
        walk.enter(os.path.realpath(vault / start) if start else walk.root, start, ignored)
        walk.run()
    elif escape[0] == start and not ignored:
        walk.warnings.append(_outside(start, escape[1]))
    walk.files.sort(key=lambda f: f.path)
    return VaultListing(walk.files, sorted(walk.excluded), walk.warnings)


@dataclass(slots=True)
class _Walk:
    """One walk in progress. Open folders wait on `stack` rather than the call stack, so a
    vault nested deeper than Python's recursion limit is walked all the same."""

    rules: IgnoreRules
    root: str
    files: list[NoteFile] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    seen_dirs: set[str] = field(default_factory=set)
    stack: list[tuple[str, bool, Iterator[os.DirEntry[str]]]] = field(default_factory=list)

    def enter(self, real: str, rel: str, ignored: bool) -> None:
        """Open the folder whose resolved path is `real`, shown at `rel`, unless already seen."""
        if real in self.seen_dirs:
            if not ignored:
                self.warnings.append(
                    Warning(rel or ".", "symlink_loop", "folder was already visited (symlink loop); skipped"))
            return
        if real in self.rules.skip_dirs:
            return
        self.seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except OSError as e:
            if not ignored:
                self.warnings.append(Warning(rel or ".", "unreadable", f"cannot list folder: {e.strerror or e}"))
            return
        self.stack.append((rel, ignored, iter(entries)))

    def run(self) -> None:
        # Depth first in name order, as a recursive walk would go: which of two symlinked
        # paths to one folder is listed (and which gets the loop warning) stays the same.
        while self.stack:
            rel, ignored, entries = self.stack[-1]
            entry = next(entries, None)
            if entry is None:
                self.stack.pop()
            elif not entry.name.startswith("."):
                self.take(entry, f"{rel}/{entry.name}" if rel else entry.name, ignored)

    def take(self, entry: os.DirEntry[str], path: str, ignored: bool) -> None:
        skip = ignored or self.rules.ignored(path)
        try:
            # Folders are listed by their resolved path, so only a symlink needs resolving.
            real = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
            if not self.rules.follow_external and not _inside(self.root, real):
                if not skip:
                    self.warnings.append(_outside(path, real))
                return
            if entry.is_dir(follow_symlinks=True):
                self.enter(real, path, skip)
                return
            if not entry.is_file(follow_symlinks=True):
                if entry.is_symlink() and not skip:
                    self.warnings.append(Warning(path, "broken_symlink", "symlink points nowhere; skipped"))
                return
            if skip:
                self.excluded.append(path)
                return
            stat = entry.stat(follow_symlinks=True)
        except OSError as e:
            if not skip:
                self.warnings.append(Warning(path, "unreadable", f"cannot stat: {e.strerror or e}"))
            return
        self.files.append(NoteFile(path, file_kind(path), stat.st_size, stat.st_mtime_ns))


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def _inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _escape(vault: Path, root: str, path: str) -> tuple[str, str] | None:
    """The first symlink along vault-relative `path` that leads out of the vault, as (its
    vault-relative path, its target); None when every step of `path` stays inside."""
    parts = path.split("/") if path else []
    for depth in range(1, len(parts) + 1):
        link = "/".join(parts[:depth])
        if os.path.islink(vault / link):
            target = os.path.realpath(vault / link)
            if not _inside(root, target):
                return link, target
    return None


def _outside(path: str, target: str) -> Warning:
    return Warning(path, "symlink_outside",
                   f"leads out of the vault to {target}; not followed "
                   "(set follow_external_symlinks = true to index it)")


def outside_warning(vault: Path, path: str) -> Warning:
    """The warning `walk_vault` gives a symlink at `path` that leads out of the vault (for a
    path `stat_path` calls "outside")."""
    return _outside(path, os.path.realpath(vault / path))


def stat_path(vault: Path, path: str, rules: IgnoreRules) -> tuple[str, NoteFile | None]:
    """What one vault-relative path is now, as `walk_vault` would see it: ("file", the
    file), ("excluded", None) for a file Obsidian is told to exclude, ("folder", None),
    ("outside", None) for a symlink that leads out of the vault and is not followed (the walk
    warns about it: `outside_warning`), or ("absent", None) for a path that is gone, hidden
    (a dot-file, or in a dot-folder or the state folder), beyond an outside symlink, or not a
    regular file."""
    if not path or _hidden(path):
        return "absent", None
    full = vault / path
    try:
        escape = None if rules.follow_external else _escape(vault, os.path.realpath(vault), path)
        if escape is not None:
            # The walk stops at the link itself and never sees what lies beyond it.
            seen = escape[0] == path and not rules.ignored(path)
            return ("outside" if seen else "absent"), None
        real = os.path.realpath(full)
        if any(real == d or real.startswith(d + os.sep) for d in rules.skip_dirs):
            return "absent", None
        stat = full.stat()
    except OSError:
        return "absent", None
    if os.path.isdir(full):
        return "folder", None
    if not os.path.isfile(full):
        return "absent", None
    if rules.ignored(path):
        return "excluded", None
    return "file", NoteFile(path, file_kind(path), stat.st_size, stat.st_mtime_ns)


def read_text(vault: Path, path: str, max_bytes: int, *, follow_external: bool = False) -> ReadResult:
    """Read one note: hash the bytes, decode them, repair mojibake. Problems become warnings.
    Unless `follow_external`, a path that now leads out of the vault is not read."""
    full = vault / path
    if not follow_external:
        # The walk did not follow it, but a file can be swapped for a symlink before the read.
        target = os.path.realpath(full)
        if not _inside(os.path.realpath(vault), target):
            return ReadResult(None, None, (_outside(path, target),))
    try:
        with open(full, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return ReadResult(None, None, (Warning(path, "vanished", "file disappeared before it could be read"),))
    except IsADirectoryError:
        return ReadResult(None, None, (Warning(path, "unreadable", "is a folder, not a file"),))
    except OSError as e:
        return ReadResult(None, None, (Warning(path, "unreadable", f"cannot read: {e.strerror or e}"),))
    # A canvas and a note with the same bytes must not share a parse (the cache is keyed by
    # this hash), so a canvas's bytes are hashed under their own personalisation.
    digest = hashlib.blake2b(data, digest_size=16, person=b"canvas" if file_kind(path) == "canvas" else b"").hexdigest()
    text, warnings = decode_note(path, data, max_bytes)
    return ReadResult(text, digest, tuple(warnings))


def decode_note(path: str, data: bytes, max_bytes: int) -> tuple[str, list[Warning]]:
    warnings: list[Warning] = []
    if not data:
        warnings.append(Warning(path, "empty", "note is empty"))
        return "", warnings
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16"), warnings
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:_BINARY_SNIFF]:
        warnings.append(Warning(path, "binary", "looks like a binary file, not text; content skipped"))
        return "", warnings
    if len(data) > max_bytes:
        warnings.append(
            Warning(path, "too_large",
                    f"note is {len(data):,} bytes; only the first {max_bytes:,} bytes are indexed")
        )
        data = data[:max_bytes]
        truncated = True
    else:
        truncated = False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if truncated and e.start >= len(data) - 3:
            text = data[: e.start].decode("utf-8-sig")
        else:
            text = _decode_legacy(path, data, warnings)
    repaired = repair_mojibake(text)
    if repaired is not None:
        text, codec = repaired
        warnings.append(
            Warning(path, "mojibake", f"text was UTF-8 read as {codec} and saved again; repaired for indexing (file unchanged)")
        )
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, warnings


def _decode_legacy(path: str, data: bytes, warnings: list[Warning]) -> str:
    if _looks_like_cp1251(data):
        warnings.append(Warning(path, "encoding", "not UTF-8; decoded as cp1251"))
        return data.decode("cp1251")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        pass
    else:
        warnings.append(Warning(path, "encoding", "not UTF-8; decoded as cp1252"))
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        warnings.append(Warning(path, "encoding", f"not UTF-8; decoded as {best.encoding}"))
        return str(best)
    warnings.append(Warning(path, "encoding", "not UTF-8 and no encoding fits; undecodable bytes replaced"))
    return data.decode("utf-8", errors="replace")


def _looks_like_cp1251(data: bytes) -> bool:
    """Russian in cp1251 puts high bytes together in whole words; Western text in cp1252 has
    them alone inside Latin words. Statistical detectors guess short Russian notes wrong."""
    high = [i for i, b in enumerate(data) if b >= 0xC0]
    if len(high) < 4:
        return False
    together = sum(1 for i in high if (i > 0 and data[i - 1] >= 0xC0) or (i + 1 < len(data) and data[i + 1] >= 0xC0))
    return together / len(high) >= 0.6


def repair_mojibake(text: str) -> tuple[str, str] | None:
    """If all of `text` is UTF-8 that was decoded through a single-byte codepage (once or
    twice), return (repaired text, codepage); otherwise None. Pure ASCII and genuine
    non-Latin text fail the round trip at once, so clean notes cost almost nothing."""
    if text.isascii():
        return None
    import ftfy.bad_codecs  # noqa: F401  (registers "sloppy-windows-1252")

    current, used = text, None
    for _ in range(_MOJIBAKE_ROUNDS):
        step = _repair_step(current)
        if step is None:
            break
        current, used = step
    return (current, used.replace("sloppy-", "")) if used else None


def _repair_step(current: str) -> tuple[str, str] | None:
    """Undo one misreading of UTF-8 through one of `_MOJIBAKE_CODECS`, if one fits."""
    for codec in _MOJIBAKE_CODECS:
        try:
            candidate = current.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if candidate != current and _round_trips(current, candidate, codec) and _no_less_plausible(current, candidate):
            return candidate, codec
    return None


def _round_trips(current: str, candidate: str, codec: str) -> bool:
    """Reading `candidate`'s UTF-8 through `codec` gives back exactly `current`. ftfy's sloppy
    codec reads byte 0x1A as U+FFFD, which no real codepage does, so text holding a U+FFFD
    was never made that way."""
    return candidate.encode("utf-8").decode(codec) == current and "\ufffd" not in current


def _no_less_plausible(current: str, candidate: str) -> bool:
    # ftfy's own measure; not "strictly better", as it scores Cyrillic misread through Mac Roman 0.
    from ftfy.badness import badness

    return badness(candidate) <= badness(current)
