"""`vaultmind ui` runs Streamlit as a child process: a SIGTERM to `vaultmind ui` alone (what a
service manager sends) must stop the server too, not leave it serving the notes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

SAMPLE = Path(__file__).resolve().parent.parent / "sample_vault"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.2)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.timeout(180)
def test_sigterm_to_vaultmind_ui_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-c", "from vaultmind.cli import main; main()", "ui", str(SAMPLE), "--no-index",
         "--port", str(port), "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for(lambda: serving(port), 120, f"the app serving on port {port}")
        server = children(ui.pid)
        if sys.platform.startswith("linux"):
            assert server, "Streamlit runs as a child of vaultmind ui"
        os.kill(ui.pid, signal.SIGTERM)  # vaultmind ui alone, not its process group
        assert ui.wait(timeout=60) == 0
        wait_for(lambda: not serving(port), 30, "the server stopped")
        for pid in server:
            wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30, f"server process {pid} gone")
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
        else:
            try:
                os.killpg(ui.pid, signal.SIGKILL)  # anything the test failed to see stopped
            except ProcessLookupError:
                pass
