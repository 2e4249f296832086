"""The scene graph: one weighted undirected graph over notes that mixes explicit links with
nearness in meaning, with hubs turned down.

Edge weight = α · link strength + (1 − α) · meaning strength, where
- link strength = log2(1 + occurrences), links counted in both directions (embeds and
  property links included): one link gives 1, three give 2;
- meaning strength = (cosine − floor) / (1 − floor) for a pair where either note is among the
  other's k nearest notes and the cosine (of centred note vectors) is at least the floor.
Every edge touching a hub is multiplied by `hub_weight`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BLOCK = 512  # rows of the similarity matrix computed at once (512 × 10k floats = 20 MB)


@dataclass(frozen=True, slots=True)
class Weights:
    alpha: float
    neighbours: int
    floor: float
    hub_min_links: int
    hub_words_per_link: int
    hub_weight: float


def find_hubs(links: Iterable[tuple[str, str]], words: Mapping[str, int], min_links: int,
              words_per_link: int) -> set[str]:
    """Hubs are index pages and maps of content: notes that link to at least `min_links`
    distinct notes and have fewer than `words_per_link` words of their own per link (a list
    of links, not an essay that cites a lot)."""
    targets: dict[str, set[str]] = {}
    for source, target in links:
        if source != target:
            targets.setdefault(source, set()).add(target)
    return {
        source for source, linked in targets.items()
        if len(linked) >= min_links and words.get(source, 0) < words_per_link * len(linked)
    }


def link_counts(links: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(a, b) with a < b → link occurrences either way; self links are left out."""
    return Counter(tuple(sorted((s, t))) for s, t in links if s != t)  # type: ignore[misc]


def link_strengths(links: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """(a, b) with a < b → log2(1 + occurrences either way); self links are left out."""
    return {pair: link_strength(n) for pair, n in link_counts(links).items()}


def link_strength(occurrences: int) -> float:
    """One link gives 1, three give 2: repeated links matter, but less and less."""
    return math.log2(1 + occurrences)


def nearest_lists(vectors: np.ndarray, k: int, rows: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k` nearest other rows of `vectors` (unit rows) and their cosines, as two
    (rows × k) arrays in no particular order; `rows` limits it to those rows (default: all)."""
    every = rows is None
    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
    nearest = np.zeros((len(rows), k), dtype=np.int64)
    cosines = np.zeros((len(rows), k), dtype=np.float32)
    if k < 1:
        return nearest, cosines
    for start in range(0, len(rows), BLOCK):
        part = rows[start : start + BLOCK]
        block = (vectors[start : start + BLOCK] if every else vectors[part]) @ vectors.T
        block[np.arange(len(part)), part] = -np.inf  # a note is not its own neighbour
        columns = np.argpartition(block, -k, axis=1)[:, -k:]  # in place of a negated copy
        nearest[start : start + len(part)] = columns
        cosines[start : start + len(part)] = np.take_along_axis(block, columns, axis=1)
    return nearest, cosines


def pairs_from_lists(paths: Sequence[str], nearest: np.ndarray, cosines: np.ndarray,
                     floor: float) -> dict[tuple[str, str], float]:
    """(a, b) with a < b → cosine, for each note's listed neighbours at or above `floor`."""
    pairs: dict[tuple[str, str], float] = {}
    for a, columns, similarities in zip(paths, nearest.tolist(), cosines.tolist()):
        for column, similarity in zip(columns, similarities):
            if similarity >= floor:
                b = paths[column]
                pairs[(a, b) if a < b else (b, a)] = similarity
    return pairs


def nearest_pairs(paths: Sequence[str], vectors: np.ndarray, k: int, floor: float) -> dict[tuple[str, str], float]:
    """(a, b) with a < b → cosine, for pairs where one is among the other's `k` nearest and
    the cosine is at least `floor`. `vectors` are unit rows."""
    if len(paths) < 2 or k < 1:
        return {}
    return pairs_from_lists(paths, *nearest_lists(vectors, min(k, len(paths) - 1)), floor)


def edge_weight(linked: float, near: float | None, hub: bool, weights: Weights, alpha: float) -> float:
    """α · link strength + (1 − α) · meaning strength (none below the floor), × `hub_weight`
    when either end is a hub."""
    weight = alpha * linked
    if near is not None:
        weight += (1 - alpha) * (near - weights.floor) / max(1e-9, 1 - weights.floor)
    return weight * weights.hub_weight if hub else weight


def combine_edges(linked: Mapping[tuple[str, str], float], near: Mapping[tuple[str, str], float], hubs: set[str],
                  weights: Weights, alpha: float) -> dict[tuple[str, str], float]:
    """The weighted edges of the link and meaning pairs; pairs of weight 0 are left out."""
    edges: dict[tuple[str, str], float] = {}
    for pair in linked.keys() | near.keys():
        weight = edge_weight(linked.get(pair, 0.0), near.get(pair), pair[0] in hubs or pair[1] in hubs, weights,
                             alpha)
        if weight > 0:
            edges[pair] = weight
    return edges


def scene_graph(notes: Sequence[str], links: Sequence[tuple[str, str]], vectors: tuple[Sequence[str], np.ndarray] | None,
                words: Mapping[str, int], weights: Weights) -> tuple[dict[tuple[str, str], float], set[str]]:
    """The weighted edges (a < b) between `notes` and the hubs among them. `links` are
    (source, target) note paths, one per occurrence; `vectors` the notes' unit vectors."""
    members = set(notes)
    links = [(s, t) for s, t in links if s in members and t in members]
    hubs = find_hubs(links, words, weights.hub_min_links, weights.hub_words_per_link)
    linked = link_strengths(links)
    near: dict[tuple[str, str], float] = {}
    alpha = weights.alpha
    if vectors is not None and alpha < 1:
        paths, matrix = vectors
        keep = [i for i, p in enumerate(paths) if p in members]
        near = nearest_pairs([paths[i] for i in keep], matrix[keep], weights.neighbours, weights.floor)
    else:
        alpha = 1.0  # nothing to mix in: links carry the whole weight
    return combine_edges(linked, near, hubs, weights, alpha), hubs
