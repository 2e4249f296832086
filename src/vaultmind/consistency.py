"""Proof that the store equals a fresh full index of the same files (`vaultmind doctor --verify`).

The sync daemon updates the store path by path; after any sequence of changes the store must
hold exactly what a full index of the files on disk now would. `verify_store` builds that full
index in a temporary folder (the same settings, no scenes, no embedding), chunks it the way the
pipeline does, and compares the two stores table by table by content, never by row id: chunk
ids are never reused, so a fresh index numbers its chunks differently.

Compared with the fresh index: files, notes, the parse of every note (present for the current
parser version, and equal), links of each note in order with their resolved target, tags,
aliases, warnings (walk and note), and — when the store was ever chunked — chunks and chunked.
Checked within the store: every chunk has a vector of the model (when the store has any of its
vectors), no vector belongs to a text in no chunk (any model), and the faiss index file holds
exactly the embedded chunk ids, once each, with the stored vectors. Vector values are not
recomputed: a vector is keyed by (model id, hash of the embedded text), so a stored vector is
by construction that text's embedding. Scenes, feedback and meta are not compared: scenes are
derived on their own schedule (their fingerprint), feedback is the author's, not the files'.
A store embedded once and then indexed with `--no-embed` keeps the chunks and vectors of that
time, and verify reports them as stale: only an embedding run brings them up to date.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind import lexical, pipeline
from vaultmind.config import Config, state_dir_for
from vaultmind.embed import LEXICAL
from vaultmind.embed.channels import channel_names
from vaultmind.index import VectorIndex
from vaultmind.parse import PARSER_VERSION
from vaultmind.store import Store
from vaultmind.types import Difference, meaning_parts

log = logging.getLogger(__name__)

ABSENT = "absent"
VECTOR_TOLERANCE = 1e-5  # faiss keeps float32 as given; anything above this is another vector

# table → (its rows by content, no row ids; how many leading columns name a row: path or path#seq)
_KEYED: dict[str, tuple[str, int]] = {
    "files": ("SELECT path, kind, size, mtime_ns, hash FROM files", 1),
    "notes": ("SELECT path, hash, title, private, words FROM notes", 1),
    "links": ("SELECT source, seq, kind, target, heading, block, display, original, line, context, key, "
              "target_path FROM links", 2),
    "chunked": ("SELECT path, note_hash, chunk_chars, chunker FROM chunked", 1),
    "chunks": ("SELECT path, seq, kind, heading, text, line, hash, note_hash FROM chunks", 2),
}
# table → (path and rows of a note that have no key of their own; whether their order matters)
_LISTS: dict[str, tuple[str, bool]] = {
    "tags": ("SELECT path, name, line FROM tags ORDER BY path, rowid", True),
    "aliases": ("SELECT path, alias FROM aliases ORDER BY path, rowid", True),
    # walk and note warnings of one path are written at different times: their order is not content
    "warnings": ("SELECT path, stage, code, message, line FROM warnings", False),
}
_PARSES = ("SELECT n.path, n.hash, p.data FROM notes n "
           "LEFT JOIN parsed p ON p.hash = n.hash AND p.parser_version = ? ORDER BY n.path")


def verify_store(vault: Path, config: Config, model_id: str | None, *, wait: float = 60.0) -> list[Difference]:
    """Every difference between the store of `vault` and a fresh full index of its files now,
    all of them (callers shorten the list for display), in table order; [] when they agree.
    The vectors and faiss index of `model_id` are checked when the store has vectors of it.
    Holds the store's writer lock throughout (waiting up to `wait` seconds for a writer such
    as the daemon's batch to finish), so no writer changes it mid-check, and opens the store
    read-only."""
    started = time.perf_counter()
    vault = pipeline.check_vault(vault)
    live_dir = state_dir_for(vault, config)
    with Store.open_read_only(live_dir) as live, live.writer_lock(wait=wait, what="vaultmind doctor --verify"):
        with tempfile.TemporaryDirectory(prefix="vaultmind-verify-") as scratch:
            with Store.open(Path(scratch)) as fresh:
                fresh_index(fresh, vault, config, live_dir, chunk=_was_chunked(live))
                differences = compare_stores(fresh, live, model_id, live_dir,
                                             lexical=LEXICAL in channel_names(config.model))
    log.info("verified %s in %.2fs: %d differences", vault, time.perf_counter() - started, len(differences))
    return differences


def fresh_index(fresh: Store, vault: Path, config: Config, live_dir: Path, *, chunk: bool) -> None:
    """Index every file of `vault` into the empty store `fresh` with the settings of `config`
    but no scenes and no embedding, never walking the live state folder `live_dir` (it may sit
    inside the vault under a name without a dot); with `chunk`, cut the notes into chunks."""
    settings = config.with_overrides(state_dir=str(fresh.path.parent), scenes=False)
    with fresh.writer_lock():
        pipeline.reconcile(fresh, vault, settings, skip_dirs=(live_dir,))
        if chunk:
            pipeline._chunk_notes(fresh, settings, lambda stage, done, total: None)


def _was_chunked(store: Store) -> bool:
    """Whether the store was ever chunked (a store indexed only with `--no-embed` was not):
    only then is the fresh index chunked too."""
    return store.db.execute("SELECT 1 FROM chunked LIMIT 1").fetchone() is not None


def compare_stores(fresh: Store, live: Store, model_id: str | None, live_dir: Path | None, *,
                   lexical: bool = False) -> list[Difference]:
    """The differences of `live` from `fresh`, table by table, then `live`'s own vectors of
    each model of the meaning id `model_id`, their faiss index files in `live_dir`, and (with
    the `lexical` channel on) its lexemes."""
    differences: list[Difference] = []
    for table in ("files", "notes"):
        differences += keyed_differences(table, fresh, live)
    differences += parse_differences(fresh, live)
    differences += keyed_differences("links", fresh, live)
    for table in ("tags", "aliases", "warnings"):
        differences += list_differences(table, fresh, live)
    for table in ("chunked", "chunks"):
        differences += keyed_differences(table, fresh, live)
    for model in meaning_parts(model_id or ""):
        differences += missing_vectors(live, model)
        if live_dir is not None:
            differences += index_differences(live, model, pipeline.vector_index_path(live_dir, model))
    differences += unused_vectors(live)
    differences += lexeme_differences(live, complete=lexical)
    return differences


# ---------------------------------------------------------------- tables


def _keyed_rows(store: Store, table: str) -> tuple[list[str], dict[tuple[Any, ...], tuple[Any, ...]]]:
    """(names of the value columns, key → values) of a keyed table."""
    sql, width = _KEYED[table]
    cursor = store.db.execute(sql)
    names = [d[0] for d in cursor.description][width:]
    return names, {row[:width]: row[width:] for row in cursor}


def keyed_differences(table: str, fresh: Store, live: Store) -> list[Difference]:
    """Rows missing from the store, rows a fresh index would not have, and rows whose values
    differ (only the differing columns are shown)."""
    names, want = _keyed_rows(fresh, table)
    _names, have = _keyed_rows(live, table)
    found = []
    for key in sorted(want.keys() | have.keys()):
        expected, actual = want.get(key), have.get(key)
        if expected == actual:
            continue
        if expected is None or actual is None:
            shown = range(len(names))
        else:
            shown = [i for i, (a, b) in enumerate(zip(expected, actual)) if a != b]
        starts = _first_differences(expected, actual)
        found.append(Difference(table, "#".join(str(part) for part in key),
                                _describe(names, expected, shown, starts), _describe(names, actual, shown, starts)))
    return found


def _lists(store: Store, table: str) -> tuple[list[str], dict[str, list[tuple[Any, ...]]]]:
    cursor = store.db.execute(_LISTS[table][0])
    names = [d[0] for d in cursor.description][1:]
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for path, *values in cursor:
        rows.setdefault(path, []).append(tuple(values))
    return names, rows


def list_differences(table: str, fresh: Store, live: Store) -> list[Difference]:
    """Per note, the rows only a fresh index has (`expected`) and those only the store has
    (`found`); for tags and aliases the same rows in another order differ too."""
    ordered = _LISTS[table][1]
    names, want = _lists(fresh, table)
    _names, have = _lists(live, table)
    found = []
    for path in sorted(want.keys() | have.keys()):
        expected, actual = want.get(path, []), have.get(path, [])
        if (expected == actual) if ordered else (Counter(expected) == Counter(actual)):
            continue
        missing = list((Counter(expected) - Counter(actual)).elements())
        extra = list((Counter(actual) - Counter(expected)).elements())
        if not missing and not extra:
            found.append(Difference(table, path, "order " + _items(names, expected), "order " + _items(names, actual)))
        else:
            found.append(Difference(table, path, _items(names, missing), _items(names, extra)))
    return found


def parse_differences(fresh: Store, live: Store) -> list[Difference]:
    """Notes whose hash has no parse for the current parser version in the store, or a parse
    other than a fresh one of the same content (only the differing fields are shown)."""
    want = {path: (digest, data) for path, digest, data in fresh.db.execute(_PARSES, (PARSER_VERSION,))}
    found = []
    for path, digest, data in live.db.execute(_PARSES, (PARSER_VERSION,)):
        if data is None:
            found.append(Difference("parsed", path, f"a parse of {digest} by parser v{PARSER_VERSION}", ABSENT))
            continue
        fresh_digest, fresh_data = want.get(path, (None, None))
        if fresh_digest == digest and fresh_data is not None and fresh_data != data:
            expected, actual = json.loads(fresh_data), json.loads(data)
            names = sorted(expected.keys() | actual.keys())
            fresh_fields, live_fields = [expected.get(n) for n in names], [actual.get(n) for n in names]
            shown = [i for i, (a, b) in enumerate(zip(fresh_fields, live_fields)) if a != b]
            starts = _first_differences(fresh_fields, live_fields)
            found.append(Difference("parsed", path, _describe(names, fresh_fields, shown, starts),
                                    _describe(names, live_fields, shown, starts)))
    return found


# ---------------------------------------------------------------- vectors and the faiss index


def missing_vectors(live: Store, model_id: str) -> list[Difference]:
    """Chunks without a vector of `model_id`, when the store has any vectors of it."""
    found = []
    if live.db.execute("SELECT 1 FROM vectors WHERE model=? LIMIT 1", (model_id,)).fetchone():
        for path, seq, digest in live.db.execute(
            "SELECT c.path, c.seq, c.hash FROM chunks c LEFT JOIN vectors v ON v.model = ? AND v.hash = c.hash "
            "WHERE v.hash IS NULL ORDER BY c.path, c.seq", (model_id,)
        ):
            found.append(Difference("vectors", f"{path}#{seq}", f"a vector of {model_id} for {digest}", ABSENT))
    return found


def unused_vectors(live: Store) -> list[Difference]:
    """Vectors of any model whose text is in no chunk (the pipeline drops those)."""
    found = []
    for model, digest in live.db.execute(
        "SELECT model, hash FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks) ORDER BY model, hash"
    ):
        found.append(Difference("vectors", f"{model} {digest}", ABSENT, "a vector of a text in no chunk"))
    return found


def lexeme_differences(live: Store, *, complete: bool) -> list[Difference]:
    """With `complete` (the bm25 channel on), chunks without lexemes of the current tokenizer
    (when the store has any); always, lexemes of a text in no chunk or of another tokenizer
    version (the pipeline drops those)."""
    found = []
    version = lexical.LEXICAL_VERSION
    if complete and live.db.execute("SELECT 1 FROM lexemes WHERE version=? LIMIT 1", (version,)).fetchone():
        for path, seq, digest in live.db.execute(
            "SELECT c.path, c.seq, c.hash FROM chunks c LEFT JOIN lexemes x ON x.hash = c.hash AND x.version = ? "
            "WHERE x.hash IS NULL ORDER BY c.path, c.seq", (version,)
        ):
            found.append(Difference("lexemes", f"{path}#{seq}", f"lexemes of {digest}", ABSENT))
    for digest, at in live.db.execute(
        "SELECT hash, version FROM lexemes WHERE version != ? OR hash NOT IN (SELECT hash FROM chunks) ORDER BY hash",
        (version,),
    ):
        found.append(Difference("lexemes", digest, ABSENT, f"lexemes (v{at}) of a text in no chunk or an old tokenizer"))
    return found


def _embedded(live: Store, model_id: str) -> dict[int, np.ndarray]:
    """chunk id → its stored vector of `model_id`: what the faiss index must hold."""
    rows = live.db.execute(
        "SELECT c.id, v.vector FROM chunks c JOIN vectors v ON v.model = ? AND v.hash = c.hash", (model_id,))
    return {chunk_id: np.frombuffer(blob, dtype=np.float32) for chunk_id, blob in rows}


def index_differences(live: Store, model_id: str, path: Path) -> list[Difference]:
    """The faiss index file of `model_id` against the stored vectors: the file is there and
    readable, holds every embedded chunk id exactly once and no other id, with the stored
    vector (within `VECTOR_TOLERANCE`). Nothing to check when no chunk has a vector of it."""
    stored = _embedded(live, model_id)
    if not stored:
        return []
    if not path.exists():
        return [Difference("vector index", path.name, f"{len(stored)} vectors", ABSENT)]
    saved = VectorIndex.load(path)
    if saved is None:
        return [Difference("vector index", path.name, f"{len(stored)} vectors", "an unreadable file")]
    dim = len(next(iter(stored.values())))
    if saved.dim != dim:
        return [Difference("vector index", path.name, f"vectors of {dim} dimensions", f"{saved.dim} dimensions")]
    ids, matrix = saved.contents()
    names = {i: f"{p}#{s}" for i, p, s in live.db.execute("SELECT id, path, seq FROM chunks")}
    return (_id_differences(ids, stored, names)
            + _value_differences(ids, matrix, stored, names))


def _id_differences(ids: np.ndarray, stored: dict[int, np.ndarray], names: dict[int, str]) -> list[Difference]:
    """Embedded chunk ids missing from the index, ids in it twice or more, ids of no
    embedded chunk."""
    counts = Counter(int(i) for i in ids)
    found = []
    for chunk_id in sorted(stored.keys() | counts.keys()):
        key = names.get(chunk_id, f"chunk id {chunk_id}")
        times = counts.get(chunk_id, 0)
        if chunk_id not in stored:
            found.append(Difference("vector index", key, ABSENT, f"id {chunk_id} ({times}×), no stored vector"))
        elif times == 0:
            found.append(Difference("vector index", key, f"id {chunk_id}", ABSENT))
        elif times > 1:
            found.append(Difference("vector index", key, f"id {chunk_id} once", f"{times} times"))
    return found


def _value_differences(ids: np.ndarray, matrix: np.ndarray, stored: dict[int, np.ndarray],
                       names: dict[int, str]) -> list[Difference]:
    """Index entries whose vector is not the stored vector of their chunk."""
    rows = [row for row, chunk_id in enumerate(ids) if int(chunk_id) in stored]
    if not rows:
        return []
    expected = np.stack([stored[int(ids[row])] for row in rows])
    off = np.abs(matrix[rows] - expected).max(axis=1)
    return [
        Difference("vector index", names.get(int(ids[row]), f"chunk id {int(ids[row])}"),
                   "the stored vector", f"a vector off by up to {gap:.3g}")
        for row, gap in zip(rows, off.tolist()) if gap > VECTOR_TOLERANCE
    ]


# ---------------------------------------------------------------- short texts

_VALUE_CHARS = 48
_CONTEXT_CHARS = 12  # characters shown before the first difference in a long string
_TEXT_CHARS = 240


def _short(value: Any, start: int = 0) -> str:
    """A value as a short text; a long string is shown from a little before `start` (where it
    stops agreeing with the value it is compared with), so the difference is in view."""
    if not isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif len(value) + 2 > _VALUE_CHARS and start > _CONTEXT_CHARS:
        text = "…" + repr(value[start - _CONTEXT_CHARS :])
    else:
        text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _first_differences(a: Sequence[Any] | None, b: Sequence[Any] | None) -> list[int]:
    """Per column, where two string values stop agreeing (0 for other values)."""
    if a is None or b is None:
        return []
    return [next((i for i, (x, y) in enumerate(zip(u, v)) if x != y), min(len(u), len(v)))
            if isinstance(u, str) and isinstance(v, str) else 0 for u, v in zip(a, b)]


def _describe(names: Sequence[str], values: Sequence[Any] | None, shown: Iterable[int],
              starts: Sequence[int] = ()) -> str:
    """`name=value, …` of the `shown` columns, or "absent" when there is no row."""
    if values is None:
        return ABSENT
    text = ", ".join(f"{names[i]}={_short(values[i], starts[i] if starts else 0)}" for i in shown)
    return text if len(text) <= _TEXT_CHARS else text[: _TEXT_CHARS - 1] + "…"


def _items(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """Several rows of one note, `; `-separated, or "absent" when there are none."""
    if not rows:
        return ABSENT
    text = "; ".join(", ".join(f"{n}={_short(v)}" for n, v in zip(names, row)) for row in rows)
    return text if len(text) <= _TEXT_CHARS else text[: _TEXT_CHARS - 1] + f"… ({len(rows)} rows)"
