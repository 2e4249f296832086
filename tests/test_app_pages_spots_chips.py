"""The app's Blind spots and Chips pages, run in-process with Streamlit's AppTest against a copy of
the sample vault indexed with the test embedder (conftest's autouse fixture makes the app's
`vaultmind.embedder()` the same HashEmbedder)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import vaultmind
from tests.app_pages import open_page
from tests.conftest import ROOT, SAMPLE_VAULT, hash_channels

TOPICS = json.loads((ROOT / "tests" / "data" / "sample_topics.json").read_text(encoding="utf-8"))
WANTED = max(TOPICS["wanted"], key=lambda name: len(TOPICS["wanted"][name]))  # the most linked one


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample vault indexed once per module; each test gets its own copy (verdicts stick)."""
    vault = tmp_path_factory.mktemp("indexed") / "sample_vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    vaultmind.index(vault, embedder=hash_channels())
    return vault


@pytest.fixture
def vault(indexed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "sample_vault"
    shutil.copytree(indexed, copy)  # copy2 keeps mtimes: the copy is as fresh as its index
    return copy




def finding_ids(at: AppTest, verdict_button: str = "dismiss") -> list[str]:
    return [b.key.removeprefix(f"{verdict_button}-") for b in at.button
            if b.key and b.key.startswith(f"{verdict_button}-")]


def text_of(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# ---------------------------------------------------------------- blind spots


def test_blind_spots_page_lists_the_planted_wanted_note_with_evidence_and_links(vault, monkeypatch):
    at = open_page(monkeypatch, vault, "blindspots")

    headings = [s.value for s in at.subheader]
    assert any(h.startswith("wanted note") for h in headings)
    assert any(h.startswith("missing link") for h in headings), headings
    text = text_of(at)
    assert f"[[{WANTED}]] is linked from {len(TOPICS['wanted'][WANTED])} notes" in text
    assert f"**{WANTED}** — not written yet" in text
    # the evidence names every note that links to it, each opening in the app and in Obsidian
    for source in TOPICS["wanted"][WANTED][:5]:
        assert vaultmind.obsidian_url(vault, source) in text
    assert "/note?path=" in text
    # each finding's notes open on the app's Note page
    linked = {parse_qs(link.proto.query_string)["path"][0] for link in at.get("page_link") if link.proto.page == "note"}
    assert linked and all((vault / path).is_file() for path in linked)
    assert vaultmind.EXPLANATIONS["wanted_note"] in [c.value for c in at.caption]


def test_filtering_by_kind_narrows_the_list(vault, monkeypatch):
    at = open_page(monkeypatch, vault, "blindspots")
    everything = finding_ids(at)

    at.multiselect(key="spot_kinds").set_value(["wanted_note"]).run()

    assert not at.exception
    wanted = finding_ids(at)
    assert wanted and len(wanted) < len(everything)
    assert all(spot.startswith("wn-") for spot in wanted)
    assert [s.value.split(" · ")[0] for s in at.subheader] == ["wanted note"]

    at.multiselect(key="spot_kinds").set_value([]).run()
    assert not finding_ids(at) and at.info


def test_other_pages_can_link_to_one_kind(vault, monkeypatch):
    at = open_page(monkeypatch, vault, "blindspots", kind="orphan")

    assert not at.exception
    assert at.multiselect(key="spot_kinds").value == ["orphan"]
    assert {b.key for b in at.button if b.key and b.key.startswith("dismiss-")} == {
        f"dismiss-{spot.id}" for spot in vaultmind.blind_spots(vault, kinds=["orphan"])}


def test_filtering_by_scene_keeps_that_scenes_findings(vault, monkeypatch):
    at = open_page(monkeypatch, vault, "blindspots")
    everything = set(finding_ids(at))
    scene = next(s for s in vaultmind.scene_map(vault).scenes if WANTED in s.wanted)

    at.selectbox(key="spot_scene").set_value(scene.id).run()

    assert not at.exception
    in_scene = set(finding_ids(at))
    assert in_scene and in_scene != everything
    assert f"[[{WANTED}]] is linked from" in text_of(at)


def test_dismissing_hides_the_finding_and_the_store_remembers(vault, monkeypatch):
    at = open_page(monkeypatch, vault, "blindspots")
    dismissed, accepted = finding_ids(at)[:2]

    at.button(key=f"dismiss-{dismissed}").click().run()

    assert not at.exception
    assert dismissed not in finding_ids(at) and dismissed not in finding_ids(at, "accept")
    assert at.success and at.success[0].value.startswith("Dismissed")
    assert [(verdict, spot.id) for verdict, spot, _at in vaultmind.feedback(vault)] == [("dismissed", dismissed)]

    at.button(key=f"accept-{accepted}").click().run()

    assert accepted in finding_ids(at)  # still listed, marked accepted, no second accept button
    assert accepted not in finding_ids(at, "accept")
    assert "✅ accepted" in text_of(at)
    assert dict((spot.id, verdict) for verdict, spot, _at in vaultmind.feedback(vault)) == {
        dismissed: "dismissed", accepted: "accepted"}

    # a new session (a fresh page) still hides it; "show dismissed" brings it back to accept
    again = open_page(monkeypatch, vault, "blindspots")
    assert dismissed not in finding_ids(again)
    again.toggle(key="spot_dismissed").set_value(True).run()
    assert dismissed in finding_ids(again, "accept") and dismissed not in finding_ids(again)


def test_blind_spots_page_on_an_unindexed_vault_says_so(tmp_path, monkeypatch):
    bare = tmp_path / "bare"
    shutil.copytree(SAMPLE_VAULT, bare, ignore=shutil.ignore_patterns(".vaultmind"))
    at = open_page(monkeypatch, bare, "blindspots")
    assert "has not been indexed yet" in at.warning[0].value
    assert not finding_ids(at)


# ---------------------------------------------------------------- chips


@pytest.fixture
def builds(monkeypatch):
    """Counts the page's calls of `vaultmind.build_chip_set` (the expensive one)."""
    calls: list[dict] = []
    build = vaultmind.build_chip_set

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return build(*args, **kwargs)

    monkeypatch.setattr(vaultmind, "build_chip_set", counted)
    return calls


def test_chips_page_builds_nothing_until_asked_then_previews_each_kind(vault, monkeypatch, builds):
    at = open_page(monkeypatch, vault, "chips")
    assert not builds and not at.metric and not at.chat_message
    assert "Build the chips" in at.info[0].value

    at.button(key="chip_build").click().run()

    assert not at.exception, [e.value for e in at.exception]
    assert len(builds) == 1
    tabs = [t.label for t in at.tabs]
    assert all(kind.replace("_", " ") in tabs for kind in vaultmind.CHIP_KINDS)
    assert at.chat_message  # chat chips show their turns
    assert {m.label: m.value for m in at.metric}["Notes used"].endswith(f"of {67}")
    at.run()
    assert len(builds) == 1  # the same options on a rerun come from the cache

    at.multiselect(key="chip_kinds").set_value(["dialogue"]).run()
    assert len(builds) == 1 and "Build the chips" in at.info[0].value  # new options: asked again
    at.button(key="chip_build").click().run()
    assert len(builds) == 2 and builds[-1]["kinds"] == ["dialogue"]
    assert "dialogue" in [t.label for t in at.tabs] and "note qa" not in [t.label for t in at.tabs]


def test_privacy_options_reach_the_build(vault, monkeypatch, builds):
    at = open_page(monkeypatch, vault, "chips")
    at.radio(key="chip_secrets").set_value("drop")
    at.checkbox(key="chip_contacts").check()
    at.checkbox(key="chip_system").uncheck().run()
    at.button(key="chip_build").click().run()

    assert not at.exception
    config = builds[-1]["config"]
    assert (config.chip_secrets, config.chip_contacts, config.chip_system) == ("drop", True, False)
    system_turns = [m for m in at.chat_message if m.name == "system"]
    assert not system_turns


def test_export_writes_the_files_shows_card_and_stats_and_offers_a_zip(vault, tmp_path, monkeypatch):
    deferred: list = []
    add_deferred = MediaFileManager.add_deferred

    def keep(self, callable_, *args, **kwargs):
        deferred.append(callable_)
        return add_deferred(self, callable_, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    out = tmp_path / "export"
    at = open_page(monkeypatch, vault, "chips")
    assert Path(at.text_input(key="chip_folder").value).parent.name == ".vaultmind"  # default: in the state dir
    at.text_input(key="chip_folder").set_value(str(out)).run()
    at.multiselect(key="chip_formats").set_value(["openai", "canonical"]).run()

    at.button(key="chip_export").click().run()

    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["chip_result"]
    assert result.out == out.resolve() and result.files
    assert all((out / name).is_file() for name in result.files)
    assert "openai/train.jsonl" in result.files and "README.md" in result.files
    assert at.success[0].value.startswith(f"Wrote {len(result.files)} files")
    assert any("vaultmind chips" in m.value for m in at.markdown)  # the dataset card, rendered
    assert any(m.label == "Scenes: train / validation" for m in at.metric)  # split statistics
    assert at.get("download_button")[0].label == "Download export.zip"
    archive = zipfile.ZipFile(io.BytesIO(deferred[-1]()))
    assert sorted(archive.namelist()) == sorted(f"export/{name}" for name in result.files)

    # a second export into the same folder waits for the author's consent
    at.run()
    assert at.button(key="chip_export").disabled
    at.checkbox(key="chip_overwrite").check().run()
    assert not at.button(key="chip_export").disabled
    at.button(key="chip_export").click().run()
    assert not at.exception and at.success


def test_export_never_replaces_a_folder_that_is_not_an_export(vault, tmp_path, monkeypatch):
    mine = tmp_path / "my files"
    mine.mkdir()
    (mine / "thesis.md").write_text("years of work", encoding="utf-8")
    at = open_page(monkeypatch, vault, "chips")
    at.text_input(key="chip_folder").set_value(str(mine)).run()

    assert "not a vaultmind export" in at.error[0].value
    assert at.button(key="chip_export").disabled
    assert (mine / "thesis.md").read_text(encoding="utf-8") == "years of work"


def test_chips_page_on_an_unindexed_vault_says_so(tmp_path, monkeypatch):
    bare = tmp_path / "bare"
    shutil.copytree(SAMPLE_VAULT, bare, ignore=shutil.ignore_patterns(".vaultmind"))
    at = open_page(monkeypatch, bare, "chips")
    assert "has not been indexed yet" in at.warning[0].value
