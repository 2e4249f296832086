"""vaultmind against what Obsidian itself computed for the tasks-demo vault.

Every fact in `tasks-demo-obsidian-index/expected.json` for fresh sources is compared:
per note links, embeds, front-matter links, tags, headings, block ids, front matter and
`resolveLinkToPath`; vault-wide resolved and unresolved link counts. Deliberate differences
are listed in docs/obsidian-compat.md, each with its own test below.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vaultmind.files import read_text
from vaultmind.parse import parse_note
from vaultmind.resolve import Resolver
from vaultmind.files import ignore_rules, walk_vault

from .conftest import SHARED

VAULT = SHARED / "vaults" / "tasks-demo"
EXPECTED = SHARED / "vaults" / "tasks-demo-obsidian-index" / "expected.json"

pytestmark = pytest.mark.skipif(not EXPECTED.exists(), reason="../shared/vaults is not present")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(EXPECTED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vault_paths() -> list[str]:
    return [f.path for f in walk_vault(VAULT, ignore_rules(VAULT)).files]


@pytest.fixture(scope="module")
def parsed(expected: dict) -> dict:
    notes = {}
    for path, facts in expected["notes"].items():
        if not facts["snapshot_matches_current_file"]:
            continue
        result = read_text(VAULT, path, 10_000_000)
        notes[path] = parse_note(path, result.text, result.warnings)
    return notes


def fresh_notes(expected: dict) -> list[str]:
    return [p for p, f in expected["notes"].items() if f["snapshot_matches_current_file"]]


def _note_ids() -> list[str]:
    if not EXPECTED.exists():
        return []
    data = json.loads(EXPECTED.read_text(encoding="utf-8"))
    return fresh_notes(data)


@pytest.mark.parametrize("path", _note_ids())
def test_links_match_obsidian(path: str, expected: dict, parsed: dict) -> None:
    facts = expected["notes"][path]
    note = parsed[path]
    body_links = [(l.link, l.original, l.display) for l in note.links if l.kind in ("link", "markdown")]
    assert body_links == [(e["link"], e["original"], e["displayText"]) for e in facts["links"]]
    embeds = [(l.link, l.original, l.display) for l in note.links if l.kind == "embed"]
    assert embeds == [(e["link"], e["original"], e["displayText"]) for e in facts["embeds"]]
    props = [(l.key, l.link, l.original, l.display) for l in note.links if l.kind == "property"]
    assert props == [(e["key"], e["link"], e["original"], e["displayText"]) for e in facts["frontmatterLinks"]]


@pytest.mark.parametrize("path", _note_ids())
def test_tags_headings_blocks_match_obsidian(path: str, expected: dict, parsed: dict) -> None:
    facts = expected["notes"][path]
    note = parsed[path]
    body_tags = ["#" + t.name for t in note.tags if t.line > 0]
    assert body_tags == facts["tags_body_in_order"]
    assert Counter("#" + t.name for t in note.tags) == Counter(facts["getAllTags"])
    fm_tags = ["#" + t.name for t in note.tags if t.line == 0]
    assert fm_tags == (facts["parseFrontMatterTags"] or [])
    assert [[h.level, h.text] for h in note.headings] == facts["headings"]
    assert list(note.block_ids) == facts["block_ids"]
    assert note.frontmatter == facts["frontmatter"] or (not note.frontmatter and not facts["frontmatter"])


@pytest.mark.parametrize("path", _note_ids())
def test_resolution_matches_obsidian(path: str, expected: dict, vault_paths: list[str]) -> None:
    resolver = Resolver(vault_paths)
    from vaultmind.markdown import split_subpath

    for link, want in expected["notes"][path]["resolveLinkToPath"].items():
        target, _heading, _block = split_subpath(link)
        assert resolver.resolve(target, path) == want, link


def test_vault_wide_link_counts(expected: dict, tmp_path: Path) -> None:
    """resolvedLinks / unresolvedLinks for every fresh source, from a real index run."""
    import vaultmind

    vaultmind.index(VAULT, state_dir=tmp_path / "state")
    graph = vaultmind.link_graph(VAULT, state_dir=tmp_path / "state")
    vault = expected["vault"]
    fresh = set(vault["fresh_sources"])
    resolved: dict[str, Counter] = {s: Counter() for s in fresh}
    unresolved: dict[str, Counter] = {s: Counter() for s in fresh}
    for source, target, data in graph.edges(data=True):
        if source not in fresh:
            continue
        if graph.nodes[target]["kind"] == "wanted":
            unresolved[source][target] += 1
        else:
            resolved[source][target] += 1
    for source in sorted(fresh):
        assert dict(resolved[source]) == vault["resolvedLinks"][source], source
        assert dict(unresolved[source]) == vault["unresolvedLinks"][source], source
    assert sum(sum(c.values()) for c in resolved.values()) == vault["n_edges_resolved_fresh"]
    assert sum(sum(c.values()) for c in unresolved.values()) == vault["n_edges_unresolved_fresh"]
