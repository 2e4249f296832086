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
import logging
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaultmind import files as vault_files
from vaultmind.config import Config, state_dir_for
from vaultmind.chips import ChipInput
from vaultmind.embed import Embedder, TokenCounter, chunk_note, embedding_text, note_vectors
from vaultmind.errors import VaultNotFound
from vaultmind.index import VectorIndex, sync_index
from vaultmind.parse import PARSER_VERSION, parse_canvas, parse_note
from vaultmind.resolve import Resolver
from vaultmind.blindspots import BlindSpotInput, LinkRow
from vaultmind.scenes import CENTRAL, SCENES_VERSION, SceneInput, SceneRun, build_scenes
from vaultmind.store import Store, note_to_json
from vaultmind.graph import wanted_key
from vaultmind.types import Chunk, IndexSummary, Note, NoteFile, Region, Scene, SceneEvent, SceneMap, Warning

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


def check_vault(vault: Path) -> Path:
    vault = vault.expanduser()
    if not vault.is_dir():
        raise VaultNotFound(str(vault))
    return vault.resolve()


def index_vault(vault: Path, config: Config, progress: Progress | None = None,
                embedder: Embedder | None = None, scene_model: str | None = None) -> IndexSummary:
    """Bring the store for `vault` up to date with the files on disk; with an `embedder`,
    also chunk and embed what changed and bring the vector index up to date. Then, unless
    `config.scenes` is off, find scenes again if anything they depend on changed, with the
    vectors of `scene_model` (default: the embedder's; none: links only)."""
    report = progress or _no_progress
    started = time.perf_counter()
    phases: dict[str, float] = {}
    vault = check_vault(vault)
    state_dir = state_dir_for(vault, config)
    with Store.open(state_dir) as store, store.writer_lock():
        tick = time.perf_counter()
        rules = vault_files.ignore_rules(vault, (*config.ignore, config.report_note), skip_dirs=(state_dir,))
        listing = vault_files.walk_vault(vault, rules)
        found, walk_warnings = listing.files, listing.warnings
        report("scan", len(found), len(found))
        previous = store.file_states()
        current = {f.path: f for f in found}
        removed = [p for p in previous if p not in current]
        phases["scan"] = time.perf_counter() - tick

        tick = time.perf_counter()
        changed = [f for f in found if _needs_read(f, previous.get(f.path))]
        cached = {h for (h,) in store.db.execute(
            "SELECT hash FROM parsed WHERE parser_version=?", (PARSER_VERSION,))}
        outcome = _Outcome()
        jobs = _read_changed(vault, config, changed, previous, cached, outcome)
        parsed_sources = _parse_and_store(store, config, jobs, len(changed), outcome, report)
        phases["parse"] = time.perf_counter() - tick

        tick = time.perf_counter()
        vanished = {w.path for w in outcome.unreadable if w.code == "vanished"}
        parsed_sources += _store_the_rest(store, previous, outcome, removed + sorted(vanished),
                                          walk_warnings + [w for w in outcome.unreadable if w.path in vanished])
        renamed = _count_renames(previous, removed, outcome)
        phases["update"] = time.perf_counter() - tick

        tick = time.perf_counter()
        excluded_key = hashlib.blake2b("\n".join(listing.excluded).encode(), digest_size=16).hexdigest()
        paths_changed = bool(
            removed or vanished or any(f.path not in previous for f in found)
            or store.get_meta("excluded") != excluded_key
        )
        resolved = _resolve(store, [p for p in current if p not in vanished] + listing.excluded,
                            None if paths_changed else parsed_sources, report)
        with store.transaction():
            store.drop_unused_parses()
            store.set_meta("vault", str(vault))
            store.set_meta("excluded", excluded_key)
            store.set_meta("indexed_at", str(time.time()))
        phases["resolve"] = time.perf_counter() - tick

        embedded = _meaning(store, state_dir, embedder, config, report, phases) if embedder is not None else 0
        if config.scenes:
            tick = time.perf_counter()
            update_scenes(store, config, scene_model or (embedder.model_id if embedder else ""), report)
            phases["scenes"] = time.perf_counter() - tick
        chunk_total = store.chunk_count()
        counts = store.counts()
        scene_count = store.scene_count() if config.scenes else 0
    seconds = time.perf_counter() - started
    log.info("indexed %s in %.2fs (%d parsed, %d links resolved)", vault, seconds, outcome.parsed, resolved)
    return IndexSummary(
        notes=counts["notes"],
        canvases=counts["canvases"],
        attachments=counts["attachments"],
        links=counts["links"],
        unresolved=counts["unresolved"],
        warnings=counts["warnings"],
        parsed=outcome.parsed,
        skipped=len(found) - len(changed),
        removed=len(removed) + len(vanished),
        renamed=renamed,
        seconds=seconds,
        state_dir=str(state_dir),
        phases=phases,
        chunks=chunk_total,
        embedded=embedded,
        model=embedder.model_id if embedder is not None else "",
        scenes=scene_count,
    )


def _store_the_rest(
    store: Store,
    previous: dict[str, tuple[str, int, int, str | None]],
    outcome: _Outcome,
    gone: list[str],
    walk_warnings: list[Warning],
) -> list[str]:
    """One transaction for what needed no parsing: touched files, reused parses, unreadable
    notes, attachments, deleted files, walk warnings. Returns the notes given a reused parse."""
    reused = []
    with store.transaction():
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
        store.replace_walk_warnings(walk_warnings)
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
    with store.transaction():
        store.drop_unused_vectors()
    refresh_vector_index(store, state_dir, embedder.model_id, config)
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


def _needs_read(file: NoteFile, before: tuple[str, int, int, str | None] | None) -> bool:
    if before is None:
        return True
    kind, size, mtime_ns, digest = before
    if kind != file.kind or size != file.size or mtime_ns != file.mtime_ns:
        return True
    return digest is None and file.kind != "attachment"  # a note that failed to read: retry


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
        result = vault_files.read_text(vault, file.path, config.max_note_bytes)
        if result.text is None or result.hash is None:
            outcome.unreadable.extend(result.warnings)
            outcome.failed.append((file, result.warnings))
            continue
        outcome.new_hashes[file.path] = result.hash
        before = previous.get(file.path)
        if before is not None and before[3] == result.hash and before[0] == file.kind:
            outcome.touched.append(file)
        elif result.hash in cached:
            outcome.reused.append((file, result.hash))
        else:
            cached.add(result.hash)  # the same content twice in one run is parsed once
            yield _ToParse(file, result.hash, result.text, result.warnings)


def _parse_one(job: _ToParse) -> tuple[_ToParse, Note, str]:
    parse = parse_canvas if job.file.kind == "canvas" else parse_note
    note = parse(job.file.path, job.text, job.warnings)
    return job, note, note_to_json(note)


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
            for job, note, data in batch:
                store.put_note(job.file, job.digest, PARSER_VERSION, note, data)
        batch.clear()

    pool = None
    if workers > 1 and total >= _POOL_THRESHOLD:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers)
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
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    report("parse", total, total)
    return sources


def _resolve(store: Store, paths: list[str], sources: list[str] | None, report: Progress) -> int:
    """Resolve links: all of them when files came or went, else those of changed notes."""
    resolver = Resolver(paths)
    rows = store.link_targets(sources)
    resolved = [(resolver.resolve(target, source), link_id) for link_id, source, target in rows]
    with store.transaction():
        store.set_link_targets(resolved)
    report("resolve", len(rows), len(rows))
    return len(rows)


def _chunk_notes(store: Store, config: Config, report: Progress) -> int:
    """Cut every new or changed note into chunks (one transaction per batch)."""
    paths = store.notes_to_chunk(config.chunk_chars)
    hashes = {path: digest for path, digest, *_ in store.note_rows()}
    for start in range(0, len(paths), config.batch_size):
        with store.transaction():
            for path in paths[start : start + config.batch_size]:
                note = store.note(path)
                chunks = chunk_note(note, config.chunk_chars) if note is not None else []
                store.put_chunks(path, hashes[path], config.chunk_chars, chunks)
        report("chunk", min(start + config.batch_size, len(paths)), len(paths))
    return len(paths)


def _embed_chunks(store: Store, embedder: Embedder, config: Config, report: Progress) -> int:
    """Embed each chunk text the model has not seen; every batch is stored as it is done, so
    an interrupted run keeps its work."""
    todo = store.chunks_without_vectors(embedder.model_id)
    # longest first: texts of one batch have similar lengths, so little padding is computed
    todo.sort(key=lambda row: len(row[1]) + len(row[2]), reverse=True)
    report("embed", 0, len(todo))
    for start in range(0, len(todo), config.embed_batch):
        batch = todo[start : start + config.embed_batch]
        vectors = embedder.embed_passages([embedding_text(heading, text) for _, heading, text in batch])
        with store.transaction():
            store.put_vectors(embedder.model_id, [(digest, vector.astype(np.float32).tobytes())
                                                  for (digest, _h, _t), vector in zip(batch, vectors)])
        report("embed", start + len(batch), len(todo))
    return len(todo)


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


def refresh_vector_index(store: Store, state_dir: Path, model_id: str, config: Config) -> VectorIndex | None:
    """Load the saved faiss index and bring it up to date with the stored vectors (or rebuild
    it); save it when it changed. None when nothing is embedded for this model."""
    path = vector_index_path(state_dir, model_id)
    saved = VectorIndex.load(path)
    count, id_sum = store.vector_fingerprint(model_id)
    if saved is not None and count and saved.size == count and int(saved.ids().sum()) == id_sum:
        return saved  # chunk ids are never reused, so the same count and id sum is the same set
    ids, _paths, matrix = stored_vectors(store, model_id)
    if not len(ids):
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
    store's writer lock for the write (callers that do not hold it already)."""
    fingerprint = scene_fingerprint(store, config, model_id)
    if not force and store.scene_fingerprint() == fingerprint:
        return False
    with store.writer_lock() if lock else contextlib.nullcontext():
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
            note = store.note(path)
            texts[path] = "\n\n".join(c.text for c in chunk_note(note)) if note else ""
    spelling: dict[str, Counter[str]] = {}
    links = []
    for source, target_path, target in store.link_rows():
        if target_path is None:
            spelling.setdefault(wanted_key(target), Counter())[target] += 1
        links.append((source, target_path, target))
    commonest = {key: counts.most_common(1)[0][0] for key, counts in spelling.items()}
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
_FIELD_KEY = re.compile(r"^[ \t>*-]*\w[\w .-]*::", re.M)  # a Dataview inline field's key


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
    words = _WORD.finditer(_FIELD_KEY.sub(" ", text) if "::" in text else text)
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
    sections = {path: tuple(c for c in chunk_note(note, _WHOLE_SECTIONS) if c.kind == "section")
                for path, note in notes.items()}
    return ChipInput(notes=notes, sha256=sha256, sections=sections, links=tuple(store.links()),
                     scenes=store.scene_map(), tokenizer=counter.name, count_tokens=counter.count)
