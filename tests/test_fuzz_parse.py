"""Property-based tests of the parser and the front-matter reader (Hypothesis). Notes are
built from the pieces hostile notes are made of — brackets that never close, aliases that
contain themselves, quotes and fences that never end, mixed scripts — and must always parse:
no exception, every line number inside the file, and output bounded by the input's size.

The deadlines are generous per-example timeouts, so a regression to quadratic work fails
instead of hanging the run; the benchmark (`bench_hostile`, `make bench BENCH=bench_hostile`) measures the real cost.
A longer campaign: VAULTMIND_FUZZ_SCALE=40 multiplies every example count."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from vaultmind.parse import CONTEXT_CHARS, parse_canvas, parse_note
from vaultmind.properties import split_front_matter
from vaultmind.store import note_to_json

MARKDOWN = st.sampled_from([
    "[[", "]]", "![[", "[[b]]", "[[Note#Heading|shown]]", "[[#^id]]", "|", "\\|", "#", "# ", "###### ",
    "#tag", "#тег/вложенный", "%%", "> ", ">", "> [!nexus_user] **User** - 2024-01-01", "> [!nexus_agent]",
    "> [!note]- Title", "<!-- UID: 1 -->", "[^1]", "[^1]: ", "[x]: /url", "[x][x]", "`", "```", "~~~", "    ",
    "$", "$$", "<!--", "-->", "<div>", "</div>", "<pre>", "\n", "\n\n", "- ", "1. ", "* ", "^block-1", "---",
    "===", "|a|b|\n|-|-|", "[a](b.md)", "![x](y.png)", "[a](<b c.md>)", "](", "[", "]", "(", ")", " ", "\t",
    "\r\n", "word", "слово", "\ufffd", "\u200b", "😀", "\\", "*", "_", "~~", "==", ".", "?", "…",
])
YAML = st.sampled_from([
    "a: ", "tags: ", "aliases: ", "private: ", "&x ", "*x", "&y ", "*y", "<<: ", "[", "]", "{", "}", ", ",
    "- ", "\n", "  ", "'", '"', "[[b]]", "\"[[b|c]]\"", "!!str ", "!!binary ", "? ", ": ", "#", "|", ">",
    "true", "2024-01-01", "9" * 30, "1e400", ".nan", "~", "null", "\t", "%YAML 1.1\n", "---", "...",
])
SCALE = int(os.environ.get("VAULTMIND_FUZZ_SCALE", "1"))
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
BODY = st.lists(st.one_of(MARKDOWN, TEXT), max_size=60).map("".join)
FRONT = st.lists(st.one_of(YAML, TEXT), max_size=30).map("".join)
NOTE = st.tuples(st.booleans(), FRONT, BODY).map(lambda t: f"---\n{t[1]}\n---\n{t[2]}" if t[0] else t[2])


def assert_sound(text: str) -> None:
    """Parse `text` and check what must hold for any input."""
    note = parse_note("fuzz.md", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1  # a lone CR breaks a line too
    for link in note.links:
        assert 1 <= link.line <= lines, link
        assert len(link.context) <= CONTEXT_CHARS
        if link.kind in ("link", "embed") and link.original.startswith(("[[", "![[")):
            assert link.original in text
    for item in (*note.headings, *note.callouts, *note.turns, *(t for t in note.tags if t.line)):
        assert 1 <= item.line <= lines, item
    assert 1 <= note.body_line <= lines
    assert all(w.path == "fuzz.md" for w in note.warnings)
    # Work bounded by the input: every link carries at most one sentence, and aliases expand
    # to at most the YAML budget's values.
    assert len(note_to_json(note)) <= 400 * len(text) + 2_000_000


@settings(max_examples=500 * SCALE, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])
@given(NOTE)
def test_any_note_parses(text: str) -> None:
    assert_sound(text)


@settings(max_examples=30 * SCALE, deadline=20_000, suppress_health_check=[HealthCheck.too_slow])
@given(BODY, st.integers(min_value=50_000, max_value=150_000))
def test_a_snippet_repeated_to_a_long_note_parses(snippet: str, size: int) -> None:
    """The shapes that once cost the square of a paragraph's length: a snippet repeated to
    a long note (with and without line breaks between the repetitions)."""
    assume(snippet.strip())
    text = snippet * (size // len(snippet) + 1)
    assert_sound(text[:size])


@settings(max_examples=500 * SCALE, deadline=2_000)
@given(FRONT)
def test_any_front_matter_is_read_or_refused(yaml_text: str) -> None:
    warnings: list = []
    text = f"---\n{yaml_text}\n---\nbody"
    data, _raw, body, _offset = split_front_matter("fuzz.md", text, warnings)
    assert body.endswith("body") and text.endswith(body)  # a `---` line in the YAML ends it early
    assert (data is None) == any(w.code.startswith("yaml") for w in warnings)
    if data is not None:
        json.dumps(data)  # plain, JSON-safe values


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | BODY,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["nodes", "type", "text", "file", "subpath", "id", "x"]), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300 * SCALE, deadline=2_000)
@given(JSON)
def test_any_canvas_parses(value: object) -> None:
    note = parse_canvas("fuzz.canvas", json.dumps(value))
    assert all(link.line == 0 for link in note.links)
