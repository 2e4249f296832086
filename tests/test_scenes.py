"""Scenes: the hybrid graph, hubs, communities, unplaced notes, wanted notes in context,
stable ids across runs, the map, the store and the commands — on the sample vault (with the
test embedder) and small fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.cli import main
from vaultmind.config import Config
from vaultmind.scenes.communities import find_communities
from vaultmind.scenes.hybrid import Weights, find_hubs, link_strengths, nearest_pairs, scene_graph
from vaultmind.scenes.ids import match_ids
from vaultmind.scenes.layout import note_map
from vaultmind.store import Store

from .conftest import SAMPLE_VAULT, HashEmbedder, hash_channels

TRUTH = json.loads((Path(__file__).parent / "data" / "sample_topics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, vaultmind.SceneMap]:
    """The sample vault indexed once (test embedder), copied so tests may not touch it."""
    vault = tmp_path_factory.mktemp("scenes") / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    state = vault.parent / "state"
    embedder = hash_channels()
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    return vault, state, vaultmind.scene_map(vault, state_dir=state, embedder=embedder)


# ------------------------------------------------------------------ the graph


def test_hub_rule_is_many_links_and_few_own_words() -> None:
    links = [("index", f"n{i}") for i in range(10)] + [("essay", f"n{i}") for i in range(10)]
    words = {"index": 40, "essay": 2000}
    assert find_hubs(links, words, min_links=8, words_per_link=15) == {"index"}
    assert find_hubs(links[:7], words, min_links=8, words_per_link=15) == set()  # too few links


def test_link_strength_counts_both_directions_and_grows_slowly() -> None:
    strengths = link_strengths([("a", "b"), ("b", "a"), ("b", "a"), ("a", "c"), ("a", "a")])
    assert strengths == {("a", "b"): 2.0, ("a", "c"): 1.0}  # log2(1 + 3), log2(1 + 1); no self link


def test_nearest_pairs_keep_k_neighbours_above_the_floor() -> None:
    vectors = np.array([[1, 0], [0.96, 0.28], [0.8, 0.6], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = nearest_pairs(["a", "b", "c", "d"], vectors, k=1, floor=0.5)
    assert set(pairs) == {("a", "b"), ("b", "c"), ("c", "d")}
    assert pairs[("a", "b")] == pytest.approx(0.96, abs=1e-3)
    assert nearest_pairs(["a", "b", "c", "d"], vectors, k=1, floor=0.95) == {("a", "b"): pytest.approx(0.96, abs=1e-3)}


def test_hub_edges_are_turned_down() -> None:
    notes = ["hub"] + [f"n{i}" for i in range(8)]
    links = [("hub", f"n{i}") for i in range(8)] + [("n0", "n1")]
    weights = Weights(alpha=1.0, neighbours=5, floor=0.3, hub_min_links=8, hub_words_per_link=15, hub_weight=0.1)
    edges, hubs = scene_graph(notes, links, None, {"hub": 10}, weights)
    assert hubs == {"hub"}
    assert edges[("hub", "n0")] == pytest.approx(0.1)
    assert edges[("n0", "n1")] == pytest.approx(1.0)


def test_mix_of_links_and_meaning() -> None:
    vectors = np.eye(3, dtype=np.float32)
    vectors[1] = [0.8, 0.6, 0]
    vectors[2] = [0, 0.6, 0.8]
    weights = Weights(alpha=0.5, neighbours=2, floor=0.2, hub_min_links=8, hub_words_per_link=15, hub_weight=0.1)
    edges, _ = scene_graph(["a", "b", "c"], [("a", "c")], (["a", "b", "c"], vectors), {}, weights)
    assert edges[("a", "c")] == pytest.approx(0.5)  # linked, not near
    assert edges[("a", "b")] == pytest.approx(0.5 * (0.8 - 0.2) / 0.8)  # near, not linked
    assert edges[("b", "c")] == pytest.approx(0.5 * (0.36 - 0.2) / 0.8)  # near enough, not linked


# ------------------------------------------------------------------ communities


def test_isolated_and_tiny_groups_are_unplaced_not_scenes() -> None:
    edges = {("a", "b"): 1.0, ("b", "c"): 1.0, ("a", "c"): 1.0, ("x", "y"): 1.0}
    found = find_communities(["a", "b", "c", "x", "y", "lonely"], edges, resolution=1.0, region_resolution=0.5,
                             min_size=3, seed=1)
    assert found.groups == (("a", "b", "c"),)
    assert found.unplaced == ("lonely", "x", "y")
    assert sum(found.centrality.values()) == pytest.approx(1.0)


def test_two_cliques_with_a_bridge_are_two_scenes_deterministically() -> None:
    edges = {}
    for group in ("abcde", "vwxyz"):
        for i, p in enumerate(group):
            for q in group[i + 1 :]:
                edges[(p, q)] = 1.0
    edges[("e", "v")] = 0.2
    notes = list("abcdevwxyz")
    first = find_communities(notes, edges, resolution=1.0, region_resolution=0.5, min_size=2, seed=3)
    again = find_communities(notes, edges, resolution=1.0, region_resolution=0.5, min_size=2, seed=3)
    assert first == again
    assert sorted(map(sorted, first.groups)) == [list("abcde"), list("vwxyz")]


# ------------------------------------------------------------------ stable ids


def test_ids_survive_small_changes_and_never_come_back() -> None:
    old = {1: frozenset("abcd"), 2: frozenset("efgh"), 3: frozenset("ijkl")}
    new = [frozenset("efghx"), frozenset("abcd"), frozenset("mnop")]
    matched = match_ids(old, new, threshold=0.3, next_id=4)
    assert matched.ids == (2, 1, 4)
    kinds = {(kind, scene) for kind, scene, _others, _overlap in matched.events}
    assert {("continue", 2), ("continue", 1), ("birth", 4), ("death", 3)} <= kinds
    assert matched.next_id == 5
    again = match_ids({}, [frozenset("ijkl")], threshold=0.3, next_id=matched.next_id)
    assert again.ids == (5,)  # id 3 died and is not reused


def test_merge_and_split_are_recorded() -> None:
    merged = match_ids({1: frozenset("abcdef"), 2: frozenset("gh")}, [frozenset("abcdefgh")], threshold=0.3, next_id=3)
    assert merged.ids == (1,)
    assert ("merge", 1, (2,)) in {(k, s, o) for k, s, o, _ in merged.events}
    split = match_ids({1: frozenset("abcdefgh")}, [frozenset("abcde"), frozenset("fgh")], threshold=0.3, next_id=2)
    assert split.ids == (1, 2)
    assert ("split", 2, (1,)) in {(k, s, o) for k, s, o, _ in split.events}


# ------------------------------------------------------------------ map


def test_pca_map_is_deterministic_and_scaled() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8)).astype(np.float32)
    paths = [f"n{i}" for i in range(20)]
    first, method = note_map(paths, vectors, {}, seed=0, method="pca")
    assert method == "pca" and set(first) == set(paths)
    assert first == note_map(paths, vectors, {}, seed=0, method="pca")[0]
    assert max(max(abs(x), abs(y)) for x, y in first.values()) == pytest.approx(1.0)
    spring, method = note_map(["a", "b"], None, {("a", "b"): 1.0}, seed=0)
    assert method == "spring" and set(spring) == {"a", "b"}


# ------------------------------------------------------------------ the sample vault


def test_every_note_has_exactly_one_scene_or_is_unplaced(sample_scenes) -> None:
    _vault, _state, found = sample_scenes
    placed = [p for s in found.scenes for p in s.notes]
    assert len(placed) == len(set(placed))
    assert not set(placed) & set(found.unplaced)
    notes = {p for p, t in TRUTH["notes"].items()}
    assert set(placed) | set(found.unplaced) == notes
    assert 3 <= len(found.scenes) <= 12
    assert all(s.size >= Config().scene_min_size for s in found.scenes)


def test_the_hub_is_found_and_is_not_central(sample_scenes) -> None:
    _vault, _state, found = sample_scenes
    assert set(found.hubs) == set(TRUTH["hubs"])
    assert not any(set(TRUTH["hubs"]) & set(s.central) for s in found.scenes)


def test_wanted_notes_join_the_scene_that_references_them(sample_scenes) -> None:
    _vault, _state, found = sample_scenes
    for text, sources in TRUTH["wanted"].items():
        scene = next((s for s in found.scenes if text in s.wanted), None)
        if len(sources) == 1 and found.scene_of(sources[0]) is None:
            continue
        assert scene is not None, text
        # it sits with the scene holding most of the notes that reference it
        counts = {s.id: sum(1 for p in sources if p in s.notes) for s in found.scenes}
        assert counts[scene.id] == max(counts.values()), text


def test_scenes_carry_labels_summaries_density_and_a_map(sample_scenes) -> None:
    _vault, _state, found = sample_scenes
    for scene in found.scenes:
        assert 3 <= len(scene.terms) <= 5 and scene.label and scene.summary
        assert scene.central == scene.notes[:3]
        assert 0.0 <= scene.density <= 1.0
        assert scene.region in {r.id for r in found.regions}
    assert sum(r.size for r in found.regions) == sum(s.size for s in found.scenes)
    assert found.layout == "pca"  # umap-learn is not a dependency
    assert set(found.positions) >= {p for s in found.scenes for p in s.notes}


def test_unchanged_vault_keeps_its_scenes_without_recomputing(sample_scenes) -> None:
    vault, state, found = sample_scenes
    again = vaultmind.scene_map(vault, state_dir=state, embedder=hash_channels())
    assert again.run == found.run and again.scenes == found.scenes


def indexed_copy(tmp_path: Path) -> tuple[Path, Path, HashEmbedder, vaultmind.SceneMap]:
    """A fresh copy of the sample vault, indexed, and its scenes."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    state, embedder = tmp_path / "state", HashEmbedder()
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    return vault, state, embedder, vaultmind.scene_map(vault, state_dir=state, embedder=embedder)


def test_editing_one_note_does_not_renumber_the_vault(tmp_path: Path) -> None:

    vault, state, embedder, before = indexed_copy(tmp_path)
    note = vault / "bread" / "21_bulk_fermentation.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n\nOne more line about the dough rising slowly.\n",
                    encoding="utf-8")
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    after = vaultmind.scene_map(vault, state_dir=state, embedder=embedder)
    assert after.run > before.run
    old = {p: s.id for s in before.scenes for p in s.notes}
    new = {p: s.id for s in after.scenes for p in s.notes}
    same = sum(1 for p in old if new.get(p) == old[p])
    assert same >= 0.9 * len(old)
    assert {s.id for s in after.scenes} & {s.id for s in before.scenes}
    assert any(e.kind == "continue" for e in after.events)


def test_a_new_cluster_is_born_with_a_fresh_id(tmp_path: Path) -> None:

    vault, state, embedder, before = indexed_copy(tmp_path)
    (vault / "chess").mkdir()
    names = ["Openings", "Endgames", "Tactics", "Pawn structure"]
    for name in names:
        others = " ".join(f"[[{o}]]" for o in names if o != name)
        (vault / "chess" / f"{name}.md").write_text(
            f"# {name}\n\nChess {name.lower()}: rooks, bishops and pawns on the board. {others}\n", encoding="utf-8")
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    after = vaultmind.scene_map(vault, state_dir=state, embedder=embedder)
    chess = after.scene_of("chess/Openings.md")
    assert chess is not None and chess.id not in {s.id for s in before.scenes}
    assert {f"chess/{n}.md" for n in names} <= set(chess.notes)
    assert any(e.kind == "birth" and e.scene == chess.id for e in after.events)
    with Store.open(state) as store:
        assert any(e.kind == "birth" for e in store.scene_events(scene=chess.id))


def test_md_spellings_of_a_wanted_note_are_one_in_scenes_and_blind_spots(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    for note, link in (("bees/21_роение.md", "[[Aras Teucras.md]]"), ("bees/25_весенний_осмотр.md", "[[Aras Teucras]]"),
                       ("bees/21_роение.md", "[[varroa treatment calendar.md]]")):
        with (vault / note).open("a", encoding="utf-8") as handle:
            handle.write(f"\n\nСм. {link}.\n")
    state, embedder = tmp_path / "state", HashEmbedder()
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    found = vaultmind.scene_map(vault, state_dir=state, embedder=embedder)
    wanted = [text for s in found.scenes for text in s.wanted]
    assert wanted.count("Aras Teucras") == 1 and wanted.count("varroa treatment calendar") == 1
    assert not [text for text in wanted if text.lower().endswith(".md")]
    spots = vaultmind.blind_spots(vault, kinds=["wanted_note"], limit=50, state_dir=state, embedder=embedder)
    shown = [s.notes[0] for s in spots]
    assert shown.count("Aras Teucras") == 1 and "Aras Teucras.md" not in shown
    varroa = next(s for s in spots if s.notes == ("varroa treatment calendar",))
    assert next(e for e in varroa.evidence if e["type"] == "count")["notes"] == 4  # three as before, one with .md


def test_links_only_without_vectors(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    summary = vaultmind.index(vault, state_dir=tmp_path / "state", embed=False)
    assert summary.scenes >= 3 and "scenes" in summary.phases
    found = vaultmind.scene_map(vault, state_dir=tmp_path / "state")
    assert found.model == "" and found.layout == "spring"
    assert all(s.cohesion is None for s in found.scenes)
    assert set(TRUTH["orphans"]) <= set(found.unplaced)  # no links, no vectors: nowhere to go


def test_index_can_skip_scenes_and_scenes_finds_them_on_demand(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    summary = vaultmind.index(vault, state_dir=tmp_path / "state", scenes=False)
    assert summary.scenes == 0 and "scenes" not in summary.phases
    with Store.open(tmp_path / "state") as store:
        assert store.scene_map() is None
    assert vaultmind.scene_map(vault, state_dir=tmp_path / "state").scenes


# ------------------------------------------------------------------ commands


def test_scenes_command_json_and_table(sample_scenes) -> None:
    vault, state, found = sample_scenes
    runner = CliRunner()
    result = runner.invoke(main, ["scenes", str(vault), "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [d["id"] for d in data] == [s.id for s in found.scenes]
    for item in data:
        assert {"id", "label", "notes", "central", "density"} <= set(item)
        assert all((vault / p).is_file() for p in item["notes"])
    table = runner.invoke(main, ["scenes", str(vault), "--state-dir", str(state)])
    assert table.exit_code == 0 and found.scenes[0].label in table.output and "unplaced" in table.output
    regions = runner.invoke(main, ["scenes", str(vault), "--state-dir", str(state), "--regions", "--json"])
    assert {r["id"] for r in json.loads(regions.output)} == {r.id for r in found.regions}
    unplaced = runner.invoke(main, ["scenes", str(vault), "--state-dir", str(state), "--unplaced", "--json"])
    assert json.loads(unplaced.output) == list(found.unplaced)


def test_scene_command_shows_members_links_and_neighbours(sample_scenes) -> None:
    vault, state, found = sample_scenes
    scene = found.scenes[0]
    runner = CliRunner()
    result = runner.invoke(main, ["scene", str(vault), str(scene.id), "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["notes"] == list(scene.notes)
    assert list(data["centrality"]) == list(scene.notes)
    members = set(scene.notes)
    assert all(a in members and b in members for a, b in data["internal_links"])
    assert all((e["source"] in members) != (e["target"] in members) for e in data["external_links"])
    text = runner.invoke(main, ["scene", str(vault), str(scene.id), "--state-dir", str(state)])
    assert text.exit_code == 0 and scene.notes[0] in text.output and "links inside" in text.output


def test_unknown_scene_is_a_clear_error(sample_scenes) -> None:
    vault, state, found = sample_scenes
    result = CliRunner().invoke(main, ["scene", str(vault), "999", "--state-dir", str(state)])
    assert result.exit_code == 1
    assert "no scene 999" in result.output and str(found.scenes[0].id) in result.output


def test_scenes_of_an_unindexed_vault_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    result = CliRunner().invoke(main, ["scenes", str(tmp_path / "v")])
    assert result.exit_code == 1 and "vaultmind index" in result.output


def test_scenes_of_a_real_russian_wiki(tmp_path: Path) -> None:
    from .conftest import real_vault

    vault = real_vault("ru-vanadium23-wiki")
    vaultmind.index(vault, state_dir=tmp_path / "state", embedder=HashEmbedder())
    found = vaultmind.scene_map(vault, state_dir=tmp_path / "state", embedder=HashEmbedder())
    with Store.open(tmp_path / "state") as store:
        notes = set(store.paths("note"))
    placed = [p for s in found.scenes for p in s.notes]
    assert len(placed) == len(set(placed)) and set(placed) | set(found.unplaced) == notes
    assert len(found.scenes) >= 5 and len(found.unplaced) < len(notes) / 4
    for scene in found.scenes:
        assert 3 <= len(scene.terms) <= 5
        assert "::" not in scene.summary


def test_template_residue_does_not_shape_note_vectors(tmp_path: Path) -> None:
    from vaultmind import pipeline

    vault = tmp_path / "vault"
    vault.mkdir()
    template = "## Sources\n\n-\n\n## Tasks\n\n- [ ]\n\n## Context\n\ncontext::\nproblem::\n"
    (vault / "a.md").write_text("# A\n\nBees overwinter as a tight cluster around the queen.\n\n" + template)
    (vault / "b.md").write_text("# B\n\nSourdough needs a lively starter and patience.\n\n" + template)
    (vault / "empty template.md").write_text(template)
    embedder = HashEmbedder()
    vaultmind.index(vault, state_dir=tmp_path / "state", embedder=embedder)
    with Store.open(tmp_path / "state") as store:
        chunks = store.chunks()
        ids, paths, _matrix = pipeline._chunk_vectors(store, embedder.model_id, set(store.paths("note")), chunks)
        texts = {i: c.text for i, c in chunks}
    kept = {(p, texts[int(i)]) for i, p in zip(ids, paths)}
    assert all("Bees" in t or "Sourdough" in t for p, t in kept if p in ("a.md", "b.md"))
    assert {p for p, _t in kept} == {"a.md", "b.md", "empty template.md"}  # nothing else: keep what there is


def test_the_map_without_vectors_is_seeded_and_keeps_linked_notes_together() -> None:
    paths = [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)]
    edges = {(p, q): 1.0 for group in ("a", "b") for p in paths if p[0] == group for q in paths if q[0] == group and p < q}
    edges[("a0", "b0")] = 1.0
    first, method = note_map(paths, None, edges, seed=3)
    assert method == "spring" and first == note_map(paths, None, edges, seed=3)[0]
    point = {p: np.array(first[p]) for p in paths}
    inside = np.mean([np.linalg.norm(point[p] - point[q]) for (p, q) in edges if p[0] == q[0]])
    across = np.mean([np.linalg.norm(point[p] - point[q]) for p in paths if p[0] == "a" for q in paths if q[0] == "b"])
    assert inside < across / 2
