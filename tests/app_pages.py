"""What the app's AppTest page tests share: a copy of the sample vault, indexed once per
module with the test embedder, and a page opened against it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import vaultmind
from tests.conftest import ROOT, SAMPLE_VAULT, hash_channels

APP = ROOT / "app" / "main.py"


def copy_sample(target: Path) -> Path:
    shutil.copytree(SAMPLE_VAULT, target, ignore=shutil.ignore_patterns(".vaultmind"))
    return target


def indexed_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A copy of the sample vault, indexed with the test embedder."""
    vault = copy_sample(tmp_path_factory.mktemp(name) / "vault")
    vaultmind.index(vault, embedder=hash_channels(), workers=1)
    return vault


def open_page(monkeypatch: pytest.MonkeyPatch, vault: Path, page: str | None = None, **query: str) -> AppTest:
    """The app on `vault`, at `page` (`views/PAGE.py`; the default page without one), run once
    with `query` as its query parameters; fails on any exception the page raised."""
    monkeypatch.setenv("VAULTMIND_VAULT", str(vault))
    monkeypatch.delenv("VAULTMIND_STATE_DIR", raising=False)
    monkeypatch.delenv("VAULTMIND_MODEL", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page is not None:
        at.switch_page(f"views/{page}.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
