"""Runs `vaultmind watch` in a child process for the daemon tests, embedding with the tests'
HashEmbedder (the real model would take minutes on a 1,000-note burst):

    python tests/watch_child.py VAULT STATE_DIR [setting=value ...]

It handles SIGINT/SIGTERM and logs to STATE_DIR/watch.log like `vaultmind watch`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vaultmind  # noqa: E402
from conftest import HashEmbedder  # noqa: E402


def main(vault: str, state_dir: str, *settings: str) -> None:
    overrides = {}
    for item in settings:
        name, _, value = item.partition("=")
        overrides[name] = float(value) if "." in value else int(value)
    config = vaultmind.load_config(Path(vault), state_dir=state_dir, **overrides)
    vaultmind.watch(vault, embedder=HashEmbedder(), config=config, log_file=True, signals=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
