"""Each note's k nearest notes in meaning, kept up to date as notes come, change and go, and
the meaning pairs they give (the scene graph's "near" edges, see `hybrid.nearest_pairs`).

A changed or new note gets its own list computed against every note; another note's list
takes it in when it beats that list's k-th cosine; a note whose list held a changed or removed
note is computed again. The cost follows the number of changed notes, not the vault's size
(one matrix-vector product per changed note, one row of the full product per recomputed list).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from vaultmind.scenes.hybrid import nearest_lists, pairs_from_lists

Pair = tuple[str, str]


class NearestNotes:
    """The k-nearest lists of notes with unit vectors and the pairs (a < b) → cosine where
    one note lists the other at a cosine of at least `floor` (the same pairs as
    `hybrid.nearest_pairs` for the same vectors)."""

    def __init__(self, paths: Sequence[str], vectors: np.ndarray, k: int, floor: float) -> None:
        self.k, self.floor = k, floor
        self.paths = list(paths)
        self.row = {p: i for i, p in enumerate(self.paths)}
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._before: dict[Pair, float | None] = {}  # during an update: each touched pair's cosine before it
        self._rebuild()

    def _listed(self) -> int:
        """How many neighbours each list holds: k, or every other note in a tiny vault."""
        return max(0, min(self.k, len(self.paths) - 1))

    def _rebuild(self) -> None:
        listed = self._listed()
        self.nearest, self.cosines = nearest_lists(self.vectors, listed)
        self.pairs: dict[Pair, float] = (
            pairs_from_lists(self.paths, self.nearest, self.cosines, self.floor) if listed else {})
        self.votes: Counter[Pair] = Counter()
        for row in range(len(self.paths)):
            self.votes.update(self._row_pairs(row).keys())

    def _row_pairs(self, row: int) -> dict[Pair, float]:
        """The pairs one note's list gives: listed neighbours at or above the floor."""
        a = self.paths[row]
        out = {}
        for column, cosine in zip(self.nearest[row].tolist(), self.cosines[row].tolist()):
            if cosine >= self.floor:
                b = self.paths[column]
                out[(a, b) if a < b else (b, a)] = cosine
        return out

    def update(self, vectors: Mapping[str, np.ndarray | None]) -> set[Pair]:
        """Give notes new unit vectors (new or changed notes) or none (removed notes, notes
        without a vector now). Returns the pairs that appeared, went or changed cosine."""
        gone = {p for p, v in vectors.items() if v is None and p in self.row}
        given = {p: v for p, v in vectors.items() if v is not None}
        if not gone and not given:
            return set()
        self._before = {}
        moved = [self.row[p] for p in [*given, *gone] if p in self.row]
        # lists that held a changed or removed note cannot be patched: they are computed again
        holding = np.flatnonzero(np.isin(self.nearest, moved).any(axis=1)).tolist() if self.nearest.size else []
        stale = {self.paths[row] for row in holding} - gone
        for row in {*moved, *holding}:
            self._unvote(row)
        listed = self._listed()
        self._replace_rows(given, gone)
        if self._listed() != listed:  # a tiny vault grew or shrank past k: start over
            for pair, cosine in self.pairs.items():
                self._before.setdefault(pair, cosine)
            self._rebuild()
            for pair in self.pairs:
                self._before.setdefault(pair, None)
        else:
            fresh = [self.row[p] for p in given]
            redo = sorted({*fresh, *(self.row[p] for p in stale)})
            self._take_in(fresh, set(redo))
            if redo:
                self.nearest[redo], self.cosines[redo] = nearest_lists(self.vectors, listed, redo)
            for row in redo:
                self._vote(row)
        return {pair for pair, old in self._before.items() if self.pairs.get(pair) != old}

    def _replace_rows(self, given: Mapping[str, np.ndarray], gone: set[str]) -> None:
        """Set the vectors of changed notes, append new notes (with empty lists) and drop
        removed ones, renumbering every index into the rows."""
        for p, vector in given.items():
            if p in self.row:
                self.vectors[self.row[p]] = vector
        added = [p for p in given if p not in self.row]
        if not gone and not added:
            return
        keep = np.array([i for i, p in enumerate(self.paths) if p not in gone], dtype=np.int64)
        renumber = np.full(len(self.paths), -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        blank = np.zeros((len(added), self.nearest.shape[1]), dtype=np.int64)
        self.nearest = np.vstack([renumber[self.nearest[keep]], blank])
        self.cosines = np.vstack([self.cosines[keep], blank.astype(np.float32)])
        extra = [np.asarray(given[p], dtype=np.float32).reshape(1, -1) for p in added]
        self.vectors = np.ascontiguousarray(np.vstack([self.vectors[keep], *extra]))
        self.paths = [self.paths[i] for i in keep.tolist()] + added
        self.row = {p: i for i, p in enumerate(self.paths)}

    def _take_in(self, rows: Sequence[int], skip: set[int]) -> None:
        """Put each changed or new note into the lists (other than `skip`) whose k-th cosine
        it beats."""
        if not rows or not self._listed():
            return
        similarities = self.vectors[list(rows)] @ self.vectors.T
        lowest = self.cosines.min(axis=1)
        for x, row_cosines in zip(rows, similarities):
            for a in np.flatnonzero(row_cosines > lowest).tolist():
                if a == x or a in skip:
                    continue
                self._unvote(a)
                slot = int(np.argmin(self.cosines[a]))
                self.nearest[a, slot], self.cosines[a, slot] = x, row_cosines[a]
                lowest[a] = self.cosines[a].min()
                self._vote(a)

    def _vote(self, row: int) -> None:
        for pair, cosine in self._row_pairs(row).items():
            self._before.setdefault(pair, self.pairs.get(pair))
            self.votes[pair] += 1
            self.pairs[pair] = cosine

    def _unvote(self, row: int) -> None:
        for pair in self._row_pairs(row):
            self._before.setdefault(pair, self.pairs.get(pair))
            self.votes[pair] -= 1
            if self.votes[pair] <= 0:
                del self.votes[pair]
                self.pairs.pop(pair, None)
