"""`vaultmind.verify` / `doctor --verify`: a store equal to a fresh full index verifies clean;
files changed on disk, a tampered store and a tampered faiss index are reported in the right
table; the live store is never modified."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.cli import main
from vaultmind.index import VectorIndex
from vaultmind.store import Store

from .conftest import SAMPLE_VAULT, HashEmbedder, hash_channels, real_vault

MODEL = HashEmbedder("use").model_id  # the default channels use+bm25: one dense model, hashed by the autouse fixture
EDITED = "inbox.md"
WANTED_BY = "bees/25_весенний_осмотр.md"  # one of the notes with a wanted [[погодный дневник]]


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, root)
    return root


@pytest.fixture
def state(vault: Path, tmp_path: Path) -> Path:
    """The sample vault indexed and embedded (HashEmbedder), scenes off to keep it quick."""
    directory = tmp_path / "state"
    vaultmind.index(vault, state_dir=directory, embedder=hash_channels(), scenes=False)
    return directory


def tables(differences: list[vaultmind.Difference]) -> set[str]:
    return {d.table for d in differences}


def sql(state: Path, statement: str, *args: object) -> None:
    db = sqlite3.connect(state / "vaultmind.sqlite", isolation_level=None)
    db.execute(statement, args)
    db.close()


def faiss_path(state: Path) -> Path:
    return state / f"chunks-{MODEL}.faiss"


def test_a_fresh_index_verifies_clean(vault: Path, state: Path) -> None:
    assert faiss_path(state).exists()
    assert vaultmind.verify(vault, state_dir=state) == []


def test_verify_does_not_modify_the_store(vault: Path, state: Path) -> None:
    db_file = state / "vaultmind.sqlite"
    before = hashlib.sha256(db_file.read_bytes()).hexdigest(), db_file.stat().st_mtime_ns
    (vault / EDITED).write_text("changed\n", encoding="utf-8")
    assert vaultmind.verify(vault, state_dir=state)
    assert (hashlib.sha256(db_file.read_bytes()).hexdigest(), db_file.stat().st_mtime_ns) == before


def test_an_edit_on_disk_is_reported_until_the_next_index(vault: Path, state: Path) -> None:
    note = vault / EDITED
    note.write_text(note.read_text(encoding="utf-8") + "\nSee [[Nowhere at all]] #verifytag\n", encoding="utf-8")
    differences = vaultmind.verify(vault, state_dir=state)
    assert {"files", "notes", "links", "tags", "chunked", "chunks"} <= tables(differences)
    assert {d.key.split("#")[0] for d in differences} == {EDITED}
    added = [d for d in differences if d.table == "links" and d.found == "absent"]
    assert len(added) == 1 and "target='Nowhere at all'" in added[0].expected
    vaultmind.index(vault, state_dir=state, embedder=hash_channels(), scenes=False)
    assert vaultmind.verify(vault, state_dir=state) == []


def test_a_new_note_that_answers_a_wanted_link_shows_in_other_notes_links(vault: Path, state: Path) -> None:
    (vault / "погодный дневник.md").write_text("# Погода\n\nтепло\n", encoding="utf-8")
    differences = vaultmind.verify(vault, state_dir=state)
    relinked = [d for d in differences if d.table == "links"]
    with Store.open(state) as store:
        wanting = {source for source, target_path, target in store.link_rows()
                   if target_path is None and target.casefold() == "погодный дневник"}
    assert WANTED_BY in wanting and {d.key.split("#")[0] for d in relinked} == wanting
    assert all(d.expected == "target_path='погодный дневник.md'" and d.found == "target_path=null"
               for d in relinked)
    vaultmind.index(vault, state_dir=state, embedder=hash_channels(), scenes=False)
    assert vaultmind.verify(vault, state_dir=state) == []


def test_a_deleted_note_is_reported(vault: Path, state: Path) -> None:
    (vault / EDITED).unlink()
    differences = vaultmind.verify(vault, state_dir=state)
    gone = [d for d in differences if d.table == "files"]
    assert [(d.key, d.expected) for d in gone] == [(EDITED, "absent")]


def _index(vault: Path, state: Path) -> None:
    vaultmind.index(vault, state_dir=state, embedder=hash_channels(), scenes=False)


def test_incremental_indexes_after_a_sequence_of_changes_verify_clean(vault: Path, state: Path) -> None:
    steps = {
        "rename": lambda: (vault / EDITED).rename(vault / "inbox2.md"),
        "duplicate": lambda: shutil.copy(vault / "inbox2.md", vault / "bees" / "copy.md"),
        "delete": lambda: (vault / "inbox2.md").unlink(),
        "answer a wanted link": lambda: (vault / "погодный дневник.md").write_text("[[copy]]", encoding="utf-8"),
        "move a folder": lambda: (vault / "stoic").rename(vault / "stoa"),
        "touch": lambda: os.utime(vault / "00_index.md"),
        "empty a note": lambda: (vault / "bees" / "copy.md").write_text("", encoding="utf-8"),
        "exclude a folder in Obsidian": lambda: _obsidian_ignores(vault, ["bread/"]),
    }
    for name, step in steps.items():
        step()
        _index(vault, state)
        assert vaultmind.verify(vault, state_dir=state) == [], name


def _obsidian_ignores(vault: Path, filters: list[str]) -> None:
    (vault / ".obsidian").mkdir(exist_ok=True)
    (vault / ".obsidian" / "app.json").write_text(json.dumps({"userIgnoreFilters": filters}), encoding="utf-8")


def test_a_canvas_with_the_bytes_of_a_note_is_parsed_as_a_canvas(vault: Path, state: Path) -> None:
    shutil.copy(vault / EDITED, vault / "same.canvas")
    _index(vault, state)
    (vault / EDITED).write_text("# Inbox\n\nemptied\n", encoding="utf-8")
    _index(vault, state)
    assert vaultmind.verify(vault, state_dir=state) == []


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("DELETE FROM links WHERE id = (SELECT min(id) FROM links)", "links"),
        ("UPDATE links SET target_path = 'inbox.md' WHERE id = (SELECT min(id) FROM links WHERE target_path IS NULL)",
         "links"),
        ("UPDATE links SET target_path = NULL WHERE id = (SELECT min(id) FROM links WHERE target_path IS NOT NULL)",
         "links"),
        ("UPDATE notes SET title = 'Renamed' WHERE path = 'inbox.md'", "notes"),
        ("UPDATE files SET mtime_ns = mtime_ns + 1 WHERE path = 'inbox.md'", "files"),
        ("DELETE FROM parsed WHERE hash = (SELECT hash FROM notes WHERE path = 'inbox.md')", "parsed"),
        ("UPDATE parsed SET data = json_set(data, '$.text', 'tampered') "
         "WHERE hash = (SELECT hash FROM notes WHERE path = 'inbox.md')", "parsed"),
        ("DELETE FROM tags WHERE rowid = (SELECT min(rowid) FROM tags)", "tags"),
        ("DELETE FROM aliases WHERE rowid = (SELECT min(rowid) FROM aliases)", "aliases"),
        ("DELETE FROM warnings WHERE code = 'yaml'", "warnings"),
        ("UPDATE chunks SET text = text || ' tampered' WHERE id = (SELECT min(id) FROM chunks)", "chunks"),
        ("UPDATE chunked SET chunk_chars = 1 WHERE path = 'inbox.md'", "chunked"),
        ("DELETE FROM vectors WHERE hash = (SELECT hash FROM chunks GROUP BY hash HAVING count(*) = 1 LIMIT 1)",
         "vectors"),
        ("INSERT INTO vectors(model, hash, vector) VALUES ('test-hash-e5-256', 'no-such-text', x'0000803f')",
         "vectors"),
    ],
)
def test_a_tampered_store_is_reported_in_its_table(vault: Path, state: Path, statement: str, table: str) -> None:
    sql(state, statement)
    differences = vaultmind.verify(vault, state_dir=state)
    assert table in tables(differences)
    assert len([d for d in differences if d.table == table]) == 1, differences


def test_a_deleted_vector_also_leaves_its_chunk_orphaned_in_the_faiss_index(vault: Path, state: Path) -> None:
    sql(state, "DELETE FROM vectors WHERE hash = (SELECT hash FROM chunks WHERE path = ? AND seq = 0)", EDITED)
    differences = vaultmind.verify(vault, state_dir=state)
    assert [(d.table, d.key, d.found) for d in differences if d.table == "vectors"] == [
        ("vectors", f"{EDITED}#0", "absent")]
    index_diffs = [d for d in differences if d.table == "vector index"]
    assert [d.key for d in index_diffs] == [f"{EDITED}#0"] and index_diffs[0].expected == "absent"


def _rewrite_index(state: Path, change) -> None:
    """Load the faiss file, let `change` alter the VectorIndex, save it back."""
    index = VectorIndex.load(faiss_path(state))
    assert index is not None
    change(index)
    index.save(faiss_path(state))


def _first_chunk(state: Path) -> tuple[int, str]:
    with Store.open(state) as store:
        chunk_id, chunk = store.chunks()[0]
    return chunk_id, f"{chunk.path}#{chunk.seq}"


def test_an_id_missing_from_the_faiss_index_is_reported(vault: Path, state: Path) -> None:
    chunk_id, key = _first_chunk(state)
    _rewrite_index(state, lambda index: index.remove(np.array([chunk_id], dtype=np.int64)))
    differences = vaultmind.verify(vault, state_dir=state)
    assert [(d.table, d.key, d.expected, d.found) for d in differences] == [
        ("vector index", key, f"id {chunk_id}", "absent")]


def test_a_duplicate_or_wrong_vector_in_the_faiss_index_is_reported(vault: Path, state: Path) -> None:
    chunk_id, key = _first_chunk(state)
    ids, vectors = VectorIndex.load(faiss_path(state)).contents()
    second = int(ids[1])
    _rewrite_index(state, lambda index: index.add(np.array([chunk_id], dtype=np.int64), vectors[:1]))
    _rewrite_index(state, lambda index: index.remove(np.array([second], dtype=np.int64)))
    _rewrite_index(state, lambda index: index.add(np.array([second], dtype=np.int64), vectors[2:3]))
    found = {(d.key, d.found) for d in vaultmind.verify(vault, state_dir=state)}
    assert (key, "2 times") in found
    assert any(k != key and f.startswith("a vector off by") for k, f in found)


def test_a_missing_faiss_file_is_reported(vault: Path, state: Path) -> None:
    faiss_path(state).unlink()
    differences = vaultmind.verify(vault, state_dir=state)
    assert [(d.table, d.key, d.found) for d in differences] == [("vector index", faiss_path(state).name, "absent")]


def test_a_state_dir_inside_the_vault_is_not_indexed_as_content(vault: Path) -> None:
    inside = vault / "vaultmind-state"  # no leading dot: a walk would see it but for skip_dirs
    vaultmind.index(vault, state_dir=inside, embedder=hash_channels(), scenes=False)
    assert vaultmind.verify(vault, state_dir=inside) == []


def test_verify_waits_for_no_writer(vault: Path, state: Path) -> None:
    with Store.open(state) as store, store.writer_lock():
        with pytest.raises(vaultmind.StoreError, match="another vaultmind process"):
            vaultmind.verify(vault, state_dir=state)


def test_verify_needs_an_index(vault: Path, tmp_path: Path) -> None:
    with pytest.raises(vaultmind.NotIndexed):
        vaultmind.verify(vault, state_dir=tmp_path / "nothing")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_cli_doctor_verify_exit_codes_and_output(vault: Path, state: Path) -> None:
    code, out = run("doctor", str(vault), "--state-dir", str(state), "--verify")
    assert (code, out) == (0, "The store equals a fresh full index of the files.\n")
    code, out = run("doctor", str(vault), "--state-dir", str(state), "--verify", "--json")
    assert (code, json.loads(out)) == (0, [])

    (vault / EDITED).write_text("# Inbox\n\nnothing left\n", encoding="utf-8")
    code, out = run("doctor", str(vault), "--state-dir", str(state), "--verify")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "files" and lines[1] == f"  {EDITED}"
    assert " differences from a fresh full index: files 1, notes 1, " in lines[-1]
    code, out = run("doctor", str(vault), "--state-dir", str(state), "--verify", "--json")
    data = json.loads(out)
    assert code == 1 and data[0]["table"] == "files" and set(data[0]) == {"table", "key", "expected", "found"}


def test_cli_doctor_model_needs_verify(vault: Path, state: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", str(vault), "--state-dir", str(state), "--model", "e5"])
    assert result.exit_code == 2 and "--model goes with --verify" in result.stderr


def test_a_real_vault_verifies_clean(tmp_path: Path) -> None:
    vault = real_vault("ru-vanadium23-wiki")
    vaultmind.index(vault, state_dir=tmp_path / "state", embed=False, scenes=False)
    assert vaultmind.verify(vault, state_dir=tmp_path / "state") == []
