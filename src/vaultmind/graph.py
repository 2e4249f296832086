"""The link graph: a networkx `MultiDiGraph` with one edge per link occurrence.

Nodes: notes and canvases (`kind="note"` / `"canvas"`, id = vault path), attachments
(`kind="attachment"`), and wanted notes (`kind="wanted"`, id = the link text as most often
written, without `.md`; spellings that differ only in case, Unicode form or a trailing `.md`
are one wanted note).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from vaultmind.types import ResolvedLink

NOTE_KINDS = ("note", "canvas")


@dataclass(frozen=True, slots=True)
class GraphMetrics:
    """Per-note metrics and vault-wide structure, computed over notes only (no attachments,
    no wanted notes, no self links)."""

    in_degree: dict[str, int]
    out_degree: dict[str, int]
    pagerank: dict[str, float]
    orphans: tuple[str, ...]
    dead_ends: tuple[str, ...]
    components: tuple[tuple[str, ...], ...]


def wanted_key(target: str) -> str:
    """What makes two unresolved link texts one wanted note: NFC, casefolded, `.md` optional
    (`[[Idea.md]]` and `[[idea]]` are the same note to write)."""
    return _without_md(unicodedata.normalize("NFC", target.strip()).casefold())


def _without_md(text: str) -> str:
    text = text.strip()
    return text[:-3].rstrip() if text.lower().endswith(".md") and text[:-3].strip() else text


def wanted_name(spellings: Counter[str]) -> str:
    """How to show a wanted note written in `spellings` (text → occurrences, all of one
    `wanted_key`): the commonest spelling without `.md`, one written without `.md` winning a
    tie, then the first seen."""
    counts: Counter[str] = Counter()
    bare: Counter[str] = Counter()
    for text, n in spellings.items():
        name = _without_md(text)
        counts[name] += n
        if name == text.strip():
            bare[name] += n
    return max(counts, key=lambda name: (counts[name], bare[name]))


def build_graph(files: Iterable[tuple[str, str]], links: Iterable[ResolvedLink],
                titles: dict[str, str] | None = None) -> nx.MultiDiGraph:
    """`files` are (path, kind) pairs; `links` the stored link occurrences."""
    graph = nx.MultiDiGraph()
    for path, kind in files:
        graph.add_node(path, kind=kind, title=(titles or {}).get(path, path.rsplit("/", 1)[-1]))
    links = list(links)
    spellings: dict[str, Counter[str]] = {}
    for item in links:
        if item.target_path is None:
            spellings.setdefault(wanted_key(item.link.target), Counter())[item.link.target.strip()] += 1
    wanted_id = {key: wanted_name(counts) for key, counts in spellings.items()}
    for key, node in wanted_id.items():
        if node not in graph:
            graph.add_node(node, kind="wanted", title=node)
    for item in links:
        link = item.link
        target = item.target_path if item.target_path is not None else wanted_id[wanted_key(link.target)]
        if target not in graph:  # a file excluded in .obsidian/app.json: it exists, unread
            graph.add_node(target, kind=_kind_of(target), title=target.rsplit("/", 1)[-1], excluded=True)
        graph.add_edge(
            item.source,
            target,
            kind=link.kind,
            line=link.line,
            heading=link.heading,
            block=link.block,
            display=link.display,
            context=link.context,
        )
    return graph


def _kind_of(path: str) -> str:
    lower = path.lower()
    return "note" if lower.endswith(".md") else "canvas" if lower.endswith(".canvas") else "attachment"


def note_nodes(graph: nx.MultiDiGraph) -> list[str]:
    return [n for n, kind in graph.nodes(data="kind") if kind in NOTE_KINDS]


def metrics(graph: nx.MultiDiGraph) -> GraphMetrics:
    notes = note_nodes(graph)
    note_set = set(notes)
    simple = nx.DiGraph()
    simple.add_nodes_from(notes)
    for source, target in graph.edges():
        if source != target and source in note_set and target in note_set:
            weight = simple.get_edge_data(source, target, {"weight": 0})["weight"]
            simple.add_edge(source, target, weight=weight + 1)
    in_degree = {n: sum(1 for s, _ in graph.in_edges(n) if s != n) for n in notes}
    out_degree = {n: sum(1 for _, t in graph.out_edges(n) if t != n) for n in notes}
    pagerank = nx.pagerank(simple, weight="weight") if len(simple) else {}
    orphans = tuple(sorted(n for n in notes if in_degree[n] == 0 and out_degree[n] == 0))
    dead_ends = tuple(sorted(n for n in notes if out_degree[n] == 0 and in_degree[n] > 0))
    components = tuple(
        tuple(sorted(c)) for c in sorted(nx.weakly_connected_components(simple), key=lambda c: (-len(c), min(c)))
    )
    return GraphMetrics(in_degree, out_degree, pagerank, orphans, dead_ends, components)


# ---------------------------------------------------------------- views for drawing


def scene_level(graph: nx.MultiDiGraph, scene_of: dict[str, int], labels: dict[int, str]) -> nx.Graph:
    """Scenes as nodes (`notes`: how many, `label`) joined by the links between their notes
    (`weight`: how many link occurrences cross between the two scenes, either way)."""
    view = nx.Graph()
    sizes = Counter(scene_of.values())
    for scene, label in labels.items():
        view.add_node(scene, kind="scene", label=label, notes=sizes.get(scene, 0))
    for source, target in graph.edges():
        a, b = scene_of.get(source), scene_of.get(target)
        if a is None or b is None or a == b:
            continue
        weight = view.get_edge_data(a, b, {"weight": 0})["weight"]
        view.add_edge(a, b, weight=weight + 1)
    return view


def note_view(graph: nx.MultiDiGraph, nodes: Iterable[str], scene_of: dict[str, int]) -> nx.Graph:
    """The notes `nodes` as an undirected drawing graph: each node with its `kind` (note,
    canvas, attachment, wanted), `title`, `backlinks` (distinct notes linking to it, in the
    whole vault) and `scene` (None when unplaced); edges `weight` = link occurrences either
    way."""
    keep = set(nodes)
    view = nx.Graph()
    for node in keep:
        data = graph.nodes[node]
        backlinks = len({s for s, _t in graph.in_edges(node) if s != node})
        view.add_node(node, kind=data.get("kind", "note"), title=data.get("title", node), backlinks=backlinks,
                      scene=scene_of.get(node))
    for source, target in graph.edges():
        if source != target and source in keep and target in keep:
            weight = view.get_edge_data(source, target, {"weight": 0})["weight"]
            view.add_edge(source, target, weight=weight + 1)
    return view


def neighbourhood(graph: nx.MultiDiGraph, center: str, depth: int) -> set[str]:
    """`center` and every node within `depth` links of it, following links either way (as
    Obsidian's local graph does)."""
    reached, frontier = {center}, {center}
    for _ in range(max(depth, 0)):
        step = {n for node in frontier for n in (*graph.successors(node), *graph.predecessors(node))}
        frontier = step - reached
        reached |= frontier
        if not frontier:
            break
    return reached
