"""The app's Overview, Search, Note and Health pages, run with Streamlit's AppTest on an indexed
copy of the sample vault (hash embedder): no exception, and the values the library gives."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import vaultmind  # noqa: E402
from tests.app_pages import copy_sample, indexed_copy, open_page  # noqa: E402
from tests.conftest import ROOT, HashEmbedder  # noqa: E402

TOPICS = json.loads((ROOT / "tests" / "data" / "sample_topics.json").read_text(encoding="utf-8"))
BEE_QUERY = "зимовка пчёл сила семьи корм"  # shares words with bee notes: the hash embedder knows only words



@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One indexed copy of the sample vault for the tests that only read it."""
    return indexed_copy(tmp_path_factory, "app")




def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def text(at: AppTest) -> str:
    """Everything the page wrote as text, one element a line."""
    parts = [*at.title, *at.subheader, *at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.error]
    return "\n".join(str(p.value) for p in parts)


# ---------------------------------------------------------------- Overview


def test_overview_shows_the_library_counts(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed)
    expected = vaultmind.overview(indexed)
    shown = metrics(at)
    assert shown["Notes"] == f"{expected.notes:,}" == "67"
    assert shown["Links"] == f"{expected.links:,}"
    assert shown["Wanted notes"] == f"{expected.wanted:,}"
    assert shown["Scenes"] == f"{expected.scenes:,}"
    assert shown["Warnings"] == f"{expected.warnings:,}" == "3"
    spots = vaultmind.blind_spots(indexed, limit=200)
    assert shown["Blind spots"] == f"{len(spots):,}"
    page = text(at)
    assert "Онтология мышления" in page  # the planted wanted note is listed
    assert "Up to date with the files on disk" in page
    assert "not running" in page
    assert [b.label for b in at.button] == ["Re-index now"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # blind spots by kind, scenes
    bars = json.loads(charts[0].proto.spec)["data"][0]
    by_kind = dict(zip(bars["y"], bars["x"]))
    assert by_kind["wanted note"] == sum(s.kind == "wanted_note" for s in spots) > 0
    assert set(by_kind) == {k.replace("_", " ") for k in vaultmind.BLIND_SPOT_KINDS}


def test_overview_reindex_button_runs_index_and_shows_the_summary(monkeypatch, tmp_path):
    vault = copy_sample(tmp_path / "vault")
    vaultmind.index(vault, embedder=HashEmbedder("e5"), workers=1)
    note = vault / "bees" / "21_роение.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nЕщё одна мысль о роении.\n", encoding="utf-8")
    before = vaultmind.overview(vault).indexed_at
    at = open_page(monkeypatch, vault)
    assert "1 file changed on disk" in text(at)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    after = vaultmind.overview(vault)
    assert after.indexed_at > before and after.changed == 0
    done = [s.value for s in at.success if str(s.value).startswith("Indexed in")]
    assert len(done) == 1 and "67 notes" in done[0] and "Parsed 1," in done[0]
    assert "Up to date with the files on disk" in text(at)


def test_overview_shows_a_running_daemon_instead_of_the_button(monkeypatch, tmp_path):
    vault = copy_sample(tmp_path / "vault")
    vaultmind.index(vault, embedder=HashEmbedder("e5"), workers=1)
    stop, ready = threading.Event(), threading.Event()
    daemon = threading.Thread(target=vaultmind.watch, args=(vault,),
                              kwargs=dict(embedder=HashEmbedder("e5"), stop=stop, ready=ready), daemon=True)
    daemon.start()
    try:
        assert ready.wait(60), "the daemon did not finish its first scan"
        at = open_page(monkeypatch, vault)
        assert "vaultmind watch is running" in text(at)
        assert not [b for b in at.button if b.label == "Re-index now"]
    finally:
        stop.set()
        daemon.join(60)


def test_overview_offers_the_first_index(monkeypatch, tmp_path):
    vault = copy_sample(tmp_path / "vault")
    at = open_page(monkeypatch, vault)
    assert "has not been indexed yet" in text(at)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Notes"] == "67"
    assert any(str(s.value).startswith("Indexed in") for s in at.success)


@pytest.mark.parametrize("page", ["search", "note", "health"])
def test_pages_say_clearly_when_the_vault_is_not_indexed(monkeypatch, tmp_path, page):
    vault = copy_sample(tmp_path / "vault")
    at = open_page(monkeypatch, vault, page)
    assert "has not been indexed yet" in text(at)


def test_a_missing_vault_is_a_message_not_a_traceback(monkeypatch, tmp_path):
    at = open_page(monkeypatch, tmp_path / "nowhere")
    assert "vault not found" in text(at)


# ---------------------------------------------------------------- Search


def test_search_in_russian_finds_the_bee_notes(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "search")
    at.text_input(key="q").input(BEE_QUERY).run()
    assert not at.exception, [e.value for e in at.exception]
    hits = vaultmind.search(indexed, BEE_QUERY, limit=10)
    assert hits[0].note.startswith("bees/")
    page = text(at)
    title = hits[0].note.rsplit("/", 1)[-1].removesuffix(".md")
    assert f"**1.** [{title}]" in page
    assert f"score **{hits[0].score:.3f}**" in page
    assert ":orange-background[" in page  # the words the chunk shares with the query are marked
    shown = [m.value for m in at.markdown if str(m.value).startswith("**") and "score" in str(m.value)]
    assert len(shown) == len(hits) == 10
    # each hit says which channels found it and where they ranked it
    captions = [str(c.value) for c in at.caption if "found by" in str(c.value)]
    assert len(captions) == 10
    first = ", ".join(f"{name} #{hit.rank}" for name, hit in hits[0].channels.items())
    assert captions[0].endswith("found by " + first), (captions[0], first)


def test_related_notes_are_marked_linked_or_not(monkeypatch, indexed):
    note = "bread/21_bulk_fermentation.md"
    at = open_page(monkeypatch, indexed, "search", related=note)
    assert not at.exception, [e.value for e in at.exception]
    expected = vaultmind.related(indexed, note, limit=10)
    lines = [str(m.value) for m in at.markdown if "similarity" in str(m.value)]
    assert len(lines) == len(expected) == 10
    for line, r in zip(lines, expected):
        assert r.note.rsplit("/", 1)[-1].removesuffix(".md") in line
        assert ("🔗 linked" in line) == r.linked and ("not linked" in line) == (not r.linked)
    assert any(r.linked for r in expected) and any(not r.linked for r in expected)


# ---------------------------------------------------------------- Note


def test_note_page_shows_backlinks_scene_wanted_links_and_turns(monkeypatch, indexed):
    path = "bees/25_весенний_осмотр.md"
    at = open_page(monkeypatch, indexed, "note", path=path)
    report = vaultmind.note_report(indexed, path)
    found = vaultmind.scene_map(indexed)
    shown = metrics(at)
    assert shown["Backlinks"] == f"{len(report.backlinks):,}" != "0"
    assert shown["Wanted links"] == f"{len(report.unresolved):,}" == "3"
    page = text(at)
    for link in report.backlinks:
        assert link.source.rsplit("/", 1)[-1].removesuffix(".md") in page
    for wanted in ("погодный дневник", "varroa treatment calendar", "Варроатоз"):
        assert f"**{wanted}**" in page
    scene = found.scene_of(path)
    assert scene is not None and f"Scene **{scene.id}: {scene.label}**" in page
    assert "Related notes" in page and ("linked" in page)


def test_note_page_shows_a_dialogue_as_turns(monkeypatch, indexed):
    path = "bees/21_роение.md"
    at = open_page(monkeypatch, indexed, "note", path=path)
    turns = vaultmind.note_report(indexed, path).note.turns
    assert len(turns) > 1
    assert metrics(at)["Dialogue turns"] == str(len(turns))
    assert len(at.chat_message) == len(turns)
    assert [m.name for m in at.chat_message] == [t.role for t in turns]


def test_note_page_without_a_path_offers_a_picker(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "note")
    assert "Choose a note above" in text(at)
    picker = at.selectbox[0]
    assert len(picker.options) == 67
    picker.select("stoic/14_amor_fati.md").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["path"] == "stoic/14_amor_fati.md"
    assert any(s.value == "14_amor_fati" for s in at.subheader)


def test_note_page_names_an_unknown_note(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "note", path="no such note")
    assert "no note named 'no such note'" in text(at)


# ---------------------------------------------------------------- Health


def test_health_lists_every_warning_by_file(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "health")
    table = at.dataframe[0].value
    warnings = vaultmind.doctor(indexed)
    assert sorted(table["file"]) == sorted(w.path for w in warnings)
    assert set(table["file"]) == {*TOPICS["broken_yaml"], *TOPICS["encodings"]}
    problems = dict(zip(table["file"], table["problem"]))
    assert problems["hiking/13_ночёвка_на_перевале.md"] == "broken YAML front matter"
    assert problems["bees/14_зимовка_диалог.md"].startswith("repaired encoding")
    page = text(at)
    assert "3 warnings in 3 files" in page
    overview = vaultmind.overview(indexed)
    assert overview.state_dir in page and "test-hash-e5-256" in page
