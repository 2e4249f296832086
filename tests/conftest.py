"""Shared fixtures: the repository's paths, the real vaults beside it, a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_VAULT = ROOT / "sample_vault"
SHARED = Path(os.environ.get("VAULTMIND_SHARED", ROOT.parent / "shared"))
REAL_VAULTS = SHARED / "vaults"


def real_vault(name: str) -> Path:
    path = REAL_VAULTS / name
    if not path.is_dir():
        pytest.skip(f"{path} is not present (../shared is optional)")
    return path


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh, empty state directory outside any vault."""
    return tmp_path / "state"
