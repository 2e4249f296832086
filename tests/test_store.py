"""The store: incremental re-index, renames, deletions, crash safety, schema versions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import vaultmind
from vaultmind.store import SCHEMA_VERSION, STORE_FILE, Store


def write(vault: Path, rel: str, text: str) -> None:
    path = vault / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    for i in range(30):
        write(root, f"n{i:02d}.md", f"# Note {i}\n\nLinks to [[n{(i + 1) % 30:02d}]] and [[missing {i % 3}]].\n")
    return root


def test_default_store_lives_in_the_vault(vault: Path) -> None:
    summary = vaultmind.index(vault)
    assert Path(summary.state_dir) == vault / ".vaultmind"
    assert (vault / ".vaultmind" / STORE_FILE).exists()
    assert vaultmind.index(vault).notes == 30  # the store folder itself is not indexed


def test_no_change_reindex_reads_nothing(vault: Path, state_dir: Path) -> None:
    first = vaultmind.index(vault, state_dir=state_dir)
    assert (first.parsed, first.notes, first.links, first.unresolved) == (30, 30, 60, 30)
    again = vaultmind.index(vault, state_dir=state_dir)
    assert (again.parsed, again.skipped, again.links) == (0, 30, 60)


def test_one_changed_note_is_the_only_one_parsed(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    write(vault, "n05.md", "# Note 5\n\nNow links to [[n07]] only.\n")
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert summary.parsed == 1 and summary.links == 59
    report = vaultmind.note_report(vault, "n05", state_dir=state_dir)
    assert [l.target_path for l in report.outgoing] == ["n07.md"]


def test_touched_but_unchanged_file_is_not_parsed(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    os.utime(vault / "n03.md", ns=(1, 1))
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert summary.parsed == 0


def test_deleted_note_is_removed_and_links_to_it_become_wanted(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    (vault / "n10.md").unlink()
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert (summary.notes, summary.removed, summary.links) == (29, 1, 58)
    graph = vaultmind.link_graph(vault, state_dir=state_dir)
    assert graph.nodes["n10"]["kind"] == "wanted"
    assert list(graph.predecessors("n10")) == ["n09.md"]


def test_rename_reuses_the_parse_and_relinks(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    (vault / "sub").mkdir()
    (vault / "n04.md").rename(vault / "sub" / "n04.md")
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert (summary.renamed, summary.parsed, summary.notes) == (1, 0, 30)
    report = vaultmind.note_report(vault, "n04", state_dir=state_dir)
    assert report.note.path == "sub/n04.md"
    assert [l.source for l in report.backlinks] == ["n03.md"]  # [[n04]] still finds it


def test_new_note_resolves_links_that_were_wanted(vault: Path, state_dir: Path) -> None:
    first = vaultmind.index(vault, state_dir=state_dir)
    write(vault, "missing 0.md", "Now it exists.")
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert summary.unresolved == first.unresolved - 10


def test_killed_run_leaves_a_consistent_store_and_the_next_run_finishes(vault: Path, state_dir: Path) -> None:
    class Killed(Exception):
        pass

    def die_midway(stage: str, done: int, total: int) -> None:
        if stage == "parse" and done >= 10:
            raise Killed

    config = vaultmind.Config(batch_size=5, workers=1)
    with pytest.raises(Killed):
        vaultmind.index(vault, state_dir=state_dir, config=config, progress=die_midway)
    with Store.open(state_dir) as store:
        stored = store.note_rows()
        assert 0 < len(stored) < 30
        # every stored note is complete: its file row, its hash and its links agree
        for path, digest, *_ in stored:
            assert store.file_states()[path][3] == digest
            assert len(store.links(source=path)) == 2
    summary = vaultmind.index(vault, state_dir=state_dir, config=config)
    assert summary.parsed == 30 - len(stored)
    assert (summary.notes, summary.links) == (30, 60)


def test_second_writer_is_refused(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    with Store.open(state_dir) as store, store.writer_lock():
        with pytest.raises(vaultmind.StoreError, match="another vaultmind process"):
            vaultmind.index(vault, state_dir=state_dir)


def test_newer_schema_is_refused(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    db = sqlite3.connect(state_dir / STORE_FILE)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(vaultmind.StoreError, match="newer than this vaultmind"):
        vaultmind.index(vault, state_dir=state_dir)


def test_store_is_at_the_current_schema_in_wal_mode(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    with Store.open(state_dir) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_parallel_and_serial_parsing_store_the_same(vault: Path, tmp_path: Path) -> None:
    for i in range(100):
        write(vault, f"extra/e{i}.md", f"Extra {i} [[n{i % 30:02d}]] #tag/{i % 4}")
    serial = vaultmind.index(vault, state_dir=tmp_path / "s1", workers=1)
    parallel = vaultmind.index(vault, state_dir=tmp_path / "s2", workers=2)
    assert (serial.notes, serial.links, serial.unresolved) == (parallel.notes, parallel.links, parallel.unresolved)
    a = vaultmind.export_graph(vault, "json", state_dir=tmp_path / "s1")
    b = vaultmind.export_graph(vault, "json", state_dir=tmp_path / "s2")
    assert a == b
