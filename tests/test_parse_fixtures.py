"""Fixture files in tests/fixtures/parse: a Markdown input and the expected facts side by
side, one case per block (title, `.`, input, `.`, expected lines, `.`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultmind.parse import parse_note

FIXTURES = Path(__file__).parent / "fixtures" / "parse"


def read_cases(path: Path) -> list[tuple[str, str, list[str]]]:
    cases = []
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        title = lines[i]
        assert lines[i + 1] == ".", f"{path.name}: case {title!r} needs a '.' line"
        j = i + 2
        body: list[str] = []
        while lines[j] != ".":
            body.append(lines[j])
            j += 1
        j += 1
        expected: list[str] = []
        while lines[j] != ".":
            expected.append(lines[j])
            j += 1
        cases.append((title, "\n".join(body) + "\n", expected))
        i = j + 1
    return cases


def facts(text: str) -> list[str]:
    note = parse_note("case.md", text)
    out = [f"heading {h.level} {h.text}" for h in note.headings]
    out += [f"{l.kind} {l.link} | {l.display}" for l in note.links]
    out += [f"tag {t.name}" for t in note.tags]
    out += [f"block {b}" for b in note.block_ids]
    out += [f"comment {c}" for c in note.comments]
    out += [f"callout {c.type} | {c.title} | {c.fold} | {c.body}" for c in note.callouts]
    out += [f"footnote {f.label} {f.text}" for f in note.footnotes]
    return out


CASES = [(p.name, *case) for p in sorted(FIXTURES.glob("*.md")) for case in read_cases(p)]


@pytest.mark.parametrize(("file", "title", "text", "expected"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_fixture_case(file: str, title: str, text: str, expected: list[str]) -> None:
    assert sorted(facts(text)) == sorted(expected)


def test_fixture_files_have_cases() -> None:
    assert len(CASES) >= 12
