"""The sync daemon, `vaultmind watch`, on the synthetic vault: a one-note save until the store
has it, the incremental scene update after it, the idle daemon's CPU and its peak memory.

The daemon runs in its own process on a copy of `vaults.indexed(NOTES, model)`: "hash" embeds
with HashEmbedder (about free: the daemon's own cost), "use+bm25" with the default real model.
A start runs the full scene stage, so one daemon serves all samples, each taken once it has
settled after the last save. Targets: a save ≤ 1% of a full index (bench_index) plus the 0.3 s
debounce it includes; scene update ≤ 20% of a full scene run (bench_scenes); idle ≤ 1% of a core.

    .venv/bin/asv run --python=same --bench '^bench_watch'
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import vaultmind

from .vaults import NOTES, REPO, copy_indexed, notes_of

MODELS = ["hash", "use+bm25"]
DEADLINE = 900.0  # seconds for any one wait on the daemon
IDLE = 60.0  # seconds the idle daemon is watched (CPU time comes in 10 ms ticks)
SCENE_DELAY = "0.5"  # watch_scene_delay (10 s by default), so the scene update follows a save soon
DAEMON = """import sys, pathlib, vaultmind
from benchmarks.vaults import HashEmbedder
vault, model, hashed = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[2] == "hash"
vaultmind.watch(vault, model=None if hashed else model, embedder=HashEmbedder() if hashed else None, log_file=True,
                signals=True, config=vaultmind.load_config(vault, watch_scene_delay=float(sys.argv[3])))"""


class Daemon:
    params, param_names = MODELS, ["model"]
    number, rounds, warmup_time, repeat, timeout = 1, 1, 0, (5, 10, 300.0), 3600.0

    def setup_cache(self) -> dict[str, str]:
        return {model: str(copy_indexed(NOTES, model, name=f"watch-{model}")) for model in MODELS}

    setup_cache.timeout = 3600.0  # the "use+bm25" store takes ~10 min to build at 10,000 notes, once

    def setup(self, copies: dict[str, str], model: str) -> None:
        if getattr(self, "popen", None) is None:  # once per process: later samples reuse the daemon
            self.vault, self.saves, self.popen, self.started = Path(copies[model]), 0, None, time.time()
            self.notes = notes_of(self.vault)
            self.wait(lambda _: not vaultmind.watch_status(self.vault).running, "the last daemon to stop")
            # PR_SET_PDEATHSIG: the daemon stops with this process (asv skips teardown after a timeout)
            self.popen = subprocess.Popen([sys.executable, "-c", DAEMON, str(self.vault), model, SCENE_DELAY],
                                          cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGTERM))
        self.settled()

    def wait(self, check, what: str) -> dict:
        """Read the daemon's status until `check` holds; fail if it exits or reports an error."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                status = json.loads((self.vault / ".vaultmind" / "watch-status.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                status = {}
            failed = self.popen and (self.popen.poll() is not None or (status.get("error_at") or 0) > self.started)
            if failed:
                raise RuntimeError(f"the daemon failed ({status.get('last_error')}); see .vaultmind/watch.log")
            if check(status):
                return status
            time.sleep(0.01)
        raise RuntimeError(f"timed out waiting for {what}")

    def settled(self) -> None:
        """Idle, nothing queued or stale, and the same a second later (blind spots follow scenes)."""
        def quiet(s: dict) -> bool:
            return s.get("state") == "idle" and not s.get("queue") and not s.get("stale")

        while True:
            first = self.wait(quiet, "the daemon to settle")
            time.sleep(1.0)
            if self.wait(lambda s: True, "its status") == first:
                return

    def save(self) -> dict:
        """Append a line with links to one note (spread over the vault); the batch that indexed it."""
        path = self.notes[(self.saves * 997) % len(self.notes)]
        self.saves += 1
        written = time.time()
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\nA save: see [[{self.notes[self.saves].stem}]] and [[Never written {self.saves}]].\n")
        return self.wait(lambda s: s.get("state") == "idle" and not s.get("queue")
                         and (s.get("last_batch") or {}).get("at", 0) > written, "the save's batch")["last_batch"]

    def time_save_to_updated(self, copies: dict[str, str], model: str) -> None:
        self.save()

    def track_scene_update(self, copies: dict[str, str], model: str) -> float:
        batch = self.save()
        scenes = self.wait(lambda s: (s.get("last_scenes") or {}).get("at", 0) > batch["at"], "the scene update")
        if not scenes["last_scenes"]["incremental"]:
            raise RuntimeError("the scene update after one save ran the whole stage")
        return scenes["last_scenes"]["seconds"]

    track_scene_update.unit = "seconds"

    def track_idle_cpu_share(self, copies: dict[str, str], model: str) -> float:
        """The daemon's CPU time (every thread, reaped children) over an idle spell, in % of a core."""
        def cpu() -> float:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

        before, tick = cpu(), time.monotonic()
        time.sleep(IDLE)
        return 100 * (cpu() - before) / (time.monotonic() - tick)

    track_idle_cpu_share.unit = "% of one core"

    def track_peak_mib(self, copies: dict[str, str], model: str) -> float:
        """The daemon's peak RSS over its start, one save and what follows, once it has exited."""
        self.save()
        self.settled()
        self.popen.send_signal(signal.SIGTERM)
        self.popen.wait(DEADLINE)
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

    track_peak_mib.unit = "MiB"
