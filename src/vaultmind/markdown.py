"""markdown-it-py rules for Obsidian's syntax: wikilinks, embeds, tags, `%%` comments,
callouts. Each is a plain plugin function added with `md.use()`; because they are inline or
core rules, code spans, fenced code, math and HTML comments are skipped for free.

Tokens these rules add:
- `wikilink` (content: the text between the brackets, for `split_wikilink`; meta: embed, pos,
  end — kept small, as a note may hold a hundred thousand of them)
- `tag` (meta: name, pos)
- `comment_marker` (an Obsidian `%%`; meta: pos)
- `link_open` / `image` from the stock rules get meta `pos` / `end` (their span in the
  inline source), so callers can report a line and the original text.
- a `blockquote_open` that starts a callout gets meta: callout, title, fold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.rules_core import StateCore
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin

InlineRule = Callable[[StateInline, bool], bool]

# Obsidian: a tag is letters (any script), digits, `_`, `-` and `/`, not digits only.
_TAG_BODY = re.compile(r"[\w\-/]+")
# A `#` starts a tag only after whitespace, the start, or punctuation that cannot be part of
# a word or a URL (so `a#b`, `/#frag` and `&#123;` are not tags).
_TAG_MAY_FOLLOW = set(" \t\n([{<>\"'*~,;!?|")
_CALLOUT_HEAD = re.compile(r"^\[!([^\]\s]+)\]([+-]?)[ \t]*(.*)$")

# Wikilinks and tags one note may have; past these they stay plain text (with a warning), so
# a note that is nothing but links has a bounded number of tokens, not one per six bytes.
MAX_LINKS = 100_000
MAX_TAGS = 100_000


@dataclass(slots=True)
class NoteBudget:
    """What is left of one note's allowance of links and tags (`left`), shared by the pieces
    it is parsed in, and how many items of each kind were refused once theirs ran out."""

    left: dict[str, int] = field(default_factory=lambda: {"links": MAX_LINKS, "tags": MAX_TAGS})
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, kind: str) -> None:
        self.refused[kind] = self.refused.get(kind, 0) + 1


def budget_env(budget: NoteBudget) -> dict[str, Any]:
    """The `env` to parse a note (or one piece of it) with, so the rules draw on `budget`."""
    return {"vaultmind_budget": budget}


def _allowed(state: StateInline, silent: bool, kind: str) -> bool:
    """Whether the note may have one more `kind` ("links" or "tags"); counts it if so."""
    budget = state.env.get("vaultmind_budget")
    if budget is None:
        return True
    if budget.left[kind] <= 0:
        if not silent:
            budget.refuse(kind)
        return False
    if not silent:
        budget.left[kind] -= 1
    return True


@dataclass(frozen=True, slots=True)
class WikiTarget:
    """The parts of a wikilink's inner text, split as Obsidian splits them."""

    link: str
    target: str
    heading: str | None
    block: str | None
    display: str


def split_wikilink(inner: str) -> WikiTarget:
    """`a#h|shown` → link `a#h`, display `shown`. A `|` at index 0 is part of the link (as in
    Obsidian: `[[|x]]` links to `|x`); the display is everything after the first other `|`."""
    inner = inner.replace("\\|", "|")
    pipe = inner.find("|", 1)
    if pipe > 0:
        link, display = inner[:pipe], inner[pipe + 1 :]
    else:
        link, display = inner, None
    target, heading, block = split_subpath(link)
    if display is None:
        parts = link.split("#")
        if parts and parts[0] == "":
            parts = parts[1:]
        display = " > ".join(parts)
    return WikiTarget(link=link, target=target, heading=heading, block=block, display=display)


def split_subpath(link: str) -> tuple[str, str | None, str | None]:
    """`note#Heading#Sub` → (`note`, `Heading#Sub`, None); `note#^id` → (`note`, None, `id`)."""
    hash_at = link.find("#")
    if hash_at < 0:
        return link, None, None
    target, sub = link[:hash_at], link[hash_at + 1 :]
    if sub.startswith("^"):
        return target, None, sub[1:]
    return target, sub, None


class _Ahead:
    """The next `]]`, `[[` and newline at or after a position of one inline text. A rule runs
    at every `[[`; searching from each one again makes unclosed brackets cost the square of
    the paragraph's length, so each answer is kept and reused while it still holds."""

    def __init__(self, src: str) -> None:
        self.src = src
        self._found: dict[str, tuple[int, int]] = {}  # needle → (searched from, found at or -1)

    def find(self, needle: str, start: int) -> int:
        since, at = self._found.get(needle, (len(self.src) + 1, -1))
        if since <= start and (at < 0 or start <= at):
            return at
        at = self.src.find(needle, start)
        self._found[needle] = (start, at)
        return at


def _ahead(state: StateInline) -> _Ahead:
    ahead = state.env.get("wikilink_ahead")
    if ahead is None or ahead.src is not state.src:
        ahead = state.env["wikilink_ahead"] = _Ahead(state.src)
    return ahead


def _wikilink_rule(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    embed = src.startswith("![[", pos)
    if not embed and not src.startswith("[[", pos):
        return False
    start = pos + (3 if embed else 2)
    ahead = _ahead(state)
    end = ahead.find("]]", start)
    if end < 0 or end + 2 > state.posMax + 1:
        return False
    # no line break and no other `[[` inside
    if 0 <= ahead.find("\n", start) < end or 0 <= ahead.find("[[", start) < end:
        return False
    inner = src[start:end]
    if not inner.strip() or not _allowed(state, silent, "links"):
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.content = inner
        token.meta = {"embed": embed, "pos": pos, "end": end + 2}
    state.pos = end + 2
    return True


def _tag_rule(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "#":
        return False
    if pos > 0 and src[pos - 1] not in _TAG_MAY_FOLLOW:
        return False
    match = _TAG_BODY.match(src, pos + 1, state.posMax)
    if not match:
        return False
    name = match.group(0)
    if name.replace("/", "").isdigit() or not _allowed(state, silent, "tags"):
        return False
    if not silent:
        token = state.push("tag", "", 0)
        token.content = name
        token.meta = {"name": name, "pos": pos}
    state.pos = match.end()
    return True


def _comment_rule(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("%%", state.pos):
        return False
    if not silent:
        token = state.push("comment_marker", "", 0)
        token.meta = {"pos": state.pos}
    state.pos += 2
    return True


def _located(rule: InlineRule, kind: str) -> InlineRule:
    """Wrap a stock rule so the token it opens remembers its span in the inline source."""

    def located(state: StateInline, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        matched = rule(state, silent)
        if matched and not silent:
            for token in state.tokens[count:]:
                if token.type == kind:
                    token.meta = {**(token.meta or {}), "pos": start, "end": state.pos}
                    break
        return matched

    return located


def obsidian_links(md: MarkdownIt) -> None:
    """Wikilinks and embeds; stock Markdown links and images learn their source span."""
    md.inline.ruler.before("strikethrough", "wikilink", _wikilink_rule)
    rules = {rule.name: rule.fn for rule in md.inline.ruler.__rules__}
    md.inline.ruler.at("link", _located(rules["link"], "link_open"))
    md.inline.ruler.at("image", _located(rules["image"], "image"))


def obsidian_tags(md: MarkdownIt) -> None:
    md.inline.ruler.before("strikethrough", "tag", _tag_rule)


def obsidian_comments(md: MarkdownIt) -> None:
    """`%%` markers. Obsidian indexes what is inside a comment, so only the markers are
    tokens; the text between them is parsed as usual."""
    md.inline.ruler.before("strikethrough", "comment_marker", _comment_rule)


def _callout_rule(state: StateCore) -> None:
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type != "blockquote_open":
            continue
        if i + 2 >= len(tokens) or tokens[i + 1].type != "paragraph_open":
            continue
        inline = tokens[i + 2]
        first_line = inline.content.split("\n", 1)[0]
        match = _CALLOUT_HEAD.match(first_line)
        if match:
            token.meta = {
                "callout": match.group(1).lower(),
                "fold": match.group(2),
                "title": match.group(3).strip(),
            }


def obsidian_callouts(md: MarkdownIt) -> None:
    md.core.ruler.after("block", "callout", _callout_rule)


def build_markdown() -> MarkdownIt:
    """The parser vaultmind reads notes with: CommonMark + tables + strikethrough + HTML,
    `$math$`, footnotes, and Obsidian's rules."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_space=True, allow_digits=True, double_inline=True)
    md.use(footnote_plugin)
    md.use(obsidian_links)
    md.use(obsidian_tags)
    md.use(obsidian_comments)
    md.use(obsidian_callouts)
    return md
