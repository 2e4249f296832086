"""The lexical channel of hybrid search: BM25 over lemmas of chunk texts.

`lexemes` turns a text into the keys it is indexed under, in one pass over its words: Russian
words become their pymorphy3 normal form and English ones their Snowball stem
(`vaultmind.words`), so "пчёлы" finds "пчелами" and "fermented" finds "fermentation"; stop
words, URLs and one-letter words are left out. `LexicalIndex` scores them with `bm25s` (Lucene
BM25, k1 = 1.5, b = 0.75). Its ids are the store's chunk ids. Like the faiss index it is a cache:
saved next to the store as one `.npz` and rebuilt from stored lexemes when missing or stale.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaultmind.words import normalise

log = logging.getLogger(__name__)

LEXICAL_VERSION = 1  # bump when `lexemes` gives other tokens: stored lexemes are then split again
MIN_WORD, MAX_WORD = 2, 40  # a longer "word" is a hash, base64 or a run of letters, not a search term

# A URL, or a word (letters and digits; "don't" is one word). The URL branch comes first so
# its words are consumed and skipped; both branches are linear in what they match.
_TOKEN = re.compile(r"(?:https?|ftp)://[^\s)\]>]*|www\.[^\s)\]>]*|[^\W_]+(?:['’][^\W_]+)*")
# Content nouns the general stop lists drop but a search is often for ("fire safety", "время").
KEEP = frozenset("жизнь время человек люди имя мир день computer system information research problem test text"
                 " fire room ring home world value work group point fact state number page index".split())


@functools.cache
def _stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    listed = [*get_stop_words("russian"), *get_stop_words("english")]
    words = (w.lower().replace("ё", "е").replace("'", "") for w in listed)
    keep = {normalise(w) for w in KEEP}
    return frozenset(w for w in words if normalise(w) not in keep)


@functools.lru_cache(maxsize=500_000)
def _key(word: str) -> str | None:
    """The index key of one lowercased word, or None when it is not indexed."""
    word = word.replace("'", "").replace("’", "")
    if not MIN_WORD <= len(word) <= MAX_WORD or word in _stop_words():
        return None
    if word.isdigit():
        return word  # a year or a number
    key = normalise(word)
    return key if len(key) >= MIN_WORD and key not in _stop_words() else None


def lexemes(text: str) -> list[str]:
    """The keys `text` is indexed under, in order and with repeats (BM25 counts them)."""
    words = _TOKEN.findall(text.lower().replace("ё", "е"))
    # only a URL has "/" or "."; a word's key comes from the cache after its first sighting
    return [key for word in words if "/" not in word and "." not in word and (key := _key(word)) is not None]


class LexicalIndex:
    """BM25 scores of every (chunk, lexeme) pair, a column per lexeme; ids are chunk ids."""

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], data: np.ndarray, rows: np.ndarray,
                 starts: np.ndarray) -> None:
        self._ids = ids  # row → chunk id
        self._vocab = vocab  # lexeme → column
        self._data, self._rows, self._starts = data, rows, starts  # CSC: column c is starts[c]:starts[c + 1]

    @classmethod
    def build(cls, ids: np.ndarray, tokens: Sequence[Sequence[str]]) -> LexicalIndex:
        """One document per id; a document may have no tokens (it is then never found)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(tokens):
            raise ValueError(f"{len(ids)} ids but {len(tokens)} token lists")
        docs = list(tokens)
        if not any(docs):  # bm25s needs one token somewhere
            return cls(ids, {}, np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(1, np.int64))
        import bm25s  # lazy: only building needs it, searching is numpy

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        bm25 = bm25s.BM25()
        bm25.index(docs, create_empty_token=False, show_progress=False)
        scores = bm25.scores
        return cls(ids, dict(bm25.vocab_dict), scores["data"], scores["indices"], scores["indptr"])

    @property
    def size(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    @property
    def fingerprint(self) -> tuple[int, int]:
        """(count, sum) of the chunk ids: chunk ids are never reused, so equal means same set."""
        return self.size, int(self._ids.sum())

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, chunk ids) of at most `k` chunks sharing a lexeme with the query, best first
        (ties: lower id first). Lexemes no chunk has are ignored."""
        columns = [self._vocab[t] for t in query_tokens if t in self._vocab]
        if not columns or k < 1:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores = np.zeros(self.size, np.float32)
        for c in columns:  # a repeated query lexeme counts again, as in bm25s
            span = slice(self._starts[c], self._starts[c + 1])
            scores[self._rows[span]] += self._data[span]  # a column holds each row once
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:  # keep every tie at the cut, then order them by id
            hits = hits[scores[hits] >= np.partition(scores[hits], len(hits) - k)[len(hits) - k]]
        hits = hits[np.lexsort((self._ids[hits], -scores[hits]))[:k]]
        return scores[hits], self._ids[hits]

    def confidence(self, query_tokens: Sequence[str], chunk_id: int) -> float:
        """How surely the chunk is what the query names, in [0, 1]: the inverse document
        frequencies of the query's lexemes the chunk holds, over what they would sum to were
        every query lexeme in this chunk alone. Two words only one note has score near 1 (a
        known-item query); a paraphrase sharing a few common words, or a query in the other
        language (its words are nowhere, so they count in full against), scores low."""
        if not query_tokens or not self.size:
            return 0.0
        hits = np.flatnonzero(self._ids == chunk_id)
        if not len(hits):
            return 0.0
        row, held = int(hits[0]), 0.0
        for token in query_tokens:
            column = self._vocab.get(token)
            if column is not None:
                rows = self._rows[self._starts[column] : self._starts[column + 1]]
                if np.any(rows == row):
                    held += self._idf(len(rows))
        return held / (len(query_tokens) * self._idf(1))

    def _idf(self, df: int) -> float:
        """Lucene's BM25 inverse document frequency of a lexeme in `df` of the chunks."""
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def save(self, path: Path) -> None:
        """Write to a temporary file beside `path`, then replace it: a reader never sees half."""
        vocab = sorted(self._vocab, key=self._vocab.__getitem__)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, version=np.int64(LEXICAL_VERSION), ids=self._ids, data=self._data, rows=self._rows,
                     starts=self._starts, vocab=np.frombuffer(json.dumps(vocab).encode("utf-8"), np.uint8))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex | None:
        """The saved index, or None when it is missing, unreadable or of another
        `LEXICAL_VERSION` (then rebuild)."""
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                if int(saved["version"]) != LEXICAL_VERSION:
                    log.info("rebuilding the lexical index: %s is of another version", path)
                    return None
                ids, data, rows, starts = (saved[k] for k in ("ids", "data", "rows", "starts"))
                vocab = json.loads(saved["vocab"].tobytes().decode("utf-8"))
            _check(ids, vocab, data, rows, starts)
        except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as e:
            log.warning("rebuilding the lexical index: %s is unreadable (%s)", path, e)
            return None
        return cls(ids.astype(np.int64), {t: c for c, t in enumerate(vocab)}, data, rows, starts)


def _check(ids: np.ndarray, vocab: list[str], data: np.ndarray, rows: np.ndarray, starts: np.ndarray) -> None:
    """Raise ValueError unless the arrays are one consistent index (a search would index out of range)."""
    consistent = (
        isinstance(vocab, list) and all(isinstance(t, str) for t in vocab)
        and ids.ndim == data.ndim == rows.ndim == starts.ndim == 1
        and data.dtype.kind == "f" and ids.dtype.kind == rows.dtype.kind == starts.dtype.kind == "i"
        and len(starts) == len(vocab) + 1 and len(data) == len(rows) == int(starts[-1]) and int(starts[0]) == 0
        and bool(np.all(np.diff(starts) >= 0)) and (not len(rows) or 0 <= int(rows.min()) <= int(rows.max()) < len(ids))
    )
    if not consistent:
        raise ValueError("inconsistent arrays")
