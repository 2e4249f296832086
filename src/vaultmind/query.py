"""Answering a query: each retrieval channel's hits, from caches kept warm in the process.

Channels (see `vaultmind.retrieval` for how their rankings are fused):

- a dense model's chunks (`e5`, `use`, `st:NAME`): the query vector against the model's faiss
  index of chunk vectors; a note ranks by its best chunk;
- the same model's notes (`use notes`): the query vector against each note's mean chunk
  vector, so a note whose chunks all touch the question ranks above one stray matching
  paragraph;
- `bm25`: the query's lemmas against the BM25 index of chunk lemmas.

A channel whose fusion weight is 0 is not computed. The faiss index, the BM25 index and the
note vectors are files beside the store; a process that searches again (the app, the daemon)
keeps them loaded while the files are unchanged and the store's `meaning_version` stands still,
so a warm query costs the query embeddings and a few small matrix products (no row counts).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind import pipeline
from vaultmind.config import Config
from vaultmind.embed import LEXICAL, channel_name, dense_models, lexical_channel
from vaultmind.embed.vectors import note_means
from vaultmind.index import VectorIndex
from vaultmind.lexical import LexicalIndex, lexemes
from vaultmind.retrieval import NOTES_SUFFIX, NoteRank, channel_order, fitted, note_ranking, weight_of
from vaultmind.store import Store

log = logging.getLogger(__name__)

NOTE_DEPTH = 50  # notes the note channels return: a note further down adds almost nothing to a fusion
_LOADED: dict[Path, tuple[tuple[int, int], tuple[str, int], Any]] = {}  # file → (stat, (store, version), object)
_LOCK = threading.Lock()


def _version(store: Store) -> tuple[str, int]:
    return str(store.path), store.meaning_version()


def _remembered(path: Path, fingerprint: tuple[str, int]) -> Any:
    """What was loaded or built from `path` in this process, while the file is unchanged and
    the store counted no change to chunks, vectors or lexemes since; else None."""
    try:
        stat = path.stat()
    except OSError:
        return None
    with _LOCK:
        held = _LOADED.get(path)
    if held is not None and held[0] == (stat.st_mtime_ns, stat.st_size) and held[1] == fingerprint:
        return held[2]
    return None


def _remember(path: Path, fingerprint: tuple[str, int], value: Any) -> Any:
    try:
        stat = path.stat()
    except OSError:
        return value
    with _LOCK:
        _LOADED[path] = ((stat.st_mtime_ns, stat.st_size), fingerprint, value)
    return value


def vector_index(store: Store, state_dir: Path, model_id: str, config: Config) -> VectorIndex | None:
    """The model's faiss index, up to date with the store (`pipeline.refresh_vector_index`),
    kept loaded while nothing changed."""
    path = pipeline.vector_index_path(state_dir, model_id)
    version = _version(store)
    held = _remembered(path, version)
    if held is not None:
        return held  # type: ignore[no-any-return]
    index = pipeline.refresh_vector_index(store, state_dir, model_id, config)
    return None if index is None else _remember(path, version, index)


def lexical_index(store: Store, state_dir: Path) -> LexicalIndex | None:
    """The BM25 index, up to date with the stored lexemes, kept loaded while nothing changed."""
    path = pipeline.lexical_index_path(state_dir)
    version = _version(store)
    held = _remembered(path, version)
    if held is not None:
        return held  # type: ignore[no-any-return]
    index = pipeline.refresh_lexical_index(store, state_dir)
    return None if index is None else _remember(path, version, index)


def note_vectors_path(state_dir: Path, model_id: str) -> Path:
    """`notes-<model>.npz` beside the model's `chunks-<model>.faiss`."""
    chunks = pipeline.vector_index_path(state_dir, model_id)
    return chunks.with_name("notes-" + chunks.stem.removeprefix("chunks-") + ".npz")


class NoteVectors:
    """Each note's unit mean chunk vector of one model, and its chunk ids."""

    def __init__(self, notes: list[str], matrix: np.ndarray, chunk_ids: np.ndarray, starts: np.ndarray) -> None:
        self.notes = notes
        self.matrix = matrix
        self._chunk_ids, self._starts = chunk_ids, starts  # note i's chunks: chunk_ids[starts[i]:starts[i + 1]]

    def chunks_of(self, row: int) -> np.ndarray:
        return self._chunk_ids[self._starts[row] : self._starts[row + 1]]

    def save(self, path: Path, fingerprint: tuple[int, int]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, notes=np.array(self.notes, dtype=str), matrix=self.matrix, chunk_ids=self._chunk_ids,
                     starts=self._starts, fingerprint=np.array(fingerprint))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, fingerprint: tuple[int, int]) -> NoteVectors | None:
        """The saved note vectors when they were made from the same chunks; else None."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                if tuple(int(x) for x in saved["fingerprint"]) != fingerprint:
                    return None
                return cls([str(n) for n in saved["notes"]], saved["matrix"], saved["chunk_ids"], saved["starts"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as e:
            log.warning("rebuilding the note vectors: %s is unreadable (%s)", path, e)
            return None


def note_vectors(store: Store, state_dir: Path, model_id: str, index: VectorIndex) -> NoteVectors:
    """Each note's unit mean chunk vector of `model_id` (not centred: a query is compared with
    it as it is), from the faiss index's own vectors; saved beside it and made again when the
    chunks embedded change."""
    path = note_vectors_path(state_dir, model_id)
    version = _version(store)
    held = _remembered(path, version)
    if held is not None:
        return held  # type: ignore[no-any-return]
    fingerprint = store.vector_fingerprint(model_id)
    made = NoteVectors.load(path, fingerprint)
    if made is None:
        ids, vectors = index.contents()
        path_of = store.chunk_paths(ids.tolist())
        notes, matrix, rows = note_means([path_of[int(i)] for i in ids], vectors)
        grouped = [ids[rows[n]] for n in notes]
        starts = np.zeros(len(notes) + 1, dtype=np.int64)
        np.cumsum([len(g) for g in grouped], out=starts[1:])
        made = NoteVectors(notes, matrix.astype(np.float32),
                           np.concatenate(grouped).astype(np.int64) if grouped else np.zeros(0, np.int64), starts)
        made.save(path, fingerprint)
    return _remember(path, version, made)  # type: ignore[no-any-return]


def _note_ranking(notes: NoteVectors, index: VectorIndex, vector: np.ndarray, depth: int) -> list[NoteRank]:
    """Notes by their mean vector's similarity to the query, each with its chunk closest to it."""
    similarity = notes.matrix @ vector
    ranking = []
    for row in np.argsort(-similarity)[:depth]:
        chunks = notes.chunks_of(int(row))
        best = int(chunks[int(np.argmax(index.vectors(chunks) @ vector))])
        ranking.append(NoteRank(notes.notes[row], float(similarity[row]), best))
    return ranking


def warm(store: Store, state_dir: Path, channels: Any, config: Config) -> None:
    """Bring every cache the channels search from up to date and save it (the faiss indexes,
    the note views, the BM25 index), so the next query in any process only loads them. The
    daemon calls this after a quiet spell; otherwise the first query after a change builds
    them (on 41,094 chunks the BM25 index takes about 1.8 s)."""
    weights = fitted(channel_names(channels)).weights
    for model in dense_models(channels):
        index = vector_index(store, state_dir, model.model_id, config)
        if index is not None and weight_of(channel_name(channels, model) + NOTES_SUFFIX, weights) > 0:
            note_vectors(store, state_dir, model.model_id, index)
    if lexical_channel(channels):
        lexical_index(store, state_dir)


def channel_names(channels: Any) -> list[str]:
    """The channels an embedder searches with: its dense models' names, then bm25 when on."""
    return [channel_name(channels, m) for m in dense_models(channels)] + ([LEXICAL] if lexical_channel(channels) else [])


def channel_rankings(store: Store, state_dir: Path, channels: Any, query: str, depth: int, config: Config,
                     weights: dict[str, float]) -> tuple[dict[str, list[NoteRank]], set[int], float]:
    """Each channel's notes for `query`, best first (its best `depth` chunks, or notes), every
    chunk id they name, and the lexical channel's confidence in its best chunk (0 without
    it). A channel with nothing stored (a model never embedded with) or a fusion weight of 0
    is left out."""
    rankings: dict[str, list[NoteRank]] = {}
    confidence = 0.0
    chunk_ids: set[int] = set()
    found: dict[str, tuple[list[int], list[float]]] = {}
    for model in dense_models(channels):
        name = channel_name(channels, model)
        wants_notes = weight_of(name + NOTES_SUFFIX, weights) > 0
        if weight_of(name, weights) <= 0 and not wants_notes:
            continue
        index = vector_index(store, state_dir, model.model_id, config)
        if index is None:
            continue
        vector = model.embed_queries([query])
        if weight_of(name, weights) > 0:
            scores, ids = index.search(vector, depth)
            kept = ids[0] >= 0
            found[name] = (ids[0][kept].tolist(), scores[0][kept].tolist())
        if wants_notes:
            notes = note_vectors(store, state_dir, model.model_id, index)
            rankings[name + NOTES_SUFFIX] = _note_ranking(notes, index, vector[0], min(depth, NOTE_DEPTH))
    if lexical_channel(channels) and weight_of(LEXICAL, weights) > 0:
        words = lexical_index(store, state_dir)
        if words is not None:
            tokens = lexemes(query)
            scores, ids = words.search(tokens, depth)
            found[LEXICAL] = (ids.tolist(), scores.tolist())
            confidence = words.confidence(tokens, int(ids[0])) if len(ids) else 0.0
    path_of = store.chunk_paths({i for ids, _scores in found.values() for i in ids})
    for name, (ids, scores) in found.items():
        rankings[name] = note_ranking(ids, scores, path_of.__getitem__)
    for ranking in rankings.values():
        chunk_ids.update(hit.chunk for hit in ranking)
    ordered = {name: rankings[name] for name in sorted(rankings, key=channel_order)}
    return ordered, chunk_ids, confidence
