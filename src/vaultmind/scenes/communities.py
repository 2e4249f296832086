"""Communities of the scene graph with Leiden (igraph + leidenalg): scenes, then regions
(a second Leiden run over the graph of scenes, at a lower resolution).

`find_communities` is the full run. An incremental run calls `leiden` with the previous
membership and the notes that must stay where they are, then `group_communities` applies the
same rules (smallest scene, unplaced notes, centrality, regions) as the full run."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Communities:
    """Groups of notes (each sorted by centrality, most central first), the notes that belong
    nowhere, each note's centrality (its share of its scene's internal weight) and, per group,
    the index of its region. What an incremental run starts from: `membership`, Leiden's raw
    community of every note with an edge (groups too small to be scenes included);
    `strength`, each such note's edge weight inside its community; `between`, the edge weight
    between each pair of communities (x ≤ y; x = y: inside one)."""

    groups: tuple[tuple[str, ...], ...]
    unplaced: tuple[str, ...]
    centrality: dict[str, float]
    regions: tuple[int, ...]
    membership: dict[str, int] = field(default_factory=dict)
    strength: dict[str, float] = field(default_factory=dict)
    between: dict[tuple[int, int], float] = field(default_factory=dict)


def find_communities(notes: Sequence[str], edges: Mapping[tuple[str, str], float], *, resolution: float,
                     region_resolution: float, min_size: int, seed: int) -> Communities:
    """Leiden (RB configuration model, weighted) with a fixed seed. A note without edges, or in
    a group smaller than `min_size`, is unplaced rather than made into a scene of its own."""
    membership = leiden(edges, resolution=resolution, seed=seed)
    return group_communities(notes, edges, membership, region_resolution=region_resolution, min_size=min_size,
                             seed=seed)


def leiden(edges: Mapping[tuple[str, str], float], *, resolution: float, seed: int,
           initial: Mapping[str, int] | None = None, fixed: Collection[str] = ()) -> dict[str, int]:
    """Node → community (numbered 0, 1, … as Leiden numbers them) for every node of `edges`
    (a pair (x, x) is a self loop). With `initial`, Leiden starts from that membership (a node
    not in it starts alone) and never moves the nodes in `fixed`."""
    import igraph
    import leidenalg

    nodes = sorted({p for pair in edges for p in pair})
    if not nodes:
        return {}
    index = {p: i for i, p in enumerate(nodes)}
    graph = igraph.Graph(n=len(nodes), edges=[(index[a], index[b]) for a, b in edges])
    graph.es["weight"] = list(edges.values())
    if initial is None:
        partition = leidenalg.find_partition(
            graph, leidenalg.RBConfigurationVertexPartition, weights="weight",
            resolution_parameter=resolution, n_iterations=-1, seed=seed,
        )
    else:
        partition = leidenalg.RBConfigurationVertexPartition(
            graph, initial_membership=_numbered(nodes, initial), weights="weight", resolution_parameter=resolution,
        )
        optimiser = leidenalg.Optimiser()
        optimiser.set_rng_seed(seed)
        optimiser.optimise_partition(partition, n_iterations=-1, is_membership_fixed=[p in fixed for p in nodes])
    return dict(zip(nodes, partition.membership))


def _numbered(nodes: Sequence[str], initial: Mapping[str, int]) -> list[int]:
    """`initial` as community numbers 0, 1, … per node; a node without one gets its own."""
    numbers: dict[object, int] = {}
    return [numbers.setdefault(initial.get(p, ("alone", p)), len(numbers)) for p in nodes]


def group_communities(notes: Sequence[str], edges: Mapping[tuple[str, str], float], membership: Mapping[str, int],
                      *, region_resolution: float, min_size: int, seed: int,
                      sums: tuple[dict[str, float], dict[tuple[int, int], float]] | None = None) -> Communities:
    """Scenes from Leiden's `membership`: groups of at least `min_size` notes (in community
    order, members in path order before sorting by centrality), the rest unplaced, each note's
    centrality and each group's region. `sums` are the strengths and weights between
    communities when the caller has them (else one pass over `edges` finds them)."""
    by_community: dict[int, list[str]] = {}
    for p in sorted(membership):
        by_community.setdefault(membership[p], []).append(p)
    kept = [c for c in sorted(by_community) if len(by_community[c]) >= min_size]
    placed = {p for c in kept for p in by_community[c]}
    unplaced = tuple(sorted(p for p in notes if p not in placed))
    strength, between = sums if sums is not None else _edge_sums(edges, membership)
    centrality: dict[str, float] = {}
    groups = []
    for c in kept:
        total = sum(strength[p] for p in by_community[c]) or 1.0
        for p in by_community[c]:
            centrality[p] = strength[p] / total
        groups.append(tuple(sorted(by_community[c], key=lambda p: (-centrality[p], p))))
    group_of = {c: g for g, c in enumerate(kept)}
    coarse: dict[tuple[int, int], float] = {}
    for (x, y), weight in between.items():  # in order of first edge, as the region graph's edges
        if x in group_of and y in group_of:
            gx, gy = group_of[x], group_of[y]
            coarse[(gx, gy) if gx <= gy else (gy, gx)] = weight
    region_of = _regions(len(groups), coarse, region_resolution, seed)
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), groups[g][0]))
    return Communities(tuple(groups[g] for g in order), unplaced, centrality,
                       tuple(region_of[g] for g in order), dict(membership), strength, between)


def _edge_sums(edges: Mapping[tuple[str, str], float],
               membership: Mapping[str, int]) -> tuple[dict[str, float], dict[tuple[int, int], float]]:
    """In one pass over the edges: per note, the weight of its edges inside its community;
    per pair of communities (one community twice: inside it), the weight between them."""
    strength: dict[str, float] = dict.fromkeys(membership, 0.0)
    between: dict[tuple[int, int], float] = {}
    community = membership.__getitem__
    for (a, b), weight in edges.items():
        x, y = community(a), community(b)
        if x == y:
            strength[a] += weight
            strength[b] += weight
        pair = (x, y) if x <= y else (y, x)
        between[pair] = between.get(pair, 0.0) + weight
    return strength, between


def _regions(count: int, between: Mapping[tuple[int, int], float], resolution: float, seed: int) -> list[int]:
    """Region index per group: Leiden again on the graph whose nodes are the `count` groups
    (`between`: the summed weights between them, their internal weight as self loops so big
    scenes weigh more)."""
    import igraph
    import leidenalg

    if not any(x != y for x, y in between):
        return list(range(count))
    coarse = igraph.Graph(n=count, edges=list(between))
    coarse.es["weight"] = list(between.values())
    regions = leidenalg.find_partition(
        coarse, leidenalg.RBConfigurationVertexPartition, weights="weight",
        resolution_parameter=resolution, n_iterations=-1, seed=seed,
    )
    return list(regions.membership)
