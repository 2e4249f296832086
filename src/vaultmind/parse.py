"""Text → `Note`: front matter, links, tags, headings, block ids, callouts, footnotes,
`%%` comments, and saved AI dialogues as ordered turns with the author's commentary apart.

Parsing never raises on bad input: what is wrong becomes a `Warning` on the note.
"""

from __future__ import annotations

import gc
import logging
import re
from contextlib import contextmanager
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import unquote
from functools import cached_property, lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from vaultmind.markdown import MAX_LINKS, NoteBudget, budget_env, build_markdown, split_subpath, split_wikilink
from vaultmind.properties import (
    CONTEXT_CHARS,
    front_matter_list,
    front_matter_tags,
    is_private,
    property_links,
    split_front_matter,
)
from vaultmind.types import (
    Callout,
    Commentary,
    Footnote,
    Heading,
    Link,
    Note,
    Tag,
    Turn,
    Warning,
    title_from_path,
)

_BLOCK_ID = re.compile(r"(?:^|\s)\^([A-Za-z0-9-]+)[ \t]*$")
_UID = re.compile(r"<!--\s*UID:\s*(\S+?)\s*-->")
_TURN_TITLE = re.compile(r"^\*\*(?P<author>[^*]+)\*\*\s*(?:[-–—]\s*(?P<when>.*))?$")
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|//)")
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")
_NEWLINE = re.compile("\n")
_DIALOGUE_ROLES = {"nexus_user": "user", "nexus_agent": "assistant"}

# 3: links' context is cut around the link in very long sentences; a property link takes the
# line of its own occurrence; a note that fails to parse is kept as plain text.
PARSER_VERSION = 3

log = logging.getLogger(__name__)

# Context sentences kept per note, in characters: a note of a hundred thousand links would
# otherwise hold a hundred thousand 300-character sentences in memory and in the store.
CONTEXT_BUDGET = 4_000_000
# A longer body is parsed in pieces of about this many characters, cut between top-level
# blocks: markdown-it-py holds every token of what it parses, about 650 bytes of memory per
# byte of a note of empty headings, and its time grows faster than the text.
PIECE_CHARS = 256_000
# Headings, callouts, footnotes, block ids and comments kept per note (links and tags: see
# `markdown.MAX_LINKS`); a note of two million empty headings is not an outline.
MAX_ITEMS = 100_000
_ITEM_KINDS = ("links", "tags", "headings", "callouts", "footnotes", "block ids", "comments")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"#{1,6}(?:[ \t]|$)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.M)
_LIST_ITEM = re.compile(r"(?:[-+*]|\d{1,9}[.)])[ \t]+\S")
_RAW_HTML = re.compile(r" {0,3}<(pre|script|style|textarea)(?:[\s>]|$)", re.I)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return build_markdown()


def parse_file(path: str, text: str, canvas: bool = False, warnings: tuple[Warning, ...] = ()) -> Note:
    """`parse_note` or `parse_canvas` that cannot fail: if parsing raises (a bug, or a limit
    met on a hostile file), the note keeps its text and a `parse_failed` warning naming the
    reason, so one file never stops a vault."""
    try:
        return (parse_canvas if canvas else parse_note)(path, text, warnings)
    except Exception as e:  # noqa: BLE001  (any failure of one file becomes its warning)
        log.warning("could not parse %s", path, exc_info=True)
        return failed_note(path, "" if canvas else text, warnings, "parse", e)


def failed_note(path: str, text: str, warnings: tuple[Warning, ...], stage: str, error: BaseException) -> Note:
    """A note whose `stage` failed: its text alone, with a warning naming the stage and why.
    It counts as private: whether its front matter said so is unknown, so it stays out of
    training chips."""
    reason = f"{type(error).__name__}: {error}"[:300]
    warning = Warning(path, f"{stage}_failed", f"{stage} failed ({reason}); indexed as plain text")
    return Note(path=path, title=title_from_path(path), text=text, frontmatter=None, private=True,
                warnings=(*warnings, warning))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while one note is parsed: markdown-it-py's millions of
    short-lived tokens on a long note would otherwise trigger full collections again and
    again (a 4 MB note took 2.7 times as long). Tokens hold no cycles, so nothing waits."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_note(path: str, text: str, warnings: tuple[Warning, ...] = ()) -> Note:
    """Parse one note. `warnings` (from reading the file) are carried onto the note."""
    with _collector_paused():
        return _parse_note(path, text, warnings)


def _parse_note(path: str, text: str, warnings: tuple[Warning, ...]) -> Note:
    if "\r" in text:  # markdown-it-py counts a lone CR as a line break; the line numbers must agree
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    found: list[Warning] = list(warnings)
    frontmatter, fm_text, body, body_offset = split_front_matter(path, text, found)
    budget = NoteBudget()
    collector = _Collector(path, body, body_offset, budget)
    pieces = _read_body(collector, body)
    found.extend(collector.warnings)
    split = pieces if pieces > 1 and _cross_references(body) else 0  # footnotes could be cut from their references
    found.extend(_budget_warnings(path, budget, split))
    from_properties = tuple(property_links(frontmatter, fm_text)) if frontmatter else ()
    fm_tags = front_matter_tags(frontmatter)
    tags = tuple(Tag(name) for name in fm_tags) + tuple(collector.tags)
    return Note(
        path=path,
        title=title_from_path(path),
        text=text,
        frontmatter=frontmatter,
        aliases=front_matter_list(frontmatter, ("aliases", "alias")),
        tags=tags,
        links=from_properties + tuple(collector.links),
        headings=tuple(collector.headings),
        block_ids=tuple(collector.block_ids),
        callouts=tuple(collector.callouts),
        footnotes=tuple(collector.footnotes),
        turns=tuple(collector.turns),
        commentary=tuple(collector.commentary),
        comments=tuple(collector.comments),
        private=is_private(frontmatter, tags),
        warnings=tuple(found),
        body_line=body_offset + 1,
    )


# ---------------------------------------------------------------- body


def _read_body(collector: _Collector, body: str) -> int:
    """Parse `body` into `collector`, piece by piece; returns how many pieces it took."""
    pieces = 0
    for first_line, piece in _pieces(body):
        pieces += 1
        collector.walk(_shifted(_markdown().parse(piece, budget_env(collector.budget)), first_line))
    collector.finish()
    return pieces


def _pieces(body: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of each piece a body is parsed in: the whole body when it is short;
    otherwise pieces of about `PIECE_CHARS`, cut only before a line where a top-level block
    surely starts, never inside fenced code, a `$$` block or an HTML block. What changes at
    a cut: footnotes and reference-style links are matched within a piece."""
    if len(body) <= PIECE_CHARS:
        yield 0, body
        return
    start = first_line = line_number = at = 0
    inside: str | None = None  # what closes the block open here: a fence, "$$", "-->", "</pre>", "" (a blank line)
    after_blank = True
    while True:
        newline = body.find("\n", at)
        line = body[at:] if newline < 0 else body[at:newline]
        if at - start >= PIECE_CHARS and inside is None and _starts_block(line, after_blank):
            yield first_line, body[start : at - 1]
            start, first_line = at, line_number
        inside = _still_inside(inside, line)
        after_blank = not line.strip()
        if newline < 0:
            break
        at, line_number = newline + 1, line_number + 1
    yield first_line, body[start:]


def _starts_block(line: str, after_blank: bool) -> bool:
    """Whether a top-level block surely starts at `line`: it is at column 0 and follows a blank
    line, or it is a heading or a list item, which end whatever came before."""
    if line[:1] in ("", " ", "\t"):
        return False
    return after_blank or bool(_ATX.match(line) or _LIST_ITEM.match(line))


def _still_inside(inside: str | None, line: str) -> str | None:
    """The block left open after `line`, given the one open before it."""
    if inside is None:
        return _opens(line)
    if inside == "":
        return None if not line.strip() else inside
    if inside in ("-->", "$$") or inside.startswith("</"):
        closes = line.rstrip().endswith("$$") if inside == "$$" else inside in line.lower()
        return None if closes else inside
    closing = line.lstrip(" ")
    ends = len(line) - len(closing) <= 3 and closing.startswith(inside) and not closing.strip(inside[0]).strip()
    return None if ends else inside


def _opens(line: str) -> str | None:
    """The block `line` opens and leaves open, if any (see `_still_inside`)."""
    fence = _FENCE_OPEN.match(line)
    if fence:
        return fence.group(1)
    stripped = line.strip()
    if stripped.startswith("$$"):
        return None if len(stripped) > 2 and stripped.endswith("$$") else "$$"
    opened = line.rfind("<!--")
    if opened >= 0 and line.find("-->", opened + 4) < 0:
        return "-->"
    raw = _RAW_HTML.match(line)
    if raw:
        closer = f"</{raw.group(1).lower()}>"
        return None if closer in line.lower() else closer
    return "" if line.startswith("<") else None


def _cross_references(body: str) -> bool:
    """Whether the body has footnotes or reference definitions, which a piece cannot match
    in another."""
    return "[^" in body or _REFERENCE_DEFINITION.search(body) is not None


def _shifted(tokens: list[Token], lines: int) -> list[Token]:
    """A piece's tokens with their line numbers made the body's."""
    if lines:
        for token in tokens:
            if token.map is not None:
                token.map = [token.map[0] + lines, token.map[1] + lines]
    return tokens


def _budget_warnings(path: str, budget: NoteBudget, split_references: int = 0) -> list[Warning]:
    """Warnings for what a long note lost: items over the limits, and matching of footnotes
    and reference definitions across the `split_references` pieces (0: nothing split)."""
    found = []
    if budget.refused:
        kinds = sorted(budget.refused, key=lambda kind: _ITEM_KINDS.index(kind))
        counts = ", ".join(f"{budget.refused[kind]:,} {kind}" for kind in kinds)
        found.append(Warning(path, "over_limit", f"past the first {MAX_LINKS:,} links and tags and "
                             f"{MAX_ITEMS:,} of each other kind, the rest is read as plain text: {counts}"))
    if split_references:
        found.append(Warning(path, "long_note", f"parsed in {split_references} pieces of about {PIECE_CHARS:,} characters; "
                             "footnotes and reference-style links are matched within a piece"))
    return found


class _Spans:
    """Lines and sentences of one inline token's text, found once, so that each link, tag
    and comment costs a look-up instead of a scan from the paragraph's start."""

    # A sentence longer than this is cut around the link before its spaces are folded.
    _CLIP = 4 * CONTEXT_CHARS

    def __init__(self, content: str) -> None:
        self.content = content
        self._newlines: list[int] | None = None
        self._ends: list[int] | None = None  # where each sentence end starts

    def lines_before(self, pos: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in _NEWLINE.finditer(self.content)]
        return bisect_left(self._newlines, pos)

    def context(self, start: int, end: int) -> str:
        """The sentence around [start, end), at most `CONTEXT_CHARS` long."""
        if self._ends is None:
            self._ends = [m.start() for m in _SENTENCE_END.finditer(self.content)]
        ends, content = self._ends, self.content
        before = bisect_left(ends, start) - 1  # sentence ends are one character long
        left = ends[before] + 1 if before >= 0 else 0
        after = bisect_left(ends, end)
        right = ends[after] + 1 if after < len(ends) else len(content)
        if right - left > self._CLIP:
            left, right = max(left, start - self._CLIP // 2), min(right, end + self._CLIP // 2)
        sentence = " ".join(content[left:right].split())
        if len(sentence) > CONTEXT_CHARS:
            middle = (start - left + end - left) // 2
            lo = max(0, middle - CONTEXT_CHARS // 2)
            sentence = sentence[lo : lo + CONTEXT_CHARS]
        return sentence


class _Collector:
    """One pass over the token stream, gathering everything a `Note` holds."""

    def __init__(self, path: str, body: str, offset: int, budget: NoteBudget) -> None:
        self.path = path
        self.budget = budget
        self.body = body
        self.offset = offset
        self.links: list[Link] = []
        self.tags: list[Tag] = []
        self.headings: list[Heading] = []
        self.block_ids: list[str] = []
        self.callouts: list[Callout] = []
        self.footnotes: list[Footnote] = []
        self.turns: list[Turn] = []
        self.comments: list[str] = []
        self.commentary: list[Commentary] = []
        self._comment_open: tuple[int, int] | None = None  # (inline index, pos) of an open %%
        self._comment_parts: list[str] = []
        self._context_left = CONTEXT_BUDGET
        self._without_context = 0
        self.warnings: list[Warning] = []
        # Top-level blocks as the dialogue needs them: ("turn", start, end, role, title),
        # ("uid", start, end, uid) and ("other", start, end), consecutive others merged.
        self._blocks: list[tuple[Any, ...]] = []

    # -- walking

    def walk(self, tokens: list[Token]) -> None:
        """Take in the tokens of the body, or of one piece of it (pieces in order)."""
        footnote_label: str | None = None
        footnote_start = 0
        footnote_text: list[str] = []
        for i, token in enumerate(tokens):
            kind = token.type
            if token.level == 0 and token.nesting >= 0 and token.map is not None:
                self._block(token)
            if kind == "heading_open" and i + 1 < len(tokens):
                line = self._line(token.map[0]) if token.map else 0
                self._keep(self.headings, "headings", Heading(int(token.tag[1]), tokens[i + 1].content.strip(), line))
            elif kind == "blockquote_open" and token.meta.get("callout"):
                self._keep(self.callouts, "callouts", self._callout(token))
            elif kind == "footnote_open":
                footnote_label = str(token.meta.get("label", token.meta.get("id", "")))
                footnote_text = []
                footnote_start = 0
            elif kind == "footnote_close" and footnote_label is not None:
                text = " ".join(footnote_text).strip()
                self._keep(self.footnotes, "footnotes", Footnote(footnote_label, text, footnote_start))
                footnote_label = None
            elif kind == "inline":
                line = self._line(token.map[0]) if token.map else 0
                if footnote_label is not None:
                    footnote_text.append(token.content)
                    footnote_start = footnote_start or line
                self._inline(token, line)
                token.children = None  # done with: a long note's inline tokens need not all live at once

    def finish(self) -> None:
        """After the last piece: close what is still open and pair dialogue turns."""
        self._close_comment()
        self._dialogue()
        if self._without_context:
            self.warnings.append(Warning(self.path, "context_limit", f"{self._without_context:,} links are kept "
                                         f"without their sentence: the note's links' sentences passed "
                                         f"{CONTEXT_BUDGET:,} characters"))

    def _context(self, spans: _Spans, start: int, end: int) -> str:
        if self._context_left <= 0:
            self._without_context += 1
            return ""
        context = spans.context(start, end)
        self._context_left -= len(context)
        return context

    def _keep(self, items: list[Any], kind: str, item: Any) -> None:
        if len(items) < MAX_ITEMS:
            items.append(item)
        else:
            self.budget.refuse(kind)

    @cached_property
    def lines(self) -> list[str]:
        """The body's lines, made only for callouts and dialogues."""
        return self.body.split("\n")

    def _block(self, token: Token) -> None:
        start, end = token.map  # type: ignore[misc]
        role = _DIALOGUE_ROLES.get(token.meta.get("callout", "")) if token.type == "blockquote_open" else None
        if role:
            self._blocks.append(("turn", start, end, role, token.meta.get("title", "")))
        elif token.type == "html_block" and _is_uid_only(token.content) and _UID.search(token.content):
            self._blocks.append(("uid", start, end, _UID.search(token.content).group(1)))  # type: ignore[union-attr]
        elif self._blocks and self._blocks[-1][0] == "other":
            self._blocks[-1] = ("other", self._blocks[-1][1], end)
        else:
            self._blocks.append(("other", start, end))

    def _line(self, index: int) -> int:
        return self.offset + index + 1

    def _inline(self, inline: Token, line: int) -> None:
        content = inline.content
        block_id = _BLOCK_ID.search(content.rsplit("\n", 1)[-1])
        if block_id:
            self._keep(self.block_ids, "block ids", block_id.group(1))
        children = inline.children or []
        spans = _Spans(content)
        for j, child in enumerate(children):
            kind = child.type
            if kind == "wikilink":
                meta = child.meta
                parts = split_wikilink(child.content)
                self.links.append(
                    Link(
                        kind="embed" if meta["embed"] else "link",
                        target=parts.target,
                        original=content[meta["pos"] : meta["end"]],
                        display=parts.display,
                        heading=parts.heading,
                        block=parts.block,
                        line=line + spans.lines_before(meta["pos"]),
                        context=self._context(spans, meta["pos"], meta["end"]),
                    )
                )
            elif kind == "link_open" or kind == "image":
                link = self._markdown_link(child, children, j, spans, line)
                if link is not None:
                    self.links.append(link)
            elif kind == "tag":
                self.tags.append(Tag(child.meta["name"], line + spans.lines_before(child.meta["pos"])))
            elif kind == "comment_marker":
                self._toggle_comment(inline, content, child.meta["pos"])
        if self._comment_open is not None and self._comment_open[0] == id(inline):
            # the comment runs on past this block: keep its text and carry on in the next
            self._comment_parts.append(content[self._comment_open[1] :])
            self._comment_open = (0, 0)

    def _toggle_comment(self, inline: Token, content: str, pos: int) -> None:
        if self._comment_open is None:
            self._comment_open = (id(inline), pos + 2)
            self._comment_parts = []
            return
        start = self._comment_open[1] if self._comment_open[0] == id(inline) else 0
        self._comment_parts.append(content[start:pos])
        self._close_comment()

    def _close_comment(self) -> None:
        if self._comment_open is not None:
            text = "\n".join(part.strip() for part in self._comment_parts if part.strip())
            if text:
                self._keep(self.comments, "comments", text)
        self._comment_open = None
        self._comment_parts = []

    def _markdown_link(
        self, token: Token, children: list[Token], j: int, spans: _Spans, line: int
    ) -> Link | None:
        href = token.attrGet("src" if token.type == "image" else "href")
        if not isinstance(href, str) or not href or _EXTERNAL.match(href):
            return None
        link_text = unquote(href)
        if token.type == "image":
            display = token.content
        else:
            parts = []
            for k in range(j + 1, len(children)):  # not a slice: one copy per link adds up
                if children[k].type == "link_close":
                    break
                parts.append(children[k].content)
            display = "".join(parts)
        target, heading, block = split_subpath(link_text)
        pos = token.meta.get("pos", 0)
        end = token.meta.get("end", pos)
        return Link(
            kind="embed" if token.type == "image" else "markdown",
            target=target,
            original=spans.content[pos:end],
            display=display,
            heading=heading,
            block=block,
            line=line + spans.lines_before(pos),
            context=self._context(spans, pos, end),
        )

    def _callout(self, token: Token) -> Callout:
        start, end = token.map if token.map else (0, 0)
        body_lines = [_unquote_line(line) for line in self.lines[start + 1 : end]]
        return Callout(
            type=token.meta["callout"],
            title=token.meta["title"],
            body="\n".join(body_lines).strip(),
            line=self._line(start),
            fold=token.meta["fold"],
        )

    # -- dialogues

    def _source(self, start: int, end: int) -> str:
        return "\n".join(self.lines[start:end]).strip()

    def _dialogue(self) -> None:
        """Turns come from top-level nexus callouts; what lies between them is commentary."""
        if not any(block[0] == "turn" for block in self._blocks):
            return
        turns: list[Turn] = []
        commentary: list[Commentary] = []
        pending: list[tuple[int, int]] = []

        def flush() -> None:
            if pending:
                text = self._source(pending[0][0], pending[-1][1])
                if text:
                    commentary.append(Commentary(len(turns) - 1, text, self._line(pending[0][0])))
                pending.clear()

        for kind, start, end, *rest in self._blocks:
            if kind == "turn":
                flush()
                turns.append(self._turn(len(turns), rest[0], rest[1], start, end))
            elif kind == "uid" and turns:
                last = turns[-1]
                if last.uid is None:
                    turns[-1] = Turn(last.index, last.role, last.author, last.timestamp, last.text, rest[0], last.line)
            else:
                pending.append((start, end))
        flush()
        self.turns = turns
        self.commentary = commentary if turns else []

    def _turn(self, index: int, role: str, heading: str, start: int, end: int) -> Turn:
        title = _TURN_TITLE.match(heading)
        author = title.group("author").strip() if title else ""
        when = (title.group("when") or "").strip() if title else ""
        text = "\n".join(_unquote_line(line) for line in self.lines[start + 1 : end]).strip()
        uid_match = _UID.search(text)
        uid = uid_match.group(1) if uid_match else None
        if uid_match:
            text = _UID.sub("", text).strip()
        return Turn(index, role, author, when, text, uid, self._line(start))  # type: ignore[arg-type]


def _is_uid_only(html: str) -> bool:
    return not _UID.sub("", html).strip()


def _unquote_line(line: str) -> str:
    """Strip one level of blockquote marker: `> text` → `text`."""
    stripped = line.lstrip()
    if stripped.startswith(">"):
        stripped = stripped[1:]
        return stripped[1:] if stripped.startswith(" ") else stripped
    return line


# ---------------------------------------------------------------- canvas


def parse_canvas(path: str, text: str, warnings: tuple[Warning, ...] = ()) -> Note:
    """A JSON Canvas file: links in its text nodes, and its file nodes as embeds."""
    with _collector_paused():
        return _parse_canvas(path, text, warnings)


def _parse_canvas(path: str, text: str, warnings: tuple[Warning, ...]) -> Note:
    import json

    found = list(warnings)
    budget = NoteBudget()
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as e:
        found.append(Warning(path, "canvas", f"invalid canvas JSON: {e}"))
        data = {}
    nodes = data.get("nodes") if isinstance(data, dict) else None
    links: list[Link] = []
    tags: list[Tag] = []
    texts: list[str] = []
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            texts.append(node["text"])
            collector = _Collector(path, node["text"], 0, budget)
            _read_body(collector, node["text"])
            found.extend(collector.warnings)
            links.extend(replace(link, line=0) for link in collector.links)
            tags.extend(Tag(t.name) for t in collector.tags)
        elif node.get("type") == "file" and isinstance(node.get("file"), str):
            file = node["file"]
            subpath = node.get("subpath") if isinstance(node.get("subpath"), str) else ""
            target, heading, block = split_subpath(file + subpath)
            links.append(Link("embed", target, file, target.rsplit("/", 1)[-1], heading, block, 0, ""))
    return Note(
        path=path,
        title=title_from_path(path),
        text="\n\n".join(texts),
        frontmatter=None,
        tags=tuple(tags),
        links=tuple(links),
        warnings=(*found, *_budget_warnings(path, budget)),
    )
