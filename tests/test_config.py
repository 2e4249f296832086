"""Settings come from defaults, then VAULT/vaultmind.toml, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

import vaultmind
from vaultmind.config import load_config


def test_toml_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "vaultmind.toml").write_text('[vaultmind]\nignore = ["drafts/"]\nbatch_size = 50\n', encoding="utf-8")
    config = load_config(tmp_path, batch_size=7, workers=None)
    assert config.ignore == ("drafts/",) and config.batch_size == 7 and config.workers == 0


def test_bad_values_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "vaultmind.toml").write_text("batch_size = -3\n", encoding="utf-8")
    with pytest.raises(vaultmind.ConfigError, match="batch_size"):
        load_config(tmp_path)
    (tmp_path / "vaultmind.toml").write_text("nonsense = 1\n", encoding="utf-8")
    with pytest.raises(vaultmind.ConfigError, match="unknown setting"):
        load_config(tmp_path)
    (tmp_path / "vaultmind.toml").write_text("this is not toml", encoding="utf-8")
    with pytest.raises(vaultmind.ConfigError):
        load_config(tmp_path)


def test_ignore_setting_and_obsidian_excluded_files(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / ".obsidian" / "app.json").write_text('{"userIgnoreFilters": ["templates/", "/^Archive/"]}', encoding="utf-8")
    for rel in ("a.md", "templates/t.md", "Archive/old.md", "drafts/d.md", ".hidden/h.md"):
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        (vault / rel).write_text("x [[a]]", encoding="utf-8")
    (vault / "vaultmind.toml").write_text('ignore = ["drafts/*"]\n', encoding="utf-8")
    summary = vaultmind.index(vault, state_dir=tmp_path / "s")
    assert summary.notes == 1
    # excluded files are not read, but a link to one still resolves, as in Obsidian
    (vault / "b.md").write_text("uses [[t]] and [[old]] and [[nothing]]", encoding="utf-8")
    vaultmind.index(vault, state_dir=tmp_path / "s")
    report = vaultmind.note_report(vault, "b", state_dir=tmp_path / "s")
    assert [l.target_path for l in report.outgoing] == ["templates/t.md", "Archive/old.md", None]
    graph = vaultmind.link_graph(vault, state_dir=tmp_path / "s")
    assert graph.nodes["templates/t.md"]["kind"] == "note" and graph.nodes["templates/t.md"]["excluded"]
