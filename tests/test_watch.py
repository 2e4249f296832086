"""The sync daemon on real files in a temporary vault: every test changes files on disk, waits
(with a deadline) until the daemon has indexed a sentinel note written after the changes, and
then checks the store against a fresh full index (`vaultmind.verify`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.cli import main as cli
from vaultmind.files import ignore_rules
from vaultmind.store import Store

from .conftest import SAMPLE_VAULT, HashEmbedder

DEADLINE = 120.0  # seconds any wait may take before the test fails
FAST = {"watch_debounce": 0.2, "watch_max_wait": 2.0, "watch_scene_delay": 0.5}
CHILD = Path(__file__).resolve().parent / "watch_child.py"


def wait_until(check: Callable[[], object], what: str, deadline: float = DEADLINE) -> object:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}")


def has_note(state_dir: Path, path: str) -> bool:
    """The store holds `path` and the daemon is idle with nothing queued."""
    try:
        with Store.open(state_dir, create=False) as store:
            row = store.db.execute("SELECT hash FROM notes WHERE path=?", (path,)).fetchone()
    except FileNotFoundError:
        return False
    if row is None:
        return False
    status = vaultmind.watch_status(state_dir.parent, state_dir=state_dir)
    return status.state == "idle" and status.queue == 0


def settle(vault: Path, state_dir: Path) -> None:
    """Write a new sentinel note after everything else and wait until it is indexed: the
    daemon has then taken every earlier event into a batch and finished it."""
    name = f"sentinel-{uuid.uuid4().hex[:8]}.md"
    (vault / name).write_text("sentinel\n", encoding="utf-8")
    wait_until(lambda: has_note(state_dir, name), f"the daemon to index {name}")


def differences(vault: Path, state_dir: Path, model: str = "e5") -> list[vaultmind.Difference]:
    return vaultmind.verify(vault, state_dir=state_dir, model=model)


class Running:
    """The daemon in a thread of this process (HashEmbedder, fast settings)."""

    def __init__(self, vault: Path, state_dir: Path, embedder: object = None, **settings: float) -> None:
        self.vault, self.state_dir = vault, state_dir
        self.embedder = embedder or HashEmbedder("e5")
        config = vaultmind.load_config(vault, state_dir=str(state_dir), **{**FAST, **settings})
        self.stop, self.ready = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(config,), daemon=True)

    def _run(self, config: vaultmind.Config) -> None:
        try:
            vaultmind.watch(self.vault, embedder=self.embedder, stop=self.stop, ready=self.ready, config=config)
        except BaseException as e:  # noqa: BLE001 — surfaced by the test
            self.error = e
            self.ready.set()

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.ready.wait(DEADLINE), "the daemon did not finish its first scan"
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, copy, ignore=shutil.ignore_patterns(".vaultmind"))
    return copy


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


# ---------------------------------------------------------------- consistency


def test_edits_creates_renames_and_deletes_end_consistent(vault: Path, state: Path) -> None:
    notes = sorted(vault.rglob("*.md"))
    with Running(vault, state):
        assert differences(vault, state) == []
        edited = notes[0]
        edited.write_text(edited.read_text(encoding="utf-8") + "\n\nNow links to [[Not yet written]].\n",
                          encoding="utf-8")
        settle(vault, state)
        assert differences(vault, state) == []
        # the wanted note appears: the link resolves at both ends
        (vault / "Not yet written.md").write_text("Written now, see [[" + edited.stem + "]].\n", encoding="utf-8")
        settle(vault, state)
        assert differences(vault, state) == []
        with Store.open(state) as store:
            targets = {r.link.target: r.target_path for r in store.links(source=str(edited.relative_to(vault)))}
        assert targets["Not yet written"] == "Not yet written.md"
        # it goes again: its backlinks turn wanted
        (vault / "Not yet written.md").unlink()
        notes[1].rename(notes[1].with_name("renamed " + notes[1].name))
        settle(vault, state)
        assert differences(vault, state) == []
        with Store.open(state) as store:
            targets = {r.link.target: r.target_path for r in store.links(source=str(edited.relative_to(vault)))}
        assert targets["Not yet written"] is None


def _burst(vault: Path) -> int:
    """1,000 file operations at once: creates, edits, renames, deletes, a folder move and a
    checkout-like swap of many files. Returns how many operations it made."""
    ops = 0
    folder = vault / "burst"
    folder.mkdir()
    existing = sorted(p for p in vault.rglob("*.md") if "burst" not in p.parts)
    titles = [p.stem for p in existing]
    for i in range(400):  # creates, linking to each other and to the sample notes
        (folder / f"burst {i:03d}.md").write_text(
            f"# Burst {i}\n\nLinks [[burst {(i + 1) % 400:03d}]] and [[{titles[i % len(titles)]}]]"
            f" and [[wanted {i % 7}]].\n", encoding="utf-8")
        ops += 1
    for i in range(0, 400, 2):  # edits
        path = folder / f"burst {i:03d}.md"
        path.write_text(path.read_text(encoding="utf-8") + f"\nEdited {i}, see [[burst {(i + 3) % 400:03d}]].\n",
                        encoding="utf-8")
        ops += 1
    for i in range(1, 200, 2):  # renames
        (folder / f"burst {i:03d}.md").rename(folder / f"renamed {i:03d}.md")
        ops += 1
    for i in range(201, 400, 4):  # deletes
        (folder / f"burst {i:03d}.md").unlink()
        ops += 1
    (vault / "archive").mkdir()
    shutil.move(str(vault / "bees"), str(vault / "archive" / "bees"))  # a folder move
    ops += 1
    for i in range(0, 400, 3):  # a checkout: many files replaced at once through temporary files
        path = folder / f"burst {i:03d}.md"
        if path.exists():
            tmp = folder / f".burst {i:03d}.md.tmp"
            tmp.write_text(f"# Checked out {i}\n\n[[wanted {i % 5}]] [[burst {(i + 2) % 400:03d}]]\n",
                           encoding="utf-8")
            os.replace(tmp, path)
            ops += 1
    for i in range(120):  # and notes come and go in one go
        (folder / f"swap {i:03d}.md").write_text(f"swap {i} [[renamed {(2 * i + 1) % 200:03d}]]\n", encoding="utf-8")
        ops += 1
    for i in range(0, 100, 2):
        (folder / f"swap {i:03d}.md").unlink()
        ops += 1
    return ops


def test_a_burst_of_a_thousand_operations_ends_consistent(vault: Path, state: Path) -> None:
    with Running(vault, state) as daemon:
        ops = _burst(vault)
        assert ops >= 1000
        settle(vault, state)
        assert differences(vault, state) == []
        assert daemon.error is None
    with Store.open(state) as store:
        paths = set(store.paths())
    assert "archive/bees/21_роение.md" in paths and "bees/21_роение.md" not in paths


# ---------------------------------------------------------------- a killed daemon


def _child(vault: Path, state: Path) -> subprocess.Popen[bytes]:
    settings = [f"{k}={v}" for k, v in FAST.items()]
    return subprocess.Popen([sys.executable, str(CHILD), str(vault), str(state), *settings],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _status(state: Path) -> dict:
    try:
        return json.loads((state / "watch-status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def test_kill_minus_nine_mid_batch_then_restart_is_consistent(vault: Path, state: Path) -> None:
    child = _child(vault, state)
    try:
        wait_until(lambda: _status(state).get("state") == "idle", "the first scan")
        _burst(vault)
        wait_until(lambda: _status(state).get("state") == "batch", "a batch to start")
        time.sleep(0.05)  # well inside the batch: it takes seconds
        child.send_signal(signal.SIGKILL)
        child.wait(DEADLINE)
        assert child.returncode == -signal.SIGKILL
        # the killed daemon's lock dies with it (and with its parse workers, a moment later)
        wait_until(lambda: not vaultmind.watch_status(vault, state_dir=state).running, "the lock to be free")
        child = _child(vault, state)
        settle(vault, state)
        assert differences(vault, state) == []
        with Store.open(state) as store:
            model = store.db.execute("SELECT DISTINCT model FROM vectors").fetchall()
            orphans = store.db.execute(
                "SELECT count(*) FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks)").fetchone()[0]
            missing = store.db.execute(
                "SELECT count(*) FROM chunks c LEFT JOIN vectors v ON v.hash = c.hash WHERE v.hash IS NULL"
            ).fetchone()[0]
            notes = {p for p in store.paths("note")}
        assert len(model) == 1 and orphans == 0 and missing == 0
        # nothing lost: every note on disk is in the store, but those Obsidian is told to exclude
        rules = ignore_rules(vault)
        on_disk = {p.relative_to(vault).as_posix() for p in vault.rglob("*.md")}
        assert {p for p in on_disk if not rules.ignored(p)} == notes
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(DEADLINE)
    assert child.returncode == 0, child.stderr.read().decode() if child.stderr else ""


# ---------------------------------------------------------------- bad files


def test_bad_files_are_warned_about_and_the_daemon_keeps_running(vault: Path, state: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="vaultmind")
    with Running(vault, state, max_note_bytes=4_000_000) as daemon:
        (vault / "binary.md").write_bytes(b"\x00\x01\x02PNG" * 100)
        (vault / "broken yaml.md").write_text("---\ntitle: [unclosed\n  - : :\n---\nBody [[00_index]]\n",
                                              encoding="utf-8")
        (vault / "huge.md").write_text("word " * (20 * 1024 * 1024 // 5), encoding="utf-8")  # 20 MB
        for i in range(20):  # notes that vanish as they are written
            vanishing = vault / f"vanishing {i}.md"
            vanishing.write_text("here and gone", encoding="utf-8")
            vanishing.unlink()
        locked = vault / "locked.md"
        locked.write_text("secret [[00_index]]", encoding="utf-8")
        if os.geteuid() != 0:
            locked.chmod(0)
        else:  # root reads everything: make this one file refuse, as it would for a user
            import vaultmind.files as files

            real_open = open

            def refusing_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
                if str(path).endswith("locked.md"):
                    raise PermissionError(13, "Permission denied")
                return real_open(path, *args, **kwargs)

            monkeypatch.setattr(files, "open", refusing_open, raising=False)
            locked.write_text("secret [[00_index]] again", encoding="utf-8")
        settle(vault, state)
        assert daemon.error is None and daemon.thread.is_alive()
        warned = {(w.path, w.code) for w in vaultmind.doctor(vault, state_dir=state)}
        assert ("binary.md", "binary") in warned
        assert ("huge.md", "too_large") in warned
        assert ("locked.md", "unreadable") in warned
        assert any(path == "broken yaml.md" for path, _code in warned)
        for name in ("binary.md", "huge.md", "locked.md"):  # the log names each bad file
            assert name in caplog.text
        # still alive and indexing
        (vault / "after.md").write_text("still here", encoding="utf-8")
        settle(vault, state)
        if os.geteuid() != 0:
            locked.chmod(0o644)


# ---------------------------------------------------------------- scenes


def test_a_one_note_edit_keeps_the_ids_of_scenes_it_did_not_touch(vault: Path, state: Path) -> None:
    with Running(vault, state):
        before = vaultmind.scene_map(vault, state_dir=state, model="e5")
        assert before is not None and before.scenes
        scene = before.scenes[-1]
        edited = vault / scene.notes[-1]
        edited.write_text(edited.read_text(encoding="utf-8") + "\n\nOne more thought on this.\n", encoding="utf-8")
        settle(vault, state)
        wait_until(lambda: not vaultmind.watch_status(vault, state_dir=state).stale, "scenes to be recomputed")
        after = vaultmind.scene_map(vault, state_dir=state, model="e5")
        update = vaultmind.watch_status(vault, state_dir=state).last_scenes
        assert update is not None and update.incremental  # from the last scenes, not the whole stage again
    touched = scene.notes[-1]
    old = {s.id: set(s.notes) for s in before.scenes if touched not in s.notes}
    # settle()'s sentinel notes are new notes: joining a scene is theirs to do
    new = {s.id: {n for n in s.notes if not n.startswith("sentinel-")} for s in after.scenes}
    for scene_id, members in old.items():
        assert new.get(scene_id) == members, f"scene {scene_id} changed though the edit did not touch it"


# ---------------------------------------------------------------- one writer, status, service


def test_index_stands_aside_while_the_daemon_runs(vault: Path, state: Path) -> None:
    runner = CliRunner()
    with Running(vault, state):
        result = runner.invoke(cli, ["index", str(vault), "--state-dir", str(state), "--no-embed"])
        assert result.exit_code == 1
        assert "vaultmind watch is running" in result.output and f"pid {os.getpid()}" in result.output
        status = runner.invoke(cli, ["status", str(vault), "--state-dir", str(state), "--json"])
        data = json.loads(status.output)
        assert data["running"] is True and data["pid"] == os.getpid() and data["state"] == "idle"
        # reads keep working while it runs
        assert vaultmind.search(vault, "пчёлы зимой", state_dir=state, limit=3, model="e5")
        with pytest.raises(vaultmind.DaemonRunning):
            with Running(vault, state):
                pass
    result = runner.invoke(cli, ["status", str(vault), "--state-dir", str(state)])
    assert result.exit_code == 0 and "not running" in result.output
    result = runner.invoke(cli, ["index", str(vault), "--state-dir", str(state), "--no-embed", "-q"])
    assert result.exit_code == 0, result.output


def test_sigterm_stops_the_daemon_with_exit_zero(vault: Path, state: Path) -> None:
    child = _child(vault, state)
    wait_until(lambda: _status(state).get("state") == "idle", "the first scan")
    child.send_signal(signal.SIGTERM)
    child.wait(DEADLINE)
    assert child.returncode == 0
    assert _status(state)["state"] == "stopped"
    assert "stopped" in (state / "watch.log").read_text(encoding="utf-8")


def test_print_service(vault: Path) -> None:
    runner = CliRunner()
    unit = runner.invoke(cli, ["watch", str(vault), "--print-service", "systemd", "--no-embed"])
    assert unit.exit_code == 0
    assert "[Service]" in unit.output and f"watch {vault.resolve()} --no-embed" in unit.output.replace('"', "")
    assert "WantedBy=default.target" in unit.output
    plist = runner.invoke(cli, ["watch", str(vault), "--print-service", "launchd"])
    assert plist.exit_code == 0 and "<key>ProgramArguments</key>" in plist.output
    import plistlib

    plistlib.loads(plist.output.split("-->\n", 1)[1].encode())
