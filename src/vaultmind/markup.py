"""Plain-text helpers that several stages share, each linear in the text's length: a note
of a million unclosed `<!--` must cost one pass, not one pass per opener."""

from __future__ import annotations

import re

# A Dataview inline field's key (`source:: …`) at the start of a line.
DATAVIEW_FIELD = re.compile(r"^[ \t>*-]*\w[\w .-]*::", re.M)


def without_spans(text: str, opener: str, closer: str, gap: str = "") -> str:
    """`text` with each closed `opener … closer` span replaced by `gap`; from an opener that
    is never closed on, the text is left as it is. (A lazy regex such as `<!--.*?-->` scans
    to the end from every unclosed opener.)"""
    if opener not in text:
        return text
    parts, at = [], 0
    while (start := text.find(opener, at)) >= 0:
        end = text.find(closer, start + len(opener))
        if end < 0:
            break
        parts += (text[at:start], gap)
        at = end + len(closer)
    parts.append(text[at:])
    return "".join(parts)


def without_comments(text: str, gap: str = "") -> str:
    """`text` without HTML (`<!-- -->`) and Obsidian (`%% %%`) comments."""
    return without_spans(without_spans(text, "<!--", "-->", gap), "%%", "%%", gap)
