"""Notes → chunks: heading sections (with their heading path) and dialogue turns, split to fit
a model's window, without front matter, code, comments or Markdown noise.

The chunk text does not contain the note's path or title, so a renamed note's chunks keep
their hashes and are never embedded again.
"""

from __future__ import annotations

import hashlib
import re

from vaultmind.markup import without_spans
from vaultmind.types import Chunk, Note

DEFAULT_CHUNK_CHARS = 1200
# 2: quote markers are taken per line (blank lines before a quote are kept) and every pattern
# is linear in the text, so a hostile note cannot stall chunking.
CHUNKER_VERSION = 2

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_WIKILINK = re.compile(r"!?\[\[([^\[\]|\n]*?)(?:\|([^\[\]\n]*))?\]\]")
# Each pattern stops at the next bracket or line end, so no match attempt scans far ahead.
_MD_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\[\]\n]*\)")
_NOISE = re.compile(r"%%|\[\^[^\[\]\s]+\]:?|(?<!\S)\^[A-Za-z0-9-]+[ \t]*$|^[ \t]*>[ \t]?|^#{1,6}[ \t]+", re.M)
_CALLOUT_HEAD = re.compile(r"^\[![^\]\n]+\][+-]?[ \t]*", re.M)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
_TURN_LABELS = {"user": "User", "assistant": "Assistant"}


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def clean(text: str) -> str:
    """Readable text for a model: link targets or their display text, no Markdown markers."""
    text = _WIKILINK.sub(lambda m: (m.group(2) or m.group(1).split("#")[0] or m.group(1)).strip(), text)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _CALLOUT_HEAD.sub("", _NOISE.sub("", without_spans(text, "<!--", "-->")))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def split_to_fit(text: str, max_chars: int) -> list[str]:
    """Paragraphs packed up to `max_chars`; a longer paragraph is split at sentences, a longer
    sentence at spaces."""
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE.split(paragraph):
            at = 0  # an index, not a shrinking copy: a sentence of megabytes is cut in one pass
            while len(sentence) - at > max_chars:
                cut = sentence.rfind(" ", at, at + max_chars) - at
                cut = cut if cut > max_chars // 2 else max_chars
                pieces.append(sentence[at : at + cut])
                at += cut
                while at < len(sentence) and sentence[at].isspace():
                    at += 1
            pieces.append(sentence[at:])
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 2 + len(piece) <= max_chars:
            packed[-1] = packed[-1] + "\n\n" + piece
        elif piece.strip():
            packed.append(piece)
    return packed


def _turn_spans(lines: list[str], note: Note) -> list[tuple[int, int]]:
    """0-based [start, end) line spans of the dialogue callouts, UID comment included."""
    spans = []
    for turn in note.turns:
        start = turn.line - 1
        end = start + 1
        while end < len(lines) and lines[end].lstrip().startswith(">"):
            end += 1
        if end < len(lines) and lines[end].lstrip().startswith("<!--"):
            end += 1
        spans.append((start, end))
    return spans


def chunk_note(note: Note, max_chars: int = DEFAULT_CHUNK_CHARS) -> list[Chunk]:
    """The note's chunks in reading order."""
    lines = note.text.split("\n")
    skip = [False] * len(lines)
    for i in range(min(note.body_line - 1, len(lines))):
        skip[i] = True  # front matter
    turn_at: dict[int, int] = {}
    for index, (start, end) in enumerate(_turn_spans(lines, note)):
        turn_at[start] = index
        for i in range(start, min(end, len(lines))):
            skip[i] = True
    in_fence = None
    for i, line in enumerate(lines):
        fence = _FENCE.match(line)
        if in_fence is not None:
            skip[i] = True
            if fence and fence.group(1)[0] == in_fence:
                in_fence = None
        elif fence and not skip[i]:
            in_fence = fence.group(1)[0]
            skip[i] = True
    headings = {h.line - 1: h for h in note.headings}

    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    section: list[str] = []
    section_line = note.body_line

    def emit(kind: str, heading: str, text: str, line: int) -> None:
        for piece in split_to_fit(clean(text), max_chars):
            digest = text_hash(_joined(heading, piece))
            chunks.append(Chunk(note.path, len(chunks), kind, heading, piece, line, digest))  # type: ignore[arg-type]

    def heading_path() -> str:
        return " > ".join(text for _, text in path)

    for i, line in enumerate(lines):
        if i in turn_at:
            emit("section", heading_path(), "\n".join(section), section_line)
            section, section_line = [], i + 2
            turn = note.turns[turn_at[i]]
            label = _TURN_LABELS.get(turn.role, turn.role)
            emit("turn", f"{label} {turn.timestamp}".strip(), turn.text, turn.line)
            continue
        if skip[i]:
            continue
        heading = headings.get(i)
        if heading is not None:
            emit("section", heading_path(), "\n".join(section), section_line)
            while path and path[-1][0] >= heading.level:
                path.pop()
            path.append((heading.level, clean(heading.text)))
            section, section_line = [], i + 1
            continue
        section.append(line)
    emit("section", heading_path(), "\n".join(section), section_line)
    return chunks


def _joined(heading: str, text: str) -> str:
    return f"{heading}\n{text}" if heading else text


def embedding_text(heading: str, text: str) -> str:
    """What the model reads for a chunk: its heading path, then its text. A chunk's hash is
    the hash of exactly this."""
    return _joined(heading, text)
