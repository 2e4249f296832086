"""The sample vault indexes to what its author intended (tests/data/sample_topics.json)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import networkx as nx
import pytest

import vaultmind
from vaultmind.graph import metrics

from .conftest import ROOT, SAMPLE_VAULT, HashEmbedder

TRUTH = json.loads((ROOT / "tests" / "data" / "sample_topics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("sample") / "state"
    vaultmind.index(SAMPLE_VAULT, state_dir=state_dir, embedder=HashEmbedder())
    return state_dir


@pytest.fixture(scope="module")
def graph(state: Path) -> nx.MultiDiGraph:
    return vaultmind.link_graph(SAMPLE_VAULT, state_dir=state)


def report(name: str, state: Path) -> vaultmind.NoteReport:
    return vaultmind.note_report(SAMPLE_VAULT, name, state_dir=state)


def test_every_intended_note_is_indexed_and_nothing_else(graph: nx.MultiDiGraph) -> None:
    notes = {n for n, kind in graph.nodes(data="kind") if kind == "note"}
    assert notes == set(TRUTH["notes"])
    assert not notes & set(TRUTH["ignored"])
    assert len(notes) >= 60 and len(set(TRUTH["notes"].values()) - {"hub", "misc"}) >= 4


def test_wanted_notes_and_who_links_to_them(graph: nx.MultiDiGraph) -> None:
    wanted = {n: sorted(set(graph.predecessors(n))) for n, kind in graph.nodes(data="kind") if kind == "wanted"}
    expected = {k: sorted(v) for k, v in TRUTH["wanted"].items()}
    for alias, facts in TRUTH["bare_aliases"].items():
        expected[alias] = sorted(facts["linked_from"])  # a bare alias stays unresolved, as in Obsidian
    assert wanted == expected


def test_tricky_resolutions(state: Path) -> None:
    by_source: dict[str, dict[str, str | None]] = defaultdict(dict)
    for source, link_text, target in TRUTH["resolutions"]:
        by_source[source][link_text] = target
    for source, cases in by_source.items():
        outgoing = report(source, state).outgoing
        found = {l.link.link: l.target_path for l in outgoing} | {l.link.target: l.target_path for l in outgoing}
        for link_text, target in cases.items():
            assert found.get(link_text, "MISSING") == target, (source, link_text)


def test_links_that_must_not_count(state: Path) -> None:
    for source, texts in TRUTH["not_links"].items():
        targets = {l.link.target for l in report(source, state).outgoing}
        assert not targets & set(texts), source


def test_tags_and_not_tags(state: Path) -> None:
    for source, tags in TRUTH["tags"].items():
        assert {t.name for t in report(source, state).note.tags} == set(tags), source
    for source, not_tags in TRUTH["not_tags"].items():
        # a "not tag" may still be a real tag of the note elsewhere (front matter, another line)
        names = {t.name for t in report(source, state).note.tags}
        for tag in not_tags:
            assert tag not in names or tag in TRUTH["tags"].get(source, []), (source, tag)


def test_private_notes(state: Path) -> None:
    for path in TRUTH["notes"]:
        assert report(path, state).note.private == (path in TRUTH["private"]), path


def test_warnings_name_the_bad_files(state: Path) -> None:
    codes = {(w.path, w.code) for w in vaultmind.doctor(SAMPLE_VAULT, state_dir=state)}
    expected = {(p, "yaml") for p in TRUTH["broken_yaml"]}
    for path, what in TRUTH["encodings"].items():
        expected.add((path, "mojibake" if "mojibake" in what else "encoding"))
    assert codes == expected


def test_mojibake_note_reads_as_clean_russian(state: Path) -> None:
    path = next(p for p, what in TRUTH["encodings"].items() if "mojibake" in what)
    note = report(path, state).note
    assert "Ð" not in note.text and "–" not in note.text[:200]
    assert note.turns and any("\u0400" <= ch <= "\u04ff" for ch in note.turns[0].text)


def test_dialogues_have_turns_and_unanswered_ones_end_with_the_user(state: Path) -> None:
    for path in TRUTH["unanswered_dialogues"]:
        turns = report(path, state).note.turns
        assert turns and turns[-1].role == "user", path
        assert all(t.uid for t in turns), path


def test_orphans_and_dead_ends(graph: nx.MultiDiGraph) -> None:
    m = metrics(graph)
    assert set(m.orphans) == set(TRUTH["orphans"])
    assert set(TRUTH["dead_ends"]) <= set(m.dead_ends)


def test_canvas_links_and_embeds(graph: nx.MultiDiGraph) -> None:
    canvas = next(n for n, kind in graph.nodes(data="kind") if kind == "canvas")
    targets = {t for _, t in graph.out_edges(canvas)}
    assert targets and all(graph.nodes[t]["kind"] != "wanted" for t in targets)
    embeds = [(s, t) for s, t, k in graph.edges(data="kind") if k == "embed" and graph.nodes[t]["kind"] == "attachment"]
    assert embeds


def test_graph_has_one_edge_per_link_occurrence(state: Path, graph: nx.MultiDiGraph) -> None:
    summary = vaultmind.index(SAMPLE_VAULT, state_dir=state, embedder=HashEmbedder())
    assert graph.number_of_edges() == summary.links
    assert summary.parsed == 0 and summary.embedded == 0  # the second run changes nothing
