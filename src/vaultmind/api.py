"""The public operations, each one call: what the CLI, the daemon and the app use.

Every function takes the vault folder and optional settings, opens the store, does one thing
and returns plain values (frozen dataclasses, a networkx graph).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from vaultmind import graph as link_graph_stage
from vaultmind import pipeline
from vaultmind import watch as watch_stage
from vaultmind.config import Config, load_config, state_dir_for
from vaultmind.chips import (
    KINDS as CHIP_KINDS,
    LANGS as CHIP_LANGS,
    SCHEMA_VERSION as CHIP_SCHEMA_VERSION,
    ChipFilters,
    ChipSet,
    ChipSettings,
    CurationSettings,
    build_chips,
)
from vaultmind.chips.formats import FORMATS as CHIP_FORMATS, ExportResult, write_export
from vaultmind.embed import LEXICAL, Embedder, TokenCounter, load_channels, note_vectors, token_counter
from vaultmind import query as query_stage
from vaultmind.retrieval import channel_order, fitted, fuse
from vaultmind.blindspots import KINDS, PREFIX, find_blind_spots, spot_from_json, spot_to_json
from vaultmind.blindspots.report import GENERATED_KEY, render_markdown, report_note
from vaultmind.errors import (
    ExportError,
    FindingNotFound,
    NoteNotFound,
    NotEmbedded,
    NotIndexed,
    SceneNotFound,
    VaultmindError,
)
from vaultmind.graph import GraphMetrics
from vaultmind.resolve import Resolver, fold
from vaultmind.store import STORE_FILE, Store
from vaultmind.consistency import verify_store
from vaultmind.types import BlindSpot, Chip, Difference, IndexSummary, NoteReport, RelatedNote, SceneMap, SceneReport, SearchHit, VaultOverview, Warning, WatchStatus

GRAPH_FORMATS = ("json", "graphml", "gexf")


def _config(vault: Path, config: Config | None, overrides: dict[str, Any]) -> Config:
    base = config if config is not None else load_config(vault)
    return base.with_overrides(**overrides)


def index(
    vault: str | Path,
    *,
    state_dir: str | Path | None = None,
    workers: int | None = None,
    model: str | None = None,
    device: str | None = None,
    embed: bool | None = None,
    scenes: bool | None = None,
    embedder: Embedder | None = None,
    progress: pipeline.Progress | None = None,
    config: Config | None = None,
    wait: float = 0.0,
) -> IndexSummary:
    """Index `vault` (incrementally when a store exists) and return what was done. Unless
    `embed` is False, also chunk and embed new text with `model` (or the given `embedder`);
    unless `scenes` is False, find scenes again when anything changed. Raises
    `DaemonRunning` while `vaultmind watch` keeps this store up to date; waits up to `wait`
    seconds for another writer (`StoreError` after that)."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None,
                                      "workers": workers, "model": model, "device": device, "embed": embed,
                                      "scenes": scenes})
    if settings.embed and embedder is None:
        embedder = _model(settings, None)
    scene_model = _model(settings, embedder).model_id
    return pipeline.index_vault(root, settings, progress, embedder if settings.embed else None, scene_model,
                                wait=wait)


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


def verify(vault: str | Path, *, state_dir: str | Path | None = None, model: str | None = None,
           config: Config | None = None) -> list[Difference]:
    """Every difference between the store and a fresh full index of the vault's files as they
    are now, [] when there is none: files, notes, parses, links, tags, aliases, warnings,
    chunks, and the vectors and faiss index of `model` (see `vaultmind.consistency`). Takes the
    store's writer lock while it runs; the store itself is only read."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    if not (state_dir_for(root, settings) / STORE_FILE).exists():
        raise NotIndexed(str(vault))
    return verify_store(root, settings, _model(settings, None).model_id)


def overview(vault: str | Path, *, state_dir: str | Path | None = None, config: Config | None = None) -> VaultOverview:
    """Counts, freshness (files changed on disk since the last index, by a stat-only walk),
    the store's place and size, the models with vectors, and whether the daemon runs."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None})
    directory = state_dir_for(root, settings)
    with _open(vault, state_dir, settings) as store:
        counts = store.counts()
        found = store.scene_map()
        wanted = {link_graph_stage.wanted_key(target) for _source, target in store.wanted_links()}
        indexed = store.get_meta("indexed_at")
        result = dict(
            notes=counts["notes"], canvases=counts["canvases"], attachments=counts["attachments"],
            links=counts["links"], unresolved=counts["unresolved"], wanted=len(wanted), warnings=counts["warnings"],
            chunks=store.chunk_count(), models=tuple(store.vector_models()),
            scenes=len(found.scenes) if found else 0, regions=len(found.regions) if found else 0,
            unplaced=len(found.unplaced) if found else 0, indexed_at=float(indexed) if indexed else None,
            changed=pipeline.changed_since_index(store, root, settings),
            daemon=watch_stage.status(directory, store),
        )
    size = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
    return VaultOverview(vault=str(root), state_dir=str(directory), store_bytes=size, **result)


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


def graph_view(vault: str | Path, *, scene: int | None = None, note: str | None = None, depth: int = 1,
               state_dir: str | Path | None = None, config: Config | None = None) -> nx.Graph:
    """A graph to draw. By default the scene level: scenes as nodes (`label`, `notes`) joined
    by the links between them (`weight`). With `scene`, that scene's notes and the wanted
    notes they link to; with `note` (a path, title or alias), the notes within `depth` links
    of it either way, as Obsidian's local graph. Note nodes carry `kind`, `title`,
    `backlinks` and `scene`; edges `weight` (link occurrences)."""
    graph = link_graph(vault, state_dir=state_dir, config=config)
    with _open(vault, state_dir, config) as store:
        found = store.scene_map()
        center = find_note(store, note) if note is not None else None
    scenes = found.scenes if found else ()
    scene_of = {p: s.id for s in scenes for p in s.notes}
    if center is not None:
        return link_graph_stage.note_view(graph, link_graph_stage.neighbourhood(graph, center, depth), scene_of)
    if scene is not None:
        chosen = next((s for s in scenes if s.id == scene), None)
        if chosen is None:
            raise SceneNotFound(scene, tuple(s.id for s in scenes))
        members = set(chosen.notes)
        wanted = {t for p in members for t in graph.successors(p) if graph.nodes[t].get("kind") == "wanted"}
        return link_graph_stage.note_view(graph, members | wanted, scene_of)
    return link_graph_stage.scene_level(graph, scene_of, {s.id: s.label for s in scenes})


def obsidian_url(vault: str | Path, path: str) -> str:
    """The `obsidian://open` link that opens `path` (vault-relative) in Obsidian, for a vault
    Obsidian knows by its folder name."""
    from urllib.parse import quote

    root = Path(vault).expanduser().resolve()
    return f"obsidian://open?vault={quote(root.name, safe='')}&file={quote(path.removesuffix('.md'), safe='')}"


def embedder(model: str | None = None, device: str = "auto") -> Embedder:
    """The retrieval channels `model` (default: the `model` setting's default, use+bm25),
    each model loaded on first use and then kept for the process: pass it as `embedder=` to
    keep the loaded models across calls (the app does)."""
    return load_channels(model or Config().model, device=device)


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


# ---------------------------------------------------------------- meaning


def _model(settings: Config, embedder: Embedder | None) -> Embedder:
    return embedder if embedder is not None else load_channels(settings.model, device=settings.device)


def _vectors_or_fail(store: Store, model_id: str, vault: str | Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    ids, paths, matrix = pipeline.stored_vectors(store, model_id)
    if not len(ids):
        raise NotEmbedded(str(vault), model_id)
    return ids, paths, matrix


SEARCH_DEPTH = 100  # chunks each channel returns before fusion


def search(
    vault: str | Path,
    query: str,
    *,
    limit: int = 10,
    model: str | None = None,
    embedder: Embedder | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> list[SearchHit]:
    """Notes that answer `query`, each with its best matching chunk: every retrieval channel
    (the `model` setting, use+bm25 by default) ranks chunks, and the rankings are fused
    (`vaultmind.retrieval`). Each hit says where each channel placed it (`channels`)."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    if not query.strip():
        raise VaultmindError("the search query is empty")
    channels = _model(settings, embedder)
    with _open(vault, state_dir, settings) as store:
        fusion = fitted(query_stage.channel_names(channels))
        rankings, chunk_ids, confidence = query_stage.channel_rankings(
            store, state_dir_for(root, settings), channels, query, max(limit * 8, SEARCH_DEPTH), settings, fusion.weights)
        if not rankings:
            raise NotEmbedded(str(vault), channels.model_id or LEXICAL)
        chunks = dict(store.chunks(ids=chunk_ids))
        hits = []
        for fused in fuse(rankings, fusion.weights_for(confidence), fusion.k)[:limit]:
            chunk = chunks[fused.chunk]
            hits.append(SearchHit(chunk.path, fused.score, chunk.heading, chunk.text, chunk.line, fused.channels))
    return hits


def related(
    vault: str | Path,
    name: str,
    *,
    limit: int = 10,
    model: str | None = None,
    embedder: Embedder | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> list[RelatedNote]:
    """Notes most similar to note `name` (mean of chunk vectors), each marked linked or not,
    with the best matching pair of chunks."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    model_id = _model(settings, embedder).model_id
    with _open(vault, state_dir, settings) as store:
        path = find_note(store, name)
        ids, paths, matrix = _vectors_or_fail(store, model_id, vault)
        notes, note_matrix, rows = note_vectors(paths, matrix)
        if path not in rows:
            raise NotEmbedded(str(vault), model_id, note=path)
        similarity = note_matrix @ note_matrix[notes.index(path)]
        order = [i for i in np.argsort(-similarity) if notes[i] != path][:limit]
        linked = store.linked_pairs()
        mine = rows[path]
        result = []
        for i in order:
            other = notes[i]
            theirs = rows[other]
            pair = matrix[mine] @ matrix[theirs].T
            a, b = np.unravel_index(int(np.argmax(pair)), pair.shape)
            chunks = dict(store.chunks(ids=[int(ids[mine[a]]), int(ids[theirs[b]])]))
            mine_chunk, their_chunk = chunks[int(ids[mine[a]])], chunks[int(ids[theirs[b]])]
            result.append(RelatedNote(
                note=other,
                score=float(similarity[i]),
                linked=(path, other) in linked,
                chunk=SearchHit(path, float(pair[a, b]), mine_chunk.heading, mine_chunk.text, mine_chunk.line),
                other_chunk=SearchHit(other, float(pair[a, b]), their_chunk.heading, their_chunk.text, their_chunk.line),
            ))
    return result


# ---------------------------------------------------------------- scenes


def scene_map(
    vault: str | Path,
    *,
    model: str | None = None,
    embedder: Embedder | None = None,
    refresh: bool = False,
    progress: pipeline.Progress | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> SceneMap:
    """The vault's scenes, regions, unplaced notes and map. Found again first when anything
    they depend on changed since they were stored (or when `refresh`); uses the stored
    vectors of `model` and never embeds (run `index` for that)."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    model_id = _model(settings, embedder).model_id
    with _open(vault, state_dir, settings) as store:
        pipeline.update_scenes(store, settings, model_id, progress, force=refresh, lock=True)
        found = store.scene_map()
    if found is None:  # pragma: no cover - update_scenes always stores a run
        raise VaultmindError("no scenes were stored")
    return found


def scene_report(
    vault: str | Path,
    scene_id: int,
    *,
    model: str | None = None,
    embedder: Embedder | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> SceneReport:
    """One scene: members by centrality, links inside it and out of it, neighbouring scenes
    ranked by how many links join them."""
    found = scene_map(vault, model=model, embedder=embedder, state_dir=state_dir, config=config)
    scene = next((s for s in found.scenes if s.id == scene_id), None)
    if scene is None:
        raise SceneNotFound(scene_id, tuple(s.id for s in found.scenes))
    scene_of = {p: s.id for s in found.scenes for p in s.notes}
    members = set(scene.notes)
    with _open(vault, state_dir, config) as store:
        centrality = store.scene_centrality()
        rows = store.link_rows()
    internal, external = set(), set()
    neighbours: dict[int, float] = {}
    for source, target, _text in rows:
        if target is None or source == target or not (source in members or target in members):
            continue
        if source in members and target in members:
            internal.add((source, target))
        else:
            other = target if source in members else source
            external.add((source, target, scene_of.get(other)))
            if other in scene_of:
                neighbours[scene_of[other]] = neighbours.get(scene_of[other], 0) + 1
    return SceneReport(
        scene=scene,
        centrality={p: centrality.get(p, 0.0) for p in scene.notes},
        internal_links=tuple(sorted(internal)),
        external_links=tuple(sorted(external, key=lambda e: (e[0], e[1]))),
        neighbours=tuple(sorted(neighbours.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


# ---------------------------------------------------------------- blind spots

VERDICTS = ("accepted", "dismissed")


def blind_spots(
    vault: str | Path,
    *,
    kinds: list[str] | tuple[str, ...] | None = None,
    limit: int = 10,
    scene: int | None = None,
    include_dismissed: bool = False,
    model: str | None = None,
    embedder: Embedder | None = None,
    timings: dict[str, float] | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> list[BlindSpot]:
    """Blind spots of the vault, by kind in detector order, best first within a kind (at most
    `limit` per kind); findings the author dismissed are left out unless `include_dismissed`.
    With `scene`, only findings about that scene's notes (or the scene itself).
    Scenes are found again first if the vault changed; the stored vectors of `model` are used
    (never embeds: run `index` for that)."""
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise VaultmindError(f"unknown blind spot kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    model_id = _model(settings, embedder).model_id
    with _open(vault, state_dir, settings) as store:
        pipeline.update_scenes(store, settings, model_id, lock=True)
        dismissed = frozenset() if include_dismissed else frozenset(f for f, *_ in store.feedback("dismissed"))
        members = _scene_members(store, scene)
        if timings is not None or (limit > pipeline.BLIND_SPOT_CACHE_LIMIT and scene is None):
            data = pipeline.blindspot_input(store, model_id, dismissed=dismissed)
            return find_blind_spots(data, kinds=kinds, limit=limit, timings=timings)
        every = pipeline.all_blind_spots(store, model_id)
    by_kind: dict[str, list[BlindSpot]] = {}
    for spot in every:
        if spot.id in dismissed or (kinds is not None and spot.kind not in kinds):
            continue
        if members is not None and not (members & set(spot.notes) or _about_scene(spot, scene)):
            continue
        by_kind.setdefault(spot.kind, []).append(spot)
    return [spot for kind in KINDS for spot in by_kind.get(kind, [])[:limit]]


def _scene_members(store: Store, scene: int | None) -> set[str] | None:
    if scene is None:
        return None
    found = store.scene_map()
    chosen = next((s for s in (found.scenes if found else ()) if s.id == scene), None)
    if chosen is None:
        raise SceneNotFound(scene, tuple(s.id for s in (found.scenes if found else ())))
    return set(chosen.notes) | set(chosen.wanted)


def _about_scene(spot: BlindSpot, scene: int | None) -> bool:
    """Scene-level findings (gaps, weak coupling) name their scenes in their evidence."""
    return any(isinstance(e, dict) and scene in (e.get("scene"), *(e.get("scenes") or ())) for e in spot.evidence)


def judge(
    vault: str | Path,
    finding: str,
    verdict: str,
    *,
    model: str | None = None,
    embedder: Embedder | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> BlindSpot:
    """Record the author's verdict (`accepted` or `dismissed`) on a finding, by its id. The
    finding is kept whole with the verdict (labelled data); a dismissed one stays hidden. A
    finding judged before may be judged again (the last verdict counts)."""
    if verdict not in VERDICTS:
        raise VaultmindError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    with _open(vault, state_dir, config) as store:
        earlier = {f: fj for f, _k, _v, _at, _t, _n, fj in store.feedback()}
    spot = None
    if finding in earlier:
        spot = spot_from_json(earlier[finding])
    else:
        prefix = finding.split("-", 1)[0]
        kinds = [k for k in KINDS if PREFIX[k] == prefix] or None
        for limit in (pipeline.BLIND_SPOT_CACHE_LIMIT, 10_000):  # the store's cache first, then everything
            spots = blind_spots(vault, kinds=kinds, limit=limit, include_dismissed=True, model=model,
                                embedder=embedder, state_dir=state_dir, config=config)
            spot = next((s for s in spots if s.id == finding), None)
            if spot is not None or max(Counter(s.kind for s in spots).values(), default=0) < limit:
                break  # found, or the cache held every finding of these kinds
    if spot is None:
        raise FindingNotFound(finding)
    with _open(vault, state_dir, config) as store, store.writer_lock(), store.transaction():
        store.put_feedback(spot.id, spot.kind, verdict, spot.title, spot.notes, spot_to_json(spot), time.time())
    return spot


def feedback(
    vault: str | Path, *, verdict: str | None = None, state_dir: str | Path | None = None,
    config: Config | None = None,
) -> list[tuple[str, BlindSpot, float]]:
    """The author's verdicts, oldest first: (verdict, the finding as it was, unix time)."""
    with _open(vault, state_dir, config) as store:
        return [(v, spot_from_json(fj), at) for _f, _k, v, at, _t, _n, fj in store.feedback(verdict)]


def blind_spots_markdown(vault: str | Path, spots: list[BlindSpot], *, state_dir: str | Path | None = None,
                         config: Config | None = None) -> str:
    """The findings as Markdown with wikilinks to the notes."""
    with _open(vault, state_dir, config) as store:
        titles = {path: title for path, _h, title, _p, _w in store.note_rows()}
    return render_markdown(spots, titles)


def write_report_note(
    vault: str | Path, spots: list[BlindSpot], *, state_dir: str | Path | None = None, config: Config | None = None,
) -> Path:
    """Write the findings into the vault as a note (the `report_note` setting), replacing an
    earlier report; refuses to overwrite a note vaultmind did not write. Never indexed."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None})
    target = (root / settings.report_note).resolve()
    if root not in target.parents:
        raise VaultmindError(f"report_note {settings.report_note!r} points outside the vault")
    if target.exists():
        head = target.read_text(encoding="utf-8", errors="replace")[:500]
        if not head.startswith("---") or f"\n{GENERATED_KEY}:" not in head:
            raise VaultmindError(f"{target} exists and was not written by vaultmind; set report_note to another path")
    with _open(vault, state_dir, settings) as store:
        titles = {path: title for path, _h, title, _p, _w in store.note_rows()}
    text = report_note(spots, titles, root.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)  # atomic: Obsidian never sees half a note
    return target


# ---------------------------------------------------------------- training chips

_CHIP_SETTINGS = ("chip_system", "chip_doc_tokens", "chip_min_words", "chip_probes", "chip_near_duplicate",
                  "chip_validation_share", "chip_split_salt", "chip_secrets", "chip_contacts")


def build_chip_set(
    vault: str | Path,
    *,
    kinds: list[str] | tuple[str, ...] | None = None,
    scene: int | None = None,
    langs: list[str] | tuple[str, ...] | None = None,
    min_tokens: int = 0,
    max_tokens: int | None = None,
    model: str | None = None,
    embedder: Embedder | None = None,
    counter: TokenCounter | None = None,
    progress: pipeline.Progress | None = None,
    state_dir: str | Path | None = None,
    config: Config | None = None,
) -> ChipSet:
    """Every chip of the vault after curation (privacy, dedup, splits by scene, probes from
    held-out scenes), filtered by kind, scene, language and token count, with the statistics a
    dataset card reports. Scenes are found again first if the vault changed."""
    unknown = sorted(set(kinds or ()) - set(CHIP_KINDS))
    if unknown:
        raise VaultmindError(f"unknown chip kind(s) {', '.join(unknown)}; choose from {', '.join(CHIP_KINDS)}")
    bad_langs = sorted(set(langs or ()) - set(CHIP_LANGS))
    if bad_langs:
        raise VaultmindError(f"unknown language(s) {', '.join(bad_langs)}; choose from {', '.join(CHIP_LANGS)}")
    if max_tokens is not None and max_tokens < min_tokens:
        raise VaultmindError(f"--max-tokens {max_tokens} is below --min-tokens {min_tokens}")
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model})
    model_id = _model(settings, embedder).model_id
    report = progress or (lambda stage, done, total: None)
    filters = ChipFilters(tuple(kinds or ()), scene, tuple(langs or ()), min_tokens, max_tokens)
    with _open(vault, state_dir, settings) as store:
        pipeline.update_scenes(store, settings, model_id, progress, lock=True)
        known = store.scene_map()
        if scene is not None and (known is None or all(s.id != scene for s in known.scenes)):
            raise SceneNotFound(scene, tuple(s.id for s in known.scenes) if known else ())
        report("chips: reading", 0, 1)
        data = pipeline.chip_input(store, root, counter or token_counter())
    chosen = {name: getattr(settings, name) for name in _CHIP_SETTINGS}
    digest = hashlib.sha256(json.dumps({"schema": CHIP_SCHEMA_VERSION, "settings": chosen, "model": model_id,
                                        "filters": [filters.kinds, filters.scene, filters.langs, min_tokens, max_tokens]},
                                       sort_keys=True, default=list).encode()).hexdigest()[:16]
    report("chips: building", 0, 1)
    found = build_chips(
        data,
        ChipSettings(settings.chip_system, settings.chip_doc_tokens, settings.chip_min_words, settings.chip_probes,
                     _vaultmind_version(), digest),
        CurationSettings(settings.chip_near_duplicate, settings.chip_validation_share, settings.chip_split_salt,
                         settings.chip_secrets, settings.chip_contacts),
        filters,
    )
    found.stats.update(vault=root.name, license=settings.chip_license, settings=chosen, model=model_id)
    report("chips: building", 1, 1)
    return found


def chips(vault: str | Path, *, kinds: list[str] | tuple[str, ...] | None = None, limit: int | None = None,
          **options: Any) -> list[Chip]:
    """The vault's chips as `build_chip_set` makes them (same records as an export), at most
    `limit` per kind, in split order."""
    found = build_chip_set(vault, kinds=kinds, **options).chips
    if limit is None:
        return list(found)
    taken: dict[str, int] = {}
    result = []
    for chip in found:
        if taken.get(chip.kind, 0) < limit:
            taken[chip.kind] = taken.get(chip.kind, 0) + 1
            result.append(chip)
    return result


def export_chips(vault: str | Path, out: str | Path, *, formats: list[str] | tuple[str, ...] = ("all",),
                 overwrite: bool = False, **options: Any) -> ExportResult:
    """Write the vault's chips to `out` in the given formats (`all` = every one) with a dataset
    card, a manifest and provenance; atomic, and an existing `out` is refused unless `overwrite`."""
    chosen = list(CHIP_FORMATS) if "all" in formats else list(dict.fromkeys(formats))
    unknown = sorted(set(chosen) - set(CHIP_FORMATS))
    if unknown or not chosen:
        raise ExportError(f"unknown chip format(s) {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(CHIP_FORMATS)} or all")
    target = Path(out).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file, not a folder")
    if target.exists() and any(target.iterdir()) and not overwrite:  # fail before the work, not after
        raise ExportError(f"{target} exists and is not empty; pass --overwrite to replace it")
    found = build_chip_set(vault, **options)
    progress = options.get("progress")
    if progress:
        progress("chips: writing", 0, 1)
    result = write_export(found.chips, target, chosen, found.stats, overwrite=overwrite)
    if progress:
        progress("chips: writing", 1, 1)
    return result


def _vaultmind_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("vaultmind")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree without installing
        return "0+unknown"


def store_version(vault: str | Path, *, state_dir: str | Path | None = None,
                  config: Config | None = None) -> tuple[float, int, int, float]:
    """What changes whenever an answer read from the store can: the last index's time (0 before
    the first), the last scene run, and the number and latest time of the author's verdicts. A
    cache key for readers such as the app: a few small reads, no walk of the vault."""
    with _open(vault, state_dir, config) as store:
        verdicts = store.feedback()
        return (float(store.get_meta("indexed_at") or 0.0), store.last_scene_run(), len(verdicts),
                max((at for _f, _k, _v, at, *_rest in verdicts), default=0.0))


# ---------------------------------------------------------------- the sync daemon


def watch(
    vault: str | Path,
    *,
    state_dir: str | Path | None = None,
    model: str | None = None,
    device: str | None = None,
    embed: bool | None = None,
    scenes: bool | None = None,
    embedder: Embedder | None = None,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
    config: Config | None = None,
    log_file: bool = False,
    signals: bool = False,
) -> None:
    """Keep the store of `vault` fresh until `stop` is set: scan once, then index each batch
    of file changes as it settles and bring scenes up to date when the vault is quiet (see
    `vaultmind.watch`). `ready` is set once the first scan is done. With `log_file`, the log
    also goes to STATE_DIR/watch.log (rotated); with `signals` (main thread only), SIGINT and
    SIGTERM stop it. Raises `DaemonRunning` when another daemon already watches this store."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None, "model": model,
                                      "device": device, "embed": embed, "scenes": scenes})
    if settings.embed and embedder is None:
        embedder = _model(settings, None)
    scene_model = _model(settings, embedder).model_id
    stop = stop or threading.Event()
    if signals:
        watch_stage.stop_on_signals(stop)
    handler = watch_stage.log_to_file(state_dir_for(root, settings)) if log_file else None
    try:
        watch_stage.Daemon(root, settings, embedder if settings.embed else None, scene_model, stop).run(ready)
    finally:
        if handler is not None:
            logging.getLogger("vaultmind").removeHandler(handler)
            handler.close()


def watch_status(vault: str | Path, *, state_dir: str | Path | None = None, config: Config | None = None) -> WatchStatus:
    """Whether `vaultmind watch` runs for this vault's store, and what it did last."""
    root = pipeline.check_vault(Path(vault))
    settings = _config(root, config, {"state_dir": str(state_dir) if state_dir else None})
    directory = state_dir_for(root, settings)
    if not (directory / STORE_FILE).exists():
        return watch_stage.status(directory, None)
    with Store.open(directory) as store:
        return watch_stage.status(directory, store)


def watch_service(vault: str | Path, kind: str | None = None, args: tuple[str, ...] = ()) -> str:
    """The text of a systemd user unit (`systemd`, default on Linux) or a launchd agent
    (`launchd`, default on macOS) that runs `vaultmind watch VAULT`; nothing is installed."""
    root = pipeline.check_vault(Path(vault))
    return watch_stage.service_file(root, kind or ("launchd" if sys.platform == "darwin" else "systemd"), args)


# ---------------------------------------------------------------- the app


APP_ENTRY = Path(__file__).resolve().parents[2] / "app" / "main.py"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_app(vault: str | Path, *, host: str = "127.0.0.1", port: int = 8501, state_dir: str | Path | None = None,
              model: str | None = None, open_browser: bool = False) -> int:
    """Serve the app for `vault` at http://HOST:PORT until it is stopped (Ctrl-C); returns
    the server's exit status. It binds to this machine only unless `host` says otherwise.
    The app's files live beside the package in a source checkout (`app/main.py`)."""
    root = pipeline.check_vault(Path(vault))
    if not APP_ENTRY.is_file():
        raise VaultmindError(f"the app is not installed here ({APP_ENTRY} is missing): run vaultmind from its "
                             "source checkout (make app)")
    env = {**os.environ, "VAULTMIND_VAULT": str(root), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    if state_dir:
        env["VAULTMIND_STATE_DIR"] = str(Path(state_dir).expanduser().resolve())
    if model:
        env["VAULTMIND_MODEL"] = model
    command = [sys.executable, "-m", "streamlit", "run", str(APP_ENTRY), "--server.address", host,
               "--server.port", str(port), "--server.headless", "false" if open_browser else "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--client.toolbarMode", "minimal"]
    return _serve(command, env)


def _serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server as a child process until it exits. SIGTERM, SIGHUP and SIGINT sent to
    this process are passed on to it, so stopping `vaultmind ui` (a service manager's SIGTERM
    included) never leaves a server behind. Returns its exit status."""
    import signal
    import subprocess
    import threading

    child = subprocess.Popen(command, env=env)
    passed_on = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # handlers can only be set there
        previous = {sig: signal.signal(sig, lambda signum, _frame: child.send_signal(signum)) for sig in passed_on}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # a handler set before ours, or none at all: keep waiting
                child.send_signal(signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
