"""Real vaults written by other people: no crash, and every invalid YAML front matter is
reported as a warning that names the file (checked against PyYAML on its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import vaultmind

from .conftest import real_vault

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)


def invalid_yaml_files(vault: Path) -> set[str]:
    bad = set()
    for path in vault.rglob("*.md"):
        if any(part.startswith(".") for part in path.relative_to(vault).parts):
            continue
        match = _FRONT.match(path.read_text(encoding="utf-8", errors="replace"))
        if not match:
            continue
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            bad.add(path.relative_to(vault).as_posix())
            continue
        if data is not None and not isinstance(data, dict):
            bad.add(path.relative_to(vault).as_posix())
    return bad


@pytest.mark.parametrize("name", ["ru-vanadium23-wiki", "kepano-obsidian", "tasks-demo"])
def test_real_vault_indexes_and_reports_every_invalid_yaml(name: str, tmp_path: Path) -> None:
    vault = real_vault(name)
    summary = vaultmind.index(vault, state_dir=tmp_path / "state")
    md_files = [p for p in vault.rglob("*.md") if not any(s.startswith(".") for s in p.relative_to(vault).parts)]
    assert summary.notes == len(md_files)
    yaml_warned = {w.path for w in vaultmind.doctor(vault, state_dir=tmp_path / "state") if w.code == "yaml"}
    assert yaml_warned == invalid_yaml_files(vault)
    if name == "kepano-obsidian":
        assert len(yaml_warned) == 28  # the {{date}} templates


def test_russian_vault_resolves_relative_and_cyrillic_links(tmp_path: Path) -> None:
    vault = real_vault("ru-vanadium23-wiki")
    vaultmind.index(vault, state_dir=tmp_path / "s")
    report = vaultmind.note_report(vault, "index", state_dir=tmp_path / "s")
    resolved = {l.link.target: l.target_path for l in report.outgoing}
    assert resolved["./forge/20260209170105"] == "forge/20260209170105.md"
    assert resolved["как я веду заметки"] is not None
    graph = vaultmind.link_graph(vault, state_dir=tmp_path / "s")
    wanted = [n for n, kind in graph.nodes(data="kind") if kind == "wanted"]
    assert wanted  # a real garden has notes it refers to but has not written yet
