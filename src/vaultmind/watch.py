"""The sync daemon: `vaultmind watch` keeps the store, the vectors and the scenes fresh while
the author writes.

- A watchdog observer collects file events; a batch closes after `watch_debounce` seconds
  without an event (or `watch_max_wait` seconds into a long burst) and runs
  `pipeline.update_paths` on just the paths it names, under the store's writer lock, so
  readers (search, scenes, the app) keep working from the last committed state.
- Scenes (and the blind spots computed from them) are marked stale by each batch and brought
  up to date after `watch_scene_delay` quiet seconds.
- On start it takes the daemon lock (one daemon per store; `vaultmind index` stands aside
  while it is held), scans the whole vault once (`pipeline.reconcile`) to pick up what
  changed while it was down, then watches.
- What it is doing goes to `watch-status.json` (read by `vaultmind status`) and its log to
  `watch.log` in the state folder, rotated.
- SIGINT/SIGTERM stop it at the next safe point: committed work stays, the open transaction
  is rolled back, and the next start's scan finishes what was left.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vaultmind import lexical, pipeline, query
from vaultmind.config import Config, state_dir_for
from vaultmind.embed import Embedder, lexical_channel
from vaultmind.errors import DaemonRunning, StoreError, VaultmindError
from vaultmind.resolve import link_name
from vaultmind.scenes.incremental import SceneState
from vaultmind.store import WATCH_LOCK, Store, describe_holder, process_lock, read_holder
from vaultmind.types import BatchInfo, IndexSummary, SceneUpdate, WatchStatus

log = logging.getLogger(__name__)

STATUS_FILE = "watch-status.json"
LOG_FILE = "watch.log"
_LOG_BYTES = 1_000_000
_LOG_BACKUPS = 3
_STOP_POLL = 0.5  # seconds: how soon an idle daemon notices a stop set from another thread
_STATUS_EVERY = 0.5  # seconds between status writes while only the queue length changes
_BACKOFF = (1.0, 5.0, 30.0, 60.0)  # waits before retrying after a failed batch
# Files editors and sync tools write next to a note and then rename or delete: never notes.
_TEMP_SUFFIXES = (".swp", ".swo", ".swx", ".tmp", ".temp", ".part", ".crdownload", "~")
_TEMP_PREFIXES = ("~$", "~syncthing~", ".#")
_TEMP_NAMES = frozenset({"4913"})  # vim's probe file


class Stopping(Exception):
    """Raised at the next safe point after a stop was asked for."""


# ---------------------------------------------------------------- events


@dataclass
class _Inbox:
    """Paths named by file events since the last batch, and when events came."""

    paths: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    rescan: bool = False  # Obsidian's settings changed, or events were lost: scan everything
    first: float = 0.0
    last: float = 0.0

    def __len__(self) -> int:
        return len(self.paths) + len(self.folders) + int(self.rescan)


class EventFilter:
    """Turns watchdog events into vault-relative paths worth indexing: not hidden (the state
    folder, `.obsidian/`, `.trash/`, `.git/`), not an editor's or sync tool's temporary file.
    A change to `.obsidian/app.json` (excluded folders) asks for a full scan."""

    def __init__(self, vault: Path, state_dir: Path) -> None:
        self.vault = vault
        self.state_dir = state_dir.resolve()

    def relative(self, path: str) -> str | None:
        try:
            full = Path(os.path.abspath(path))
            if full == self.state_dir or self.state_dir in full.parents:
                return None
            rel = full.relative_to(self.vault).as_posix()
        except ValueError:
            return None
        return None if rel in ("", ".") else rel

    @staticmethod
    def settings_file(rel: str) -> bool:
        return rel == ".obsidian/app.json"

    @staticmethod
    def wanted(rel: str) -> bool:
        if any(part.startswith(".") for part in rel.split("/")):
            return False
        name = rel.rsplit("/", 1)[-1]
        return not (name in _TEMP_NAMES or name.endswith(_TEMP_SUFFIXES) or name.startswith(_TEMP_PREFIXES))


class _Collector:
    """The watchdog event handler (watchdog calls `dispatch` from its own thread): files
    events into the daemon's inbox and wakes the daemon."""

    def __init__(self, events: EventFilter, daemon: Daemon) -> None:
        self.events = events
        self.daemon = daemon

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # a folder's own timestamp: its files send their own events
        ends = [event.src_path] + ([event.dest_path] if getattr(event, "dest_path", "") else [])
        with self.daemon.wake:
            for end in ends:
                self._file(self.daemon.inbox, os.fsdecode(end), event.is_directory)
            self.daemon.wake.notify_all()

    def _file(self, inbox: _Inbox, path: str, is_directory: bool) -> None:
        rel = self.events.relative(path)
        if rel is None:
            return
        if self.events.settings_file(rel):
            inbox.rescan = True
        elif not self.events.wanted(rel):
            return
        elif is_directory:
            inbox.folders.add(rel)
        else:
            inbox.paths.add(rel)
        now = time.monotonic()
        inbox.first = inbox.first or now
        inbox.last = now


# ---------------------------------------------------------------- the daemon


class Daemon:
    """One `vaultmind watch` process (or thread) for one vault and store."""

    def __init__(self, vault: Path, config: Config, embedder: Embedder | None, scene_model: str,
                 stop: threading.Event | None = None) -> None:
        self.vault = pipeline.check_vault(vault)
        self.config = config
        self.embedder = embedder
        self.scene_model = scene_model
        self.state_dir = state_dir_for(self.vault, config)
        self.stop = stop or threading.Event()
        self.wake = threading.Condition()
        self.inbox = _Inbox()
        self.vectors: pipeline.VectorIndexes = {}  # each dense model's faiss index, kept between batches
        self.scene_state: SceneState | None = None  # what incremental scene updates start from
        self.stale: set[str] = set()  # notes whose scene inputs changed since the last scene run
        self.scenes_stale = False
        self.state = "starting"
        self.since = time.time()
        self.last_batch: BatchInfo | None = None
        self.last_scenes: SceneUpdate | None = None
        self.last_error: tuple[float, str] | None = None
        self.notes = 0
        self._status_written = 0.0
        self._failures = 0
        self._last_change = 0.0
        self._last_scan = 0.0

    # ------------------------------------------------------------ run

    def run(self, ready: threading.Event | None = None) -> None:
        """Take the daemon lock, scan, then watch until `stop` is set. Raises
        `DaemonRunning` when another daemon holds this store."""
        from watchdog.observers import Observer

        with process_lock(self.state_dir / WATCH_LOCK, "vaultmind watch", wait=1.0) as holder:
            if holder is not None:
                raise DaemonRunning(str(self.state_dir), describe_holder(holder))
            observer = Observer()
            observer.schedule(_Collector(EventFilter(self.vault, self.state_dir), self),  # type: ignore[arg-type]
                              str(self.vault), recursive=True)
            observer.start()  # before the scan: what changes during it is caught too
            try:
                self._loop(ready)
            finally:
                observer.stop()
                observer.join(timeout=10)
                self.state = "stopped"
                self._write_status(force=True)
                log.info("stopped")

    def _loop(self, ready: threading.Event | None) -> None:
        log.info("watching %s (store %s, pid %d)", self.vault, self.state_dir, os.getpid())
        self._warm_up()
        full_scan = True
        while not self.stop.is_set():
            if full_scan:
                full_scan = not self._attempt(self._scan)
                if ready is not None and not full_scan:
                    ready.set()
                continue
            paths, folders, rescan = self._next_batch()
            if self.stop.is_set():
                break
            if rescan:
                full_scan = True
            elif paths or folders:
                full_scan = not self._attempt(lambda: self._batch(paths, folders))
            elif self.scenes_stale:
                self._attempt(self._scenes)

    def _attempt(self, work: Any) -> bool:
        """Run one unit of work; an error is logged and recorded, the daemon keeps going and
        the caller retries with a full scan after a pause."""
        try:
            work()
        except Stopping:
            return True
        except StoreError as e:  # e.g. another writer held the lock for too long
            self._failed(str(e), exc_info=False)
            return False
        except Exception as e:  # noqa: BLE001 — a daemon must outlive any one bad batch
            self._failed(f"{type(e).__name__}: {e}", exc_info=True)
            return False
        self._failures = 0
        return True

    def _failed(self, message: str, *, exc_info: bool) -> None:
        log.error("batch failed, will scan again: %s", message, exc_info=exc_info)
        self.last_error = (time.time(), message)
        self.state = "idle"
        self._write_status(force=True)
        pause = _BACKOFF[min(self._failures, len(_BACKOFF) - 1)]
        self._failures += 1
        self.stop.wait(pause)

    def _warm_up(self) -> None:
        """Load the embedding model now, so the first save is as fast as the rest; it stays
        loaded for the daemon's life (and for queries made in the same process)."""
        if self.embedder is not None:
            self.state = "loading model"
            self._write_status(force=True)
            getattr(self.embedder, "dim", None)
            if lexical_channel(self.embedder):
                lexical.lexemes("прогрев словарей warm-up")  # the Russian dictionaries load once

    # ------------------------------------------------------------ batches

    def _next_batch(self) -> tuple[set[str], set[str], bool]:
        """Wait until a batch is due (events, then `watch_debounce` quiet seconds, or
        `watch_max_wait` into a burst), the scenes are due, or a stop; take the batch."""
        with self.wake:
            while not self.stop.is_set():
                now = time.monotonic()
                if len(self.inbox):
                    due = min(self.inbox.last + self.config.watch_debounce,
                              self.inbox.first + self.config.watch_max_wait)
                    if now >= due:
                        taken, self.inbox = self.inbox, _Inbox()
                        return taken.paths, taken.folders, taken.rescan
                    self._write_status()
                    self.wake.wait(min(_STOP_POLL, max(0.01, due - now)))
                elif self.scenes_stale:
                    due = self._last_change + self.config.watch_scene_delay
                    if now >= due:
                        return set(), set(), False
                    self.wake.wait(min(_STOP_POLL, due - now))
                elif self.config.watch_rescan and now >= self._last_scan + self.config.watch_rescan:
                    return set(), set(), True  # a safety net for events the kernel dropped
                else:
                    self.wake.wait(_STOP_POLL)  # nothing to do: sleep until an event (or look for a stop)
        return set(), set(), False

    def _scan(self) -> None:
        self._last_scan = time.monotonic()
        self.state = "scanning"
        self._write_status(force=True)
        started = time.perf_counter()
        with Store.open(self.state_dir) as store, \
                store.writer_lock(wait=self.config.watch_lock_wait, what="vaultmind watch"):
            summary = pipeline.reconcile(store, self.vault, self.config.with_overrides(scenes=False),
                                         self._progress, self.embedder)
            with store.transaction():  # links' names, so the first note created is quick to place
                store.fill_link_names(link_name)
            if self.embedder is not None:
                self.vectors = pipeline.sync_vector_indexes(store, self.state_dir, self.embedder, self.config, None)
            self._after(store, summary, files=summary.notes + summary.canvases + summary.attachments,
                        seconds=time.perf_counter() - started, full_scan=True)
            stale = store.scene_fingerprint() != pipeline.scene_fingerprint(store, self.config, self.scene_model)
            if self.config.scenes and (self.scene_state is None or stale):
                # a full scene run that also keeps what incremental updates need (once per start,
                # or when a scan found changes whose events never came)
                self.state = "scenes"
                self._write_status(force=True)
                tick = time.perf_counter()
                self.scene_state = pipeline.scene_state(store, self.config, self.scene_model)
                self._scenes_done(store.scene_count(), time.perf_counter() - tick, incremental=False)
        if self.config.scenes:
            self._blind_spots()

    def _batch(self, paths: set[str], folders: set[str]) -> None:
        self.state = "batch"
        self._write_status(force=True)
        started = time.perf_counter()
        with Store.open(self.state_dir) as store, \
                store.writer_lock(wait=self.config.watch_lock_wait, what="vaultmind watch"):
            result, self.vectors = pipeline.update_paths(store, self.vault, self.config, paths, folders,
                                                         self._progress, self.embedder, self.vectors)
            changed = result.notes | result.relinked
            if changed:  # before the status says idle, so no reader takes the scenes for fresh
                self.stale |= changed
                self.scenes_stale = self.config.scenes
                self._last_change = time.monotonic()
            self._after(store, result.summary, files=len(paths) + len(folders),
                        seconds=time.perf_counter() - started, full_scan=False)
            self._report_warnings(store, result.notes | paths)

    def _after(self, store: Store, summary: IndexSummary, *, files: int, seconds: float, full_scan: bool) -> None:
        self.notes = summary.notes
        self.last_batch = BatchInfo(time.time(), files, seconds, summary.parsed, summary.removed, summary.embedded,
                                    full_scan)
        log.info("%s: %d files in %.2f s (%d parsed, %d removed, %d embedded)",
                 "scan" if full_scan else "batch", files, seconds, summary.parsed, summary.removed, summary.embedded)
        self.state = "idle"
        self._write_status(force=True)

    def _report_warnings(self, store: Store, paths: set[str]) -> None:
        for warning in store.warnings(paths=paths):
            where = f" (line {warning.line})" if warning.line else ""
            log.warning("%s%s: %s: %s", warning.path, where, warning.code, warning.message)

    def _scenes(self) -> None:
        if not self.config.scenes:
            self.scenes_stale = False
            return
        self.state = "scenes"
        self._write_status(force=True)
        with Store.open(self.state_dir) as store, \
                store.writer_lock(wait=self.config.watch_lock_wait, what="vaultmind watch"):
            if self.scene_state is None:
                self.scene_state = SceneState()  # empty: the update below runs the full stage into it
            done = pipeline.update_scenes_incremental(store, self.config, self.scene_model, self.scene_state,
                                                      set(self.stale), self._progress)
            self._scenes_done(store.scene_count(), done.seconds, incremental=not done.full)
        self._blind_spots()

    def _blind_spots(self) -> None:
        """Compute the blind spots now that scenes are fresh and cache them in the store, so
        the app and `vaultmind blindspots` answer at once (they are derived from the store and
        the scenes; readers recompute them only when the cache is out of date)."""
        self.state = "blind spots"
        self._write_status(force=True)
        tick = time.perf_counter()
        with Store.open(self.state_dir) as store:
            count = len(pipeline.all_blind_spots(store, self.scene_model))
            log.info("blind spots: %d in %.2f s", count, time.perf_counter() - tick)
            if self.embedder is not None:  # the next search in the app or the CLI only loads them
                tick = time.perf_counter()
                query.warm(store, self.state_dir, self.embedder, self.config)
                log.info("search caches ready in %.2f s", time.perf_counter() - tick)
        self.state = "idle"
        self._write_status(force=True)

    def _scenes_done(self, count: int, seconds: float, *, incremental: bool) -> None:
        self.stale.clear()
        self.scenes_stale = False
        self.last_scenes = SceneUpdate(time.time(), seconds, count, incremental)
        log.info("scenes: %d %s in %.2f s", count, "updated" if incremental else "found in full", seconds)
        self.state = "idle"
        self._write_status(force=True)

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self.stop.is_set():
            raise Stopping(stage)

    # ------------------------------------------------------------ status

    def _write_status(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._status_written < _STATUS_EVERY:
            return
        self._status_written = now
        stale = ["scenes", "blind spots"] if self.scenes_stale else ["blind spots"] if self.state == "blind spots" else []
        data = {
            "pid": os.getpid(), "since": self.since, "state": self.state, "queue": len(self.inbox),
            "notes": self.notes, "stale": stale,
            "last_batch": asdict(self.last_batch) if self.last_batch else None,
            "last_scenes": asdict(self.last_scenes) if self.last_scenes else None,
            "last_error": self.last_error[1] if self.last_error else None,
            "error_at": self.last_error[0] if self.last_error else None,
        }
        path = self.state_dir / STATUS_FILE
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as e:
            log.warning("cannot write %s: %s", path, e)


# ---------------------------------------------------------------- status, logs, service


def status(state_dir: Path, store: Store | None) -> WatchStatus:
    """The daemon's status for `state_dir`: from its lock (is it alive?) and its status file."""
    holder = read_holder(state_dir / WATCH_LOCK)
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    batch, scenes = data.get("last_batch"), data.get("last_scenes")
    notes = store.counts()["notes"] if store is not None else int(data.get("notes") or 0)
    running = holder is not None
    return WatchStatus(
        running=running,
        pid=holder.pid if holder else data.get("pid"),
        since=holder.since if holder else data.get("since"),
        state=str(data.get("state", "starting")) if running else "stopped",
        queue=int(data.get("queue") or 0) if running else 0,
        notes=notes,
        stale=tuple(data.get("stale") or ()) if running else (),
        last_batch=BatchInfo(**batch) if isinstance(batch, dict) else None,
        last_error=data.get("last_error"),
        error_at=data.get("error_at"),
        log=str(state_dir / LOG_FILE),
        last_scenes=SceneUpdate(**scenes) if isinstance(scenes, dict) else None,
    )


def log_to_file(state_dir: Path) -> logging.Handler:
    """Send vaultmind's log to `STATE_DIR/watch.log`, rotated at 1 MB with 3 old files kept."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(state_dir / LOG_FILE, maxBytes=_LOG_BYTES,
                                                   backupCount=_LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("vaultmind")
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set `stop`: the daemon stops at its next safe point and exits 0."""
    def handle(signum: int, _frame: Any) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def service_file(vault: Path, kind: str, args: tuple[str, ...] = ()) -> str:
    """A systemd user unit (`systemd`) or a launchd agent (`launchd`) that runs
    `vaultmind watch VAULT` at login and restarts it if it fails. Printed, never installed."""
    vault = vault.expanduser().resolve()
    program = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "vaultmind" else None
    command = [str(program)] if program else [sys.executable, "-m", "vaultmind"]
    command += ["watch", str(vault), *args]
    slug = "".join(ch if ch.isalnum() else "-" for ch in vault.name).strip("-").lower() or "vault"
    if kind == "systemd":
        quoted = " ".join(_systemd_quote(c) for c in command)
        return (
            f"# Save as ~/.config/systemd/user/vaultmind-{slug}.service, then:\n"
            f"#   systemctl --user daemon-reload && systemctl --user enable --now vaultmind-{slug}\n"
            f"# Logs: journalctl --user -u vaultmind-{slug}, and {vault}/.vaultmind/watch.log\n"
            "[Unit]\n"
            f"Description=vaultmind watch: keep the index of {vault} fresh\n\n"
            "[Service]\n"
            f"ExecStart={quoted}\n"
            "Environment=HF_HUB_OFFLINE=1\n"
            "Restart=on-failure\n"
            "RestartSec=10\n"
            "KillSignal=SIGTERM\n"
            "TimeoutStopSec=60\n\n"
            "[Install]\n"
            "WantedBy=default.target\n"
        )
    if kind == "launchd":
        label = f"org.vaultmind.watch.{slug}"
        arguments = "\n".join(f"        <string>{_xml(c)}</string>" for c in command)
        return (
            f"<!-- Save as ~/Library/LaunchAgents/{label}.plist, then:\n"
            f"     launchctl load -w ~/Library/LaunchAgents/{label}.plist -->\n"
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
            '<plist version="1.0">\n<dict>\n'
            f"    <key>Label</key>\n    <string>{label}</string>\n"
            f"    <key>ProgramArguments</key>\n    <array>\n{arguments}\n    </array>\n"
            "    <key>EnvironmentVariables</key>\n    <dict>\n"
            "        <key>HF_HUB_OFFLINE</key>\n        <string>1</string>\n    </dict>\n"
            "    <key>RunAtLoad</key>\n    <true/>\n"
            "    <key>KeepAlive</key>\n    <dict>\n        <key>SuccessfulExit</key>\n        <false/>\n    </dict>\n"
            f"    <key>StandardErrorPath</key>\n    <string>{_xml(str(vault / '.vaultmind' / 'watch.err'))}</string>\n"
            "</dict>\n</plist>\n"
        )
    raise VaultmindError(f"unknown service kind {kind!r}; choose systemd or launchd")


def _systemd_quote(word: str) -> str:
    if word and all(ch.isalnum() or ch in "/._-=:@+" for ch in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
