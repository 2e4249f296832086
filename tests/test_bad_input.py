"""Bad input is data, not a crash: each case gets a warning that names the file, and the
rest of the vault is indexed."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind import files, parse, pipeline
from vaultmind.cli import main
from vaultmind.embed import CHUNKER_VERSION
from vaultmind.errors import NoteNotFound
from vaultmind.store import Store

SAMPLE = Path(__file__).resolve().parent.parent / "sample_vault"

GOOD = "# Good\n\nLinks to [[other]].\n"
SECRET = "zebraquartz outside words that must never reach the store"


def make_vault(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


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


# ---------------------------------------------------------------- hostile notes
# Each case once stopped or stalled a whole index. The timeouts are generous (the cases take
# seconds); they are there so a regression fails instead of hanging the run.

LOL = "a: &a [" + ", ".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


@pytest.mark.timeout(120)
def test_a_yaml_alias_that_contains_itself(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "self.md": "---\nanchors: &a [*a]\n---\nBody links [[good]].\n"})
    code, out = cli("index", str(vault), "--state-dir", str(state_dir), "--no-embed")
    assert code == 0, out
    code, out = cli("index", str(vault), "--state-dir", str(state_dir), "--no-embed")  # and every later run
    assert code == 0, out
    _summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"self.md": ["yaml_refused"]}
    [warning] = vaultmind.doctor(vault, state_dir=state_dir)
    assert "refers to the value that contains it" in warning.message
    report = vaultmind.note_report(vault, "self", state_dir=state_dir)
    assert [l.target_path for l in report.outgoing] == ["good.md"]


@pytest.mark.timeout(120)
def test_billion_laughs_front_matter_is_refused_cheaply(tmp_path: Path, state_dir: Path) -> None:
    assert len(LOL) < 500
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "lol.md": f"---\n{LOL}---\nStill read: [[good]]\n"})
    summary, warnings = index_and_warnings(vault, state_dir, embed=False)
    assert warnings == {"lol.md": ["yaml_refused"]}
    assert summary.notes == 2
    assert "100,000 values" in vaultmind.doctor(vault, state_dir=state_dir)[0].message
    size = sum(p.stat().st_size for p in state_dir.rglob("*") if p.is_file())
    assert size < 2_000_000  # it once left a 77 MB store


@pytest.mark.parametrize("yaml_text, reason", [
    ("deep: " + "[" * 150 + "]" * 150, "nested more than"),
    ("n: " + "9" * 5000, "ValueError"),  # more digits than Python turns into an int
    ("a: &a {x: *a}", "refers to the value"),
])
def test_front_matter_past_its_budget_keeps_the_body(tmp_path: Path, state_dir: Path, yaml_text: str, reason: str) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "odd.md": f"---\n{yaml_text}\n---\nBody [[good]]\n"})
    index_and_warnings(vault, state_dir, embed=False)
    [warning] = vaultmind.doctor(vault, state_dir=state_dir)
    assert warning.path == "odd.md" and warning.code.startswith("yaml") and reason in warning.message
    assert [l.target_path for l in vaultmind.note_report(vault, "odd", state_dir=state_dir).outgoing] == ["good.md"]


@pytest.mark.timeout(120)
def test_an_index_note_of_20000_links_one_per_line(tmp_path: Path, state_dir: Path) -> None:
    text = "# Index\n" + "".join(f"[[Note {i:05d}]]\n" for i in range(20_000))  # one paragraph, no blank lines
    vault = make_vault(tmp_path / "v", {"index.md": text, "Note 00007.md": GOOD})
    summary, warnings = index_and_warnings(vault, state_dir, embed=False)
    assert warnings == {} and summary.links == 20_001
    links = vaultmind.note_report(vault, "index", state_dir=state_dir).outgoing
    assert [(l.link.target, l.link.line) for l in links[:2]] == [("Note 00000", 2), ("Note 00001", 3)]
    assert (links[-1].link.target, links[-1].link.line) == ("Note 19999", 20_001)
    assert links[7].target_path == "Note 00007.md" and links[7].link.context == "[[Note 00007]]"


@pytest.mark.timeout(120)
def test_unclosed_wikilinks(tmp_path: Path, state_dir: Path) -> None:
    text = "[[ open and never closed " * 8_000 + "\n\nthen [[good]]\n"  # 200 KB in one paragraph
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "open.md": text})
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {}
    assert [l.link.target for l in vaultmind.note_report(vault, "open", state_dir=state_dir).outgoing] == ["good"]


@pytest.mark.timeout(180)
def test_a_line_of_dense_links(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"b.md": GOOD, "dense.md": "[[b]] " * 100_000})  # 600 KB, one line
    summary, warnings = index_and_warnings(vault, state_dir, embed=False)
    assert warnings == {"dense.md": ["context_limit"]}  # 100,000 sentences of 300 characters: over the budget
    links = vaultmind.note_report(vault, "dense", state_dir=state_dir).outgoing
    assert len(links) == 100_000 and {l.target_path for l in links} == {"b.md"}
    assert all(l.link.line == 1 for l in links)
    assert sum(len(l.link.context) for l in links) <= parse.CONTEXT_BUDGET + parse.CONTEXT_CHARS
    assert links[0].link.context.startswith("[[b]] [[b]]") and links[-1].link.context == ""


@pytest.mark.timeout(180)
def test_past_the_limits_the_rest_is_plain_text(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"b.md": GOOD, "many.md": "[[b]] #t " * 100_010})
    summary, warnings = index_and_warnings(vault, state_dir, embed=False)
    assert sorted(warnings["many.md"]) == ["context_limit", "over_limit"] and len(warnings) == 1
    [over] = [w for w in vaultmind.doctor(vault, state_dir=state_dir) if w.code == "over_limit"]
    assert "10 links, 10 tags" in over.message
    assert len(vaultmind.note_report(vault, "many", state_dir=state_dir).outgoing) == 100_000


@pytest.mark.timeout(180)
def test_a_long_note_is_parsed_in_pieces_as_a_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting a long note between blocks changes nothing but footnotes and reference links:
    real notes from the sample vault, one after another, past the piece size."""
    texts = [files.read_text(SAMPLE, str(p.relative_to(SAMPLE)), 10**7).text or "" for p in sorted(SAMPLE.rglob("*.md"))]
    bodies = [t.split("\n---\n", 1)[1] if t.startswith("---\n") else t for t in texts]  # one front matter only
    body = "\n\n".join(bodies)
    while len(body) < 3 * parse.PIECE_CHARS:
        body += "\n\n" + body
    body = body.replace("[^", "(^")  # footnotes are matched within a piece: compare the rest
    in_pieces = parse.parse_note("long.md", body)
    assert sum(1 for _ in parse._pieces(body)) > 2
    monkeypatch.setattr(parse, "PIECE_CHARS", 10 * len(body))
    whole = parse.parse_note("long.md", body)
    for field in ("links", "tags", "headings", "callouts", "turns", "commentary", "comments", "block_ids"):
        assert getattr(in_pieces, field) == getattr(whole, field), field


def test_a_failing_parse_is_one_notes_warning(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "bad.md": "Trips the parser [[good]]\n"})
    real = parse._parse_note

    def broken(path: str, text: str, warnings):  # a bug that only one note's text reaches
        if "Trips" in text:
            raise RuntimeError("a bug in a parser rule")
        return real(path, text, warnings)

    monkeypatch.setattr(parse, "_parse_note", broken)
    code, out = cli("index", str(vault), "--state-dir", str(state_dir))
    assert code == 0, out
    _summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"bad.md": ["parse_failed"]}
    [warning] = vaultmind.doctor(vault, state_dir=state_dir)
    assert "RuntimeError: a bug in a parser rule" in warning.message and "parse" in warning.message
    assert vaultmind.note_report(vault, "bad", state_dir=state_dir).note.private  # kept out of chips
    assert vaultmind.search(vault, "Trips the parser", state_dir=state_dir)  # its text is still searchable
    (vault / "bad.md").write_text("Fixed now [[good]]\n", encoding="utf-8")
    summary, warnings = index_and_warnings(vault, state_dir)  # retried when it changes
    assert warnings == {} and summary.parsed == 1


def test_a_failing_read_or_chunk_is_one_notes_warning(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "odd.md": "odd bytes\n", "cut.md": "Cut me [[good]]\n"})
    real_decode, real_chunk = files.decode_note, pipeline.chunk_note

    def decode(path: str, data: bytes, max_bytes: int):
        if path == "odd.md":
            raise LookupError("a codec that is not there")
        return real_decode(path, data, max_bytes)

    def chunk(note, max_chars=1200):
        if note.path == "cut.md":
            raise IndexError("a bug in the chunker")
        return real_chunk(note, max_chars)

    monkeypatch.setattr(files, "decode_note", decode)
    monkeypatch.setattr(pipeline, "chunk_note", chunk)
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"odd.md": ["read_failed"], "cut.md": ["chunk_failed"]}
    assert summary.notes == 3 and summary.chunks >= 1
    monkeypatch.setattr(pipeline, "chunk_note", real_chunk)
    (vault / "cut.md").write_text("Cut me again [[good]]\n", encoding="utf-8")
    _summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"odd.md": ["read_failed"]}


def test_a_new_parser_or_chunker_version_reads_unchanged_notes_again(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "other.md": "Other [[good]]\n"})
    vaultmind.index(vault, state_dir=state_dir)
    with Store.open(state_dir) as store, store.transaction():
        store.db.execute("UPDATE parsed SET parser_version = parser_version - 1")
        store.db.execute("UPDATE chunked SET chunker = chunker - 1")
    summary = vaultmind.index(vault, state_dir=state_dir)
    assert summary.parsed == 2
    with Store.open(state_dir) as store:
        assert store.notes_to_chunk(vaultmind.Config().chunk_chars, CHUNKER_VERSION) == []
    assert vaultmind.verify(vault, state_dir=state_dir) == []


# ---------------------------------------------------------------- symlinks out of the vault


def in_store(state: Path, text: str) -> bool:
    """`text` anywhere in the store's files (the database and its journal)."""
    return any(text.encode("utf-8") in p.read_bytes() for p in state.rglob("*") if p.is_file())


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the vault holding a note nobody asked vaultmind to read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text(f"# Secret\n\n{SECRET}\n", encoding="utf-8")
    return folder


def test_file_symlink_out_of_the_vault_is_not_read(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    os.symlink(outside / "secret.md", vault / "passwd.md")
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"passwd.md": ["symlink_outside"]}
    [warning] = vaultmind.doctor(vault, state_dir=state_dir)
    assert os.path.realpath(outside / "secret.md") in warning.message
    assert "follow_external_symlinks" in warning.message
    assert summary.notes == 1
    with pytest.raises(NoteNotFound):
        vaultmind.note_report(vault, "passwd", state_dir=state_dir)
    assert not in_store(state_dir, SECRET)


def test_folder_symlink_out_of_the_vault_is_not_walked(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "sub/inner.md": GOOD})
    os.symlink(outside, vault / "linked")
    os.symlink(os.path.relpath(outside, vault / "sub"), vault / "sub" / "relative")
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"linked": ["symlink_outside"], "sub/relative": ["symlink_outside"]}
    assert summary.notes == 2
    with pytest.raises(NoteNotFound):
        vaultmind.note_report(vault, "secret", state_dir=state_dir)
    assert not in_store(state_dir, SECRET)


def test_outside_symlinks_are_indexed_when_the_author_asks(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    (vault / "vaultmind.toml").write_text("follow_external_symlinks = true\n", encoding="utf-8")
    os.symlink(outside / "secret.md", vault / "passwd.md")
    os.symlink(outside, vault / "linked")
    os.symlink(outside, vault / "linked again")  # the outside folder is still walked once
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"linked again": ["symlink_loop"]}
    assert summary.notes == 3
    assert SECRET in vaultmind.note_report(vault, "passwd", state_dir=state_dir).note.text
    assert SECRET in vaultmind.note_report(vault, "linked/secret", state_dir=state_dir).note.text


def test_symlinks_inside_the_vault_still_work(tmp_path: Path, state_dir: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "sub/inner.md": "# Inner\n"})
    os.symlink(vault / "good.md", vault / "alias.md")
    os.symlink("../good.md", vault / "sub" / "relative alias.md")
    summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {}
    assert summary.notes == 4
    assert vaultmind.note_report(vault, "sub/relative alias", state_dir=state_dir).note.text == GOOD


def test_a_loop_through_the_outside_is_safe(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    os.symlink(outside, vault / "out")
    os.symlink(vault, outside / "back")
    _summary, warnings = index_and_warnings(vault, state_dir)
    assert warnings == {"out": ["symlink_outside"]}
    listing = files.walk_vault(vault, files.ignore_rules(vault, follow_external=True))
    assert [f.path for f in listing.files] == ["good.md", "out/secret.md"]
    assert [(w.path, w.code) for w in listing.warnings] == [("out/back", "symlink_loop")]


def test_a_file_swapped_for_an_outside_symlink_is_refused_when_read(tmp_path: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    os.symlink(outside / "secret.md", vault / "swapped.md")
    result = files.read_text(vault, "swapped.md", 10**6)
    assert (result.text, result.hash) == (None, None)
    assert [(w.path, w.code) for w in result.warnings] == [("swapped.md", "symlink_outside")]
    assert SECRET in (files.read_text(vault, "swapped.md", 10**6, follow_external=True).text or "")


def test_a_swap_between_the_scan_and_the_read_is_refused(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "swapped.md": GOOD})

    def swap_after_scan(stage: str, done: int, total: int) -> None:
        if stage == "scan" and not (vault / "swapped.md").is_symlink():
            (vault / "swapped.md").unlink()
            os.symlink(outside / "secret.md", vault / "swapped.md")

    _summary, warnings = index_and_warnings(vault, state_dir, progress=swap_after_scan)
    assert warnings == {"swapped.md": ["symlink_outside"]}
    assert not in_store(state_dir, SECRET)


def test_the_daemon_sees_an_outside_symlink_as_the_full_index_does(tmp_path: Path, state_dir: Path,
                                                                  outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    os.symlink(outside / "secret.md", vault / "passwd.md")
    os.symlink(outside, vault / "linked")
    rules = files.ignore_rules(vault)
    assert files.stat_path(vault, "passwd.md", rules) == ("outside", None)
    assert files.stat_path(vault, "linked", rules) == ("outside", None)
    assert files.stat_path(vault, "linked/secret.md", rules) == ("absent", None)  # the walk never gets there
    assert files.stat_path(vault, "passwd.md", files.ignore_rules(vault, ("passwd.md",))) == ("absent", None)
    walked = {w.path: w for w in files.walk_vault(vault, rules).warnings}
    assert files.outside_warning(vault, "passwd.md") == walked["passwd.md"]
    assert files.walk_vault(vault, rules, start="linked").warnings == [walked["linked"]]
    following = files.ignore_rules(vault, follow_external=True)
    assert files.stat_path(vault, "passwd.md", following)[0] == "file"
    assert files.stat_path(vault, "linked", following) == ("folder", None)
    assert files.stat_path(vault, "linked/secret.md", following)[0] == "file"


def test_a_batch_with_outside_symlinks_matches_a_full_index(tmp_path: Path, state_dir: Path, outside: Path) -> None:
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    vaultmind.index(vault, state_dir=state_dir)
    os.symlink(outside / "secret.md", vault / "passwd.md")
    os.symlink(outside, vault / "linked")
    config = vaultmind.load_config(vault, state_dir=str(state_dir))
    with Store.open(state_dir) as store, store.writer_lock():
        pipeline.update_paths(store, vault, config, ["passwd.md", "linked"])
    codes = {(w.path, w.code) for w in vaultmind.doctor(vault, state_dir=state_dir)}
    assert codes == {("passwd.md", "symlink_outside"), ("linked", "symlink_outside")}
    assert vaultmind.verify(vault, state_dir=state_dir) == []
    assert not in_store(state_dir, SECRET)


# ---------------------------------------------------------------- deep nesting


DEPTH = 1200


@pytest.fixture
def deep_vault(tmp_path: Path) -> Iterator[Path]:
    """A vault with a note at the bottom of DEPTH nested folders, built and removed one folder at
    a time: os.makedirs and pytest's own clean-up (shutil.rmtree) recurse per folder."""
    vault = make_vault(tmp_path / "v", {"good.md": GOOD})
    folder = vault
    for _ in range(DEPTH):
        folder = folder / "d"
        folder.mkdir()
    (folder / "bottom.md").write_text("# Bottom\n\nSee [[good]].\n", encoding="utf-8")
    yield vault
    (folder / "bottom.md").unlink()
    for depth in range(DEPTH, 0, -1):
        vault.joinpath(*["d"] * depth).rmdir()


def test_folders_nested_deeper_than_the_recursion_limit(deep_vault: Path, state_dir: Path) -> None:
    deep = "/".join(["d"] * DEPTH)
    summary, warnings = index_and_warnings(deep_vault, state_dir, embed=False, scenes=False)
    assert warnings == {} and summary.notes == 2
    report = vaultmind.note_report(deep_vault, f"{deep}/bottom", state_dir=state_dir)
    assert [l.target_path for l in report.outgoing] == ["good.md"]
    inner = files.walk_vault(deep_vault, files.ignore_rules(deep_vault), start="d/d")
    assert [f.path for f in inner.files] == [f"{deep}/bottom.md"]
    assert files.stat_path(deep_vault, f"{deep}/bottom.md", files.ignore_rules(deep_vault))[0] == "file"


# ---------------------------------------------------------------- text that only looks double-encoded


def test_a_replacement_character_in_an_ascii_note_is_left_alone() -> None:
    text = "Plain note with a lost character \ufffd and [[a link]].\n"
    assert files.repair_mojibake(text) is None
    decoded, warnings = files.decode_note("lost.md", text.encode("utf-8"), 10**6)
    assert decoded == text and warnings == []


def test_a_double_encoded_replacement_character_is_repaired_once() -> None:
    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codec)

    original = "Plain note with a lost character \ufffd."
    garbled = original.encode("utf-8").decode("sloppy-windows-1252")
    assert files.repair_mojibake(garbled) == (original, "windows-1252")


@pytest.mark.parametrize("codec", ["sloppy-windows-1252", "mac_roman", "latin-1"])
def test_genuine_mojibake_is_still_repaired(codec: str) -> None:
    import ftfy.bad_codecs  # noqa: F401

    original = "Привет мир, это заметка про [[пчёлы]]"  # through Mac Roman ftfy scores it 0: not "worse"
    once = original.encode("utf-8").decode(codec)
    twice = once.encode("utf-8").decode(codec)
    assert files.repair_mojibake(once) == (original, codec.removeprefix("sloppy-"))
    assert files.repair_mojibake(twice) == (original, codec.removeprefix("sloppy-"))


def test_text_that_would_not_round_trip_is_left_alone() -> None:
    import ftfy.bad_codecs  # noqa: F401

    garbled = "Привет мир".encode("utf-8").decode("sloppy-windows-1252")
    # a U+FFFD beside real mojibake: no codepage made it, so the text is not one misreading
    assert files.repair_mojibake(garbled + " \ufffd") is None
    assert files.repair_mojibake("Café — naïve, Ãx") is None  # not UTF-8 through any codepage


def test_a_replacement_character_in_a_vault_gives_no_mojibake_warning(tmp_path: Path, state_dir: Path) -> None:
    text = "# Lost\n\nA character was lost here: \ufffd, see [[good]].\n"
    vault = make_vault(tmp_path / "v", {"good.md": GOOD, "lost.md": text})
    _summary, warnings = index_and_warnings(vault, state_dir, embed=False, scenes=False)
    assert warnings == {}
    assert vaultmind.note_report(vault, "lost", state_dir=state_dir).note.text == text
