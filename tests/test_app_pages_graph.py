"""The app's Graph and Scenes pages, run with Streamlit's AppTest on an indexed copy of the sample
vault (hash embedder): no exception, and what they draw is what the library answers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import vaultmind  # noqa: E402
from tests.app_pages import copy_sample, indexed_copy, open_page  # noqa: E402

WANTED_TRACE = "wanted notes (not written)"



@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One indexed copy of the sample vault for the tests that only read it."""
    return indexed_copy(tmp_path_factory, "app-graph")




def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def nodes(figure: dict) -> dict[str, list]:
    """The drawn nodes by trace name: each node's custom data (its id first)."""
    drawn: dict[str, list] = {}
    for trace in figure["data"]:
        if "markers" in trace.get("mode", "") and trace.get("customdata"):
            drawn.setdefault(trace.get("name") or "", []).extend(trace["customdata"])
    return drawn


def node_ids(figure: dict) -> set:
    return {item[0] for items in nodes(figure).values() for item in items}


def values(column: list | dict) -> list:
    """A figure's column as a list: Plotly sends numeric columns as typed arrays (`bdata`)."""
    if isinstance(column, dict):
        return np.frombuffer(base64.b64decode(column["bdata"]), dtype=column["dtype"]).tolist()
    return list(column)


def text(at: AppTest) -> str:
    parts = [*at.title, *at.subheader, *at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.error]
    return "\n".join(str(p.value) for p in parts)


# ---------------------------------------------------------------- Graph


def test_graph_scene_level_shows_every_scene(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "graph")
    scenes = vaultmind.scene_map(indexed).scenes
    [figure] = figures(at)
    assert node_ids(figure) == {s.id for s in scenes}
    level = vaultmind.graph_view(indexed)
    lines = [t for t in figure["data"] if t.get("mode") == "lines"]
    assert sum(len(t["x"]) for t in lines) == 3 * level.number_of_edges()  # each line: two ends and a break
    assert f"{len(scenes)} scenes, sized by their notes" in text(at)
    labels = [t for t in figure["data"] if "text" in t.get("mode", "")][0]["text"]
    assert all(any(label.rstrip("…") in s.label for s in scenes) for label in labels)


def test_graph_choosing_a_scene_shows_its_notes(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "graph")
    at.button_group(key="graph_view").set_value("scene")
    rerun(at)
    for scene in vaultmind.scene_map(indexed).scenes:
        at.selectbox(key="graph_scene").set_value(scene.id)
        rerun(at)
        [figure] = figures(at)
        drawn = nodes(figure)
        assert {item[0] for item in drawn["notes"]} == set(scene.notes)
        expected = vaultmind.graph_view(indexed, scene=scene.id)
        assert node_ids(figure) == set(expected)
        assert f"Scene {scene.id} «{scene.label}»: {len(scene.notes)} notes" in text(at)


def test_graph_draws_wanted_notes_distinctly(monkeypatch, indexed):
    scene = next(s for s in vaultmind.scene_map(indexed).scenes if "Онтология мышления" in s.wanted)
    at = open_page(monkeypatch, indexed, "graph", scene=str(scene.id))
    [figure] = figures(at)
    traces = {t.get("name"): t for t in figure["data"] if t.get("customdata") and "markers" in t.get("mode", "")}
    wanted, notes = traces[WANTED_TRACE], traces["notes"]
    assert [item[0] for item in wanted["customdata"]] == ["Онтология мышления"]
    assert {item[1] for item in wanted["customdata"]} == {"wanted"}
    assert wanted["marker"]["symbol"] == "circle-open" != notes["marker"]["symbol"]
    assert set(wanted["marker"]["color"]).isdisjoint(notes["marker"]["color"])


def test_graph_local_graph_grows_with_depth(monkeypatch, indexed):
    centre = "ai/33_катастрофическое_забывание.md"
    at = open_page(monkeypatch, indexed, "graph", note=centre)
    sizes = []
    for depth in (1, 2, 3):
        at.select_slider(key="graph_depth").set_value(depth)
        rerun(at)
        [figure] = figures(at)
        drawn = node_ids(figure)
        assert drawn == set(vaultmind.graph_view(indexed, note=centre, depth=depth))
        assert centre in drawn
        sizes.append(len(drawn))
    assert sizes[0] < sizes[1] < sizes[2]


def test_graph_local_graph_takes_a_title_and_names_a_missing_note(monkeypatch, indexed):
    at = open_page(monkeypatch, indexed, "graph", note="Сцена", depth="2")
    [figure] = figures(at)
    centre = vaultmind.note_report(indexed, "Сцена").note.path
    assert node_ids(figure) == set(vaultmind.graph_view(indexed, note=centre, depth=2))
    at.text_input(key="graph_note").set_value("no such note at all")
    rerun(at)
    assert any("no such note at all" in e.value for e in at.error)


def test_graph_says_when_the_vault_is_not_indexed(monkeypatch, tmp_path):
    vault = copy_sample(tmp_path / "vault")
    for page in ("graph", "scenes"):
        at = open_page(monkeypatch, vault, page)
        assert any("has not been indexed yet" in w.value for w in at.warning)
        assert not at.get("plotly_chart")


# ---------------------------------------------------------------- Scenes


def test_scenes_page_shows_each_scene_its_summary_and_blind_spots(monkeypatch, indexed):
    found = vaultmind.scene_map(indexed)
    at = open_page(monkeypatch, indexed, "scenes")
    shown_map = figures(at)[0]
    assert len(values(shown_map["data"][0]["x"])) == len(found.positions)
    assert sorted(values(shown_map["data"][0]["customdata"])) == sorted(
        next((s.id for s in found.scenes if p in s.notes), 0) for p in found.positions)
    annotations = [a["text"] for a in shown_map["layout"]["annotations"]]
    assert len(annotations) == len(found.scenes)
    for scene in found.scenes:
        at.selectbox(key="scenes_scene").set_value(scene.id)
        rerun(at)
        page = text(at)
        assert f"{scene.id}. {scene.label}" in [h.value for h in at.subheader]
        assert scene.summary.replace("$", r"\$").replace("<", "&lt;") in page
        for path in scene.central:
            assert path.rsplit("/", 1)[-1].removesuffix(".md") in page
        spots = vaultmind.blind_spots(indexed, scene=scene.id, limit=5)
        for spot in spots:
            assert spot.title.replace("$", r"\$").replace("<", "&lt;") in page
        report = vaultmind.scene_report(indexed, scene.id)
        if report.neighbours:
            neighbours = figures(at)[2]  # the map, the centrality chart, the neighbours
            assert [c[0] for c in neighbours["data"][0]["customdata"]][::-1] == [s for s, _n in report.neighbours][:12]


def test_scenes_page_opens_the_scene_in_the_url(monkeypatch, indexed):
    scene = vaultmind.scene_map(indexed).scenes[-1]
    at = open_page(monkeypatch, indexed, "scenes", scene=str(scene.id))
    assert at.selectbox(key="scenes_scene").value == scene.id
    assert f"{scene.id}. {scene.label}" in [h.value for h in at.subheader]


def test_scenes_page_exports_this_scenes_chips(monkeypatch, indexed, tmp_path):
    scene = vaultmind.scene_map(indexed).scenes[0]
    at = open_page(monkeypatch, indexed, "scenes", scene=str(scene.id))
    out = tmp_path / "chips"
    at.text_input(key=f"scenes_chip_folder_{scene.id}").set_value(str(out))
    rerun(at)
    at.button(key="scenes_chip_export").click()
    rerun(at)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]
    assert all((out / name).is_file() for name in manifest["files"])
    assert any(f"to `{out}`" in s.value for s in at.success)
    records = [json.loads(line) for part in sorted((out / "canonical").glob("*.jsonl"))
               for line in part.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert records and all(r["scene"]["id"] == scene.id for r in records)  # this scene's chips only
