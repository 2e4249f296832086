"""CLI: exit codes and messages, --json output, help text on every command and option."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vaultmind.cli import main


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    (root / "topic").mkdir(parents=True)
    (root / "topic" / "Alpha.md").write_text(
        "---\naliases: [First]\ntags: [greek]\n---\n# Alpha\n\nSee [[Beta#Part|beta part]] and [[Nowhere]].\n",
        encoding="utf-8",
    )
    (root / "Beta.md").write_text("# Beta\n\n## Part\n\nBack to [[Alpha]]. ![[pic.png]]\n", encoding="utf-8")
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "bad.md").write_text("---\nkey: [unclosed\n---\ntext\n", encoding="utf-8")
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_index_prints_a_summary(vault: Path, tmp_path: Path) -> None:
    code, out, _ = run("index", str(vault), "--state-dir", str(tmp_path / "s"))
    assert code == 0
    assert out.startswith("3 notes, 0 canvases, 1 attachments; 4 links (1 unresolved); 1 warnings;")
    assert "vaultmind doctor" in out


def test_index_json(vault: Path, tmp_path: Path) -> None:
    code, out, _ = run("index", str(vault), "--state-dir", str(tmp_path / "s"), "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["notes"], data["links"], data["unresolved"], data["attachments"]) == (3, 4, 1, 1)


def test_doctor_lists_warnings_by_file(vault: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    run("index", str(vault), "--state-dir", state)
    code, out, _ = run("doctor", str(vault), "--state-dir", state)
    assert code == 0
    assert out.splitlines()[0] == "bad.md"
    assert "yaml (line" in out and "1 warnings in 1 files" in out
    code, out, _ = run("doctor", str(vault), "--state-dir", state, "--json")
    assert [(w["path"], w["code"]) for w in json.loads(out)] == [("bad.md", "yaml")]


def test_note_by_title_alias_and_path(vault: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    run("index", str(vault), "--state-dir", state)
    for name in ("Alpha", "First", "topic/Alpha.md", "alpha"):
        code, out, _ = run("note", str(vault), name, "--state-dir", state, "--json")
        assert code == 0, name
        data = json.loads(out)
        assert data["path"] == "topic/Alpha.md"
    assert data["aliases"] == ["First"] and data["tags"] == ["greek"]
    assert [(l["target_path"], l["heading"], l["display"]) for l in data["outgoing"]] == [
        ("Beta.md", "Part", "beta part"), (None, None, "Nowhere")
    ]
    assert [l["target"] for l in data["unresolved"]] == ["Nowhere"]
    assert [l["source"] for l in data["backlinks"]] == ["Beta.md"]
    code, out, _ = run("note", str(vault), "Alpha", "--state-dir", state)
    assert "→ Beta.md#Part" in out and "✗ Nowhere" in out and "← Beta.md" in out


def test_user_errors_exit_1_with_one_line(vault: Path, tmp_path: Path) -> None:
    code, _, err = run("note", str(vault), "Alpha", "--state-dir", str(tmp_path / "none"))
    assert code == 1 and "has not been indexed yet" in err and len(err.strip().splitlines()) == 1
    run("index", str(vault), "--state-dir", str(tmp_path / "s"))
    code, _, err = run("note", str(vault), "Alpah", "--state-dir", str(tmp_path / "s"))
    assert code == 1 and "no note named 'Alpah'" in err and "topic/Alpha.md" in err
    code, _, err = run("index", str(tmp_path / "no-such-vault"))
    assert code == 1 and "vault not found" in err


def test_usage_errors_exit_2() -> None:
    assert run("index")[0] == 2
    assert run("export", "graph", ".", "--format", "dot")[0] == 2
    assert run("no-such-command")[0] == 2


def test_export_graph_json_is_node_link_data(vault: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    run("index", str(vault), "--state-dir", state)
    code, out, _ = run("export", "graph", str(vault), "--format", "json", "--state-dir", state)
    assert code == 0
    data = json.loads(out)
    kinds = {n["id"]: n["kind"] for n in data["nodes"]}
    assert kinds == {"Beta.md": "note", "bad.md": "note", "pic.png": "attachment",
                     "topic/Alpha.md": "note", "Nowhere": "wanted"}
    edges = sorted((e["source"], e["target"], e["kind"], e["line"], e["heading"], e["block"], e["display"])
                   for e in data["edges"])
    assert edges == [
        ("Beta.md", "pic.png", "embed", 5, None, None, "pic.png"),
        ("Beta.md", "topic/Alpha.md", "link", 5, None, None, "Alpha"),
        ("topic/Alpha.md", "Beta.md", "link", 7, "Part", None, "beta part"),
        ("topic/Alpha.md", "Nowhere", "link", 7, None, None, "Nowhere"),
    ]


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_export_graph_files(vault: Path, tmp_path: Path, fmt: str) -> None:
    import networkx as nx

    state = str(tmp_path / "s")
    run("index", str(vault), "--state-dir", state)
    out_file = tmp_path / f"g.{fmt}"
    code, _, err = run("export", "graph", str(vault), "--format", fmt, "-o", str(out_file), "--state-dir", state)
    assert code == 0 and "wrote" in err
    graph = nx.read_graphml(out_file) if fmt == "graphml" else nx.read_gexf(out_file)
    assert graph.number_of_edges() == 4 and graph.number_of_nodes() == 5


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_command_and_option_has_help() -> None:
    missing = []
    for name, command in _commands(main):
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []
    assert run("--help")[0] == 0
