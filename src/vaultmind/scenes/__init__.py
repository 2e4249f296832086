"""Scenes: hybrid link + meaning communities of notes, with labels, regions, stable ids and a
2-D map. `build_scenes` is the whole stage, from plain inputs to a `SceneRun`; the pipeline
reads the inputs from the store and writes the run back.

Steps: `hybrid.scene_graph` (weighted edges, hubs) → `communities.find_communities` (Leiden:
scenes and regions) → wanted notes join the scene that references them most →
`labels.Labeller` (class-based TF-IDF, extractive summary) → `ids.match_ids` (stable ids)
→ `layout.note_map` (2-D positions). `finish_scenes` is everything after the communities.

`incremental.SceneState` keeps the stage's inputs and intermediate results in memory (the sync
daemon) and finds scenes again after a change at a cost that follows the change.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vaultmind.config import Config
from vaultmind.scenes.communities import Communities, find_communities
from vaultmind.scenes.hybrid import Weights, scene_graph
from vaultmind.scenes.ids import match_ids
from vaultmind.scenes.labels import Labeller, SceneLabel, SceneText
from vaultmind.scenes.layout import note_map

SCENES_VERSION = 4  # bump when the method changes, so stored scenes are found again
CENTRAL = 3  # central notes shown per scene

__all__ = ["SCENES_VERSION", "SceneInput", "SceneRun", "FoundScene", "build_scenes", "finish_scenes", "weights_from",
           "link_density", "cohesion"]


@dataclass(frozen=True, slots=True)
class SceneInput:
    """What the stage needs, read from the store by the caller. `links` are (source, target
    path or None, wanted text) per occurrence; `vectors` the notes' unit (centred) vectors;
    `previous` the last run's members per level ("scene", "region") and id."""

    notes: Sequence[str]
    titles: Mapping[str, str]
    words: Mapping[str, int]
    texts: Mapping[str, str]
    links: Sequence[tuple[str, str | None, str]]
    vectors: tuple[list[str], np.ndarray] | None = None
    previous: Mapping[str, Mapping[int, frozenset[str]]] = field(default_factory=dict)
    next_ids: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FoundScene:
    id: int
    notes: tuple[str, ...]
    label: SceneLabel
    wanted: tuple[str, ...]
    density: float
    cohesion: float | None
    region: int


@dataclass(frozen=True, slots=True)
class SceneRun:
    """The stage's result: scenes (largest first), regions (id → label terms and scene ids),
    unplaced notes, centrality, 2-D positions, hubs, id events per level, next free ids and
    the seconds each step took."""

    scenes: tuple[FoundScene, ...]
    regions: dict[int, tuple[tuple[str, ...], tuple[int, ...]]]
    unplaced: tuple[str, ...]
    centrality: dict[str, float]
    positions: dict[str, tuple[float, float]]
    layout: str
    hubs: tuple[str, ...]
    events: dict[str, tuple[tuple[str, int, tuple[int, ...], float], ...]]
    next_ids: dict[str, int]
    edges: int
    steps: dict[str, float]


def weights_from(config: Config) -> Weights:
    return Weights(config.scene_alpha, config.scene_neighbours, config.scene_floor, config.hub_min_links,
                   config.hub_words_per_link, config.hub_weight)


def build_scenes(data: SceneInput, config: Config, *, layout: str = "auto") -> SceneRun:
    steps: dict[str, float] = {}
    tick = time.perf_counter()
    note_links = [(s, t) for s, t, _w in data.links if t is not None]
    edges, hubs = scene_graph(data.notes, note_links, data.vectors, data.words, weights_from(config))
    steps["graph"] = time.perf_counter() - tick

    tick = time.perf_counter()
    found = find_communities(data.notes, edges, resolution=config.scene_resolution,
                             region_resolution=config.region_resolution, min_size=config.scene_min_size,
                             seed=config.seed)
    steps["communities"] = time.perf_counter() - tick
    return finish_scenes(data, found, edges, hubs, config, steps, layout=layout)


def finish_scenes(data: SceneInput, found: Communities, edges: Mapping[tuple[str, str], float], hubs: set[str],
                  config: Config, steps: dict[str, float], *, layout: str = "auto", labeller: Labeller | None = None,
                  keep: Mapping[frozenset[str], FoundScene] | None = None,
                  placed: tuple[dict[str, tuple[float, float]], str] | None = None) -> SceneRun:
    """The steps after communities: wanted notes, labels, stable ids, measures and the map.
    `keep` holds scenes of the last run whose notes did not change: a group with exactly
    their members keeps its label, density and cohesion instead of having them computed
    again. `labeller` keeps notes' term counts between runs. `placed` (positions and the
    layout's name) is used as the map instead of laying it out."""
    keep = keep or {}
    kept = {g: keep[frozenset(members)] for g, members in enumerate(found.groups) if frozenset(members) in keep}
    tick = time.perf_counter()
    wanted = _wanted_by_group(found, data.links)
    groups = {g: [SceneText(p, data.titles.get(p, p), data.texts.get(p, ""), found.centrality.get(p, 0.0))
                  for p in members] for g, members in enumerate(found.groups)}
    fresh = [g for g in groups if g not in kept]
    labels = {g: found_scene.label for g, found_scene in kept.items()}
    labels |= (labeller or Labeller()).label(groups, only=fresh)
    steps["labels"] = time.perf_counter() - tick

    tick = time.perf_counter()
    scene_ids = match_ids(data.previous.get("scene", {}), [frozenset(g) for g in found.groups],
                          threshold=config.scene_match, next_id=data.next_ids.get("scene", 1))
    region_members = _region_members(found)
    region_ids = match_ids(data.previous.get("region", {}), [frozenset(m) for m in region_members],
                           threshold=config.scene_match, next_id=data.next_ids.get("region", 1))
    steps["ids"] = time.perf_counter() - tick

    tick = time.perf_counter()
    inside = _linked_pairs_inside([found.groups[g] for g in fresh],
                                  [(s, t) for s, t, _w in data.links if t is not None])
    density = {g: found_scene.density for g, found_scene in kept.items()}
    density |= {g: link_density(len(found.groups[g]), n) for g, n in zip(fresh, inside)}
    vectors = _vector_lookup(data.vectors)
    scenes = tuple(
        FoundScene(
            id=scene_ids.ids[g],
            notes=members,
            label=labels[g],
            wanted=wanted.get(g, ()),
            density=density[g],
            cohesion=kept[g].cohesion if g in kept else cohesion(members, vectors),
            region=region_ids.ids[found.regions[g]],
        )
        for g, members in enumerate(found.groups)
    )
    regions = {}
    for r, region_id in enumerate(region_ids.ids):
        in_region = [g for g in range(len(found.groups)) if found.regions[g] == r]
        biggest = max(in_region, key=lambda g: len(found.groups[g]))
        regions[region_id] = (labels[biggest].terms, tuple(scene_ids.ids[g] for g in in_region))
    steps["measures"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if placed is not None:
        positions, method = placed
    elif data.vectors is not None:
        paths, matrix = data.vectors
        positions, method = note_map(paths, matrix, edges, seed=config.seed, method=layout)
    else:
        positions, method = note_map(list(data.notes), None, edges, seed=config.seed)
    steps["map"] = steps.get("map", 0.0) + time.perf_counter() - tick
    return SceneRun(
        scenes=scenes, regions=regions, unplaced=found.unplaced, centrality=found.centrality,
        positions=positions, layout=method, hubs=tuple(sorted(hubs)),
        events={"scene": scene_ids.events, "region": region_ids.events},
        next_ids={"scene": scene_ids.next_id, "region": region_ids.next_id}, edges=len(edges), steps=steps,
    )


def _wanted_by_group(found: Communities, links: Sequence[tuple[str, str | None, str]]) -> dict[int, tuple[str, ...]]:
    """A wanted note joins the scene whose notes reference it most (distinct notes, then
    occurrences, then the smaller scene index); wanted notes referenced only from unplaced
    notes join no scene."""
    group_of = {p: g for g, members in enumerate(found.groups) for p in members}
    votes: dict[str, Counter[int]] = {}
    sources: dict[str, dict[int, set[str]]] = {}
    for source, target, text in links:
        if target is None and source in group_of:
            g = group_of[source]
            votes.setdefault(text, Counter())[g] += 1
            sources.setdefault(text, {}).setdefault(g, set()).add(source)
    joined: dict[int, list[str]] = {}
    for text, counter in votes.items():
        best = min(counter, key=lambda g: (-len(sources[text][g]), -counter[g], g))
        joined.setdefault(best, []).append(text)
    return {g: tuple(sorted(texts, key=lambda t: (-sum(votes[t].values()), t))) for g, texts in joined.items()}


def _region_members(found: Communities) -> list[set[str]]:
    members: dict[int, set[str]] = {}
    for g, region in enumerate(found.regions):
        members.setdefault(region, set()).update(found.groups[g])
    return [members[r] for r in sorted(members)]


def _linked_pairs_inside(groups: Sequence[Sequence[str]], links: Sequence[tuple[str, str]]) -> list[int]:
    """Per group, how many distinct member pairs are linked (either way)."""
    group_of = {p: g for g, members in enumerate(groups) for p in members}
    pairs = {tuple(sorted((s, t))) for s, t in links
             if s != t and s in group_of and group_of[s] == group_of.get(t)}
    counts = [0] * len(groups)
    for a, _b in pairs:
        counts[group_of[a]] += 1
    return counts


def link_density(size: int, linked_pairs: int) -> float:
    """The share of a scene's member pairs that are linked either way."""
    return linked_pairs / (size * (size - 1) / 2) if size >= 2 else 0.0


def cohesion(members: Sequence[str], vectors: Mapping[str, np.ndarray] | None) -> float | None:
    """Mean cosine between distinct members (unit vectors): (|Σv|² − n) / (n(n − 1))."""
    if vectors is None:
        return None
    rows = [vectors[p] for p in members if p in vectors]
    n = len(rows)
    if n < 2:
        return None
    total = np.sum(rows, axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def _vector_lookup(vectors: tuple[list[str], np.ndarray] | None) -> dict[str, np.ndarray] | None:
    if vectors is None:
        return None
    paths, matrix = vectors
    return {p: matrix[i] for i, p in enumerate(paths)}
