"""The public operations, each one call: what the CLI, the daemon and the app use.

Every function takes the vault folder and optional settings, opens the store, does one thing
and returns plain values (frozen dataclasses, a networkx graph).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import networkx as nx

from vaultmind import graph as link_graph_stage
from vaultmind import pipeline
from vaultmind.config import Config, load_config, state_dir_for
from vaultmind.errors import ExportError, NoteNotFound, NotIndexed
from vaultmind.graph import GraphMetrics
from vaultmind.resolve import Resolver, fold
from vaultmind.store import STORE_FILE, Store
from vaultmind.types import IndexSummary, NoteReport, Warning

GRAPH_FORMATS = ("json", "graphml", "gexf")


def _config(vault: Path, config: Config | None, overrides: dict[str, Any]) -> Config:
    base = config if config is not None else load_config(vault)
    return base.with_overrides(**overrides)


def index(
    vault: str | Path,
    *,
    state_dir: str | Path | None = None,
    workers: int | None = None,
    progress: pipeline.Progress | None = None,
    config: Config | None = None,
) -> IndexSummary:
    """Index `vault` (incrementally when a store exists) and return what was done."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "workers": workers})
    return pipeline.index_vault(root, settings, progress)


def _open(vault: str | Path, state_dir: str | Path | None, config: Config | None) -> Store:
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None})
    directory = state_dir_for(root, settings)
    if not (directory / STORE_FILE).exists():
        raise NotIndexed(str(vault))
    return Store.open(directory)


def doctor(vault: str | Path, *, state_dir: str | Path | None = None, config: Config | None = None) -> list[Warning]:
    """Every warning the last index recorded, by file."""
    with _open(vault, state_dir, config) as store:
        return store.warnings()


def find_note(store: Store, name: str) -> str:
    """A note's path from a path, a title or an alias, the way Obsidian would link to it."""
    notes = [p for p, *_ in store.note_rows()]
    canvases = store.paths("canvas")
    resolver = Resolver(notes + canvases)
    path = resolver.resolve(name.removesuffix(".md"), "") if name.strip() else None
    if path is not None:
        return path
    wanted = fold(name)
    for note_path, aliases in store.aliases().items():
        if any(fold(a) == wanted for a in aliases):
            return note_path
    titles = {p.rsplit("/", 1)[-1].removesuffix(".md"): p for p in notes}
    close = difflib.get_close_matches(name, list(titles), n=3, cutoff=0.6)
    raise NoteNotFound(name, tuple(titles[c] for c in close))


def note_report(
    vault: str | Path, name: str, *, state_dir: str | Path | None = None, config: Config | None = None
) -> NoteReport:
    """One note with its outgoing links, backlinks, tags, aliases and dialogue turns."""
    with _open(vault, state_dir, config) as store:
        path = find_note(store, name)
        note = store.note(path)
        if note is None:
            raise NoteNotFound(name)
        outgoing = tuple(store.links(source=path))
        backlinks = tuple(link for link in store.links(target_path=path) if link.source != path)
    return NoteReport(note, outgoing, backlinks)


def link_graph(vault: str | Path, *, state_dir: str | Path | None = None, config: Config | None = None) -> nx.MultiDiGraph:
    """The vault's link graph (see `vaultmind.graph`)."""
    with _open(vault, state_dir, config) as store:
        files = [(path, kind) for path, (kind, *_rest) in sorted(store.file_states().items())]
        titles = {path: title for path, _h, title, _p, _w in store.note_rows()}
        return link_graph_stage.build_graph(files, store.links(), titles)


def graph_metrics(vault: str | Path, *, state_dir: str | Path | None = None, config: Config | None = None) -> GraphMetrics:
    return link_graph_stage.metrics(link_graph(vault, state_dir=state_dir, config=config))


def export_graph(
    vault: str | Path, fmt: str, *, state_dir: str | Path | None = None, config: Config | None = None
) -> str:
    """The link graph as text: `json` (networkx node-link data), `graphml` or `gexf`."""
    if fmt not in GRAPH_FORMATS:
        raise ExportError(f"unknown graph format {fmt!r}; choose one of {', '.join(GRAPH_FORMATS)}")
    graph = link_graph(vault, state_dir=state_dir, config=config)
    if fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        for edge in data["edges"]:
            edge.pop("key", None)
        return json.dumps(data, ensure_ascii=False, indent=1)
    flat = nx.MultiDiGraph()
    flat.add_nodes_from((n, {k: v for k, v in d.items() if v is not None}) for n, d in graph.nodes(data=True))
    flat.add_edges_from(
        (s, t, {k: ("" if v is None else v) for k, v in d.items()}) for s, t, d in graph.edges(data=True)
    )
    lines = nx.generate_graphml(flat) if fmt == "graphml" else nx.generate_gexf(flat)
    return "\n".join(lines) + "\n"
