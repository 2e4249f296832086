"""Obsidian's link resolution: link text → vault path, or None (a wanted note).

The rules, as Obsidian applies them (`metadataCache.getFirstLinkpathDest`):
- matching is case-insensitive and Unicode-normalised (NFC);
- an empty target is the note itself (`[[#heading]]`);
- `./x` and `../x` are relative to the linking note's folder; nothing outside the vault
  resolves (and nothing is ever read through such a link);
- otherwise an exact vault path wins (`.md` optional);
- otherwise every file whose path ends with the link text (`.md` optional) is a candidate:
  one in the linking note's own folder first, then the shortest path;
- aliases never resolve a link: `[[Nickname]]` stays unresolved, as in Obsidian.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Iterable


def fold(text: str) -> str:
    """The form link text and paths are compared in."""
    return unicodedata.normalize("NFC", text).casefold()


def _strip_md(path: str) -> str:
    return path[:-3] if path.lower().endswith(".md") else path


class Resolver:
    """Resolves links against a fixed set of vault paths. Build once per run: O(1) lookups."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._by_path: dict[str, str] = {}
        self._by_name: dict[str, list[str]] = defaultdict(list)
        for path in sorted(paths):
            key = fold(path)
            self._by_path.setdefault(key, path)
            name = key.rsplit("/", 1)[-1]
            self._by_name[name].append(path)
            if key.endswith(".md"):
                self._by_path.setdefault(key[:-3], path)
                self._by_name[name[:-3]].append(path)

    def __contains__(self, path: str) -> bool:
        return fold(path) in self._by_path

    def resolve(self, target: str, source: str) -> str | None:
        """The path `target` (link text without `#heading`) points at from note `source`."""
        if not target.strip():
            return source
        text = target.strip()
        if text.startswith("./") or text.startswith("../"):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), text))
            if joined.startswith("../") or joined == "..":
                return None
            return self._by_path.get(fold(joined))
        if text.startswith("/"):
            text = text.lstrip("/")
        key = fold(text)
        exact = self._by_path.get(key)
        if exact is not None:
            return exact
        name = key.rsplit("/", 1)[-1]
        candidates = self._by_name.get(name)
        if not candidates:
            return None
        if "/" in key:
            suffix = "/" + key
            candidates = [
                p for p in candidates if fold(p).endswith(suffix) or fold(_strip_md(p)).endswith(suffix)
            ]
            if not candidates:
                return None
        if len(candidates) == 1:
            return candidates[0]
        folder = posixpath.dirname(source)
        return min(candidates, key=lambda p: (posixpath.dirname(p) != folder, len(p), p))


def link_name(target: str, source: str) -> str:
    """The file name (folded, `.md` kept as written) a link can only ever resolve to: a file
    coming or going changes the resolution of exactly the links whose name is one of
    `path_names` of that file. An empty target (the note itself) has no name."""
    text = target.strip()
    if not text:
        return ""
    if text.startswith("./") or text.startswith("../"):
        text = posixpath.normpath(posixpath.join(posixpath.dirname(source), text))
    return fold(text.lstrip("/")).rsplit("/", 1)[-1]


def path_names(path: str) -> set[str]:
    """The link names that can resolve to `path`: its file name, and without `.md` for a note."""
    name = fold(path).rsplit("/", 1)[-1]
    return {name, name[:-3]} if name.endswith(".md") else {name}
