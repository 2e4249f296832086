"""Runs the stages in order — walk, read, parse, store, resolve, then chunk, embed and the
vector index, then scenes — full or incremental, and reports progress. The only module that knows the
order of the stages.

Incremental rules: a file whose size and mtime are unchanged is skipped without reading; a
changed one is read and hashed, and only a new hash is parsed (a renamed or reverted note
reuses the parse cached under its hash); only notes whose content changed are chunked again,
and only chunk texts the model has never seen are embedded. Each batch is one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaultmind import files as vault_files
from vaultmind.config import Config, state_dir_for
from vaultmind.chips import ChipInput
from vaultmind import lexical
from vaultmind.embed import (CHUNKER_VERSION, DEFAULT_CHUNK_CHARS, Embedder, TokenCounter, chunk_note, dense_models,
                             embedding_text, lexical_channel, note_vectors)
from vaultmind.embed.vectors import note_means
from vaultmind.errors import DaemonRunning, VaultNotFound
from vaultmind.index import VectorIndex, sync_index
from vaultmind.lexical import LexicalIndex
from vaultmind.parse import PARSER_VERSION, failed_note, parse_file
from vaultmind.resolve import Resolver, link_name, path_names
from vaultmind.blindspots import VERSION as BLINDSPOTS_VERSION, BlindSpotInput, LinkRow, find_blind_spots, spot_from_json, spot_to_json
from vaultmind.scenes import CENTRAL, SCENES_VERSION, SceneInput, SceneRun, build_scenes
from vaultmind.scenes.incremental import NoteContent, SceneChange, SceneState, StateRun
from vaultmind.store import WATCH_LOCK, Store, describe_holder, note_to_json, read_holder
from vaultmind.graph import wanted_key, wanted_name
from vaultmind.markup import DATAVIEW_FIELD
from vaultmind.types import BlindSpot, Chunk, IndexSummary, Note, NoteFile, Region, Scene, SceneEvent, SceneMap, Warning

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# Below this many notes to parse, starting worker processes costs more than it saves.
_POOL_THRESHOLD = 64


@dataclass(frozen=True, slots=True)
class _ToParse:
    file: NoteFile
    digest: str
    text: str
    warnings: tuple[Warning, ...]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


_READER_WAIT = 30.0  # seconds a reader that must write (scenes, a cache) waits for a writer


def daemon_running(state_dir: Path) -> bool:
    """Whether `vaultmind watch` holds this store."""
    return read_holder(state_dir / WATCH_LOCK) is not None


def check_vault(vault: Path) -> Path:
    vault = vault.expanduser()
    if not vault.is_dir():
        raise VaultNotFound(str(vault))
    return vault.resolve()


def index_vault(vault: Path, config: Config, progress: Progress | None = None,
                embedder: Embedder | None = None, scene_model: str | None = None, *,
                wait: float = 0.0) -> IndexSummary:
    """Bring the store for `vault` up to date with the files on disk; with an `embedder`,
    also chunk and embed what changed and bring the vector index up to date. Then, unless
    `config.scenes` is off, find scenes again if anything they depend on changed, with the
    vectors of `scene_model` (default: the embedder's; none: links only). Stands aside
    (`DaemonRunning`) while `vaultmind watch` keeps this store up to date, and waits up to
    `wait` seconds for another writer."""
    vault = check_vault(vault)
    state_dir = state_dir_for(vault, config)
    daemon = read_holder(state_dir / WATCH_LOCK)
    if daemon is not None:
        raise DaemonRunning(str(state_dir), describe_holder(daemon))
    with Store.open(state_dir) as store, store.writer_lock(wait=wait):
        return reconcile(store, vault, config, progress, embedder, scene_model)


def changed_since_index(store: Store, vault: Path, config: Config) -> int:
    """How many files on disk are new, changed (size or mtime) or gone since the store last
    saw them: a stat-only walk, nothing is read."""
    rules = vault_files.ignore_rules(vault, (*config.ignore, config.report_note), skip_dirs=(store.path.parent,),
                                     follow_external=config.follow_external_symlinks)
    found = vault_files.walk_vault(vault, rules).files
    previous = store.file_states()
    now = {f.path for f in found}
    parsed = _current_parses(store)
    return sum(1 for f in found if _needs_read(f, previous.get(f.path), parsed)) + sum(1 for p in previous if p not in now)


def reconcile(store: Store, vault: Path, config: Config, progress: Progress | None = None,
              embedder: Embedder | None = None, scene_model: str | None = None, *,
              skip_dirs: tuple[Path, ...] = ()) -> IndexSummary:
    """`index_vault` on an open store whose writer lock the caller holds: scan every file,
    then bring the store up to date (the daemon runs this when it starts). The store's own
    folder is never walked, nor are `skip_dirs` (`verify` indexes into a scratch store and
    must skip the live one)."""
    report = progress or _no_progress
    started = time.perf_counter()
    phases: dict[str, float] = {}
    state_dir = store.path.parent
    tick = time.perf_counter()
    rules = vault_files.ignore_rules(vault, (*config.ignore, config.report_note), skip_dirs=(state_dir, *skip_dirs),
                                     follow_external=config.follow_external_symlinks)
    listing = vault_files.walk_vault(vault, rules)
    found = listing.files
    report("scan", len(found), len(found))
    previous = store.file_states()
    current = {f.path: f for f in found}
    removed = [p for p in previous if p not in current]
    phases["scan"] = time.perf_counter() - tick

    parsed = _current_parses(store)
    changed = [f for f in found if _needs_read(f, previous.get(f.path), parsed)]
    last_chunk = store.last_chunk_id()
    outcome = _update_files(store, vault, config, changed, previous, removed, listing.warnings, None, report, phases)

    tick = time.perf_counter()
    excluded_key = _excluded_key(listing.excluded)
    paths_changed = bool(
        removed or outcome.vanished or any(f.path not in previous for f in found)
        or store.get_meta("excluded") != excluded_key or store.get_meta("resolve_pending")
    )
    resolved = _resolve(store, [p for p in current if p not in outcome.vanished] + listing.excluded,
                        None if paths_changed else outcome.sources, report)
    with store.transaction():
        store.drop_unused_parses()
        store.set_meta("vault", str(vault))
        store.set_meta("excluded", excluded_key)
        store.set_meta("excluded_paths", json.dumps(listing.excluded, ensure_ascii=False))
        store.set_meta("indexed_at", str(time.time()))
        store.db.execute("DELETE FROM meta WHERE key='resolve_pending'")
    phases["resolve"] = time.perf_counter() - tick

    if embedder is not None:
        outcome.embedded = _meaning(store, state_dir, embedder, config, report, phases)
    _mark_changed(store, bool(outcome.sources or outcome.gone or paths_changed or outcome.embedded
                              or store.last_chunk_id() != last_chunk))
    if config.scenes:
        tick = time.perf_counter()
        update_scenes(store, config, scene_model or (embedder.model_id if embedder else ""), report)
        phases["scenes"] = time.perf_counter() - tick
    log.info("indexed %s in %.2fs (%d parsed, %d links resolved)", vault, time.perf_counter() - started,
             outcome.parsed, resolved)
    return _summary(store, config, started, phases, outcome, skipped=len(found) - len(changed),
                    removed=len(removed), embedder=embedder)


def _summary(store: Store, config: Config, started: float, phases: dict[str, float], outcome: _Outcome, *,
             skipped: int, removed: int, embedder: Embedder | None) -> IndexSummary:
    counts = store.counts()
    return IndexSummary(
        notes=counts["notes"],
        canvases=counts["canvases"],
        attachments=counts["attachments"],
        links=counts["links"],
        unresolved=counts["unresolved"],
        warnings=counts["warnings"],
        parsed=outcome.parsed,
        skipped=skipped,
        removed=removed + len(outcome.vanished),
        renamed=outcome.renamed,
        seconds=time.perf_counter() - started,
        state_dir=str(store.path.parent),
        phases=phases,
        chunks=store.chunk_count(),
        embedded=outcome.embedded,
        model=embedder.model_id if embedder is not None else "",
        scenes=store.scene_count() if config.scenes else 0,
    )


def _excluded_key(excluded: list[str]) -> str:
    return hashlib.blake2b("\n".join(excluded).encode(), digest_size=16).hexdigest()


def _update_files(store: Store, vault: Path, config: Config, changed: list[NoteFile],
                  previous: dict[str, tuple[str, int, int, str | None]], removed: list[str],
                  walk_warnings: list[Warning], warned: tuple[list[str], list[str]] | None,
                  report: Progress, phases: dict[str, float]) -> _Outcome:
    """Read, parse and store the changed files, delete the removed ones and record the walk's
    warnings (all of them, or with `warned` = (paths, folders) only those of that part of the
    vault). Links are stored unresolved and marked pending until they are resolved, so a
    process killed in between leaves a store the next run finishes."""
    tick = time.perf_counter()
    cached = _current_parses(store)
    outcome = _Outcome()
    jobs = _read_changed(vault, config, changed, previous, cached, outcome)
    outcome.sources = _parse_and_store(store, config, jobs, len(changed), outcome, report)
    phases["parse"] = time.perf_counter() - tick

    tick = time.perf_counter()
    outcome.vanished = {w.path for w in outcome.unreadable if w.code == "vanished"}
    gone = removed + sorted(outcome.vanished - set(removed))
    warnings = walk_warnings + [w for w in outcome.unreadable if w.path in outcome.vanished]
    outcome.sources += _store_the_rest(store, previous, outcome, gone, warnings, warned)
    outcome.gone = gone
    outcome.renamed = _count_renames(previous, removed, outcome)
    phases["update"] = time.perf_counter() - tick
    return outcome


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What `update_paths` did: the summary, the notes whose content changed, came or went,
    and the notes some of whose links now resolve elsewhere (both matter to scenes)."""

    summary: IndexSummary
    notes: frozenset[str]
    relinked: frozenset[str]


def update_paths(store: Store, vault: Path, config: Config, paths: Iterable[str], folders: Iterable[str] = (),
                 progress: Progress | None = None, embedder: Embedder | None = None,
                 vectors: VectorIndexes | None = None) -> tuple[BatchResult, VectorIndexes]:
    """Bring the store up to date for just these vault-relative `paths` (files that may have
    been created, changed or deleted) and `folders` (whose whole content may have changed):
    the daemon's batch. The caller holds the writer lock. Links are re-resolved only where
    the batch can change them: the changed notes' own links, and when files came or went the
    links whose name is one of theirs. With an `embedder`, changed notes are chunked and
    embedded and `vectors` (each model's faiss index, loaded or kept in memory) is updated by
    chunk id and saved; returns them. Scenes are left to the caller. The result equals a full
    `reconcile` of the same files (`vaultmind doctor --verify` checks it)."""
    report = progress or _no_progress
    started = time.perf_counter()
    phases: dict[str, float] = {}
    state_dir = store.path.parent
    tick = time.perf_counter()
    rules = vault_files.ignore_rules(vault, (*config.ignore, config.report_note), skip_dirs=(state_dir,),
                                     follow_external=config.follow_external_symlinks)
    paths, folders = _normalised(paths), _normalised(folders)
    found, now_excluded, walk_warnings = _look_at(vault, rules, paths, folders)
    previous = store.file_states(paths, folders)
    removed = sorted(p for p in previous if p not in found)
    excluded_before = set(json.loads(store.get_meta("excluded_paths") or "[]"))
    interrupted = store.get_meta("resolve_pending") is not None  # a killed run left links unresolved
    in_batch = lambda p: p in paths or any(p.startswith(f + "/") for f in folders)  # noqa: E731
    excluded = sorted({p for p in excluded_before if not in_batch(p)} | now_excluded)
    phases["scan"] = time.perf_counter() - tick

    parsed = _current_parses(store, [p[3] for p in previous.values() if p[3]])
    changed = [f for f in found.values() if _needs_read(f, previous.get(f.path), parsed)]
    last_chunk = store.last_chunk_id()
    outcome = _update_files(store, vault, config, changed, previous, removed, walk_warnings,
                            (sorted(paths), sorted(folders)), report, phases)

    tick = time.perf_counter()
    came = {p for p in found if p not in previous} | (set(excluded) - excluded_before)
    went = set(outcome.gone) | (excluded_before - set(excluded))
    sources: set[str] | None = set(outcome.sources)
    if interrupted:
        sources = None
    elif came or went:
        with store.transaction():
            store.fill_link_names(link_name)
        sources |= store.link_sources_by_name({name for p in came | went for name in path_names(p)})
    relinked = _resolve_changed(store, [*store.paths(), *excluded], None if sources is None else sorted(sources))
    with store.transaction():
        store.drop_unused_parses(digest for _kind, _size, _mtime, digest in previous.values() if digest)
        store.set_meta("excluded", _excluded_key(excluded))
        store.set_meta("excluded_paths", json.dumps(excluded, ensure_ascii=False))
        store.set_meta("indexed_at", str(time.time()))
        store.db.execute("DELETE FROM meta WHERE key='resolve_pending'")
    phases["resolve"] = time.perf_counter() - tick

    if embedder is not None:
        outcome.embedded, vectors = _batch_meaning(store, embedder, config, vectors, report, phases)
    vectors = vectors or {}
    _mark_changed(store, bool(outcome.sources or outcome.gone or came or went or relinked or outcome.embedded
                              or store.last_chunk_id() != last_chunk))
    result = BatchResult(
        _summary(store, config, started, phases, outcome,
                 skipped=len(found) - len(changed), removed=len(removed), embedder=embedder),
        frozenset(outcome.sources) | frozenset(outcome.gone),
        frozenset(relinked),
    )
    return result, vectors


def _mark_changed(store: Store, changed: bool) -> None:
    """Record when the store's content last changed (`changed_at`; `indexed_at` is when it was
    last checked): what is derived from the whole store, like the blind-spot cache, follows it."""
    if changed or store.get_meta("changed_at") is None:
        with store.transaction():
            store.set_meta("changed_at", str(time.time()))


def _normalised(paths: Iterable[str]) -> set[str]:
    return {p.replace(os.sep, "/").strip("/") for p in paths if p and p.strip("/")}


def _look_at(vault: Path, rules: vault_files.IgnoreRules, paths: set[str],
             folders: set[str]) -> tuple[dict[str, NoteFile], set[str], list[Warning]]:
    """The files now at `paths` and inside `folders` (a path that turns out to be a folder
    is walked too), the excluded files among them, and the walk's warnings there."""
    found: dict[str, NoteFile] = {}
    excluded: set[str] = set()
    warnings: list[Warning] = []
    for path in sorted(paths):
        what, file = vault_files.stat_path(vault, path, rules)
        if what == "file" and file is not None:
            found[path] = file
        elif what == "excluded":
            excluded.add(path)
        elif what == "folder":
            folders.add(path)
        elif what == "outside" and not (vault / path).is_dir():
            warnings.append(vault_files.outside_warning(vault, path))  # a folder link gets it from its walk below
        else:
            folders.add(path)  # a folder that is gone takes what the store had inside it along
    for folder in sorted(folders):
        if not (vault / folder).is_dir():
            continue
        listing = vault_files.walk_vault(vault, rules, start=folder)
        found.update((f.path, f) for f in listing.files)
        excluded.update(listing.excluded)
        warnings += listing.warnings
    return found, excluded, warnings


def _resolve_changed(store: Store, paths: list[str], sources: list[str] | None) -> set[str]:
    """Resolve the links of `sources` (None: all); returns the sources some of whose links
    now point elsewhere."""
    resolver = Resolver(paths)
    rows = store.link_resolution(sources)
    resolved = [(resolver.resolve(target, source), link_id, source, before) for link_id, source, target, before in rows]
    with store.transaction():
        store.set_link_targets([(target, link_id) for target, link_id, _s, _b in resolved])
    return {source for target, _i, source, before in resolved if target != before}


VectorIndexes = dict[str, VectorIndex]  # each dense model's faiss index, by model id


def _batch_meaning(store: Store, embedder: Embedder, config: Config, vectors: VectorIndexes | None,
                   report: Progress, phases: dict[str, float]) -> tuple[int, VectorIndexes]:
    """Chunk and embed what the batch changed, split the new chunk texts into lexemes, then
    bring each vector index to the stored chunk ids: remove the ids of replaced chunks, add
    the new ones, save. The lexical index is rebuilt from stored lexemes when next searched."""
    tick = time.perf_counter()
    before = store.last_chunk_id()
    _chunk_notes(store, config, report)
    phases["chunk"] = time.perf_counter() - tick
    tick = time.perf_counter()
    # only chunks cut now can lack a vector: a store the daemon keeps is embedded up to here
    embedded = _embed_chunks(store, embedder, config, report, after_id=before)
    phases["embed"] = time.perf_counter() - tick
    tick = time.perf_counter()
    if lexical_channel(embedder):
        _lexemes_of_chunks(store, config, report, after_id=before)
    with store.transaction():
        store.drop_unused_vectors()
        store.drop_unused_lexemes(lexical.LEXICAL_VERSION)
    vectors = sync_vector_indexes(store, store.path.parent, embedder, config, vectors)
    phases["vector index"] = time.perf_counter() - tick
    return embedded, vectors


def sync_vector_indexes(store: Store, state_dir: Path, embedder: Embedder, config: Config,
                        indexes: VectorIndexes | None) -> VectorIndexes:
    """`sync_vector_index` for each dense model of `embedder`."""
    kept = indexes or {}
    synced: VectorIndexes = {}
    for model in dense_models(embedder):
        index = sync_vector_index(store, state_dir, model.model_id, config, kept.get(model.model_id))
        if index is not None:
            synced[model.model_id] = index
    return synced


def sync_vector_index(store: Store, state_dir: Path, model_id: str, config: Config,
                      index: VectorIndex | None) -> VectorIndex | None:
    """Bring `index` (or the saved one) to exactly the chunk ids embedded by `model_id`,
    reading only the vectors it lacks, and save it when it changed. An index of the wrong
    kind or dimension, or one that cannot remove ids, is rebuilt from the store."""
    path = vector_index_path(state_dir, model_id)
    kept = index is not None  # in memory since the last batch: it holds every embedded chunk up to its top id
    if index is None:
        index = VectorIndex.load(path)
    if index is None:
        return refresh_vector_index(store, state_dir, model_id, config, rebuild=True)
    have = index.ids()
    if kept:  # chunk ids only grow: what is new lies above the top id, what is stale no longer exists
        top = int(have.max()) if len(have) else 0
        fresh = np.asarray(store.embedded_chunk_ids_after(model_id, top), dtype=np.int64)
        stale = np.setdiff1d(have, np.asarray(store.chunk_ids(), dtype=np.int64))
    else:
        wanted = np.asarray(store.embedded_chunk_ids(model_id), dtype=np.int64)
        stale, fresh = np.setdiff1d(have, wanted), np.setdiff1d(wanted, have)
    if index.kind != ("hnsw" if len(have) - len(stale) + len(fresh) > config.hnsw_threshold else "flat"):
        return refresh_vector_index(store, state_dir, model_id, config, rebuild=True)
    if not len(stale) and not len(fresh):
        return index
    rows = store.chunk_vectors(model_id, fresh.tolist())
    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    if (len(rows) and matrix.shape[1] != index.dim) or not index.remove(stale):
        return refresh_vector_index(store, state_dir, model_id, config, rebuild=True)
    index.add(np.asarray([r[0] for r in rows], dtype=np.int64), matrix)
    if index.size:
        index.save(path)
    else:
        path.unlink(missing_ok=True)
        return None
    return index


def _store_the_rest(
    store: Store,
    previous: dict[str, tuple[str, int, int, str | None]],
    outcome: _Outcome,
    gone: list[str],
    walk_warnings: list[Warning],
    warned: tuple[list[str], list[str]] | None = None,
) -> list[str]:
    """One transaction for what needed no parsing: touched files, reused parses, unreadable
    notes, attachments, deleted files, walk warnings. Returns the notes given a reused parse."""
    reused = []
    with store.transaction():
        if outcome.reused or gone:
            store.set_meta("resolve_pending", "1")
        store.put_files([(f, previous.get(f.path, (None,) * 4)[3]) for f in outcome.touched])
        for file, digest in outcome.reused:
            note = store.cached_note(digest, PARSER_VERSION, file.path)
            if note is not None:
                store.put_note(file, digest, PARSER_VERSION, note)
                reused.append(file.path)
        for file, warnings in outcome.failed:
            store.put_unread(file, warnings)
        store.put_files([(f, None) for f in outcome.attachments])
        store.remove_files(gone)
        if warned is None:
            store.replace_walk_warnings(walk_warnings)
        else:
            store.replace_walk_warnings(walk_warnings, paths=[*warned[0], *gone], under=warned[1])
    return reused


def _meaning(store: Store, state_dir: Path, embedder: Embedder, config: Config, report: Progress,
             phases: dict[str, float]) -> int:
    """Chunk changed notes, embed new chunk texts, refresh the vector index; returns how many
    chunk texts were embedded."""
    tick = time.perf_counter()
    _chunk_notes(store, config, report)
    phases["chunk"] = time.perf_counter() - tick
    tick = time.perf_counter()
    embedded = _embed_chunks(store, embedder, config, report)
    phases["embed"] = time.perf_counter() - tick
    tick = time.perf_counter()
    if lexical_channel(embedder):
        _lexemes_of_chunks(store, config, report)
    with store.transaction():
        store.drop_unused_vectors()
        store.drop_unused_lexemes(lexical.LEXICAL_VERSION)
    for model in dense_models(embedder):
        refresh_vector_index(store, state_dir, model.model_id, config)
    if lexical_channel(embedder):
        refresh_lexical_index(store, state_dir)
    phases["vector index"] = time.perf_counter() - tick
    return embedded


class _Outcome:
    """What reading the changed files found, besides the notes to parse."""

    def __init__(self) -> None:
        self.touched: list[NoteFile] = []  # same content, new mtime
        self.reused: list[tuple[NoteFile, str]] = []  # content already parsed under its hash
        self.failed: list[tuple[NoteFile, tuple[Warning, ...]]] = []
        self.unreadable: list[Warning] = []
        self.attachments: list[NoteFile] = []
        self.new_hashes: dict[str, str] = {}
        self.parsed = 0
        self.sources: list[str] = []  # notes parsed or given a reused parse: their links need resolving
        self.vanished: set[str] = set()  # gone between the walk and the read
        self.gone: list[str] = []  # files deleted from the store
        self.renamed = 0
        self.embedded = 0


def _current_parses(store: Store, hashes: list[str] | None = None) -> set[str]:
    """The content hashes (all, or among `hashes`) that have a parse by this parser version."""
    return store.parsed_hashes(PARSER_VERSION, hashes)


def _needs_read(file: NoteFile, before: tuple[str, int, int, str | None] | None, parsed: set[str]) -> bool:
    """Whether a file must be read again: it is new or changed, it failed to read, or its
    content has no parse by this parser version (`parsed`: the hashes that have one)."""
    if before is None:
        return True
    kind, size, mtime_ns, digest = before
    if kind != file.kind or size != file.size or mtime_ns != file.mtime_ns:
        return True
    return file.kind != "attachment" and (digest is None or digest not in parsed)


def _read_changed(
    vault: Path,
    config: Config,
    changed: list[NoteFile],
    previous: dict[str, tuple[str, int, int, str | None]],
    cached: set[str],
    outcome: _Outcome,
) -> Iterator[_ToParse]:
    """Read each changed file; yield only those whose content has never been parsed."""
    for file in changed:
        if file.kind == "attachment":
            outcome.attachments.append(file)
            continue
        result = _read_one(vault, file.path, config)
        if result.text is None or result.hash is None:
            outcome.unreadable.extend(result.warnings)
            outcome.failed.append((file, result.warnings))
            continue
        outcome.new_hashes[file.path] = result.hash
        before = previous.get(file.path)
        if before is not None and before[3] == result.hash and before[0] == file.kind and result.hash in cached:
            outcome.touched.append(file)
        elif result.hash in cached:
            outcome.reused.append((file, result.hash))
        else:
            cached.add(result.hash)  # the same content twice in one run is parsed once
            yield _ToParse(file, result.hash, result.text, result.warnings)


def _read_one(vault: Path, path: str, config: Config) -> vault_files.ReadResult:
    try:
        return vault_files.read_text(vault, path, config.max_note_bytes, follow_external=config.follow_external_symlinks)
    except Exception as e:  # noqa: BLE001  (one file's failure is its warning, not the run's)
        log.warning("could not read %s", path, exc_info=True)
        reason = f"{type(e).__name__}: {e}"[:300]
        return vault_files.ReadResult(None, None, (Warning(path, "read_failed", f"read failed ({reason})"),))


def _parse_one(job: _ToParse) -> tuple[_ToParse, Note, str]:
    note = parse_file(job.file.path, job.text, job.file.kind == "canvas", job.warnings)
    try:
        data = note_to_json(note)
    except Exception as e:  # noqa: BLE001  (one note's failure is its warning, not the run's)
        log.warning("could not store the parse of %s", job.file.path, exc_info=True)
        note = failed_note(job.file.path, job.text, job.warnings, "parse", e)
        data = note_to_json(note)
    return job, note, data


def _parse_and_store(
    store: Store,
    config: Config,
    jobs: Iterator[_ToParse],
    total: int,
    outcome: _Outcome,
    report: Progress,
) -> list[str]:
    workers = config.workers or os.cpu_count() or 1
    sources: list[str] = []
    batch: list[tuple[_ToParse, Note, str]] = []
    done = 0

    def flush() -> None:
        with store.transaction():
            store.set_meta("resolve_pending", "1")
            for job, note, data in batch:
                store.put_note(job.file, job.digest, PARSER_VERSION, note, data)
        batch.clear()

    pool = None
    if workers > 1 and total >= _POOL_THRESHOLD:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers, _die_with_parent, (os.getpid(),))
    try:
        results = pool.imap(_parse_one, jobs, chunksize=8) if pool else map(_parse_one, jobs)
        for item in results:
            batch.append(item)
            sources.append(item[0].file.path)
            outcome.parsed += 1
            done += 1
            if len(batch) >= config.batch_size:
                flush()
                report("parse", done, total)
            elif done % 50 == 0:
                report("parse", done, total)
        if batch:
            flush()
    except BaseException:
        if pool is not None:
            pool.terminate()  # stopping: do not wait for the parses still queued
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    report("parse", total, total)
    return sources


def _die_with_parent(parent: int) -> None:
    """Run in each parse worker: a worker forked from a process that is later killed (`kill
    -9` of the daemon) would otherwise live on, waiting for work forever and holding the
    parent's lock files open, so the store would look locked. On Linux the kernel kills
    the worker with its parent; elsewhere the worker still exits if the parent is gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


def _resolve(store: Store, paths: list[str], sources: list[str] | None, report: Progress) -> int:
    """Resolve links: all of them when files came or went, else those of changed notes."""
    resolver = Resolver(paths)
    rows = store.link_targets(sources)
    resolved = [(_resolve_one(resolver, target, source), link_id) for link_id, source, target in rows]
    with store.transaction():
        store.set_link_targets(resolved)
    report("resolve", len(rows), len(rows))
    return len(rows)


def _resolve_one(resolver: Resolver, target: str, source: str) -> str | None:
    try:
        return resolver.resolve(target, source)
    except Exception:  # noqa: BLE001  (a link that cannot be resolved stays unresolved)
        log.warning("could not resolve the link %r in %s", target[:200], source, exc_info=True)
        return None


def _chunk_notes(store: Store, config: Config, report: Progress) -> int:
    """Cut every new or changed note into chunks (one transaction per batch)."""
    paths = store.notes_to_chunk(config.chunk_chars, CHUNKER_VERSION)
    hashes = {path: digest for path, digest, *_ in store.note_rows()}
    for start in range(0, len(paths), config.batch_size):
        with store.transaction():
            for path in paths[start : start + config.batch_size]:
                chunks, warnings = _chunk_one(store.note(path), config.chunk_chars)
                store.put_chunks(path, hashes[path], config.chunk_chars, CHUNKER_VERSION, chunks, warnings)
        report("chunk", min(start + config.batch_size, len(paths)), len(paths))
    return len(paths)


def _chunk_one(note: Note | None, max_chars: int = DEFAULT_CHUNK_CHARS) -> tuple[list[Chunk], list[Warning]]:
    """A note's chunks; if chunking fails, none and a warning (the note stays indexed)."""
    if note is None:
        return [], []
    try:
        return chunk_note(note, max_chars), []
    except Exception as e:  # noqa: BLE001  (one note's failure is its warning, not the run's)
        log.warning("could not chunk %s", note.path, exc_info=True)
        reason = f"{type(e).__name__}: {e}"[:300]
        return [], [Warning(note.path, "chunk_failed", f"chunk failed ({reason}); not in semantic search")]


def _cut_prose(note: Note | None) -> str:
    """A note's prose cut now (a note stored without chunks); "" if it cannot be cut."""
    return "\n\n".join(c.text for c in _chunk_one(note)[0])


def _embed_chunks(store: Store, embedder: Embedder, config: Config, report: Progress, after_id: int = 0) -> int:
    """Embed each chunk text a dense model has not seen (among chunks with ids above
    `after_id`), model by model; every batch is stored as it is done, so an interrupted run
    keeps its work. Returns how many texts were embedded, counting each model's."""
    work = [(model, store.chunks_without_vectors(model.model_id, after_id)) for model in dense_models(embedder)]
    total, done = sum(len(todo) for _model, todo in work), 0
    report("embed", 0, total)
    for model, todo in work:
        # longest first: texts of one batch have similar lengths, so little padding is computed
        todo.sort(key=lambda row: len(row[1]) + len(row[2]), reverse=True)
        for start in range(0, len(todo), config.embed_batch):
            batch = todo[start : start + config.embed_batch]
            vectors = model.embed_passages([embedding_text(heading, text) for _, heading, text in batch])
            with store.transaction():
                store.put_vectors(model.model_id, [(digest, vector.astype(np.float32).tobytes())
                                                   for (digest, _h, _t), vector in zip(batch, vectors)])
            done += len(batch)
            report("embed", done, total)
    return total


def _lexemes_of_chunks(store: Store, config: Config, report: Progress, after_id: int = 0) -> int:
    """Split each chunk text the lexical channel has not seen into lexemes and store them."""
    todo = store.chunks_without_lexemes(lexical.LEXICAL_VERSION, after_id)
    report("lexemes", 0, len(todo))
    for start in range(0, len(todo), config.batch_size):
        batch = todo[start : start + config.batch_size]
        with store.transaction():
            store.put_lexemes(lexical.LEXICAL_VERSION, [(digest, lexical.lexemes(embedding_text(heading, text)))
                                                        for digest, heading, text in batch])
        report("lexemes", start + len(batch), len(todo))
    return len(todo)


def lexical_index_path(state_dir: Path) -> Path:
    return state_dir / f"chunks-bm25-v{lexical.LEXICAL_VERSION}.npz"


def refresh_lexical_index(store: Store, state_dir: Path) -> LexicalIndex | None:
    """The saved BM25 index when it holds exactly the chunks that have lexemes, else one
    rebuilt from the stored lexemes (no text is split again) and saved. None when no chunk
    has lexemes."""
    path = lexical_index_path(state_dir)
    count, id_sum = store.lexeme_fingerprint(lexical.LEXICAL_VERSION)
    saved = LexicalIndex.load(path)
    if saved is not None and count and saved.fingerprint == (count, id_sum):
        return saved  # chunk ids are never reused: the same count and id sum is the same set
    rows = store.chunk_lexemes(lexical.LEXICAL_VERSION)
    if not rows:
        path.unlink(missing_ok=True)
        return None
    index = LexicalIndex.build(np.asarray([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows])
    index.save(path)
    return index


def vector_index_path(state_dir: Path, model_id: str) -> Path:
    slug = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in model_id)
    return state_dir / f"chunks-{slug}.faiss"


def stored_vectors(store: Store, model_id: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(chunk ids, their note paths, their vectors) for `model_id`."""
    rows = store.chunk_vectors(model_id)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    paths = [r[1] for r in rows]
    if not rows:
        return ids, paths, np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    return ids, paths, matrix


def refresh_vector_index(store: Store, state_dir: Path, model_id: str, config: Config, *,
                         rebuild: bool = False) -> VectorIndex | None:
    """Load the saved faiss index and bring it up to date with the stored vectors (or, with
    `rebuild`, build it anew); save it when it changed. None when nothing is embedded for
    this model."""
    path = vector_index_path(state_dir, model_id)
    saved = None if rebuild else VectorIndex.load(path)
    count, id_sum = store.vector_fingerprint(model_id)
    if saved is not None and count and saved.size == count and int(saved.ids().sum()) == id_sum:
        return saved  # chunk ids are never reused, so the same count and id sum is the same set
    ids, _paths, matrix = stored_vectors(store, model_id)
    if not len(ids):
        path.unlink(missing_ok=True)  # nothing embedded any more: no stale index left behind
        return None
    index, changed = sync_index(saved, ids, matrix, matrix.shape[1], config.hnsw_threshold)
    if changed:
        index.save(path)
    return index


def _count_renames(
    previous: dict[str, tuple[str, int, int, str | None]], removed: list[str], outcome: _Outcome
) -> int:
    gone = {previous[p][3] for p in removed if previous[p][3]}
    return sum(1 for path, digest in outcome.new_hashes.items() if path not in previous and digest in gone)


# ---------------------------------------------------------------- scenes

_SCENE_SETTINGS = ("scene_alpha", "scene_neighbours", "scene_floor", "scene_resolution", "region_resolution",
                   "scene_min_size", "hub_min_links", "hub_words_per_link", "hub_weight", "seed")


def scene_fingerprint(store: Store, config: Config, model_id: str) -> str:
    """Everything scenes depend on: notes and their contents, which files are excluded, the
    stored vectors of `model_id`, the settings and the method's version."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((SCENES_VERSION, model_id, store.vector_fingerprint(model_id) if model_id else 0,
                        store.get_meta("excluded"), [getattr(config, n) for n in _SCENE_SETTINGS])).encode())
    for path, note_hash, *_rest in store.note_rows():
        digest.update(f"{path}\0{note_hash}\n".encode())
    return digest.hexdigest()


def update_scenes(store: Store, config: Config, model_id: str, progress: Progress | None = None, *,
                  force: bool = False, lock: bool = False) -> bool:
    """Find scenes and store them, unless nothing they depend on changed since the last run
    (then False). Ids are matched against the last run's scenes. With `lock`, take the
    store's writer lock for the write (callers that do not hold it already, i.e. readers):
    then, while `vaultmind watch` runs for this store, the stored scenes are left to it
    (it brings them up to date after a quiet spell) unless `force`."""
    fingerprint = scene_fingerprint(store, config, model_id)
    if not force and store.scene_fingerprint() == fingerprint:
        return False
    if lock and not force and store.scene_fingerprint() is not None and daemon_running(store.path.parent):
        return False
    with store.writer_lock(wait=_READER_WAIT) if lock else contextlib.nullcontext():
        _find_scenes(store, config, model_id, fingerprint, progress or _no_progress)
    return True


def _find_scenes(store: Store, config: Config, model_id: str, fingerprint: str, report: Progress) -> None:
    report("scenes", 0, 1)
    data = scene_input(store, model_id)
    found = build_scenes(data, config)
    scene_map = _scene_map(found, data, model_id)
    details = {"steps": found.steps, "edges": found.edges, "settings": {n: getattr(config, n) for n in _SCENE_SETTINGS}}
    with store.transaction():
        store.put_scene_run(scene_map, fingerprint, found.centrality, details, found.next_ids)
    report("scenes", 1, 1)
    log.info("%d scenes, %d regions, %d unplaced notes", len(found.scenes), len(found.regions), len(found.unplaced))


def scene_input(store: Store, model_id: str) -> SceneInput:
    """The scene stage's inputs, read from the store."""
    markdown = set(store.paths("note"))  # canvases are maps of notes, not notes: left out
    rows = [row for row in store.note_rows() if row[0] in markdown]
    notes = [path for path, *_rest in rows]
    titles = {path: title for path, _h, title, _p, _w in rows}
    words = {path: count for path, _h, _t, _p, count in rows}
    chunks = store.chunks()
    texts = _prose_by_note(chunk for _id, chunk in chunks)
    for path in notes:
        if path not in texts:  # not chunked (indexed without embedding): cut it now
            texts[path] = _cut_prose(store.note(path))
    spelling: dict[str, Counter[str]] = {}
    links = []
    for source, target_path, target in store.link_rows():
        if target_path is None:
            spelling.setdefault(wanted_key(target), Counter())[target] += 1
        links.append((source, target_path, target))
    commonest = {key: wanted_name(counts) for key, counts in spelling.items()}
    links = [(s, t, commonest[wanted_key(w)] if t is None else w) for s, t, w in links]
    embedded = _chunk_vectors(store, model_id, markdown, chunks)
    vectors = None
    if embedded is not None:
        note_paths, note_matrix, _rows = note_vectors(embedded[1], embedded[2])
        vectors = (note_paths, note_matrix)
    return SceneInput(notes=notes, titles=titles, words=words, texts=texts, links=links,
                                  vectors=vectors, previous=store.scene_members(), next_ids=store.next_scene_ids())


_MIN_CHUNK_WORDS = 3  # "-", "- [ ]", "context:: problem::": template residue, not meaning
_WORD = re.compile(r"[^\W\d_]{2,}")


def _prose_by_note(chunks: Iterable[Chunk]) -> dict[str, str]:
    """path → its chunks' texts, each under its heading (`# heading`), in note order: the
    note's prose without front matter, code or comments."""
    parts: dict[str, list[str]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.path, c.seq)):
        heading = chunk.heading.rsplit(" > ", 1)[-1]
        parts.setdefault(chunk.path, []).append(f"# {heading}\n{chunk.text}" if heading else chunk.text)
    return {path: "\n\n".join(texts) for path, texts in parts.items()}


def _chunk_vectors(store: Store, model_id: str, notes: set[str],
                   chunks: list[tuple[int, Chunk]]) -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """(chunk ids, note paths, vectors) of the Markdown notes' chunks that say something, or
    None if nothing is embedded with `model_id`. Canvases are chunked for search but are not
    notes; chunks of near-empty template sections would make every note built from one
    template look alike, so they are left out unless a note has nothing else."""
    if not model_id:
        return None
    ids, paths, matrix = stored_vectors(store, model_id)
    wordy = {i for i, chunk in chunks if _says_something(chunk.text)}
    has_wordy = {paths[i] for i in range(len(paths)) if int(ids[i]) in wordy}
    keep = [i for i, p in enumerate(paths)
            if p in notes and (int(ids[i]) in wordy or p not in has_wordy)]
    if not keep:
        return None
    return ids[keep], [paths[i] for i in keep], matrix[keep]



def _says_something(text: str) -> bool:
    words = _WORD.finditer(DATAVIEW_FIELD.sub(" ", text) if "::" in text else text)
    return sum(1 for _ in itertools.islice(words, _MIN_CHUNK_WORDS)) >= _MIN_CHUNK_WORDS


def _scene_map(found: SceneRun, data: SceneInput, model_id: str) -> SceneMap:
    scenes = tuple(
        Scene(id=s.id, label=scene_label(s.label.terms, data.titles.get(s.notes[0], s.notes[0])), terms=s.label.terms,
              summary=s.label.summary, notes=s.notes, central=s.notes[: CENTRAL], wanted=s.wanted,
              density=s.density, cohesion=s.cohesion, region=s.region)
        for s in found.scenes
    )
    regions = tuple(
        Region(id=i, label=", ".join(terms[:3]), scenes=ids, size=sum(s.size for s in scenes if s.id in ids))
        for i, (terms, ids) in found.regions.items()
    )
    events = tuple(SceneEvent(0, level, kind, scene, others, overlap)
                   for level, items in found.events.items() for kind, scene, others, overlap in items)
    return SceneMap(run=0, created=time.time(), model=model_id if data.vectors is not None else "", scenes=scenes,
                    regions=regions, unplaced=found.unplaced, positions=found.positions, events=events,
                    layout=found.layout, hubs=found.hubs)


def scene_label(terms: tuple[str, ...], central_title: str) -> str:
    """"Central title: term, term, term" — the title without a leading number ("09_варроа_клещ"
    → "варроа клещ"); only the terms when the title is nothing but a number."""
    title = central_title.lstrip("0123456789 _-.").replace("_", " ").strip()
    if not title:  # a bare Zettelkasten id ("202411281059") names nothing: the terms do
        return ", ".join(terms) or central_title
    return f"{title}: {', '.join(terms)}" if terms else title


# ---------------------------------------------------------------- blind spots

# A note is worth handing to the unanswered-questions detector when its JSON has a dialogue
# turn or a heading that ends in a question mark.
_DOCUMENT_MARKERS = ('"role":"user"', '?","line"', '？","line"')


def blindspot_input(store: Store, model_id: str, *, dismissed: frozenset[str] = frozenset()) -> BlindSpotInput:
    """The blind-spot detectors' inputs, read from the store (scenes as of the last run;
    call `update_scenes` first)."""
    markdown = set(store.paths("note"))
    rows = [row for row in store.note_rows() if row[0] in markdown]
    links = [
        LinkRow(r.source, r.link.target, r.target_path, r.link.line, r.link.context, r.link.kind)
        for r in store.links() if r.source in markdown
    ]
    vectors = None
    chunk_text: dict[int, tuple[str, str, int]] = {}
    all_chunks = store.chunks()
    chunks = _chunk_vectors(store, model_id, markdown, all_chunks)
    if chunks is not None:
        note_paths, note_matrix, _rows = note_vectors(chunks[1], chunks[2])
        vectors = (note_paths, note_matrix)
        chunk_text = {i: (c.heading, c.text, c.line) for i, c in all_chunks if c.path in markdown}
    scene_map = store.scene_map()
    return BlindSpotInput(
        notes=[r[0] for r in rows],
        titles={r[0]: r[2] for r in rows},
        words={r[0]: r[4] for r in rows},
        links=links,
        aliases=store.aliases(),
        tags=store.tags_by_note(),
        files=[p for p in store.paths() if p not in markdown],
        vectors=vectors,
        chunks=chunks,
        chunk_text=chunk_text,
        scenes=scene_map.scenes if scene_map else (),
        unplaced=scene_map.unplaced if scene_map else (),
        hubs=scene_map.hubs if scene_map else (),
        documents={p: n for p, n in store.documents(like=_DOCUMENT_MARKERS).items() if p in markdown},
        dismissed=dismissed,
    )


BLIND_SPOT_CACHE_LIMIT = 200  # findings per kind kept in the store's cache


def all_blind_spots(store: Store, model_id: str) -> list[BlindSpot]:
    """Every kind's findings (up to `BLIND_SPOT_CACHE_LIMIT` each, dismissed ones included),
    from the store's cache when nothing changed since they were computed (`changed_at`, the
    last scene run, the model), else computed now and cached. The cache is derived data, so
    it is written without the writer lock (SQLite still serialises the write)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((BLINDSPOTS_VERSION, model_id, BLIND_SPOT_CACHE_LIMIT, store.get_meta("changed_at"),
                        store.scene_fingerprint(), store.last_scene_run())).encode())
    fingerprint = digest.hexdigest()
    cached = store.cached_blind_spots(fingerprint)
    if cached is not None:
        return [spot_from_json(blob) for blob in cached]
    spots = find_blind_spots(blindspot_input(store, model_id), limit=BLIND_SPOT_CACHE_LIMIT)
    with store.transaction():
        store.put_blind_spots(fingerprint, [spot_to_json(s) for s in spots], time.time())
    return [spot_from_json(spot_to_json(s)) for s in spots]  # the same values a cached call returns



# ---------------------------------------------------------------- chips

_WHOLE_SECTIONS = 10**9  # chips want each heading section whole, not cut to a model's window


def chip_input(store: Store, vault: Path, counter: TokenCounter) -> ChipInput:
    """The chip stage's inputs: every parsed note, the sha256 of each note file that still
    matches the index (a note edited since is left out: its provenance would be wrong), whole
    heading sections, links and the current scenes."""
    markdown = set(store.paths("note"))
    stored = {path: digest for path, digest, *_rest in store.note_rows() if path in markdown}
    notes = {path: note for path, note in store.documents().items() if path in stored}
    sha256: dict[str, str] = {}
    for path, digest in stored.items():
        try:
            data = (vault / path).read_bytes()
        except OSError:
            continue
        if hashlib.blake2b(data, digest_size=16).hexdigest() == digest:
            sha256[path] = hashlib.sha256(data).hexdigest()
    sections = {path: tuple(c for c in _chunk_one(note, _WHOLE_SECTIONS)[0] if c.kind == "section")
                for path, note in notes.items()}
    return ChipInput(notes=notes, sha256=sha256, sections=sections, links=tuple(store.links()),
                     scenes=store.scene_map(), tokenizer=counter.name, count_tokens=counter.count)


# ---------------------------------------------------------------- scenes, incremental
# The sync daemon keeps a `SceneState` in memory and, after a quiet period, updates the stored
# scenes from the notes that changed instead of running the whole stage (docs/scenes.md,
# "Incremental updates").


@dataclass(frozen=True, slots=True)
class SceneRefresh:
    """What `update_scenes_incremental` did: how long it took, whether the full stage ran,
    the ids of scenes whose members changed (new scenes and scenes that ended included) and each step's seconds."""

    seconds: float
    full: bool
    changed: tuple[int, ...]
    steps: dict[str, float]


def scene_state(store: Store, config: Config, model_id: str) -> SceneState:
    """A `SceneState` built from the store with a full scene run, which is stored as
    `update_scenes` would store it — always, even when the stored scenes are current, since
    the state's membership and ids must be the stored ones and Leiden may break ties
    differently from one process to the next. Costs one full run (once per daemon start).
    The caller holds the writer lock."""
    state = SceneState()
    _rebuild_scene_state(store, config, model_id, state)
    return state


def update_scenes_incremental(store: Store, config: Config, model_id: str, state: SceneState, dirty: set[str],
                              progress: Progress | None = None) -> SceneRefresh:
    """Update the stored scenes after the notes `dirty` changed, came, went (deleted notes
    are no longer in the store) or had links resolve elsewhere: read only what those notes
    need, apply it to `state` and find scenes from the last ones. The full stage runs
    instead when `state` is empty, was built with other settings or another model, or no
    longer holds the stored scenes (another process wrote scenes since), or when the change
    is large (`SceneState.run`). The caller holds the writer lock."""
    report = progress or _no_progress
    started = time.perf_counter()
    report("scenes", 0, 1)
    fits, holds = state.fits(config, model_id), _holds_stored_scenes(store, state)
    if not fits or not holds:
        log.info("scenes in full: %s", "the state is empty or was built with other settings" if not fits
                 else "the stored scenes were written by another process since")
        done, steps = _rebuild_scene_state(store, config, model_id, state)
    else:
        tick = time.perf_counter()
        change = scene_change(store, model_id, state, dirty)
        read = time.perf_counter() - tick
        state.apply(change)
        done = state.run()
        steps = {"read": read, **done.run.steps, "store": _store_scene_run(store, config, model_id, done, state)}
    report("scenes", 1, 1)
    seconds = time.perf_counter() - started
    log.info("scenes %s: %d changed in %.2f s", "in full" if done.full else "incrementally", len(done.changed), seconds)
    return SceneRefresh(seconds, done.full, done.changed, steps)


def _holds_stored_scenes(store: Store, state: SceneState) -> bool:
    """Whether the state's last scenes (ids and members) are the stored ones."""
    return store.scene_members() == {level: ids for level, ids in state.previous.items() if ids}


def _rebuild_scene_state(store: Store, config: Config, model_id: str,
                         state: SceneState) -> tuple[StateRun, dict[str, float]]:
    """The full stage into `state`, from everything in the store; stores the run."""
    tick = time.perf_counter()
    data = scene_input(store, "")  # all but the vectors: the state centres the raw ones itself
    raw = _raw_note_vectors(store, model_id)
    read = time.perf_counter() - tick
    done = state.rebuild(data, config, raw=raw, model=model_id)
    return done, {"read": read, **done.run.steps, "store": _store_scene_run(store, config, model_id, done, state)}


def _raw_note_vectors(store: Store, model_id: str) -> tuple[list[str], np.ndarray] | None:
    """Every note's unit mean chunk vector before centring (chunks chosen as `scene_input`
    chooses them), or None when nothing is embedded with `model_id`."""
    embedded = _chunk_vectors(store, model_id, set(store.paths("note")), store.chunks())
    if embedded is None:
        return None
    paths, means, _rows = note_means(embedded[1], embedded[2])
    return paths, means


def _store_scene_run(store: Store, config: Config, model_id: str, done: StateRun, state: SceneState) -> float:
    """Write the run as `update_scenes` does, with the fingerprint of the store now; returns
    the seconds it took."""
    tick = time.perf_counter()
    found = done.run
    view = SceneInput(notes=(), titles=state.titles, words={}, texts={}, links=(), vectors=state.vectors())
    details = {"steps": found.steps, "edges": found.edges, "incremental": not done.full,
               "settings": {n: getattr(config, n) for n in _SCENE_SETTINGS}}
    fingerprint = scene_fingerprint(store, config, model_id)
    with store.transaction():
        store.put_scene_run(_scene_map(found, view, model_id), fingerprint, found.centrality, details, found.next_ids)
    return time.perf_counter() - tick


def scene_change(store: Store, model_id: str, state: SceneState, dirty: set[str]) -> SceneChange:
    """What `dirty` notes mean for `state`, read from the store: each note's title, words,
    prose and raw vector (None when it is gone or no longer a Markdown note), and the link
    rows of every source whose links may have changed: the dirty notes, notes linking to them
    before or now, and notes whose wanted link's shown spelling may have changed."""
    markdown = {p for p, (kind, *_rest) in store.file_states(sorted(dirty)).items() if kind == "note"}
    rows = {path: (title, words) for path, _h, title, _p, words in store.note_rows_of(markdown)}
    notes: dict[str, NoteContent | None] = {}
    for path in sorted(dirty):
        if path not in rows:
            notes[path] = None
            continue
        chunks = store.chunks(path=path)
        vector = _raw_note_vector(store, model_id, chunks) if state.vectors() is not None else None
        notes[path] = NoteContent(rows[path][0], rows[path][1], _note_prose(store, path, chunks), vector)
    sources = set(rows) | state.linking_to(dirty) | {r.source for p in rows for r in store.links(target_path=p)}
    return SceneChange(notes=notes, links=_link_rows_now(store, state, sources))


def _note_prose(store: Store, path: str, chunks: list[tuple[int, Chunk]]) -> str:
    """The note's prose as `scene_input` reads it: its chunks, or the note cut now."""
    if chunks:
        return _prose_by_note(chunk for _id, chunk in chunks)[path]
    return _cut_prose(store.note(path))


def _raw_note_vector(store: Store, model_id: str, chunks: list[tuple[int, Chunk]]) -> np.ndarray | None:
    """One note's unit mean vector before centring, from the chunks that say something (all
    of them when none does), as `_chunk_vectors` chooses them."""
    embedded = store.chunk_vectors(model_id, [i for i, _chunk in chunks])
    if not embedded:
        return None
    wordy = {i for i, chunk in chunks if _says_something(chunk.text)}
    kept = [row for row in embedded if row[0] in wordy] or embedded
    matrix = np.frombuffer(b"".join(r[2] for r in kept), dtype=np.float32).reshape(len(kept), -1)
    _paths, means, _rows = note_means([r[1] for r in kept], matrix)
    return means[0]


def _link_rows_now(store: Store, state: SceneState, sources: set[str]) -> dict[str, list[tuple[str | None, str]]]:
    """The link rows of `sources` as the state holds them (a wanted note under its commonest
    spelling in the vault), plus those of the other sources of a wanted note whose commonest
    spelling is no longer the one the state shows."""
    spelling: dict[str, Counter[str]] = {}
    referring: dict[str, set[str]] = {}
    for source, target in store.wanted_links():
        key = wanted_key(target)
        spelling.setdefault(key, Counter())[target] += 1
        referring.setdefault(key, set()).add(source)
    commonest = {key: wanted_name(counts) for key, counts in spelling.items()}
    read = store.link_resolution(sorted(sources))
    keys = {wanted_key(target) for _id, _s, target, path in read if path is None}
    keys |= {wanted_key(text) for s in sources for path, text in state.rows.get(s, ()) if path is None}
    respelled = {key for key in keys
                 if _shown(state, key, referring.get(key, set()) - sources) not in (None, commonest.get(key))}
    others = {s for key in respelled for s in referring[key]} - sources
    read += store.link_resolution(sorted(others))
    links: dict[str, list[tuple[str | None, str]]] = {s: [] for s in sources | others}
    for _id, source, target, path in sorted(read):
        links[source].append((path, commonest[wanted_key(target)] if path is None else target))
    return links


def _shown(state: SceneState, key: str, sources: Iterable[str]) -> str | None:
    """How the state shows the wanted note `key` in the links of `sources` (None: it does not)."""
    for source in sources:
        for path, text in state.rows.get(source, ()):
            if path is None and wanted_key(text) == key:
                return text
    return None
