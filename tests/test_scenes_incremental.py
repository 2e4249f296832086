"""Incremental scene updates (the sync daemon's path): a `SceneState` built once, then changes
applied and scenes found again from the last ones — on the sample vault (test embedder) and
small fixtures. What must hold: scenes a change did not touch keep their ids, members and
labels; changed, new and deleted notes land where a full run would put them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

import vaultmind
from vaultmind import pipeline
from vaultmind.config import Config
from vaultmind.scenes import build_scenes, weights_from
from vaultmind.scenes.communities import leiden
from vaultmind.scenes.hybrid import nearest_pairs, scene_graph
from vaultmind.scenes.incremental import NoteContent, SceneChange, SceneState
from vaultmind.scenes.labels import Labeller, SceneText, label_scenes
from vaultmind.scenes.nearest import NearestNotes
from vaultmind.store import Store
from vaultmind.types import SceneMap

from .conftest import SAMPLE_VAULT, HashEmbedder

# The test embedder's hashed vectors give unrelated notes weak cosines around 0.1–0.2; at the
# default floor (0.2, measured for real models) some become meaning edges that real vectors do
# not have. 0.3 keeps them out, so these tests see what the algorithm does, not hash noise.
# tests/test_models.py checks deletions with the real default channels at the default floor.
CONFIG = Config(scene_floor=0.3)
SENTENCE = "\nЕщё одно предложение: вечером я снова перечитал эту заметку и дописал вывод.\n"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample vault indexed once without scenes (test embedder); tests work on copies."""
    base = tmp_path_factory.mktemp("incremental")
    shutil.copytree(SAMPLE_VAULT, base / "vault", ignore=shutil.ignore_patterns(".vaultmind"))
    vaultmind.index(base / "vault", state_dir=base / "state", embedder=HashEmbedder(), scenes=False)
    return base


@dataclass
class Daemon:
    """What the sync daemon holds: a vault, its store and the scene state built from it."""

    vault: Path
    state_dir: Path
    store: Store
    state: SceneState
    embedder: HashEmbedder

    def scenes(self) -> SceneMap:
        scene_map = self.store.scene_map()
        assert scene_map is not None
        return scene_map

    def update(self, *dirty: str) -> pipeline.SceneRefresh:
        """Re-index the files (no scenes), then update the scenes incrementally."""
        vaultmind.index(self.vault, state_dir=self.state_dir, embedder=self.embedder, scenes=False)
        with self.store.writer_lock():
            return pipeline.update_scenes_incremental(self.store, CONFIG, self.embedder.model_id, self.state,
                                                      set(dirty))


@pytest.fixture
def daemon(indexed: Path, tmp_path: Path):
    shutil.copytree(indexed, tmp_path, dirs_exist_ok=True)
    embedder = HashEmbedder()
    with Store.open(tmp_path / "state") as store:
        with store.writer_lock():
            state = pipeline.scene_state(store, CONFIG, embedder.model_id)
        yield Daemon(tmp_path / "vault", tmp_path / "state", store, state, embedder)


def members(scene_map: SceneMap) -> dict[int, frozenset[str]]:
    return {s.id: frozenset(s.notes) for s in scene_map.scenes}


def scene_of(scene_map: SceneMap, path: str) -> int | None:
    return next((s.id for s in scene_map.scenes if path in s.notes), None)


def append(vault: Path, path: str, text: str = SENTENCE) -> None:
    with (vault / path).open("a", encoding="utf-8") as f:
        f.write(text)


# ------------------------------------------------------------------ the full run


def test_a_new_state_runs_the_full_stage_as_build_scenes_does(indexed: Path) -> None:
    embedder = HashEmbedder()
    with Store.open(indexed / "state") as store:
        data = pipeline.scene_input(store, embedder.model_id)
        expected = build_scenes(data, CONFIG)
        raw = pipeline._raw_note_vectors(store, embedder.model_id)
        done = SceneState().rebuild(replace(data, vectors=None), CONFIG, raw=raw, model=embedder.model_id)
    assert done.full
    found = done.run
    assert found.scenes == expected.scenes
    assert (found.unplaced, found.centrality, found.regions) == (expected.unplaced, expected.centrality,
                                                                  expected.regions)
    assert (found.positions, found.hubs, found.events, found.edges) == (expected.positions, expected.hubs,
                                                                        expected.events, expected.edges)


def test_the_state_is_stored_as_update_scenes_stores_it(daemon: Daemon) -> None:
    assert daemon.state.fits(CONFIG, daemon.embedder.model_id)
    assert not pipeline.update_scenes(daemon.store, CONFIG, daemon.embedder.model_id)  # already current
    stored = daemon.scenes()
    assert [(s.id, s.notes, s.terms) for s in stored.scenes] == \
        [(s.id, s.notes, s.label.terms) for s in daemon.state.last.scenes]


# ------------------------------------------------------------------ changes


def test_editing_one_note_keeps_every_other_scene_and_its_label(daemon: Daemon) -> None:
    before = daemon.scenes()
    note = "bread/21_bulk_fermentation.md"
    append(daemon.vault, note)
    result = daemon.update(note)
    after = daemon.scenes()
    assert not result.full
    untouched = {i: m for i, m in members(before).items() if note not in m}
    assert len(untouched) == len(before.scenes) - 1
    assert {i: members(after)[i] for i in untouched} == untouched
    labels = {s.id: (s.label, s.terms, s.summary) for s in after.scenes}
    assert {s.id: (s.label, s.terms, s.summary) for s in before.scenes if s.id in untouched} == \
        {i: labels[i] for i in untouched}
    assert scene_of(after, note) == scene_of(before, note)
    assert set(result.steps) >= {"read", "graph", "communities", "labels", "ids", "store"}


def test_an_update_without_a_real_change_returns_the_same_scenes(daemon: Daemon) -> None:
    before = daemon.scenes()
    result = daemon.update("bees/21_роение.md", "stoic/14_amor_fati.md")
    after = daemon.scenes()
    assert not result.full and result.changed == ()
    assert [(s.id, s.notes, s.label, s.summary, s.wanted, s.region) for s in after.scenes] == \
        [(s.id, s.notes, s.label, s.summary, s.wanted, s.region) for s in before.scenes]
    assert after.unplaced == before.unplaced
    assert {e.kind for e in after.events if e.level == "scene"} == {"continue"}


def test_a_deleted_note_leaves_its_scene(daemon: Daemon) -> None:
    before = daemon.scenes()
    note = "bees/21_роение.md"
    home = scene_of(before, note)
    (daemon.vault / note).unlink()
    result = daemon.update(note)
    after = daemon.scenes()
    assert not result.full and home in result.changed
    assert scene_of(after, note) is None and note not in after.unplaced
    assert members(after)[home] == members(before)[home] - {note}
    assert {i: m for i, m in members(after).items() if i != home} == \
        {i: m for i, m in members(before).items() if i != home}


def test_a_scene_that_ends_is_named_among_the_changed(daemon: Daemon) -> None:
    before = daemon.scenes()
    smallest = min(before.scenes, key=lambda s: s.size)
    for note in smallest.notes:
        (daemon.vault / note).unlink()
    result = daemon.update(*smallest.notes)
    assert smallest.id not in members(daemon.scenes())
    assert smallest.id in result.changed  # gone scenes are changes too (the daemon's status counts them)


def test_a_new_note_linking_into_a_scene_joins_it(daemon: Daemon) -> None:
    before = daemon.scenes()
    targets = ["21_bulk_fermentation", "12_sourdough_starter_ratios", "27_oven_spring_dutch_oven"]
    home = scene_of(before, "bread/21_bulk_fermentation.md")
    assert all(scene_of(before, f"bread/{t}.md") == home for t in targets)
    note = "bread/40_weekend_loaf.md"
    (daemon.vault / note).write_text(
        "# Weekend loaf\n\nA slow weekend loaf: feed the sourdough starter on Friday, a long bulk "
        "fermentation on Saturday and bake in the dutch oven on Sunday.\n\n"
        + "\n".join(f"- [[{t}]]" for t in targets) + "\n", encoding="utf-8")
    result = daemon.update(note)
    after = daemon.scenes()
    assert not result.full
    assert scene_of(after, note) == home and home in result.changed
    assert note in after.positions and {p: after.positions[p] for p in before.positions} == before.positions
    assert {i: m for i, m in members(after).items() if i != home} == \
        {i: m for i, m in members(before).items() if i != home}


def test_a_created_note_resolves_other_notes_wanted_links(daemon: Daemon) -> None:
    before = daemon.scenes()
    home = scene_of(before, "bees/09_варроа_клещ.md")
    assert "varroa treatment calendar" in next(s.wanted for s in before.scenes if s.id == home)
    note = "bees/varroa treatment calendar.md"
    (daemon.vault / note).write_text("Когда и чем обрабатывать пчёл от клеща варроа: весна, осень, зима.\n",
                                     encoding="utf-8")
    daemon.update(note)  # only the new note is dirty: the notes linking to it are found
    after = daemon.scenes()
    assert scene_of(after, note) == home
    assert all("varroa treatment calendar" not in s.wanted for s in after.scenes)
    assert daemon.state.linking_to([note]) == {"bees/09_варроа_клещ.md", "bees/11_щавелевая_кислота_сублимация.md",
                                               "bees/25_весенний_осмотр.md"}


def test_a_wanted_note_written_with_md_stays_one_wanted_note(daemon: Daemon) -> None:
    append(daemon.vault, "bees/21_роение.md", "\nСм. [[varroa treatment calendar.md]] и [[Aras Teucras.md]].\n")
    daemon.update("bees/21_роение.md")
    append(daemon.vault, "bees/05_матка_и_как_её_найти.md", "\nСм. [[Aras Teucras]].\n")
    daemon.update("bees/05_матка_и_как_её_найти.md")
    wanted = [text for s in daemon.scenes().scenes for text in s.wanted]
    assert wanted.count("varroa treatment calendar") == 1 and wanted.count("Aras Teucras") == 1
    assert not [text for text in wanted if text.lower().endswith(".md")]


def test_a_large_change_or_other_settings_run_the_full_stage(daemon: Daemon) -> None:
    notes = sorted(p for p in daemon.store.paths("note") if p.endswith(".md"))
    many = notes[: len(notes) // 4 + 1]  # more than LARGE_CHANGE of the vault
    for note in many:
        append(daemon.vault, note)
    assert daemon.update(*many).full
    with daemon.store.writer_lock():
        other = pipeline.update_scenes_incremental(daemon.store, replace(CONFIG, scene_resolution=1.0),
                                                   daemon.embedder.model_id, daemon.state, set())
    assert other.full and daemon.state.fits(replace(CONFIG, scene_resolution=1.0), daemon.embedder.model_id)


def test_the_graph_kept_up_to_date_is_the_graph_built_afresh(daemon: Daemon) -> None:
    append(daemon.vault, "ai/07_lora_ранги_и_что_они_кодируют.md", "\nСм. [[21_bulk_fermentation]] и [[Новая идея]].\n")
    (daemon.vault / "bees/21_роение.md").unlink()
    (daemon.vault / "stoic/new.md").write_text("Seneca on anger. [[evening review]]\n", encoding="utf-8")
    daemon.update("ai/07_lora_ранги_и_что_они_кодируют.md", "bees/21_роение.md", "stoic/new.md")
    state = daemon.state
    links = [(s, t) for s, rows in state.rows.items() for t, _w in rows if t is not None]
    edges, hubs = scene_graph(sorted(state.notes), links, state.vectors(), state.words, weights_from(CONFIG))
    assert hubs == state.hubs
    assert edges.keys() == state.edges.keys()
    assert all(state.edges[pair] == pytest.approx(weight, abs=1e-6) for pair, weight in edges.items())


def test_scenes_written_by_someone_else_make_the_next_update_full(daemon: Daemon) -> None:
    with daemon.store.writer_lock():
        pipeline.update_scenes(daemon.store, replace(CONFIG, scene_resolution=0.3), daemon.embedder.model_id)
    result = daemon.update()
    assert result.full
    assert members(daemon.scenes()) == daemon.state.previous["scene"]
    assert not daemon.update().full


def test_links_only_state(daemon: Daemon) -> None:
    with daemon.store.writer_lock():
        state = pipeline.scene_state(daemon.store, CONFIG, "")
    assert state.vectors() is None and state.fits(CONFIG, "")
    before = daemon.scenes()
    note = "hiking/08_вода_на_маршруте.md"
    append(daemon.vault, note, "\nСм. также [[04_acclimatization_rules]].\n")
    vaultmind.index(daemon.vault, state_dir=daemon.state_dir, embedder=daemon.embedder, scenes=False)
    with daemon.store.writer_lock():
        result = pipeline.update_scenes_incremental(daemon.store, CONFIG, "", state, {note})
    assert not result.full
    after = daemon.scenes()
    assert after.model == "" and scene_of(after, note) == scene_of(before, note)
    assert {i: m for i, m in members(after).items() if note not in m} == \
        {i: m for i, m in members(before).items() if note not in m}


# ------------------------------------------------------------------ small fixtures


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_patched_nearest_lists_give_the_pairs_of_a_fresh_search() -> None:
    rng = np.random.default_rng(3)
    now = dict(zip([f"n{i:03d}" for i in range(60)], unit_rows(60, 8, seed=1)))
    nearest = NearestNotes(sorted(now), np.stack([now[p] for p in sorted(now)]), k=4, floor=0.2)
    for step in range(8):  # rounds of changed, new and removed notes
        before = dict(nearest.pairs)
        paths = sorted(now)
        change: dict[str, np.ndarray | None] = {p: None for p in rng.choice(paths, 2, replace=False)}
        fresh = unit_rows(4, 8, seed=10 + step)
        kept = [p for p in paths if p not in change]
        change |= {p: fresh[i] for i, p in enumerate(rng.choice(kept, 2, replace=False))}
        change |= {f"m{step}{i}": fresh[2 + i] for i in range(2)}
        changed = nearest.update(change)
        now = {p: v for p, v in now.items() if change.get(p, v) is not None} | \
            {p: v for p, v in change.items() if v is not None}
        order = sorted(now)
        expected = nearest_pairs(order, np.stack([now[p] for p in order]), 4, 0.2)
        assert set(nearest.pairs) == set(expected)
        assert all(nearest.pairs[p] == pytest.approx(expected[p], abs=1e-6) for p in expected)
        assert {p for p in before.keys() | expected.keys()
                if abs(before.get(p, -9) - expected.get(p, -9)) > 1e-6} <= changed


def test_leiden_never_moves_fixed_notes() -> None:
    clique = lambda names: {(a, b): 1.0 for a in names for b in names if a < b}  # noqa: E731
    edges = clique("abcd") | clique("efgh") | {("d", "e"): 0.5}
    start = {p: 0 for p in "abcd"} | {p: 1 for p in "efgh"}
    moved = leiden(edges, resolution=1.0, seed=0, initial={p: 0 for p in "abcdefgh"}, fixed=set("abcdefgh"))
    assert len(set(moved.values())) == 1  # all fixed in one community: nothing moves
    moved = leiden(edges, resolution=1.0, seed=0, initial=start, fixed=set("abcd"))
    assert len({moved[p] for p in "abcd"}) == 1 and len({moved[p] for p in "efgh"}) == 1
    assert moved["a"] != moved["e"]


def test_a_labeller_that_kept_other_notes_labels_as_label_scenes() -> None:
    groups = {
        0: [SceneText("a.md", "Sourdough starter", "Feed the sourdough starter with flour and water.", 1.0),
            SceneText("b.md", "Rye bread", "A rye sourdough needs a long proof.", 0.5)],
        1: [SceneText("c.md", "Улей", "Пчёлы строят соты в улье на рамках.", 1.0),
            SceneText("d.md", "Зимовка", "Пчёлы зимуют в улье плотным клубом.", 0.5)],
    }
    labeller = Labeller()
    labeller.label({7: [SceneText("x.md", "Stoic evening", "Seneca reviews his day every evening.", 1.0)]})
    assert labeller.label(groups) == label_scenes(groups)
    assert labeller.label(groups, only=[1]) == {1: label_scenes(groups)[1]}


def test_state_changes_without_the_pipeline() -> None:
    """The stage alone: links only, one note added to a chain of notes."""
    notes = [f"n{i}" for i in range(6)]
    links = [(a, b, b) for a, b in zip(notes, notes[1:])] + [("n0", "n2", "n2"), ("n3", "n5", "n5"),
                                                              ("n0", None, "Missing")]
    from vaultmind.scenes import SceneInput

    data = SceneInput(notes=notes, titles={p: p for p in notes}, words={p: 50 for p in notes},
                      texts={p: f"text of {p}" for p in notes}, links=links)
    state = SceneState()
    first = state.rebuild(data, CONFIG)
    assert first.full and sum(len(s.notes) for s in first.run.scenes) + len(first.run.unplaced) == 6
    state.apply(SceneChange(notes={"n6": NoteContent("n6", 50, "text of n6")},
                            links={"n6": [("n4", "n4"), ("n5", "n5"), ("n3", "n3")]}))
    second = state.run()
    assert not second.full
    home = next(s for s in second.run.scenes if "n5" in s.notes)
    assert "n6" in home.notes
    assert {s.id: frozenset(s.notes) for s in second.run.scenes if "n6" not in s.notes} == \
        {s.id: frozenset(s.notes) for s in first.run.scenes if not {"n3", "n4", "n5"} & set(s.notes)}
