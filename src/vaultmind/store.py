"""The SQLite store: the one source of truth every stage reads from and writes back to.

- One file, `STATE_DIR/vaultmind.sqlite`, in WAL mode; every batch of writes is one
  transaction, so a killed run leaves a consistent store and the next run finishes the job.
- Parsed notes are cached by content hash (and parser version): an unchanged or renamed note
  is never parsed twice. Per-path tables (files, notes, links, tags, warnings) say where each
  hash lives now.
- The schema has a version; `migrate()` brings an older store up to date and refuses a
  newer one.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind.errors import StoreError
from vaultmind.types import (
    Callout,
    Chunk,
    Commentary,
    Footnote,
    Heading,
    Link,
    LockHolder,
    Note,
    NoteFile,
    Region,
    ResolvedLink,
    Scene,
    SceneEvent,
    SceneMap,
    Tag,
    Turn,
    Warning,
    meaning_parts,
    title_from_path,
)

log = logging.getLogger(__name__)

STORE_FILE = "vaultmind.sqlite"
SCHEMA_VERSION = 9

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE parsed (
        hash TEXT NOT NULL,
        parser_version INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (hash, parser_version)
    );
    CREATE TABLE notes (
        path TEXT PRIMARY KEY REFERENCES files(path) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        title TEXT NOT NULL,
        private INTEGER NOT NULL,
        words INTEGER NOT NULL
    );
    CREATE TABLE links (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        heading TEXT,
        block TEXT,
        display TEXT NOT NULL,
        original TEXT NOT NULL,
        line INTEGER NOT NULL,
        context TEXT NOT NULL,
        key TEXT,
        target_path TEXT
    );
    CREATE INDEX links_source ON links(source);
    CREATE INDEX links_target_path ON links(target_path);
    CREATE TABLE tags (
        path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
        name TEXT NOT NULL,
        line INTEGER NOT NULL
    );
    CREATE INDEX tags_path ON tags(path);
    CREATE TABLE aliases (
        path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
        alias TEXT NOT NULL
    );
    CREATE INDEX aliases_path ON aliases(path);
    CREATE TABLE warnings (
        path TEXT NOT NULL,
        stage TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        line INTEGER
    );
    CREATE INDEX warnings_path ON warnings(path);
    """,
    2: """
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
        note_hash TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        heading TEXT NOT NULL,
        text TEXT NOT NULL,
        line INTEGER NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (path, seq)
    );
    CREATE INDEX chunks_hash ON chunks(hash);
    CREATE TABLE vectors (
        model TEXT NOT NULL,
        hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model, hash)
    ) WITHOUT ROWID;
    CREATE TABLE chunked (
        path TEXT PRIMARY KEY REFERENCES files(path) ON DELETE CASCADE,
        note_hash TEXT NOT NULL,
        chunk_chars INTEGER NOT NULL
    );
    """,
    3: """
    CREATE TABLE scene_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created REAL NOT NULL,
        fingerprint TEXT NOT NULL,
        model TEXT NOT NULL,
        layout TEXT NOT NULL,
        hubs TEXT NOT NULL,
        details TEXT NOT NULL
    );
    CREATE TABLE scenes (
        level TEXT NOT NULL,
        id INTEGER NOT NULL,
        label TEXT NOT NULL,
        terms TEXT NOT NULL,
        summary TEXT NOT NULL,
        central TEXT NOT NULL,
        wanted TEXT NOT NULL,
        density REAL NOT NULL,
        cohesion REAL,
        parent INTEGER,
        size INTEGER NOT NULL,
        PRIMARY KEY (level, id)
    );
    CREATE TABLE scene_members (
        level TEXT NOT NULL,
        path TEXT NOT NULL,
        scene INTEGER,
        rank INTEGER NOT NULL,
        centrality REAL NOT NULL,
        PRIMARY KEY (level, path)
    );
    CREATE TABLE scene_positions (
        run INTEGER NOT NULL REFERENCES scene_runs(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        PRIMARY KEY (run, path)
    );
    CREATE TABLE scene_events (
        run INTEGER NOT NULL REFERENCES scene_runs(id) ON DELETE CASCADE,
        level TEXT NOT NULL,
        kind TEXT NOT NULL,
        scene INTEGER NOT NULL,
        others TEXT NOT NULL,
        overlap REAL NOT NULL
    );
    CREATE INDEX scene_events_scene ON scene_events(level, scene);
    """,
    4: """
    CREATE TABLE feedback (
        finding TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'dismissed')),
        at REAL NOT NULL,
        title TEXT NOT NULL,
        notes TEXT NOT NULL,
        finding_json TEXT NOT NULL
    );
    """,
    5: """
    ALTER TABLE links ADD COLUMN name TEXT;
    CREATE INDEX links_name ON links(name);
    """,
    6: """
    CREATE TABLE blind_spot_cache (
        fingerprint TEXT PRIMARY KEY,
        created REAL NOT NULL,
        findings TEXT NOT NULL
    );
    """,
    7: """
    CREATE INDEX notes_hash ON notes(hash);
    """,
    8: """
    ALTER TABLE chunked ADD COLUMN chunker INTEGER NOT NULL DEFAULT 1;
    """,
    9: """
    CREATE TABLE lexemes (
        hash TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        tokens TEXT NOT NULL
    );
    """,
}

_LINK_COLUMNS = "source, seq, kind, target, heading, block, display, original, line, context, key"


class Store:
    """An open store. Use `Store.open(state_dir)` as a context manager."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, state_dir: Path, *, create: bool = True) -> Store:
        path = state_dir / STORE_FILE
        if not create and not path.exists():
            raise FileNotFoundError(path)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the store at {path}: {e}") from e
        store = cls(db, path)
        store.migrate()
        return store

    @classmethod
    def open_read_only(cls, state_dir: Path) -> Store:
        """Open an existing store without changing it (no folder made, no migration, every
        write refused): for checking a store, not for using it."""
        path = state_dir / STORE_FILE
        if not path.exists():
            raise StoreError(f"there is no store at {path}")
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                 timeout=30, check_same_thread=False)
            db.execute("PRAGMA query_only=ON")
            store = cls(db, path)
            version = store.schema_version()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store at {path}: {e}") from e
        if version != SCHEMA_VERSION:
            db.close()
            raise StoreError(f"the store at {path} has schema version {version}, this vaultmind "
                             f"{SCHEMA_VERSION}; run `vaultmind index` with this version first")
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.path} has schema version {current}, newer than this "
                f"vaultmind ({SCHEMA_VERSION}); upgrade vaultmind or use another --state-dir"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            try:
                with self.transaction():
                    for statement in _statements(_MIGRATIONS[version]):
                        self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version={version}")
            except sqlite3.Error as e:
                raise StoreError(f"cannot migrate the store at {self.path} to v{version}: {e}") from e
            log.info("store migrated to schema v%d", version)

    @contextmanager
    def writer_lock(self, *, wait: float = 0.0, what: str = "vaultmind index") -> Iterator[None]:
        """One writer per store: a second `index`, the daemon's batch or a verification waits
        up to `wait` seconds for the first, then fails naming it, instead of interleaving
        writes. The lock dies with its process, so a killed writer leaves nothing to clean."""
        lock_path = self.path.with_suffix(".lock")
        with process_lock(lock_path, what, wait=wait) as holder:
            if holder is not None:
                raise StoreError(
                    f"another vaultmind process is writing to {self.path.parent} ({describe_holder(holder)}); "
                    "try again when it is done"
                )
            yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ files

    def file_states(self, paths: Iterable[str] | None = None,
                    under: Iterable[str] = ()) -> dict[str, tuple[str, int, int, str | None]]:
        """path → (kind, size, mtime_ns, hash) for every file the last run saw, or only for
        `paths` and the files inside the folders `under`."""
        sql = "SELECT path, kind, size, mtime_ns, hash FROM files"
        if paths is None and not under:
            rows = list(self.db.execute(sql))
        else:
            rows = [row for p in (paths or ()) for row in self.db.execute(sql + " WHERE path=?", (p,))]
            for folder in under:
                rows += self.db.execute(sql + " WHERE path > ? AND path < ?", _inside(folder))
        return {path: (kind, size, mtime, digest) for path, kind, size, mtime, digest in rows}

    def paths(self, kind: str | None = None) -> list[str]:
        if kind is None:
            return [r[0] for r in self.db.execute("SELECT path FROM files ORDER BY path")]
        return [r[0] for r in self.db.execute("SELECT path FROM files WHERE kind=? ORDER BY path", (kind,))]

    def put_files(self, files: Iterable[tuple[NoteFile, str | None]]) -> None:
        """Record files (with their content hash, if read) without touching their notes."""
        self.db.executemany(
            "INSERT INTO files(path, kind, size, mtime_ns, hash) VALUES (?,?,?,?,?) "
            "ON CONFLICT(path) DO UPDATE SET kind=excluded.kind, size=excluded.size, "
            "mtime_ns=excluded.mtime_ns, hash=excluded.hash",
            [(f.path, f.kind, f.size, f.mtime_ns, digest) for f, digest in files],
        )

    def remove_files(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        self.db.executemany("DELETE FROM files WHERE path=?", [(p,) for p in paths])
        self.db.executemany("DELETE FROM warnings WHERE path=?", [(p,) for p in paths])
        if paths:
            self._meaning_changed()  # their chunks went with them

    def _meaning_changed(self) -> None:
        """Count a change to chunks, vectors or lexemes (see `meaning_version`)."""
        self.db.execute("INSERT INTO meta(key, value) VALUES ('meaning_version', '1') "
                        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def meaning_version(self) -> int:
        """A counter of changes to chunks, vectors and lexemes: while it stands still, what a
        process built from them (a loaded faiss or BM25 index, note vectors) is still true,
        without counting rows again."""
        return int(self.get_meta("meaning_version") or 0)

    # ------------------------------------------------------------ parsed notes

    def cached_note(self, digest: str, parser_version: int, path: str) -> Note | None:
        row = self.db.execute(
            "SELECT data FROM parsed WHERE hash=? AND parser_version=?", (digest, parser_version)
        ).fetchone()
        return note_from_json(row[0], path) if row else None

    def put_note(self, file: NoteFile, digest: str, parser_version: int, note: Note, data: str | None = None) -> None:
        """Store one parsed note at its path (inside the caller's transaction)."""
        self.db.execute(
            "INSERT OR IGNORE INTO parsed(hash, parser_version, data) VALUES (?,?,?)",
            (digest, parser_version, data if data is not None else note_to_json(note)),
        )
        self.put_files([(file, digest)])
        path = file.path
        self.db.execute("DELETE FROM links WHERE source=?", (path,))
        self.db.execute("DELETE FROM tags WHERE path=?", (path,))
        self.db.execute("DELETE FROM aliases WHERE path=?", (path,))
        self.db.execute("DELETE FROM warnings WHERE path=? AND stage='note'", (path,))
        words = len(note.text.split())
        self.db.execute(
            "INSERT OR REPLACE INTO notes(path, hash, title, private, words) VALUES (?,?,?,?,?)",
            (path, digest, note.title, int(note.private), words),
        )
        self.db.executemany(
            f"INSERT INTO links({_LINK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (path, seq, l.kind, l.target, l.heading, l.block, l.display, l.original, l.line, l.context, l.key)
                for seq, l in enumerate(note.links)
            ],
        )
        self.db.executemany("INSERT INTO tags(path, name, line) VALUES (?,?,?)",
                            [(path, t.name, t.line) for t in note.tags])
        self.db.executemany("INSERT INTO aliases(path, alias) VALUES (?,?)", [(path, a) for a in note.aliases])
        self.db.executemany(
            "INSERT INTO warnings(path, stage, code, message, line) VALUES (?,?,?,?,?)",
            [(path, "note", w.code, w.message, w.line) for w in note.warnings],
        )

    def put_unread(self, file: NoteFile, warnings: Iterable[Warning]) -> None:
        """A note that could not be read this time: the file stays known and any earlier
        parse of it is kept (nothing is lost); no hash, so the next run tries again."""
        self.put_files([(file, None)])
        self.db.execute("DELETE FROM warnings WHERE path=? AND stage='note'", (file.path,))
        self.db.executemany(
            "INSERT INTO warnings(path, stage, code, message, line) VALUES (?,?,?,?,?)",
            [(file.path, "note", w.code, w.message, w.line) for w in warnings],
        )

    def parsed_hashes(self, parser_version: int, hashes: Iterable[str] | None = None) -> set[str]:
        """The content hashes (all, or among `hashes`) that have a parse by `parser_version`."""
        if hashes is None:
            return {h for (h,) in self.db.execute(
                "SELECT hash FROM parsed WHERE parser_version=?", (parser_version,))}
        wanted, found = list(hashes), set()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            found |= {h for (h,) in self.db.execute(
                f"SELECT hash FROM parsed WHERE parser_version=? AND hash IN ({','.join('?' * len(part))})",
                (parser_version, *part))}
        return found

    def note(self, path: str) -> Note | None:
        row = self.db.execute(
            "SELECT p.data FROM notes n JOIN parsed p ON p.hash=n.hash WHERE n.path=? "
            "ORDER BY p.parser_version DESC LIMIT 1",
            (path,),
        ).fetchone()
        return note_from_json(row[0], path) if row else None

    def note_rows(self) -> list[tuple[str, str, str, bool, int]]:
        """(path, hash, title, private, words) for every note."""
        return [
            (p, h, t, bool(pr), w)
            for p, h, t, pr, w in self.db.execute(
                "SELECT path, hash, title, private, words FROM notes ORDER BY path"
            )
        ]

    def aliases(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for path, alias in self.db.execute("SELECT path, alias FROM aliases ORDER BY path, rowid"):
            result.setdefault(path, []).append(alias)
        return result

    def drop_unused_parses(self, hashes: Iterable[str] | None = None) -> int:
        """Forget parses no note or file has any more: all of them, or only among `hashes`."""
        if hashes is None:
            return self.db.execute(
                "DELETE FROM parsed WHERE hash NOT IN (SELECT hash FROM notes) "
                "AND hash NOT IN (SELECT hash FROM files WHERE hash IS NOT NULL)").rowcount
        # one indexed look-up per hash (notes_hash, files_hash), not a scan of every note
        return sum(self.db.execute(
            "DELETE FROM parsed WHERE hash=? AND NOT EXISTS (SELECT 1 FROM notes WHERE hash=?) "
            "AND NOT EXISTS (SELECT 1 FROM files WHERE hash=?)", (h, h, h)).rowcount for h in set(hashes))

    # ------------------------------------------------------------ links

    def link_targets(self, sources: Iterable[str] | None = None) -> list[tuple[int, str, str]]:
        """(link id, source, target) to resolve: all links, or those of `sources`."""
        if sources is None:
            return list(self.db.execute("SELECT id, source, target FROM links"))
        rows: list[tuple[int, str, str]] = []
        for source in sources:
            rows.extend(self.db.execute("SELECT id, source, target FROM links WHERE source=?", (source,)))
        return rows

    def set_link_targets(self, resolved: Iterable[tuple[str | None, int]]) -> None:
        self.db.executemany("UPDATE links SET target_path=? WHERE id=?", resolved)

    def links(self, *, source: str | None = None, target_path: str | None = None) -> list[ResolvedLink]:
        sql = f"SELECT {_LINK_COLUMNS}, target_path FROM links"
        args: tuple[str, ...] = ()
        if source is not None:
            sql += " WHERE source=?"
            args = (source,)
        elif target_path is not None:
            sql += " WHERE target_path=?"
            args = (target_path,)
        sql += " ORDER BY source, seq"
        return [_resolved_link(row) for row in self.db.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "notes": one("SELECT count(*) FROM files WHERE kind='note'"),
            "canvases": one("SELECT count(*) FROM files WHERE kind='canvas'"),
            "attachments": one("SELECT count(*) FROM files WHERE kind='attachment'"),
            "links": one("SELECT count(*) FROM links"),
            "unresolved": one("SELECT count(*) FROM links WHERE target_path IS NULL"),
            "warnings": one("SELECT count(*) FROM warnings"),
        }

    # ------------------------------------------------------------ chunks and vectors

    def notes_to_chunk(self, chunk_chars: int, chunker: int) -> list[str]:
        """Notes whose chunks are missing or were cut from other content, to another size or
        by another version of the chunker."""
        return [r[0] for r in self.db.execute(
            "SELECT n.path FROM notes n LEFT JOIN chunked c ON c.path = n.path "
            "WHERE c.path IS NULL OR c.note_hash != n.hash OR c.chunk_chars != ? OR c.chunker != ? "
            "ORDER BY n.path",
            (chunk_chars, chunker),
        )]

    def put_chunks(self, path: str, note_hash: str, chunk_chars: int, chunker: int, chunks: Iterable[Chunk],
                   warnings: Iterable[Warning] = ()) -> None:
        """A note's chunks, replacing its old ones, and the warnings of chunking it."""
        self.db.execute("DELETE FROM chunks WHERE path=?", (path,))
        self._meaning_changed()
        self.db.executemany(
            "INSERT INTO chunks(path, note_hash, seq, kind, heading, text, line, hash) VALUES (?,?,?,?,?,?,?,?)",
            [(path, note_hash, c.seq, c.kind, c.heading, c.text, c.line, c.hash) for c in chunks],
        )
        self.db.execute(
            "INSERT OR REPLACE INTO chunked(path, note_hash, chunk_chars, chunker) VALUES (?,?,?,?)",
            (path, note_hash, chunk_chars, chunker),
        )
        self.db.execute("DELETE FROM warnings WHERE path=? AND stage='chunk'", (path,))
        self.db.executemany(
            "INSERT INTO warnings(path, stage, code, message, line) VALUES (?,?,?,?,?)",
            [(path, "chunk", w.code, w.message, w.line) for w in warnings],
        )

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def chunks_without_vectors(self, model: str, after_id: int = 0) -> list[tuple[str, str, str]]:
        """(hash, heading, text) of each distinct chunk text not yet embedded by `model`,
        among the chunks with an id above `after_id` (ids only grow: the chunks cut since)."""
        return list(self.db.execute(
            "SELECT c.hash, min(c.heading), min(c.text) FROM chunks c "
            "LEFT JOIN vectors v ON v.model = ? AND v.hash = c.hash "
            "WHERE c.id > ? AND v.hash IS NULL GROUP BY c.hash ORDER BY min(c.id)",
            (model, after_id),
        ))

    def last_chunk_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0])

    def chunk_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks ORDER BY id")]

    def embedded_chunk_ids_after(self, model: str, after_id: int) -> list[int]:
        """Ids above `after_id` of the chunks embedded by `model` (every part of a meaning id)."""
        join, params = _vector_join(model)
        return [r[0] for r in self.db.execute(f"SELECT c.id FROM chunks c {join} WHERE c.id > ? ORDER BY c.id",
                                              (*params, after_id))]

    def put_vectors(self, model: str, rows: Iterable[tuple[str, bytes]]) -> None:
        self._meaning_changed()
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors(model, hash, vector) VALUES (?,?,?)",
            [(model, digest, blob) for digest, blob in rows],
        )

    def drop_unused_vectors(self) -> int:
        """Forget vectors of texts no longer in any note (of every model)."""
        cursor = self.db.execute("DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks)")
        if cursor.rowcount:
            self._meaning_changed()
        return cursor.rowcount

    def vector_fingerprint(self, model: str) -> tuple[int, int]:
        """(count, sum of chunk ids) of the chunks embedded by `model` (by every part of a
        meaning id): cheap to compare with the cached vector index."""
        join, params = _vector_join(model)
        count, total = self.db.execute(f"SELECT count(*), coalesce(sum(c.id), 0) FROM chunks c {join}",
                                       params).fetchone()
        return int(count), int(total)

    def chunk_vectors(self, model: str, ids: Iterable[int] | None = None) -> list[tuple[int, str, bytes]]:
        """(chunk id, note path, vector bytes) for every chunk embedded by `model`, or for the
        chunks `ids` among them. For a meaning id of several models, a chunk's vector is the
        concatenation of its models' vectors divided by √n, and only chunks every model
        embedded are returned."""
        # CROSS JOIN keeps chunks the outer loop, so a list of ids is found by its primary key
        # instead of by a walk over every vector
        join, params = _vector_join(model)
        columns = ", ".join(f"v{i}.vector" for i in range(len(params)))
        sql = f"SELECT c.id, c.path, {columns} FROM chunks c {join}"
        if ids is None:
            return _fused_rows(self.db.execute(sql + " ORDER BY c.id", params), len(params))
        wanted = sorted(ids)
        rows: list[tuple[int, str, bytes]] = []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows += _fused_rows(self.db.execute(sql + f" WHERE c.id IN ({','.join('?' * len(part))}) ORDER BY c.id",
                                                (*params, *part)), len(params))
        return rows

    def embedded_chunk_ids(self, model: str) -> list[int]:
        """Ids of the chunks that have a vector of `model` (of every part of a meaning id):
        what its faiss index must hold."""
        join, params = _vector_join(model)
        return [r[0] for r in self.db.execute(f"SELECT c.id FROM chunks c {join} ORDER BY c.id", params)]

    # ------------------------------------------------------------ lexemes (the bm25 channel)

    def chunks_without_lexemes(self, version: int, after_id: int = 0) -> list[tuple[str, str, str]]:
        """(hash, heading, text) of each distinct chunk text not yet split into lexemes by
        this version of the tokenizer, among the chunks with an id above `after_id`."""
        return list(self.db.execute(
            "SELECT c.hash, min(c.heading), min(c.text) FROM chunks c "
            "LEFT JOIN lexemes x ON x.hash = c.hash AND x.version = ? "
            "WHERE c.id > ? AND x.hash IS NULL GROUP BY c.hash ORDER BY min(c.id)",
            (version, after_id),
        ))

    def put_lexemes(self, version: int, rows: Iterable[tuple[str, list[str]]]) -> None:
        self._meaning_changed()
        self.db.executemany("INSERT OR REPLACE INTO lexemes(hash, version, tokens) VALUES (?,?,?)",
                            [(digest, version, " ".join(tokens)) for digest, tokens in rows])

    def lexeme_fingerprint(self, version: int) -> tuple[int, int]:
        """(count, sum of chunk ids) of the chunks that have lexemes of `version`."""
        count, total = self.db.execute(
            "SELECT count(*), coalesce(sum(c.id), 0) FROM chunks c JOIN lexemes x ON x.hash = c.hash AND x.version = ?",
            (version,)).fetchone()
        return int(count), int(total)

    def chunk_lexemes(self, version: int) -> list[tuple[int, list[str]]]:
        """(chunk id, lexemes) of every chunk that has lexemes of `version`, by id."""
        return [(r[0], r[1].split()) for r in self.db.execute(
            "SELECT c.id, x.tokens FROM chunks c CROSS JOIN lexemes x ON x.hash = c.hash AND x.version = ? ORDER BY c.id",
            (version,))]

    def drop_unused_lexemes(self, version: int) -> int:
        """Forget lexemes of texts no longer in any note, and those of another tokenizer version."""
        cursor = self.db.execute("DELETE FROM lexemes WHERE version != ? OR hash NOT IN (SELECT hash FROM chunks)",
                                 (version,))
        if cursor.rowcount:
            self._meaning_changed()
        return cursor.rowcount

    def link_resolution(self, sources: Iterable[str] | None) -> list[tuple[int, str, str, str | None]]:
        """(link id, source, target, resolved path) of every link of `sources` (None: all)."""
        sql = "SELECT id, source, target, target_path FROM links"
        if sources is None:
            return list(self.db.execute(sql))
        return [row for source in sources for row in self.db.execute(sql + " WHERE source=?", (source,))]

    def fill_link_names(self, name_of: Callable[[str, str], str]) -> int:
        """Give every link its name (`name_of(target, source)`: the file name it can only
        resolve to), where it has none yet; the name is a cache, computed when first needed."""
        rows = list(self.db.execute("SELECT id, source, target FROM links WHERE name IS NULL"))
        self.db.executemany("UPDATE links SET name=? WHERE id=?",
                            [(name_of(target, source), link_id) for link_id, source, target in rows])
        return len(rows)

    def link_sources_by_name(self, names: set[str]) -> set[str]:
        """Notes with a link named one of `names` (see `fill_link_names`, called first): the
        links a file coming or going can resolve differently."""
        found: set[str] = set()
        wanted = sorted(names)
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            found.update(r[0] for r in self.db.execute(
                f"SELECT DISTINCT source FROM links WHERE name IN ({','.join('?' * len(part))})", part))
        return found

    def chunks(self, ids: Iterable[int] | None = None, path: str | None = None) -> list[tuple[int, Chunk]]:
        sql = "SELECT id, path, seq, kind, heading, text, line, hash FROM chunks"
        if path is not None:
            rows = self.db.execute(sql + " WHERE path=? ORDER BY seq", (path,))
        elif ids is not None:
            wanted = list(ids)
            rows = []
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows.extend(self.db.execute(sql + f" WHERE id IN ({','.join('?' * len(part))})", part))
        else:
            rows = self.db.execute(sql + " ORDER BY id")
        return [(row[0], Chunk(*row[1:])) for row in rows]

    def chunk_paths(self, ids: Iterable[int]) -> dict[int, str]:
        """chunk id → its note's path, for these ids."""
        wanted = list(ids)
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            found.update(self.db.execute(f"SELECT id, path FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return found

    def linked_pairs(self) -> set[tuple[str, str]]:
        """Every (source, target) pair of notes linked either way, both orders included."""
        pairs = set()
        for source, target in self.db.execute(
            "SELECT DISTINCT source, target_path FROM links WHERE target_path IS NOT NULL AND target_path != source"
        ):
            pairs.add((source, target))
            pairs.add((target, source))
        return pairs

    def link_rows(self) -> list[tuple[str, str | None, str]]:
        """(source, resolved target path or None, target as written) for every link occurrence."""
        return list(self.db.execute("SELECT source, target_path, target FROM links ORDER BY source, seq"))

    def wanted_links(self) -> list[tuple[str, str]]:
        """(source, target as written) for every link occurrence that resolves to no file."""
        return list(self.db.execute("SELECT source, target FROM links WHERE target_path IS NULL ORDER BY source, seq"))

    def note_rows_of(self, paths: Iterable[str]) -> list[tuple[str, str, str, bool, int]]:
        """(path, hash, title, private, words) of those `paths` that are notes."""
        rows = (self.db.execute("SELECT path, hash, title, private, words FROM notes WHERE path=?", (p,))
                for p in sorted(set(paths)))
        return [(p, h, t, bool(pr), w) for cursor in rows for p, h, t, pr, w in cursor]

    def tags_by_note(self) -> dict[str, list[str]]:
        tags: dict[str, list[str]] = {}
        for path, name in self.db.execute("SELECT path, name FROM tags ORDER BY path, rowid"):
            tags.setdefault(path, []).append(name)
        return tags

    def documents(self, paths: Iterable[str] | None = None, *, like: Iterable[str] = ()) -> dict[str, Note]:
        """Parsed notes by path: those in `paths`, or those whose stored JSON contains one of
        the `like` fragments (a cheap pre-filter; callers check the parsed note)."""
        sql = "SELECT n.path, p.data FROM notes n JOIN parsed p ON p.hash=n.hash"
        fragments = list(like)
        if fragments:
            sql += " WHERE " + " OR ".join("instr(p.data, ?) > 0" for _ in fragments)
        wanted = None if paths is None else set(paths)
        return {path: note_from_json(data, path) for path, data in self.db.execute(sql, fragments)
                if wanted is None or path in wanted}

    # ------------------------------------------------------------ blind-spot cache

    def cached_blind_spots(self, fingerprint: str) -> list[str] | None:
        """The findings (each as JSON) computed for `fingerprint`, or None."""
        row = self.db.execute("SELECT findings FROM blind_spot_cache WHERE fingerprint=?", (fingerprint,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_blind_spots(self, fingerprint: str, findings: list[str], at: float) -> None:
        """Keep one set of findings: these, for `fingerprint`."""
        self.db.execute("DELETE FROM blind_spot_cache")
        self.db.execute("INSERT INTO blind_spot_cache(fingerprint, created, findings) VALUES (?,?,?)",
                        (fingerprint, at, json.dumps(findings, ensure_ascii=False)))

    # ------------------------------------------------------------ feedback

    def put_feedback(self, finding: str, kind: str, verdict: str, title: str, notes: Iterable[str],
                     finding_json: str, at: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO feedback(finding, kind, verdict, at, title, notes, finding_json) "
            "VALUES (?,?,?,?,?,?,?)",
            (finding, kind, verdict, at, title, _j(notes), finding_json),
        )

    def feedback(self, verdict: str | None = None) -> list[tuple[str, str, str, float, str, list[str], str]]:
        """(finding id, kind, verdict, time, title, notes, the finding as JSON), oldest first."""
        sql, args = "SELECT finding, kind, verdict, at, title, notes, finding_json FROM feedback", []
        if verdict is not None:
            sql, args = sql + " WHERE verdict=?", [verdict]
        return [(f, k, v, at, t, json.loads(n), fj) for f, k, v, at, t, n, fj in self.db.execute(sql + " ORDER BY at", args)]

    # ------------------------------------------------------------ scenes

    def scene_fingerprint(self) -> str | None:
        row = self.db.execute("SELECT fingerprint FROM scene_runs ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def scene_members(self) -> dict[str, dict[int, frozenset[str]]]:
        """level → scene id → member paths, as of the last run (unplaced notes left out)."""
        members: dict[str, dict[int, set[str]]] = {}
        for level, scene, path in self.db.execute(
            "SELECT level, scene, path FROM scene_members WHERE scene IS NOT NULL"
        ):
            members.setdefault(level, {}).setdefault(scene, set()).add(path)
        return {level: {i: frozenset(m) for i, m in by_id.items()} for level, by_id in members.items()}

    def put_scene_run(self, run: SceneMap, fingerprint: str, centrality: dict[str, float],
                      details: dict[str, Any], next_ids: dict[str, int], keep_runs: int = 10) -> int:
        """Replace the current scenes with `run` (its `run` and event `run` fields are
        ignored: the new run's id is returned), keep its map and events, and the maps of the
        last `keep_runs` runs."""
        cursor = self.db.execute(
            "INSERT INTO scene_runs(created, fingerprint, model, layout, hubs, details) VALUES (?,?,?,?,?,?)",
            (run.created, fingerprint, run.model, run.layout, json.dumps(list(run.hubs), ensure_ascii=False),
             json.dumps(details, ensure_ascii=False)),
        )
        run_id = int(cursor.lastrowid or 0)
        self.db.execute("DELETE FROM scenes")
        self.db.execute("DELETE FROM scene_members")
        self.db.executemany(
            "INSERT INTO scenes(level, id, label, terms, summary, central, wanted, density, cohesion, parent, size) "
            "VALUES ('scene',?,?,?,?,?,?,?,?,?,?)",
            [(s.id, s.label, _j(s.terms), s.summary, _j(s.central), _j(s.wanted), s.density, s.cohesion,
              s.region, s.size) for s in run.scenes],
        )
        self.db.executemany(
            "INSERT INTO scenes(level, id, label, terms, summary, central, wanted, density, cohesion, parent, size) "
            "VALUES ('region',?,?,'[]','','[]','[]',0,NULL,NULL,?)",
            [(r.id, r.label, r.size) for r in run.regions],
        )
        self.db.executemany(
            "INSERT INTO scene_members(level, path, scene, rank, centrality) VALUES (?,?,?,?,?)",
            [("scene", p, s.id, rank, centrality.get(p, 0.0)) for s in run.scenes for rank, p in enumerate(s.notes)]
            + [("scene", p, None, 0, 0.0) for p in run.unplaced]
            + [("region", p, s.region, 0, 0.0) for s in run.scenes for p in s.notes if s.region is not None],
        )
        self.db.executemany(
            "INSERT INTO scene_positions(run, path, x, y) VALUES (?,?,?,?)",
            [(run_id, p, x, y) for p, (x, y) in run.positions.items()],
        )
        self.db.executemany(
            "INSERT INTO scene_events(run, level, kind, scene, others, overlap) VALUES (?,?,?,?,?,?)",
            [(run_id, e.level, e.kind, e.scene, _j(e.others), e.overlap) for e in run.events],
        )
        for level, next_id in next_ids.items():
            self.set_meta(f"next_{level}_id", str(next_id))
        self.db.execute("DELETE FROM scene_positions WHERE run <= ?", (run_id - keep_runs,))
        return run_id

    def vector_models(self) -> list[str]:
        """The models with stored vectors."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT model FROM vectors ORDER BY model")]

    def last_scene_run(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM scene_runs").fetchone()[0])

    def scene_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM scenes WHERE level='scene'").fetchone()[0])

    def next_scene_ids(self) -> dict[str, int]:
        return {level: int(self.get_meta(f"next_{level}_id") or 1) for level in ("scene", "region")}

    def scene_map(self) -> SceneMap | None:
        """The last scene run, or None when scenes were never found."""
        run = self.db.execute(
            "SELECT id, created, model, layout, hubs FROM scene_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if run is None:
            return None
        run_id, created, model, layout, hubs = run
        members: dict[int, list[str]] = {}
        unplaced = []
        for scene, path in self.db.execute(
            "SELECT scene, path FROM scene_members WHERE level='scene' ORDER BY scene, rank, path"
        ):
            if scene is None:
                unplaced.append(path)
            else:
                members.setdefault(scene, []).append(path)
        scenes = tuple(
            Scene(id=i, label=label, terms=tuple(json.loads(terms)), summary=summary, notes=tuple(members.get(i, ())),
                  central=tuple(json.loads(central)), wanted=tuple(json.loads(wanted)), density=density,
                  cohesion=cohesion, region=parent)
            for i, label, terms, summary, central, wanted, density, cohesion, parent in self.db.execute(
                "SELECT id, label, terms, summary, central, wanted, density, cohesion, parent FROM scenes "
                "WHERE level='scene' ORDER BY size DESC, id"
            )
        )
        regions = tuple(
            Region(id=i, label=label, scenes=tuple(s.id for s in scenes if s.region == i), size=size)
            for i, label, size in self.db.execute(
                "SELECT id, label, size FROM scenes WHERE level='region' ORDER BY size DESC, id"
            )
        )
        positions = {p: (x, y) for p, x, y in self.db.execute(
            "SELECT path, x, y FROM scene_positions WHERE run=?", (run_id,))}
        return SceneMap(run=run_id, created=created, model=model, scenes=scenes, regions=regions,
                        unplaced=tuple(unplaced), positions=positions, events=tuple(self.scene_events(run=run_id)),
                        layout=layout, hubs=tuple(json.loads(hubs)))

    def scene_centrality(self) -> dict[str, float]:
        return dict(self.db.execute("SELECT path, centrality FROM scene_members WHERE level='scene'"))

    def scene_events(self, *, run: int | None = None, scene: int | None = None) -> list[SceneEvent]:
        """Id events, oldest first: of one run, or of one scene id across runs."""
        sql, args = "SELECT run, level, kind, scene, others, overlap FROM scene_events", []
        if run is not None:
            sql, args = sql + " WHERE run=?", [run]
        elif scene is not None:
            sql, args = sql + " WHERE level='scene' AND (scene=? OR others LIKE ?)", [scene, f"%{scene}%"]
        rows = self.db.execute(sql + " ORDER BY run, rowid", args)
        events = [SceneEvent(r, level, kind, s, tuple(json.loads(others)), overlap)
                  for r, level, kind, s, others, overlap in rows]
        return [e for e in events if scene is None or e.scene == scene or scene in e.others]

    # ------------------------------------------------------------ warnings

    def replace_walk_warnings(self, warnings: Iterable[Warning], paths: Iterable[str] | None = None,
                              under: Iterable[str] = ()) -> None:
        """Replace the walk's warnings: all of them, or those of `paths` and of the folders
        `under` (and what is inside them)."""
        if paths is None and not under:
            self.db.execute("DELETE FROM warnings WHERE stage='walk'")
        for p in paths or ():
            self.db.execute("DELETE FROM warnings WHERE stage='walk' AND path=?", (p,))
        for folder in under:
            self.db.execute("DELETE FROM warnings WHERE stage='walk' AND (path=? OR (path > ? AND path < ?))",
                            (folder, *_inside(folder)))
        self.db.executemany(
            "INSERT INTO warnings(path, stage, code, message, line) VALUES (?,?,?,?,?)",
            [(w.path, "walk", w.code, w.message, w.line) for w in warnings],
        )

    def warnings(self, paths: Iterable[str] | None = None) -> list[Warning]:
        """Every warning, or those of `paths`, by path and line."""
        sql = "SELECT path, code, message, line FROM warnings"
        if paths is None:
            rows = list(self.db.execute(sql + " ORDER BY path, line, rowid"))
        else:
            rows = [row for p in sorted(set(paths))
                    for row in self.db.execute(sql + " WHERE path=? ORDER BY line, rowid", (p,))]
        return [Warning(path, code, message, line) for path, code, message, line in rows]


# ---------------------------------------------------------------- process locks

WATCH_LOCK = "watch.lock"  # held by `vaultmind watch` for as long as it runs


@contextmanager
def process_lock(path: Path, what: str, *, wait: float = 0.0) -> Iterator[LockHolder | None]:
    """Hold an exclusive `flock` on `path` and record who holds it (pid, since when, what);
    yields None once held, or the current holder when it stays busy for `wait` seconds (then
    nothing is held). The kernel drops the lock when its process dies, so a lock left by a
    killed process is simply taken over; its stale record is overwritten."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait, 0.0)
    with open(path, "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield read_holder(path) or LockHolder(0, 0.0, "unknown")
                    return
                time.sleep(0.05)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "since": time.time(), "what": what}))
            handle.flush()
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_holder(path: Path) -> LockHolder | None:
    """Who holds the lock at `path`, or None when nobody does (the record of a process that
    has died is ignored: the lock itself is the truth)."""
    import fcntl

    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: read who holds it
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
        try:
            data = json.loads(handle.read() or "{}")
            return LockHolder(int(data["pid"]), float(data["since"]), str(data["what"]))
        except (ValueError, KeyError, TypeError):
            return LockHolder(0, 0.0, "unknown")


def describe_holder(holder: LockHolder) -> str:
    if not holder.pid:
        return "a process that left no record"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.since))
    return f"`{holder.what}`, pid {holder.pid}, since {since}"


def _inside(folder: str) -> tuple[str, str]:
    """Bounds of the paths inside `folder` for an indexed range query: `folder/` < path <
    `folder0` ("0" follows "/")."""
    folder = folder.rstrip("/")
    return folder + "/", folder + "0"


def _j(values: Iterable[Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _vector_join(model: str) -> tuple[str, tuple[str, ...]]:
    """The joins from `chunks c` to the vectors of each model of a meaning id, as v0, v1, …"""
    parts = tuple(meaning_parts(model)) or (model,)
    join = " ".join(f"CROSS JOIN vectors v{i} ON v{i}.model = ? AND v{i}.hash = c.hash" for i in range(len(parts)))
    return join, parts


def _fused_rows(rows: Iterable[tuple[Any, ...]], models: int) -> list[tuple[int, str, bytes]]:
    """(id, path, vector) rows; several models' vectors are concatenated and divided by √n."""
    if models == 1:
        return list(rows)  # type: ignore[arg-type]
    scale = np.float32(1 / np.sqrt(models))
    return [(r[0], r[1], (np.concatenate([np.frombuffer(b, dtype=np.float32) for b in r[2:]]) * scale).tobytes())
            for r in rows]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _resolved_link(row: tuple[Any, ...]) -> ResolvedLink:
    source, _seq, kind, target, heading, block, display, original, line, context, key, target_path = row
    link = Link(kind, target, original, display, heading, block, line, context, key)
    return ResolvedLink(source, link, target_path)


# ---------------------------------------------------------------- note (de)serialisation

_NESTED = {
    "tags": Tag,
    "links": Link,
    "headings": Heading,
    "callouts": Callout,
    "footnotes": Footnote,
    "turns": Turn,
    "commentary": Commentary,
}


def note_to_json(note: Note) -> str:
    """A note as JSON, without its path: the same content at another path reuses it."""
    data = asdict(note)
    del data["path"], data["title"]
    for warning in data["warnings"]:
        del warning["path"]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def note_from_json(blob: str, path: str) -> Note:
    data = json.loads(blob)
    for name, cls in _NESTED.items():
        data[name] = tuple(cls(**item) for item in data[name])
    data["warnings"] = tuple(Warning(path=path, **w) for w in data["warnings"])
    data["aliases"] = tuple(data["aliases"])
    data["block_ids"] = tuple(data["block_ids"])
    data["comments"] = tuple(data["comments"])
    return Note(path=path, title=title_from_path(path), **data)
