"""The 2-D map of notes: UMAP of the note vectors when umap-learn is installed, otherwise
PCA; without vectors, a force-directed layout of the scene graph. Coordinates are scaled
into [-1, 1]."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)


def note_map(paths: Sequence[str], vectors: np.ndarray | None, edges: Mapping[tuple[str, str], float],
             *, seed: int, method: str = "auto") -> tuple[dict[str, tuple[float, float]], str]:
    """Positions of `paths` and the method used (`umap`, `pca` or `spring`). `vectors` are
    rows aligned with `paths` (None: no vectors, the graph is laid out instead)."""
    if not paths:
        return {}, "none"
    if vectors is None or len(vectors) != len(paths):
        return _scaled(paths, _spring(paths, edges, seed)), "spring"
    if method in ("auto", "umap") and len(paths) >= 10:
        points = _umap(vectors, seed, required=method == "umap")
        if points is not None:
            return _scaled(paths, points), "umap"
    return _scaled(paths, _pca(vectors)), "pca"


def _pca(vectors: np.ndarray) -> np.ndarray:
    centred = (vectors - vectors.mean(axis=0)).astype(np.float64)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    # eigenvectors of the dim × dim covariance: the same axes as an SVD of the n × dim matrix,
    # a fraction of the work (an SVD of 10,000 × 384 took 15 s on 2 busy cores)
    _values, vectors_ = np.linalg.eigh(centred.T @ centred)
    components = vectors_[:, ::-1][:, :2].T
    points = centred @ components.T
    for axis in range(points.shape[1]):  # fix the sign so the same vectors give the same map
        if points[np.argmax(np.abs(points[:, axis])), axis] < 0:
            points[:, axis] *= -1
    if points.shape[1] < 2:
        points = np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])
    return points


def _umap(vectors: np.ndarray, seed: int, *, required: bool) -> np.ndarray | None:
    try:
        import umap
    except ImportError:
        if required:
            raise
        return None
    reducer = umap.UMAP(n_neighbors=min(15, len(vectors) - 1), metric="cosine", random_state=seed)
    return np.asarray(reducer.fit_transform(vectors))


def _spring(paths: Sequence[str], edges: Mapping[tuple[str, str], float], seed: int) -> np.ndarray:
    """Fruchterman–Reingold with igraph's grid variant: about a second for 10,000 notes, where
    networkx's spring layout took minutes (a vault indexed without embeddings)."""
    import random

    import igraph

    index = {p: i for i, p in enumerate(paths)}
    pairs = [(index[a], index[b], w) for (a, b), w in edges.items() if a in index and b in index and a != b]
    graph = igraph.Graph(n=len(paths), edges=[(a, b) for a, b, _w in pairs])
    igraph.set_random_number_generator(random.Random(seed))  # the same vault gives the same map
    try:
        layout = graph.layout_fruchterman_reingold(weights=[w for _a, _b, w in pairs] or None, grid=len(paths) > 1000)
    finally:
        igraph.set_random_number_generator(random)
    return np.array(layout.coords, dtype=float).reshape(len(paths), 2)


def _scaled(paths: Sequence[str], points: np.ndarray) -> dict[str, tuple[float, float]]:
    points = points - points.mean(axis=0)
    span = float(np.abs(points).max()) or 1.0
    points = points / span
    return {p: (round(float(x), 5), round(float(y), 5)) for p, (x, y) in zip(paths, points)}
