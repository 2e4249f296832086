"""Communities of the scene graph with Leiden (igraph + leidenalg): scenes, then regions
(a second Leiden run over the graph of scenes, at a lower resolution)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Communities:
    """Groups of notes (each sorted by centrality, most central first), the notes that belong
    nowhere, each note's centrality (its share of its scene's internal weight) and, per group,
    the index of its region."""

    groups: tuple[tuple[str, ...], ...]
    unplaced: tuple[str, ...]
    centrality: dict[str, float]
    regions: tuple[int, ...]


def find_communities(notes: Sequence[str], edges: Mapping[tuple[str, str], float], *, resolution: float,
                     region_resolution: float, min_size: int, seed: int) -> Communities:
    """Leiden (RB configuration model, weighted) with a fixed seed. A note without edges, or in
    a group smaller than `min_size`, is unplaced rather than made into a scene of its own."""
    import igraph
    import leidenalg

    connected = sorted({p for pair in edges for p in pair})
    if not connected:
        return Communities((), tuple(sorted(notes)), {}, ())
    index = {p: i for i, p in enumerate(connected)}
    graph = igraph.Graph(n=len(connected), edges=[(index[a], index[b]) for a, b in edges])
    graph.es["weight"] = list(edges.values())
    partition = leidenalg.find_partition(
        graph, leidenalg.RBConfigurationVertexPartition, weights="weight",
        resolution_parameter=resolution, n_iterations=-1, seed=seed,
    )
    strength: dict[str, float] = dict.fromkeys(connected, 0.0)
    membership = partition.membership
    for (a, b), weight in edges.items():
        if membership[index[a]] == membership[index[b]]:
            strength[a] += weight
            strength[b] += weight
    raw_groups = [[connected[v] for v in community] for community in partition]
    kept = [i for i, group in enumerate(raw_groups) if len(group) >= min_size]
    placed = {p for i in kept for p in raw_groups[i]}
    unplaced = tuple(sorted(p for p in notes if p not in placed))
    centrality: dict[str, float] = {}
    groups = []
    for i in kept:
        total = sum(strength[p] for p in raw_groups[i]) or 1.0
        for p in raw_groups[i]:
            centrality[p] = strength[p] / total
        groups.append(tuple(sorted(raw_groups[i], key=lambda p: (-centrality[p], p))))
    region_of = _regions(groups, edges, region_resolution, seed)
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), groups[g][0]))
    return Communities(tuple(groups[g] for g in order), unplaced, centrality,
                       tuple(region_of[g] for g in order))


def _regions(groups: list[tuple[str, ...]], edges: Mapping[tuple[str, str], float], resolution: float,
             seed: int) -> list[int]:
    """Region index per group: Leiden again on the graph whose nodes are the groups (weights
    between them summed, their internal weight kept as self loops so big scenes weigh more)."""
    import igraph
    import leidenalg

    group_of = {p: g for g, group in enumerate(groups) for p in group}
    between: dict[tuple[int, int], float] = {}
    for (a, b), weight in edges.items():
        if a in group_of and b in group_of:
            pair = tuple(sorted((group_of[a], group_of[b])))
            between[pair] = between.get(pair, 0.0) + weight  # type: ignore[index]
    if not any(x != y for x, y in between):
        return list(range(len(groups)))
    coarse = igraph.Graph(n=len(groups), edges=list(between))
    coarse.es["weight"] = list(between.values())
    regions = leidenalg.find_partition(
        coarse, leidenalg.RBConfigurationVertexPartition, weights="weight",
        resolution_parameter=resolution, n_iterations=-1, seed=seed,
    )
    return list(regions.membership)
