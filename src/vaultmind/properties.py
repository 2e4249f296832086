"""Front matter (Obsidian's "properties"): split it off, read its YAML safely and within a
budget, and take aliases, tags, the private flag and property links from it.

YAML aliases are references: `&a [*a]` contains itself and nine nested lists of nine aliases
(about 400 bytes) stand for a billion strings. The composed node graph is measured before
anything is built from it, so such front matter is refused with a warning and costs no more
than its size; the note's body is still indexed.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from vaultmind.markdown import split_wikilink
from vaultmind.types import Link, Tag, Warning

# Obsidian reads front matter only when the file's very first line is `---`.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_PROPERTY_LINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
_VALID_TAG = re.compile(r"[\w\-/]+")
CONTEXT_CHARS = 300

# The budget: real front matter is a few hundred bytes and a few dozen values.
MAX_FRONT_MATTER_CHARS = 1_000_000
MAX_YAML_NODES = 100_000  # values after aliases are expanded
MAX_YAML_DEPTH = 100  # nesting after aliases are expanded (libyaml stops at 1,000 before expansion)


class YamlRefused(yaml.YAMLError):
    """Front matter that is valid YAML but over the budget."""


_BaseLoader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader


class _ObsidianYamlLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe YAML that keeps dates and times as written, as Obsidian shows them, and measures
    the document before building it."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        problem = over_budget(node)
        if problem:
            raise YamlRefused(problem)
        return self.construct_document(node)


_ObsidianYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def over_budget(root: yaml.Node, max_nodes: int = MAX_YAML_NODES, max_depth: int = MAX_YAML_DEPTH) -> str | None:
    """Why a composed YAML document is refused, or None. Walks each distinct node once (an
    alias is the same node object again), so the cost follows the text, not the expansion."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (nodes when expanded, depth)
    started: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = [measured[id(kid)] for kid in _children(node)]
            size = 1 + sum(size for size, _ in kids)
            depth = 1 + max((depth for _, depth in kids), default=0)
            if size > max_nodes:
                return f"aliases expand to more than {max_nodes:,} values"
            if depth > max_depth:
                return f"nested more than {max_depth} levels deep"
            measured[key] = (size, depth)
            continue
        if key in measured:
            continue
        if key in started:  # still being measured: this node contains itself
            return "an alias refers to the value that contains it (recursive YAML)"
        started.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in measured)
    return None


def split_front_matter(path: str, text: str, warnings: list[Warning]) -> tuple[dict[str, Any] | None, str, str, int]:
    """Return (front matter or None, its raw text, body, lines before the body)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, "", text, 0
    fm_text = match.group(1)
    body = text[match.end() :]
    offset = text.count("\n", 0, match.end())
    if len(fm_text) > MAX_FRONT_MATTER_CHARS:
        warnings.append(Warning(path, "yaml_refused", f"front matter is {len(fm_text):,} characters, "
                                f"over the {MAX_FRONT_MATTER_CHARS:,} read; properties skipped", 2))
        return None, fm_text, body, offset
    try:
        data = YAMLHandler().load(fm_text, Loader=_ObsidianYamlLoader)
    except YamlRefused as e:
        warnings.append(Warning(path, "yaml_refused", f"front matter refused: {e}; properties skipped", 2))
        return None, fm_text, body, offset
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        warnings.append(Warning(path, "yaml", f"invalid YAML front matter: {problem}", line))
        return None, fm_text, body, offset
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # a value no type can hold
        warnings.append(Warning(path, "yaml", f"front matter could not be read: {type(e).__name__}: {e}", 2))
        return None, fm_text, body, offset
    if data is None:
        return {}, fm_text, body, offset
    if not isinstance(data, dict):
        warnings.append(Warning(path, "yaml", f"front matter is a {type(data).__name__}, not a mapping", 2))
        return None, fm_text, body, offset
    return _plain(data), fm_text, body, offset


def _plain(value: Any) -> Any:
    """Make YAML values JSON-safe: string keys, lists for sequences, str for the rest. Depth is
    bounded by the budget, so recursion is safe."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def front_matter_list(frontmatter: dict[str, Any] | None, keys: tuple[str, ...]) -> tuple[str, ...]:
    if not frontmatter:
        return ()
    for key in keys:
        value = frontmatter.get(key)
        if isinstance(value, str):
            return (value.strip(),) if value.strip() else ()
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    return ()


def front_matter_tags(frontmatter: dict[str, Any] | None) -> tuple[str, ...]:
    """Tags from `tags:` / `tag:` in any YAML shape; values Obsidian would reject are dropped."""
    names = []
    for raw in front_matter_list(frontmatter, ("tags", "tag")):
        name = raw.lstrip("#")
        if _VALID_TAG.fullmatch(name) and not name.replace("/", "").isdigit():
            names.append(name)
    return tuple(names)


def is_private(frontmatter: dict[str, Any] | None, tags: tuple[Tag, ...]) -> bool:
    flag = frontmatter.get("private") if frontmatter else None
    if flag is True or (isinstance(flag, str) and flag.strip().lower() in {"true", "yes"}):
        return True
    return any(tag.name.lower() == "private" or tag.name.lower().startswith("private/") for tag in tags)


def property_links(frontmatter: dict[str, Any], fm_text: str) -> list[Link]:
    """Wikilinks in property values. Each takes the line of the next unused occurrence of
    its text in the front matter (one pass over the text, not one search per link)."""
    lines_of: dict[str, deque[int]] = defaultdict(deque)
    line, counted = 2, 0
    for match in _PROPERTY_LINK.finditer(fm_text):
        line += fm_text.count("\n", counted, match.start())
        counted = match.start()
        lines_of[match.group(0)].append(line)
    links: list[Link] = []
    for key, value in _flatten(frontmatter):
        for match in _PROPERTY_LINK.finditer(value):
            parts = split_wikilink(match.group(2))
            seen = lines_of.get(match.group(0))
            at = (seen.popleft() if len(seen) > 1 else seen[0]) if seen else 1
            links.append(
                Link(
                    kind="property",
                    target=parts.target,
                    original=match.group(0),
                    display=parts.display,
                    heading=parts.heading,
                    block=parts.block,
                    line=at,
                    context=value[:CONTEXT_CHARS],
                    key=key,
                )
            )
    return links


def _flatten(frontmatter: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted key, string value) for every string in the front matter, in document order."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in reversed(frontmatter.items())]
    while stack:
        key, value = stack.pop()
        if isinstance(value, str):
            found.append((key, value))
        elif isinstance(value, dict):
            stack.extend((f"{key}.{k}", v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{key}.{i}", v) for i, v in reversed(list(enumerate(value))))
    return found
