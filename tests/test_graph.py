"""The link graph: node kinds, one edge per occurrence, wanted-note spellings, metrics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import vaultmind
from vaultmind.graph import metrics, wanted_key, wanted_name


def build(tmp_path: Path, notes: dict[str, str]):
    vault = tmp_path / "v"
    for rel, text in notes.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        (vault / rel).write_text(text, encoding="utf-8")
    vaultmind.index(vault, state_dir=tmp_path / "s")
    return vaultmind.link_graph(vault, state_dir=tmp_path / "s")


def test_spellings_of_one_wanted_note_are_one_node(tmp_path: Path) -> None:
    # Obsidian keys unresolved links by the exact text; vaultmind groups them the way it
    # resolves links (case-insensitive, NFC), naming the node by the commonest spelling.
    graph = build(tmp_path, {
        "a.md": "[[Теория сцен]] and [[теория сцен]]",
        "b.md": "[[Теория сцен]]",
        "c.md": "[[Cafe\u0301 notes]] [[Caf\u00e9 Notes]]",
    })
    wanted = {n: graph.in_degree(n) for n, kind in graph.nodes(data="kind") if kind == "wanted"}
    assert wanted == {"Теория сцен": 3, "Cafe\u0301 notes": 2}


def test_a_trailing_md_is_not_part_of_a_wanted_note(tmp_path: Path) -> None:
    # `[[X.md]]` and `[[X]]` are one note to write, shown without `.md`
    graph = build(tmp_path, {
        "a.md": "[[Aras Teucras.md]] and [[Aras Teucras]]",
        "b.md": "[[Aras Teucras.md]]",
        "c.md": "[[Only Written.MD]] [[only written.md]] [[Only Written.MD]]",
    })
    wanted = {n: graph.in_degree(n) for n, kind in graph.nodes(data="kind") if kind == "wanted"}
    assert wanted == {"Aras Teucras": 3, "Only Written": 3}
    assert vaultmind.overview(tmp_path / "v", state_dir=tmp_path / "s").wanted == 2


def test_wanted_name_prefers_the_spelling_written_without_md() -> None:
    assert wanted_name(Counter({"idea.md": 1, "Idea": 1})) == "Idea"  # a tie: the one written bare
    assert wanted_name(Counter({"Idea": 1, "idea.md": 1})) == "Idea"
    assert wanted_name(Counter({"Idea.md": 2, "idea": 1})) == "Idea"  # the commonest, .md left off
    assert wanted_name(Counter({".md": 1})) == ".md"  # nothing left without it: kept
    assert wanted_key("Idea.MD") == wanted_key(" idea ") == "idea"


def test_edges_keep_every_occurrence_with_its_details(tmp_path: Path) -> None:
    graph = build(tmp_path, {
        "a.md": "---\nup: \"[[b]]\"\n---\nFirst [[b#Part|see]] then\n\n![[b]] and [b](b.md) and [[#Own]]\n\n# Own\n",
        "b.md": "# Part\n",
    })
    edges = sorted((t, d["kind"], d["line"], d["heading"], d["display"]) for _, t, d in graph.out_edges("a.md", data=True))
    assert edges == [
        ("a.md", "link", 6, "Own", "Own"),
        ("b.md", "embed", 6, None, "b"),
        ("b.md", "link", 4, "Part", "see"),
        ("b.md", "markdown", 6, None, "b"),
        ("b.md", "property", 2, None, "b"),
    ]


def test_metrics(tmp_path: Path) -> None:
    graph = build(tmp_path, {
        "hub.md": "[[a]] [[b]] [[c]]",
        "a.md": "[[b]] [[hub]]",
        "b.md": "nothing out",
        "c.md": "[[c]] only itself and [[ghost]]",
        "lonely.md": "no links",
        "island1.md": "[[island2]]",
        "island2.md": "",
    })
    m = metrics(graph)
    assert m.orphans == ("lonely.md",)
    assert m.dead_ends == ("b.md", "island2.md")
    assert m.in_degree["b.md"] == 2 and m.out_degree["hub.md"] == 3 and m.in_degree["c.md"] == 1
    assert [len(c) for c in m.components] == [4, 2, 1]
    assert max(m.pagerank, key=m.pagerank.get) == "b.md"
    assert abs(sum(m.pagerank.values()) - 1.0) < 1e-9
