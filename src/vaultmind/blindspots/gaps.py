"""Gaps between scenes and inside them, and the notes that alone hold scenes together.

- `scene_gaps`: two scenes close in meaning (their centroids) with few links between them.
- `weak_coupling`: a scene whose notes are close in meaning but linked to each other far less
  than the vault's scenes of that closeness are.
- `bridges`: notes whose removal disconnects scenes (articulation points of the link graph),
  and notes between scenes that carry much of the graph's shortest paths (betweenness).

All three read links as distinct undirected note pairs: direction, repeats, self links and
links to files or missing notes do not count, and hubs (index pages) are left out entirely.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import networkx as nx
import numpy as np

from vaultmind.blindspots import BlindSpotInput, finding_id
from vaultmind.types import BlindSpot, Scene

__all__ = ["scene_gaps", "weak_coupling", "bridges", "linked_pairs"]

log = logging.getLogger(__name__)

GAP_PERCENTILE = 75  # a candidate pair's centroid cosine is in the top quarter of the vault's pairs ...
GAP_MIN_COSINE = 0.15  # ... and above this (see `scene_gaps`)
GAP_MAX_TOUCH = 0.25  # cut / smaller volume above this: the scenes already touch
NEAREST = 3  # bridge candidates per side

COUPLING_MIN_SIZE = 4  # smaller scenes have too few pairs to judge their links
COUPLING_MIN_FIT = 4  # scenes with a cohesion needed to fit a line; fewer: the median is expected
COUPLING_MAX_RATIO = 0.5  # "far below": at most half the expected links
COUPLING_MIN_EXPECTED = 1.0  # expecting less than one link inside, its absence says nothing
UNLINKED_PAIRS = 5

BETWEENNESS_SAMPLE = 500  # sampled sources: exact up to 500 linked notes, bounded work beyond
BETWEENNESS_MIN_SHARE = 0.25  # not an articulation point: at least this share of the busiest note's
BRIDGE_WEIGHT = 0.6  # disconnecting scenes weighs more than carrying paths
NEIGHBOURS_SHOWN = 5

Split = tuple[list[list[int]], list[int], list[tuple[int, int]]]  # scenes per piece, piece sizes, pairs


# ------------------------------------------------------------------ shared


def linked_pairs(data: BlindSpotInput) -> set[tuple[str, str]]:
    """Distinct undirected linked note pairs (a < b); hubs, self links and targets that are
    not notes left out."""
    notes, hubs = set(data.notes), set(data.hubs)
    pairs = set()
    for link in data.links:
        a, b = link.source, link.target_path
        if b is not None and a != b and a in notes and b in notes and a not in hubs and b not in hubs:
            pairs.add((a, b) if a < b else (b, a))
    return pairs


def _members(data: BlindSpotInput) -> dict[int, list[str]]:
    hubs = set(data.hubs)
    return {s.id: [p for p in s.notes if p not in hubs] for s in data.scenes}


def _linker(data: BlindSpotInput) -> Callable[[str], str]:
    """path → `[[name]]` when no other note has that file name, else `[[folder/name]]`: the
    shortest link Obsidian resolves to that note alone; a name without letters (a Zettelkasten
    id) shows its first alias, `[[202303210958|alias]]`."""
    names = Counter(_stem(p).casefold() for p in data.notes)

    def link(path: str) -> str:
        name = _stem(path) if names[_stem(path).casefold()] <= 1 else path.removesuffix(".md")
        aliases = data.aliases.get(path)
        if aliases and not any(ch.isalpha() for ch in _stem(path)):
            name = f"{name}|{aliases[0]}"
        return f"[[{name}]]"

    return link


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".md")


def _title(path: str, data: BlindSpotInput) -> str:
    return data.titles.get(path) or _stem(path)


def _topic(scene: Scene) -> str:
    """What a scene is about, for a question: its first two terms, or the central note's title."""
    return ", ".join(scene.terms[:2]) if scene.terms else scene.label.split(":", 1)[0].strip() or scene.label


def _vector_rows(data: BlindSpotInput) -> tuple[dict[str, int], np.ndarray] | None:
    if data.vectors is None or not len(data.vectors[0]):
        return None
    paths, matrix = data.vectors
    return {p: i for i, p in enumerate(paths)}, np.asarray(matrix, dtype=np.float32)


# ------------------------------------------------------------------ scene gaps


def scene_gaps(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """Pairs of scenes close in meaning with few links between them.

    score = centroid cosine × (1 − cut / smaller volume): a centroid is the normalised mean of
    a scene's note vectors; cut the distinct linked pairs between the two scenes; a volume the
    distinct linked pairs touching a scene (at least 1). Candidates: a centroid cosine in the
    vault's top quarter of scene pairs and at least 0.15, and a cut of at most a quarter of
    the smaller volume. The centroid cosine is about the scenes' mean cross similarity over
    their inner similarity, so a fixed floor means much the same under any model: with note
    vectors centred on the vault mean, unrelated topics stay below 0.1 (the sample vault's
    five topics: 0.06 at most with e5), related ones reach 0.5–0.7.
    """
    rows = _vector_rows(data)
    if rows is None or len(data.scenes) < 2:
        return []
    row, matrix = rows
    scenes, members = {s.id: s for s in data.scenes}, _members(data)
    centroids = {}
    for sid in sorted(scenes):
        have = [row[p] for p in members[sid] if p in row]
        mean = matrix[have].mean(axis=0) if have else np.zeros(1)
        if np.linalg.norm(mean) > 1e-9:
            centroids[sid] = mean / np.linalg.norm(mean)
    ids = sorted(centroids)
    if len(ids) < 2:
        return []
    stacked = np.stack([centroids[i] for i in ids])
    sims = stacked @ stacked.T
    upper = np.triu_indices(len(ids), 1)
    floor = max(float(np.percentile(sims[upper], GAP_PERCENTILE)), GAP_MIN_COSINE)

    scene_of = {p: sid for sid, notes in members.items() for p in notes}
    cut: Counter[tuple[int, int]] = Counter()
    volume: Counter[int] = Counter()
    for a, b in linked_pairs(data):
        sa, sb = scene_of.get(a), scene_of.get(b)
        volume.update({sa, sb} - {None})
        if sa is not None and sb is not None and sa != sb:
            cut[(min(sa, sb), max(sa, sb))] += 1

    ranked = []
    for i, j in zip(*upper):
        a, b, cosine = ids[i], ids[j], float(sims[i, j])
        volumes = max(volume[a], 1), max(volume[b], 1)
        touch = cut[(a, b)] / min(volumes)
        if cosine >= floor - 1e-9 and touch <= GAP_MAX_TOUCH:
            ranked.append((-round(cosine * (1 - touch), 6), finding_id("scene_gap", f"scene:{a}", f"scene:{b}"),
                           a, b, cosine, volumes))
    link = _linker(data)
    return [  # evidence only for the findings kept
        _scene_gap(link, -minus, gap_id, scenes[a], scenes[b], cosine, cut[(a, b)], volumes,
                   _nearest(data, members[a], row, matrix, centroids[b]),
                   _nearest(data, members[b], row, matrix, centroids[a]))
        for minus, gap_id, a, b, cosine, volumes in sorted(ranked)[:max(limit, 0)]
    ]


def _nearest(data: BlindSpotInput, notes: Sequence[str], row: Mapping[str, int], matrix: np.ndarray,
             centroid: np.ndarray) -> list[dict[str, object]]:
    """A scene's notes nearest another scene's centroid, nearest first."""
    have = [p for p in notes if p in row]
    cosines = matrix[[row[p] for p in have]] @ centroid if have else []
    order = sorted(range(len(have)), key=lambda k: (-float(cosines[k]), have[k]))[:NEAREST]
    return [{"path": have[k], "title": _title(have[k], data), "cosine": round(float(cosines[k]), 4)} for k in order]


def _scene_gap(link: Callable[[str], str], score: float, gap_id: str, a: Scene, b: Scene, cosine: float, links: int,
               volumes: tuple[int, int], near_a: list[dict[str, object]], near_b: list[dict[str, object]]) -> BlindSpot:
    question = f"How does «{_topic(a)}» relate to «{_topic(b)}»?"
    suggestion = question
    if near_a and near_b:
        suggestion += f" Start from {link(str(near_a[0]['path']))} and {link(str(near_b[0]['path']))}."
    paths = [str(n["path"]) for k in range(NEAREST) for side in (near_a, near_b) for n in side[k:k + 1]]
    return BlindSpot(
        kind="scene_gap", id=gap_id, score=score,
        title=f"Scenes «{a.label}» and «{b.label}» {'barely' if links else 'never'} touch",
        evidence=(
            {"type": "centroids", "cosine": round(cosine, 4), "scenes": [a.id, b.id]},
            {"type": "cut", "links": links, "volume_a": volumes[0], "volume_b": volumes[1]},
            {"type": "bridge_candidates", "scene": a.id, "notes": near_a},
            {"type": "bridge_candidates", "scene": b.id, "notes": near_b},
            {"type": "question", "text": question},
        ),
        notes=tuple(paths),  # the best pair first
        suggestion=suggestion,
    )


# ------------------------------------------------------------------ weak coupling


def weak_coupling(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """Scenes of at least 4 notes whose notes are close in meaning but rarely linked.

    The expectation comes from the vault's own scenes: a Theil–Sen line (the median pairwise
    slope, so one odd scene cannot bend it; never falling) of links per member inside a scene
    against its cohesion, from at least 4 scenes with a cohesion; with fewer, the median
    scene's links per member. Links per member rather than density, because density falls
    with size alone (an author links a note to a few others, not to a share of its scene):
    expected density = expected links per member / (size − 1). score = cohesion percentile ×
    (1 − density / expected density), for scenes at most half as linked as expected and
    expected to hold at least one link. Hubs' links are left out, also from the density.
    """
    rows = _vector_rows(data)
    if rows is None or not data.scenes:
        return []
    row, matrix = rows
    members, pairs = _members(data), linked_pairs(data)
    scene_of = {p: sid for sid, notes in members.items() for p in notes}
    inside = Counter(scene_of[a] for a, b in pairs if a in scene_of and scene_of[a] == scene_of.get(b))
    measured = [s for s in data.scenes if s.cohesion is not None and len(members[s.id]) >= 2]
    if not measured:
        return []
    cohesions = np.array([s.cohesion for s in measured], dtype=float)
    per_member = np.array([2 * inside[s.id] / len(members[s.id]) for s in measured])
    if len(measured) >= COUPLING_MIN_FIT:
        slope, intercept = _theil_sen(cohesions, per_member)
    else:
        slope, intercept = 0.0, float(np.median(per_member))

    ranked = []
    for scene in measured:
        n = len(members[scene.id])
        pair_count = n * (n - 1) // 2
        expected = (intercept + slope * float(scene.cohesion)) / max(n - 1, 1)
        if n < COUPLING_MIN_SIZE or expected * pair_count < COUPLING_MIN_EXPECTED:
            continue
        density = inside[scene.id] / pair_count
        score = _percentile_of(float(scene.cohesion), cohesions) * (1 - density / expected)
        if density / expected <= COUPLING_MAX_RATIO:
            ranked.append((-round(score, 6), finding_id("weak_coupling", f"scene:{scene.id}"), scene, density,
                           expected, pair_count))
    link = _linker(data)
    return [
        _weak(link, scene, -minus, spot_id, density, expected, inside[scene.id], pair_count,
              _unlinked_pairs(members[scene.id], pairs, row, matrix, inside[scene.id]))
        for minus, spot_id, scene, density, expected, pair_count in sorted(ranked, key=lambda r: r[:2])[:max(limit, 0)]
    ]


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept): the median pairwise slope, not below 0, and the median residual."""
    i, j = np.triu_indices(len(x), 1)
    dx = x[j] - x[i]
    keep = np.abs(dx) > 1e-12
    slope = max(float(np.median((y[j] - y[i])[keep] / dx[keep])), 0.0) if keep.any() else 0.0
    return slope, float(np.median(y - slope * x))


def _percentile_of(value: float, values: np.ndarray) -> float:
    """`value`'s rank among `values` over their count, ties sharing the middle rank: the
    highest is 1, the lowest 1 / count."""
    below = float(np.sum(values < value - 1e-12))
    equal = float(np.sum(np.abs(values - value) <= 1e-12))
    return (below + equal / 2 + 0.5) / len(values)


def _unlinked_pairs(notes: Sequence[str], pairs: set[tuple[str, str]], row: Mapping[str, int],
                    matrix: np.ndarray, links: int) -> list[dict[str, object]]:
    """The member pairs closest in meaning that are not linked, closest first."""
    have = sorted(p for p in notes if p in row)
    n = len(have)
    if n < 2:
        return []
    vectors = matrix[[row[p] for p in have]]
    sims = vectors @ vectors.T
    sims[np.tri(n, dtype=bool)] = -np.inf  # each pair once, no note with itself
    k = min(UNLINKED_PAIRS + links, n * (n - 1) // 2)  # enough to step over every linked pair
    top = np.argpartition(-sims.ravel(), k - 1)[:k]
    chosen = []
    for i, j in sorted(zip(*np.unravel_index(top, sims.shape)), key=lambda ij: (-sims[ij], ij)):
        if (have[i], have[j]) not in pairs and len(chosen) < UNLINKED_PAIRS:
            chosen.append({"a": have[i], "b": have[j], "cosine": round(float(sims[i, j]), 4)})
    return chosen


def _weak(link: Callable[[str], str], scene: Scene, score: float, spot_id: str, density: float, expected: float,
          links: int, pair_count: int, unlinked: list[dict[str, object]]) -> BlindSpot:
    suggestion = f"Link the pieces of «{scene.label}»"
    if unlinked:
        suggestion += f": start with {link(str(unlinked[0]['a']))} ↔ {link(str(unlinked[0]['b']))}"
    return BlindSpot(
        kind="weak_coupling", id=spot_id, score=score,
        title=f"Scene «{scene.label}» is close in meaning but barely linked ({links} of {pair_count} pairs)",
        evidence=(
            {"type": "coupling", "scene": scene.id, "cohesion": round(float(scene.cohesion or 0.0), 4),
             "density": round(density, 4), "expected_density": round(expected, 4), "links_inside": links,
             "pairs": pair_count},
            {"type": "unlinked_pairs", "pairs": unlinked},
        ),
        notes=tuple(dict.fromkeys(str(pair[end]) for pair in unlinked for end in ("a", "b"))),
        suggestion=suggestion,
    )


# ------------------------------------------------------------------ bridges


def bridges(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """Notes that alone hold scenes together.

    In the undirected link graph without hubs: an articulation point whose removal leaves two
    scenes that were connected with no piece in common (p = the scene pairs it alone
    connects), or a note linking two or more scenes with at least a quarter of the busiest
    note's betweenness (from 500 sampled sources on larger graphs, seed 0, so runs agree).
    score = 0.6 · p / (p + 1) + 0.4 · betweenness / the highest betweenness, in [0, 1].
    """
    members = _members(data)
    scene_of = {p: sid for sid, notes in members.items() for p in notes}
    graph = nx.Graph()
    graph.add_nodes_from(sorted(set(data.notes) - set(data.hubs)))
    graph.add_edges_from(sorted(linked_pairs(data)))
    if len(members) < 2 or graph.number_of_edges() == 0:
        return []
    splits = _articulations(graph, scene_of)
    betweenness = _betweenness(graph)
    busiest = max(betweenness.values(), default=0.0)

    ranked = []
    for note in graph.nodes:
        share = betweenness.get(note, 0.0) / busiest if busiest > 0 else 0.0
        split = splits.get(note)
        if split is None and share < BETWEENNESS_MIN_SHARE:
            continue
        neighbours: dict[int, list[str]] = {}
        for other in sorted(graph.neighbors(note)):
            if other in scene_of:
                neighbours.setdefault(scene_of[other], []).append(other)
        if split is None and len(set(neighbours) | {scene_of.get(note)} - {None}) < 2:
            continue
        alone = len(split[2]) if split else 0
        score = BRIDGE_WEIGHT * alone / (alone + 1) + (1 - BRIDGE_WEIGHT) * share
        ranked.append((-round(score, 6), finding_id("bridge", note), note, neighbours))
    scenes, link = {s.id: s for s in data.scenes}, _linker(data)
    return [_bridge(data, link, note, min(-minus, 1.0), spot_id, scenes, scene_of.get(note), neighbours,
                    splits.get(note), betweenness.get(note, 0.0))
            for minus, spot_id, note, neighbours in sorted(ranked, key=lambda r: r[:2])[:max(limit, 0)]]


def _betweenness(graph: nx.Graph) -> dict[str, float]:
    """`nx.betweenness_centrality(G, k=min(n, 500), seed=0)` of the linked notes — the same
    sample and scaling — computed by igraph: networkx takes ~0.2 s per sampled source on a
    10,000-note vault (~100 s in all), igraph ~2 ms."""
    import igraph

    linked = [p for p in graph.nodes if graph.degree(p) > 0]
    n = len(linked)
    if n < 3:
        return {}
    index = {p: i for i, p in enumerate(linked)}
    arcs = [(index[a], index[b]) for a, b in graph.edges]
    # both directions of every link: igraph then counts ordered (source, target) pairs, as networkx does
    directed = igraph.Graph(n=n, edges=arcs + [(b, a) for a, b in arcs], directed=True)
    if n <= BETWEENNESS_SAMPLE:
        raw = directed.betweenness(directed=True)
        return {p: raw[i] / ((n - 1) * (n - 2)) for p, i in index.items()}
    k = BETWEENNESS_SAMPLE
    log.debug("betweenness of %d linked notes from %d sampled sources", n, k)
    sources = random.Random(0).sample(linked, k)
    raw = directed.betweenness(directed=True, sources=[index[p] for p in sources])
    sampled = set(sources)
    return {p: raw[i] / ((k - 1 if p in sampled else k) * (n - 2)) for p, i in index.items()}


def _articulations(graph: nx.Graph, scene_of: Mapping[str, int]) -> dict[str, Split]:
    """Every articulation point that alone connects two scenes: the scene ids of each piece its
    removal leaves and the pieces' sizes (largest first, pieces without scene notes left out),
    and the scene pairs it alone connects."""
    found = {}
    for component in nx.connected_components(graph):
        scenes_here = sorted({scene_of[p] for p in component if p in scene_of})
        if len(scenes_here) < 2:
            continue
        column = {sid: k for k, sid in enumerate(scenes_here)}
        root = min(component)
        order, parent, low, size = _dfs(graph, root)
        position = {p: i for i, p in enumerate(order)}
        # prefix[i] counts each scene's notes among the first i in DFS order: a DFS subtree is a
        # contiguous range of that order, so the scenes of a piece are one subtraction away
        prefix = np.zeros((len(order) + 1, len(scenes_here)), dtype=np.int32)
        placed = np.array([(i + 1, column[scene_of[p]]) for i, p in enumerate(order) if p in scene_of])
        prefix[placed[:, 0], placed[:, 1]] = 1
        np.cumsum(prefix, axis=0, out=prefix)
        children: dict[str, list[str]] = {}
        for p in order[1:]:
            children.setdefault(parent[p], []).append(p)
        for v in order:
            kids = children.get(v, [])
            cut_off = (kids if len(kids) >= 2 else []) if v == root else [c for c in kids if low[c] >= position[v]]
            if not cut_off:
                continue
            pieces = [(size[c], prefix[position[c] + size[c]] - prefix[position[c]]) for c in cut_off]
            if v != root:  # the rest of the component, above v
                rest = prefix[-1] - sum(counts for _n, counts in pieces)
                if v in scene_of:
                    rest[column[scene_of[v]]] -= 1
                pieces.append((len(component) - 1 - sum(n for n, _c in pieces), rest))
            alone = _alone_pairs([counts > 0 for _n, counts in pieces], scenes_here)
            if alone:
                kept = sorted((p for p in pieces if p[1].any()), key=lambda p: -p[0])
                found[v] = ([[scenes_here[k] for k in np.flatnonzero(c)] for _n, c in kept], [n for n, _c in kept],
                            alone)
    return found


def _dfs(graph: nx.Graph, root: str) -> tuple[list[str], dict[str, str], dict[str, int], dict[str, int]]:
    """Iterative depth-first search from `root`: preorder, parents, low-links (as preorder
    positions) and subtree sizes."""
    order, position, parent = [root], {root: 0}, {}
    low, size = {root: 0}, {root: 1}
    stack = [(root, iter(sorted(graph.neighbors(root))))]
    while stack:
        node, neighbours = stack[-1]
        for other in neighbours:
            if other not in position:
                position[other] = low[other] = len(order)
                order.append(other)
                parent[other], size[other] = node, 1
                stack.append((other, iter(sorted(graph.neighbors(other)))))
                break
            if other != parent.get(node):
                low[node] = min(low[node], position[other])
        else:
            stack.pop()
            if node in parent:
                low[parent[node]] = min(low[parent[node]], low[node])
                size[parent[node]] += size[node]
    return order, parent, low, size


def _alone_pairs(pieces: list[np.ndarray], scenes: Sequence[int]) -> list[tuple[int, int]]:
    """Scene pairs (by id) with notes in the pieces but no piece in common."""
    if len(pieces) < 2:
        return []
    present = np.any(pieces, axis=0)
    most = max(range(len(pieces)), key=lambda k: int(pieces[k].sum()))
    pairs = set()
    for s in np.flatnonzero(present & ~pieces[most]):  # a separated pair has a scene outside any one piece
        together = np.any([piece for piece in pieces if piece[s]], axis=0)
        pairs.update(tuple(sorted((scenes[s], scenes[t]))) for t in np.flatnonzero(present & ~together))
    return sorted(pairs)


def _bridge(data: BlindSpotInput, link: Callable[[str], str], note: str, score: float, spot_id: str,
            scenes: Mapping[int, Scene], own: int | None, neighbours: Mapping[int, list[str]], split: Split | None,
            betweenness: float) -> BlindSpot:
    alone = split[2] if split else []
    touched = sorted(set(neighbours) | {own} - {None})

    def weight(sid: int) -> int:  # how directly the note touches a scene
        return len(neighbours.get(sid, ())) + (sid == own)

    options = alone or [(a, b) for a in touched for b in touched if a < b]
    a, b = min(options, key=lambda ab: (-min(weight(ab[0]), weight(ab[1])), -weight(ab[0]) - weight(ab[1]), ab))
    label_a, label_b = scenes[a].label, scenes[b].label
    if split:
        more = f" (and {len(alone) - 1} more scene pairs)" if len(alone) > 1 else ""
        title = f"{_title(note, data)} alone joins «{label_a}» and «{label_b}»{more}"
    else:
        title = f"{_title(note, data)} carries much of the traffic between «{label_a}» and «{label_b}»"
    evidence: list[dict[str, object]] = []
    if split:
        evidence.append({"type": "articulation", "scenes_split": split[0], "component_sizes": split[1],
                         "scene_pairs": [list(pair) for pair in alone]})
    evidence.append({"type": "betweenness", "value": round(betweenness, 6)})
    # string keys, as JSON has them: a stored finding reads back the same
    evidence.append({"type": "neighbours", "by_scene": {str(sid): paths[:NEIGHBOURS_SHOWN]
                                                        for sid, paths in sorted(neighbours.items())}})
    return BlindSpot(
        kind="bridge", id=spot_id, score=score, title=title, evidence=tuple(evidence),
        notes=tuple(dict.fromkeys([note] + [p for sid in (a, b) for p in neighbours.get(sid, [])[:2]])),
        suggestion=(f"Strengthen: link notes of «{label_a}» directly to notes of «{label_b}» so they do not "
                    f"depend on {link(note)} alone"),
    )
