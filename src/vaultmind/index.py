"""The faiss index over chunk vectors: inner product on unit vectors (= cosine).

Exact search (`IndexFlatIP`) up to `hnsw_threshold` vectors, HNSW above it (the threshold is a
setting; see docs/embeddings.md for the measurements behind its default). Ids are the store's
chunk ids, so the index can be brought up to date by adding and removing ids. It is a cache:
saved next to the store and rebuilt from stored vectors when missing or stale.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_HNSW_THRESHOLD = 200_000
_HNSW_NEIGHBOURS = 32
_HNSW_EF_SEARCH = 128
_HNSW_EF_CONSTRUCTION = 80


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise ModelError("semantic search needs faiss: pip install faiss-cpu") from e
    return faiss


class VectorIndex:
    """A faiss index whose ids are chunk ids."""

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int,
              hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD) -> VectorIndex:
        faiss = _faiss()
        if len(ids) > hnsw_threshold:
            inner = faiss.IndexHNSWFlat(dim, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = _HNSW_EF_SEARCH
            kind = "hnsw"
        else:
            inner = faiss.IndexFlatIP(dim)
            kind = "flat"
        index = cls(faiss.IndexIDMap2(inner), kind)
        index.add(ids, vectors)
        return index

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every entry, duplicates included, in the index's own order: what
        a consistency check compares with the stored vectors."""
        if not self.size:
            return self.ids(), np.zeros((0, self.dim), dtype=np.float32)
        inner = _faiss().downcast_index(self._index.index)
        return self.ids(), inner.reconstruct_n(0, self.size)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these chunk ids (each must be in the index)."""
        return np.stack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                     np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids; False when the index type cannot (HNSW): the caller rebuilds."""
        if not len(ids):
            return True
        if self.kind == "hnsw":
            return False
        self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        return True

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (len(queries), k); missing results have id -1."""
        k = max(1, min(k, self.size))
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, path: Path) -> None:
        faiss = _faiss()
        tmp = path.with_suffix(path.suffix + ".tmp")
        faiss.write_index(self._index, str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex | None:
        """The saved index, or None when it is missing or unreadable (then rebuild)."""
        if not path.exists():
            return None
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            log.warning("rebuilding the vector index: %s is unreadable (%s)", path, e)
            return None
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        return cls(index, "hnsw" if "HNSW" in type(inner).__name__ else "flat")


def sync_index(index: VectorIndex | None, ids: np.ndarray, vectors: np.ndarray, dim: int,
               hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD) -> tuple[VectorIndex, bool]:
    """Bring `index` to exactly `ids`: add and remove what differs, or rebuild when the index
    is missing, of another size or kind, or cannot remove. Returns (index, changed)."""
    wanted_kind = "hnsw" if len(ids) > hnsw_threshold else "flat"
    if index is None or index.dim != dim or index.kind != wanted_kind:
        return VectorIndex.build(ids, vectors, dim, hnsw_threshold), True
    have = index.ids()
    stale = np.setdiff1d(have, ids, assume_unique=True)
    fresh_mask = ~np.isin(ids, have, assume_unique=True)
    if not len(stale) and not fresh_mask.any():
        return index, False
    if not index.remove(stale):
        return VectorIndex.build(ids, vectors, dim, hnsw_threshold), True
    index.add(ids[fresh_mask], vectors[fresh_mask])
    return index, True
