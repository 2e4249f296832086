"""Bad input is data, not a crash: each case gets a warning that names the file, and the
rest of the vault is indexed."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

import vaultmind

GOOD = "# Good\n\nLinks to [[other]].\n"


def make_vault(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


def index_and_warnings(vault: Path, state: Path, **kwargs) -> tuple[vaultmind.IndexSummary, dict[str, list[str]]]:
    summary = vaultmind.index(vault, state_dir=state, **kwargs)
    found: dict[str, list[str]] = {}
    for w in vaultmind.doctor(vault, state_dir=state):
        found.setdefault(w.path, []).append(w.code)
    return summary, found


def test_broken_yaml_keeps_the_note_and_its_links(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {
        "good.md": GOOD,
        "broken.md": "---\ntitle: \"unclosed\ntags: [a\n---\nBody with [[good]].\n",
    })
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"broken.md": ["yaml"]}
    assert summary.notes == 2
    report = vaultmind.note_report(vault, "broken", state_dir=state_dir)
    assert [l.target_path for l in report.outgoing] == ["good.md"]
    assert report.note.frontmatter is None


def test_binary_file_named_md(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50})
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"image.md": ["binary"]}
    assert summary.notes == 2


def test_empty_file(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "empty.md": b""})
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"empty.md": ["empty"]}
    assert summary.notes == 2


def test_huge_note_is_indexed_up_to_the_limit(tmp_path: Path, state_dir: Path) -> None:
    para = "Слова и [[ссылка]] в длинной заметке. " * 20 + "\n\n"
    huge = "# Huge\n\n[[first link]]\n\n" + para * (20_000_000 // len(para.encode("utf-8")))
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "huge.md": huge})
    assert (vault / "huge.md").stat().st_size >= 19_000_000
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"huge.md": ["too_large"]}
    report = vaultmind.note_report(vault, "huge", state_dir=state_dir)
    assert report.outgoing[0].link.target == "first link"
    assert len(report.note.text.encode("utf-8")) <= vaultmind.Config().max_note_bytes


def test_invalid_utf8_is_decoded_not_dropped(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "legacy.md": "Про [[ульи]] и мёд зимой.".encode("cp1251")})
    _summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"legacy.md": ["encoding"]}
    report = vaultmind.note_report(vault, "legacy", state_dir=state_dir)
    assert [l.link.target for l in report.outgoing] == ["ульи"]


def test_symlink_loop(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "sub/inner.md": GOOD})
    os.symlink(vault / "sub", vault / "sub" / "loop")
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"sub/loop": ["symlink_loop"]}
    assert summary.notes == 2


def test_unreadable_file(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "locked.md": "Locked [[good]]"})
    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # root can read anything, so deny it here
        if str(file).endswith("locked.md"):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"locked.md": ["unreadable"]}
    assert summary.notes == 2  # the file is still known: nothing lost
    monkeypatch.setattr(builtins, "open", real_open)
    summary, warnings = index_and_warnings(vault, state_dir)  # readable again: retried
    assert warnings == {} and summary.parsed == 1


def test_file_deleted_between_listing_and_reading(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "gone.md": GOOD})

    def delete_after_scan(stage: str, done: int, total: int) -> None:
        if stage == "scan" and (vault / "gone.md").exists():
            (vault / "gone.md").unlink()

    summary, warnings = index_and_warnings(vault, state_dir, progress=delete_after_scan)
    assert warnings == {"gone.md": ["vanished"]}
    assert summary.notes == 1


def test_links_outside_the_vault_are_never_followed(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("outside", encoding="utf-8")
    vault = make_vault(tmp_path / "v", {"a/note.md": "[[../../secret]] [x](../../secret.md) [[../b/other]]", "b/other.md": GOOD})
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    vaultmind.index(vault, state_dir=state_dir)
    monkeypatch.setattr(builtins, "open", real_open)
    assert not any(p.endswith("secret.md") for p in opened)
    report = vaultmind.note_report(vault, "a/note.md", state_dir=state_dir)
    assert [(l.link.target, l.target_path) for l in report.outgoing] == [
        ("../../secret", None), ("../../secret.md", None), ("../b/other", "b/other.md")
    ]
