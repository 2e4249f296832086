"""Serves the app for the browser test, embedding with the tests' HashEmbedder (the real model
would make the test slow):

    python tests/app_child.py VAULT --port PORT [other `vaultmind ui` options]

It runs `vaultmind ui` through the CLI (index first, then `serve_app`). `serve_app` starts
Streamlit as a child process (`api._serve`), which the patched model would not reach, so its
`python -m streamlit run ...` command runs in this process instead, unchanged. SIGTERM stops
the server (Streamlit's own handler).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vaultmind.api  # noqa: E402
from conftest import hash_channels  # noqa: E402
from vaultmind.cli import main as vaultmind_cli  # noqa: E402


def streamlit_here(command: list[str], env: dict[str, str]) -> int:
    """`python -m streamlit run APP [flags]` from `serve_app`, run in this process."""
    assert command[1:4] == ["-m", "streamlit", "run"], command
    from streamlit.web import cli as streamlit_cli

    os.environ.update(env)
    try:
        streamlit_cli.main(command[3:], prog_name="streamlit")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    return 0


def main(argv: list[str]) -> None:
    vaultmind.api.load_channels = hash_channels
    vaultmind.api._serve = streamlit_here
    vaultmind_cli(["ui", *argv], prog_name="vaultmind")


if __name__ == "__main__":
    main(sys.argv[1:])
