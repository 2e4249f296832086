"""Text → `Note`: front matter, links, tags, headings, block ids, callouts, footnotes,
`%%` comments, and saved AI dialogues as ordered turns with the author's commentary apart.

Parsing never raises on bad input: what is wrong becomes a `Warning` on the note.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import unquote
from functools import lru_cache
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler
from markdown_it import MarkdownIt
from markdown_it.token import Token

from vaultmind.markdown import build_markdown, split_subpath, split_wikilink
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

# Obsidian reads front matter only when the file's very first line is `---`.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_PROPERTY_LINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
_BLOCK_ID = re.compile(r"(?:^|\s)\^([A-Za-z0-9-]+)[ \t]*$")
_UID = re.compile(r"<!--\s*UID:\s*(\S+?)\s*-->")
_TURN_TITLE = re.compile(r"^\*\*(?P<author>[^*]+)\*\*\s*(?:[-–—]\s*(?P<when>.*))?$")
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|//)")
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")
_VALID_TAG = re.compile(r"[\w\-/]+")
_DIALOGUE_ROLES = {"nexus_user": "user", "nexus_agent": "assistant"}
_CONTEXT_CHARS = 300

PARSER_VERSION = 2


class _ObsidianYamlLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML that keeps dates and times as written, as Obsidian shows them."""


_ObsidianYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return build_markdown()


def parse_note(path: str, text: str, warnings: tuple[Warning, ...] = ()) -> Note:
    """Parse one note. `warnings` (from reading the file) are carried onto the note."""
    found: list[Warning] = list(warnings)
    frontmatter, fm_text, body, body_offset = _split_front_matter(path, text, found)
    collector = _Collector(path, body, body_offset)
    collector.walk(_markdown().parse(body))
    property_links = tuple(_property_links(frontmatter, fm_text)) if frontmatter else ()
    fm_tags = _front_matter_tags(frontmatter)
    tags = tuple(Tag(name) for name in fm_tags) + tuple(collector.tags)
    return Note(
        path=path,
        title=title_from_path(path),
        text=text,
        frontmatter=frontmatter,
        aliases=_front_matter_list(frontmatter, ("aliases", "alias")),
        tags=tags,
        links=property_links + tuple(collector.links),
        headings=tuple(collector.headings),
        block_ids=tuple(collector.block_ids),
        callouts=tuple(collector.callouts),
        footnotes=tuple(collector.footnotes),
        turns=tuple(collector.turns),
        commentary=tuple(collector.commentary),
        comments=tuple(collector.comments),
        private=_is_private(frontmatter, tags),
        warnings=tuple(found),
        body_line=body_offset + 1,
    )


# ---------------------------------------------------------------- front matter


def _split_front_matter(
    path: str, text: str, warnings: list[Warning]
) -> tuple[dict[str, Any] | None, str, str, int]:
    """Return (front matter or None, its raw text, body, lines before the body)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, "", text, 0
    fm_text = match.group(1)
    body = text[match.end() :]
    offset = text.count("\n", 0, match.end())
    try:
        data = YAMLHandler().load(fm_text, Loader=_ObsidianYamlLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        warnings.append(Warning(path, "yaml", f"invalid YAML front matter: {problem}", line))
        return None, fm_text, body, offset
    if data is None:
        return {}, fm_text, body, offset
    if not isinstance(data, dict):
        warnings.append(
            Warning(path, "yaml", f"front matter is a {type(data).__name__}, not a mapping", 2)
        )
        return None, fm_text, body, offset
    return _plain(data), fm_text, body, offset


def _plain(value: Any) -> Any:
    """Make YAML values JSON-safe: string keys, lists for sequences, str for the rest."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _front_matter_list(frontmatter: dict[str, Any] | None, keys: tuple[str, ...]) -> tuple[str, ...]:
    if not frontmatter:
        return ()
    for key in keys:
        value = frontmatter.get(key)
        if isinstance(value, str):
            return (value.strip(),) if value.strip() else ()
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    return ()


def _front_matter_tags(frontmatter: dict[str, Any] | None) -> tuple[str, ...]:
    """Tags from `tags:` / `tag:` in any YAML shape; values Obsidian would reject are dropped."""
    names = []
    for raw in _front_matter_list(frontmatter, ("tags", "tag")):
        name = raw.lstrip("#")
        if _VALID_TAG.fullmatch(name) and not name.replace("/", "").isdigit():
            names.append(name)
    return tuple(names)


def _is_private(frontmatter: dict[str, Any] | None, tags: tuple[Tag, ...]) -> bool:
    flag = frontmatter.get("private") if frontmatter else None
    if flag is True or (isinstance(flag, str) and flag.strip().lower() in {"true", "yes"}):
        return True
    return any(tag.name.lower() == "private" or tag.name.lower().startswith("private/") for tag in tags)


def _property_links(frontmatter: dict[str, Any], fm_text: str) -> list[Link]:
    links: list[Link] = []
    for key, value in _flatten(frontmatter, ""):
        for match in _PROPERTY_LINK.finditer(value):
            parts = split_wikilink(match.group(2))
            at = fm_text.find(match.group(0))
            line = fm_text.count("\n", 0, at) + 2 if at >= 0 else 1
            links.append(
                Link(
                    kind="property",
                    target=parts.target,
                    original=match.group(0),
                    display=parts.display,
                    heading=parts.heading,
                    block=parts.block,
                    line=line,
                    context=value[:_CONTEXT_CHARS],
                    key=key,
                )
            )
    return links


def _flatten(value: Any, key: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(v, f"{key}.{k}" if key else k)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _flatten(v, f"{key}.{i}")]
    return []


# ---------------------------------------------------------------- body


def _context(content: str, start: int, end: int) -> str:
    """The sentence of `content` around [start, end)."""
    left = 0
    for match in _SENTENCE_END.finditer(content, 0, start):
        left = match.end()
    right_match = _SENTENCE_END.search(content, end)
    right = right_match.end() if right_match else len(content)
    sentence = " ".join(content[left:right].split())
    if len(sentence) > _CONTEXT_CHARS:
        middle = (start - left + end - left) // 2
        lo = max(0, middle - _CONTEXT_CHARS // 2)
        sentence = sentence[lo : lo + _CONTEXT_CHARS]
    return sentence


class _Collector:
    """One pass over the token stream, gathering everything a `Note` holds."""

    def __init__(self, path: str, body: str, offset: int) -> None:
        self.path = path
        self.lines = body.split("\n")
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
        self._top_blocks: list[tuple[str, int, int, Token]] = []  # (kind, start, end, token)

    # -- walking

    def walk(self, tokens: list[Token]) -> None:
        footnote_label: str | None = None
        footnote_start = 0
        footnote_text: list[str] = []
        for i, token in enumerate(tokens):
            kind = token.type
            if token.level == 0 and token.nesting >= 0 and token.map is not None:
                self._top_blocks.append((kind, token.map[0], token.map[1], token))
            if kind == "heading_open" and i + 1 < len(tokens):
                line = self._line(token.map[0]) if token.map else 0
                self.headings.append(Heading(int(token.tag[1]), tokens[i + 1].content.strip(), line))
            elif kind == "blockquote_open" and token.meta.get("callout"):
                self.callouts.append(self._callout(token))
            elif kind == "footnote_open":
                footnote_label = str(token.meta.get("label", token.meta.get("id", "")))
                footnote_text = []
                footnote_start = 0
            elif kind == "footnote_close" and footnote_label is not None:
                text = " ".join(footnote_text).strip()
                self.footnotes.append(Footnote(footnote_label, text, footnote_start))
                footnote_label = None
            elif kind == "inline":
                line = self._line(token.map[0]) if token.map else 0
                if footnote_label is not None:
                    footnote_text.append(token.content)
                    footnote_start = footnote_start or line
                self._inline(token, line)
        self._close_comment()
        self._dialogue()

    def _line(self, index: int) -> int:
        return self.offset + index + 1

    def _inline(self, inline: Token, line: int) -> None:
        content = inline.content
        block_id = _BLOCK_ID.search(content.rsplit("\n", 1)[-1])
        if block_id:
            self.block_ids.append(block_id.group(1))
        children = inline.children or []
        for j, child in enumerate(children):
            kind = child.type
            if kind == "wikilink":
                meta = child.meta
                self.links.append(
                    Link(
                        kind="embed" if meta["embed"] else "link",
                        target=meta["target"],
                        original=meta["original"],
                        display=meta["display"],
                        heading=meta["heading"],
                        block=meta["block"],
                        line=line + content.count("\n", 0, meta["pos"]),
                        context=_context(content, meta["pos"], meta["end"]),
                    )
                )
            elif kind == "link_open" or kind == "image":
                link = self._markdown_link(child, children, j, content, line)
                if link is not None:
                    self.links.append(link)
            elif kind == "tag":
                self.tags.append(Tag(child.meta["name"], line + content.count("\n", 0, child.meta["pos"])))
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
                self.comments.append(text)
        self._comment_open = None
        self._comment_parts = []

    def _markdown_link(
        self, token: Token, children: list[Token], j: int, content: str, line: int
    ) -> Link | None:
        href = token.attrGet("src" if token.type == "image" else "href")
        if not isinstance(href, str) or not href or _EXTERNAL.match(href):
            return None
        link_text = unquote(href)
        if token.type == "image":
            display = token.content
        else:
            parts = []
            for child in children[j + 1 :]:
                if child.type == "link_close":
                    break
                parts.append(child.content)
            display = "".join(parts)
        target, heading, block = split_subpath(link_text)
        pos = token.meta.get("pos", 0)
        end = token.meta.get("end", pos)
        return Link(
            kind="embed" if token.type == "image" else "markdown",
            target=target,
            original=content[pos:end],
            display=display,
            heading=heading,
            block=block,
            line=line + content.count("\n", 0, pos),
            context=_context(content, pos, end),
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
        blocks = [b for b in self._top_blocks if not b[0].endswith("_close")]
        turns: list[Turn] = []
        commentary: list[Commentary] = []
        pending: list[tuple[int, int]] = []

        def flush() -> None:
            if pending:
                text = self._source(pending[0][0], pending[-1][1])
                if text:
                    commentary.append(Commentary(len(turns) - 1, text, self._line(pending[0][0])))
                pending.clear()

        for kind, start, end, token in blocks:
            role = _DIALOGUE_ROLES.get(token.meta.get("callout", "")) if kind == "blockquote_open" else None
            if role:
                flush()
                turns.append(self._turn(len(turns), role, token, start, end))
            elif kind == "html_block" and turns and _UID.search(token.content) and _is_uid_only(token.content):
                last = turns[-1]
                if last.uid is None:
                    turns[-1] = Turn(last.index, last.role, last.author, last.timestamp, last.text,
                                     _UID.search(token.content).group(1), last.line)
            else:
                pending.append((start, end))
        flush()
        self.turns = turns
        self.commentary = commentary if turns else []

    def _turn(self, index: int, role: str, token: Token, start: int, end: int) -> Turn:
        title = _TURN_TITLE.match(token.meta.get("title", ""))
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
    import json

    found = list(warnings)
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
            collector = _Collector(path, node["text"], 0)
            collector.walk(_markdown().parse(node["text"]))
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
        warnings=tuple(found),
    )
