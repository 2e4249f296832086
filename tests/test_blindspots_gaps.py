"""Scene gaps, weak coupling and bridges: hand-made scenes with known answers, the sample
vault as it is (its deliberate cross-topic links are the bridges), and copies of it with links
taken out (a scene split in two halves that never link; a scene with no links inside)."""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import vaultmind
from vaultmind import pipeline
from vaultmind.blindspots import BlindSpotInput, LinkRow, finding_id, gaps
from vaultmind.store import Store
from vaultmind.types import Scene

from .conftest import SAMPLE_VAULT, HashEmbedder

TRUTH = json.loads((Path(__file__).parent / "data" / "sample_topics.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ hand-made inputs


def scene(sid: int, notes: list[str], terms: tuple[str, ...] = (), cohesion: float | None = None) -> Scene:
    return Scene(id=sid, label=f"{notes[0]}: {', '.join(terms)}" if terms else notes[0], terms=terms, summary="",
                 notes=tuple(notes), central=tuple(notes[:3]), wanted=(), density=0.0, cohesion=cohesion, region=None)


def blind_input(scenes: list[Scene], links: list[tuple[str, str]], vectors: dict[str, np.ndarray] | None = None,
                hubs: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> BlindSpotInput:
    notes = sorted({p for s in scenes for p in s.notes} | set(hubs) | set(extra))
    rows = [LinkRow(a, b.removesuffix(".md"), b, 1, "", "link") for a, b in links]
    matrix = None
    if vectors is not None:
        paths = sorted(vectors)
        stacked = np.stack([vectors[p] / np.linalg.norm(vectors[p]) for p in paths]).astype(np.float32)
        matrix = (paths, stacked)
    return BlindSpotInput(notes=notes, titles={p: p.removesuffix(".md") for p in notes}, words={p: 100 for p in notes},
                          links=rows, vectors=matrix, scenes=tuple(scenes), hubs=hubs)


def clique(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def around(direction: list[float], count: int, seed: int) -> list[np.ndarray]:
    """`count` vectors scattered a little around `direction` (8 dimensions)."""
    rng = np.random.default_rng(seed)
    base = np.zeros(8)
    base[:len(direction)] = direction
    return [base + rng.normal(0, 0.15, 8) for _ in range(count)]


A = [f"a{i}.md" for i in range(1, 6)]
B = [f"b{i}.md" for i in range(1, 6)]


def two_scenes() -> tuple[list[Scene], dict[str, np.ndarray]]:
    """Two dense-able scenes about nearby things: centroids ~0.7 apart in cosine."""
    vectors = dict(zip(A, around([1, 0], 5, 1))) | dict(zip(B, around([1, 1], 5, 2)))
    return [scene(1, A, ("fermentation", "starter", "flour")), scene(2, B, ("patience", "waiting", "stoa"))], vectors


def test_two_similar_scenes_without_links_between_are_a_gap_with_a_bridging_question() -> None:
    scenes, vectors = two_scenes()
    [gap] = gaps.scene_gaps(blind_input(scenes, clique(A) + clique(B), vectors), 10)
    assert gap.kind == "scene_gap"
    assert gap.id == finding_id("scene_gap", "scene:1", "scene:2") == finding_id("scene_gap", "scene:2", "scene:1")
    assert gap.title == f"Scenes «{scenes[0].label}» and «{scenes[1].label}» never touch"
    evidence = {e["type"]: e for e in gap.evidence}
    cosine = evidence["centroids"]["cosine"]
    assert 0.5 < cosine < 0.9
    assert evidence["cut"] == {"type": "cut", "links": 0, "volume_a": 10, "volume_b": 10}
    assert gap.score == pytest.approx(cosine, abs=1e-3)  # × (1 − 0 / 10)
    question = "How does «fermentation, starter» relate to «patience, waiting»?"
    assert evidence["question"]["text"] == question
    sides = [e for e in gap.evidence if e["type"] == "bridge_candidates"]
    assert [s["scene"] for s in sides] == [1, 2]
    assert all(len(s["notes"]) == 3 for s in sides)
    assert {n["path"] for n in sides[0]["notes"]} <= set(A) and {n["path"] for n in sides[1]["notes"]} <= set(B)
    for side in sides:  # nearest the other scene's centroid first
        assert [n["cosine"] for n in side["notes"]] == sorted((n["cosine"] for n in side["notes"]), reverse=True)
    best_a, best_b = sides[0]["notes"][0]["path"], sides[1]["notes"][0]["path"]
    assert gap.suggestion == f"{question} Start from [[{best_a[:-3]}]] and [[{best_b[:-3]}]]."
    assert len(gap.notes) == 6 and gap.notes[:2] == (best_a, best_b)


def test_scenes_about_unrelated_things_are_no_gap_however_unlinked() -> None:
    vectors = dict(zip(A, around([1, 0], 5, 1))) | dict(zip(B, around([0, 1], 5, 2)))  # centroids ~orthogonal
    scenes = [scene(1, A, ("fermentation",)), scene(2, B, ("patience",))]
    assert gaps.scene_gaps(blind_input(scenes, clique(A) + clique(B), vectors), 10) == []


def test_one_link_between_them_is_a_gap_that_barely_touches_with_a_lower_score() -> None:
    scenes, vectors = two_scenes()
    never = gaps.scene_gaps(blind_input(scenes, clique(A) + clique(B), vectors), 10)[0]
    barely = gaps.scene_gaps(blind_input(scenes, clique(A) + clique(B) + [("a1.md", "b1.md")], vectors), 10)[0]
    assert barely.id == never.id
    assert barely.title.endswith("barely touch")
    assert {"type": "cut", "links": 1, "volume_a": 11, "volume_b": 11} in barely.evidence
    assert barely.score == pytest.approx(never.score * (1 - 1 / 11), abs=1e-3)


def test_a_note_joining_two_dense_scenes_is_a_bridge_and_their_many_links_are_no_gap() -> None:
    scenes, vectors = two_scenes()
    # a1 alone links to four notes of B: cut 4 of volumes 14 and 14 — they touch
    links = clique(A) + clique(B) + [("a1.md", b) for b in B[:4]]
    data = blind_input(scenes, links, vectors)
    assert gaps.scene_gaps(data, 10) == []

    [bridge] = gaps.bridges(data, 10)
    assert bridge.id == finding_id("bridge", "a1.md")
    assert bridge.notes[0] == "a1.md"
    evidence = {e["type"]: e for e in bridge.evidence}
    assert evidence["articulation"]["scenes_split"] == [[2], [1]]
    assert evidence["articulation"]["component_sizes"] == [5, 4]
    assert evidence["articulation"]["scene_pairs"] == [[1, 2]]
    assert evidence["neighbours"]["by_scene"] == {"1": ["a2.md", "a3.md", "a4.md", "a5.md"], "2": B[:4]}
    # the 20 shortest paths between A's other notes and B's run through a1, of 9·8/2 note pairs
    assert evidence["betweenness"]["value"] == pytest.approx(20 / 36, abs=1e-6)
    assert bridge.score == pytest.approx(0.6 * 1 / 2 + 0.4 * 1.0)  # one scene pair; the busiest note
    assert bridge.suggestion == (f"Strengthen: link notes of «{scenes[0].label}» directly to notes of "
                                 f"«{scenes[1].label}» so they do not depend on [[a1]] alone")


def test_a_second_joining_note_ends_the_bridge_but_a_single_one_counts_the_pairs_it_alone_connects() -> None:
    c = [f"c{i}.md" for i in range(1, 5)]
    scenes = [scene(1, A), scene(2, B), scene(3, c)]
    # x (no scene) alone joins A, B and C: removing it leaves three pieces, three pairs apart
    data = blind_input(scenes, clique(A) + clique(B) + clique(c) + [("x.md", "a1.md"), ("x.md", "b1.md"),
                                                                       ("x.md", "c1.md")], extra=("x.md",))
    found = {s.notes[0]: s for s in gaps.bridges(data, 10)}
    articulation = next(e for e in found["x.md"].evidence if e["type"] == "articulation")
    assert articulation["scene_pairs"] == [[1, 2], [1, 3], [2, 3]]
    assert sorted(map(sorted, articulation["scenes_split"])) == [[1], [2], [3]]
    # a1, b1 and c1 are articulation points too (x hangs off them), and each alone joins its scene to the rest
    assert set(found) == {"x.md", "a1.md", "b1.md", "c1.md"}
    assert found["x.md"].score == max(s.score for s in found.values())

    # a direct a2–b2 link: A and B no longer depend on x; C still does, on x and on c1
    both = blind_input(scenes, [(r.source, r.target_path) for r in data.links] + [("a2.md", "b2.md")],
                       extra=("x.md",))
    found = {s.notes[0]: s for s in gaps.bridges(both, 10)}
    articulation = next(e for e in found["x.md"].evidence if e["type"] == "articulation")
    assert articulation["scene_pairs"] == [[1, 3], [2, 3]]


def test_a_hub_joining_everything_is_never_a_bridge_and_its_links_are_not_cut() -> None:
    scenes, vectors = two_scenes()
    hub = "00_index.md"
    links = clique(A) + clique(B) + [(hub, p) for p in A + B]
    scenes = [scene(1, A + [hub], scenes[0].terms), scenes[1]]  # the hub may even sit in a scene
    data = blind_input(scenes, links, vectors | {hub: np.ones(8)}, hubs=(hub,))
    assert gaps.bridges(data, 10) == []  # without the hub the two scenes were never connected
    [gap] = gaps.scene_gaps(data, 10)
    assert {"type": "cut", "links": 0, "volume_a": 10, "volume_b": 10} in gap.evidence
    assert hub not in gap.notes

    as_note = blind_input(scenes, links, vectors | {hub: np.ones(8)})  # the same page, not known as a hub
    assert [s.notes[0] for s in gaps.bridges(as_note, 10)] == [hub]


def test_betweenness_is_networkx_sampled_betweenness(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = nx.Graph(nx.relabel_nodes(nx.connected_watts_strogatz_graph(60, 4, 0.2, seed=3), lambda n: f"n{n:02d}"))
    graph.add_node("lonely")  # unlinked notes are left out, as the betweenness of linked notes
    linked = graph.subgraph([n for n in graph if graph.degree(n)])
    exact = gaps._betweenness(graph)
    assert exact == pytest.approx(nx.betweenness_centrality(linked), abs=1e-12)
    monkeypatch.setattr(gaps, "BETWEENNESS_SAMPLE", 20)
    assert gaps._betweenness(graph) == pytest.approx(nx.betweenness_centrality(linked, k=20, seed=0), abs=1e-12)


def test_weak_coupling_flags_the_coherent_scene_with_few_links_inside() -> None:
    groups = {sid: [f"s{sid}n{i}.md" for i in range(5)] for sid in range(1, 6)}
    cohesion = {1: 0.2, 2: 0.3, 3: 0.4, 4: 0.5, 5: 0.6}
    scenes = [scene(sid, notes, (f"topic{sid}", "x"), cohesion[sid]) for sid, notes in groups.items()]
    ring = [(n[i], n[(i + 1) % 5]) for sid, n in groups.items() if sid != 5 for i in range(5)]  # 5 of 10 pairs
    rng = np.random.default_rng(0)
    vectors = {p: rng.normal(size=8) for notes in groups.values() for p in notes}
    five = groups[5]
    vectors[five[0]] = vectors[five[1]] + 0.01  # the closest unlinked pair of scene 5 ...
    vectors[five[2]] = vectors[five[1]] + 0.02  # ... and a linked pair closer still
    data = blind_input(scenes, ring + [(five[0], five[2])], vectors)
    [weak] = gaps.weak_coupling(data, 10)
    assert weak.kind == "weak_coupling" and weak.id == finding_id("weak_coupling", "scene:5")
    coupling, unlinked = weak.evidence
    assert coupling == {"type": "coupling", "scene": 5, "cohesion": 0.6, "density": 0.1, "expected_density": 0.5,
                        "links_inside": 1, "pairs": 10}
    # scenes 1–4 hold 2 links per member at any cohesion: expected 2 / (5 − 1); the top cohesion
    assert weak.score == pytest.approx(1.0 * (1 - 0.1 / 0.5))
    assert len(unlinked["pairs"]) == 5
    assert unlinked["pairs"][0] == {"a": five[0], "b": five[1], "cosine": pytest.approx(1.0, abs=1e-3)}
    assert all({p["a"], p["b"]} != {five[0], five[2]} for p in unlinked["pairs"])  # linked pairs are not listed
    cosines = [p["cosine"] for p in unlinked["pairs"]]
    assert cosines == sorted(cosines, reverse=True)
    assert weak.suggestion == f"Link the pieces of «{scenes[4].label}»: start with [[s5n0]] ↔ [[s5n1]]"
    assert weak.notes[:2] == (five[0], five[1])


def test_weak_coupling_with_few_scenes_expects_the_median_and_skips_small_or_unmeasured_scenes() -> None:
    linked, loose = [f"l{i}.md" for i in range(5)], [f"u{i}.md" for i in range(5)]
    rng = np.random.default_rng(1)
    vectors = {p: rng.normal(size=8) for p in linked + loose}
    scenes = [scene(1, linked, cohesion=0.3), scene(2, loose, cohesion=0.5)]
    [weak] = gaps.weak_coupling(blind_input(scenes, clique(linked), vectors), 10)
    # too few scenes to fit a line: the median scene's links per member, (4 + 0) / 2, is expected
    assert weak.id == finding_id("weak_coupling", "scene:2")
    coupling = weak.evidence[0]
    assert coupling["density"] == 0.0 and coupling["expected_density"] == pytest.approx(2 / 4)
    assert weak.score == pytest.approx(1.0)  # the higher cohesion of two, no link of the expected five

    small = [scene(1, linked, cohesion=0.3), scene(2, loose[:3], cohesion=0.5)]
    assert gaps.weak_coupling(blind_input(small, clique(linked), vectors), 10) == []
    unmeasured = [scene(1, linked, cohesion=0.3), scene(2, loose, cohesion=None)]
    assert gaps.weak_coupling(blind_input(unmeasured, clique(linked), vectors), 10) == []
    nothing_expected = [scene(1, linked, cohesion=0.3), scene(2, loose, cohesion=0.5)]
    assert gaps.weak_coupling(blind_input(nothing_expected, [], vectors), 10) == []  # no scene has links


def test_nothing_to_measure_gives_nothing() -> None:
    scenes, vectors = two_scenes()
    links = clique(A) + clique(B) + [("a1.md", "b1.md")]
    without_vectors = blind_input(scenes, links)
    assert gaps.scene_gaps(without_vectors, 10) == [] and gaps.weak_coupling(without_vectors, 10) == []
    assert sorted(s.notes[0] for s in gaps.bridges(without_vectors, 10)) == ["a1.md", "b1.md"]  # links suffice
    no_scenes = blind_input([], links, vectors, extra=tuple(A + B))
    for detector in (gaps.scene_gaps, gaps.weak_coupling, gaps.bridges):
        assert detector(no_scenes, 10) == []
    assert gaps.bridges(blind_input(scenes, []), 10) == []
    assert gaps.scene_gaps(blind_input(scenes, links, vectors), 0) == []


# ------------------------------------------------------------------ the sample vault


def indexed(vault: Path) -> BlindSpotInput:
    embedder = HashEmbedder()
    state = vault.parent / "state"
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    with Store.open(state) as store:
        return pipeline.blindspot_input(store, embedder.model_id)


def copy_of_sample(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    vault = tmp_path_factory.mktemp(name) / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    return vault


def unlink(vault: Path, sources: list[str], targets: list[str]) -> None:
    """Turn every link from `sources` to `targets` into its plain text: `[[x]]` → `x`, `[[x|y]]`
    → `y`, `[y](x.md)` → `y` (names compared as Obsidian does, case-insensitively)."""
    names = {t.rsplit("/", 1)[-1].removesuffix(".md").casefold() for t in targets}

    def points_there(target: str) -> bool:
        return target.split("#")[0].rsplit("/", 1)[-1].removesuffix(".md").casefold() in names

    def wikilink(m: re.Match[str]) -> str:
        target, _, shown = m.group(1).replace("\\|", "|").partition("|")
        return (shown or target.split("#")[0]) if points_there(target) else m.group(0)

    def markdown(m: re.Match[str]) -> str:
        return m.group(1) if points_there(urllib.parse.unquote(m.group(2))) else m.group(0)

    for source in sources:
        path = vault / source
        text = re.sub(r"!?\[\[(.+?)\]\]", wikilink, path.read_text(encoding="utf-8"))
        path.write_text(re.sub(r"!?\[([^\]]*)\]\(([^)\s]+)\)", markdown, text), encoding="utf-8")


def truth(topic: str) -> list[str]:
    return sorted(p for p, t in TRUTH["notes"].items() if t == topic)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> BlindSpotInput:
    return indexed(copy_of_sample(tmp_path_factory, "gaps"))


def test_sample_vault_bridges_are_its_deliberate_cross_topic_links(sample: BlindSpotInput) -> None:
    found = gaps.bridges(sample, 50)
    reported = {s.notes[0] for s in found}
    assert {p for pair in TRUTH["bridges"] for p in pair} <= reported
    assert not reported & set(TRUTH["hubs"])
    assert all(0 <= s.score <= 1 for s in found)
    # bees hang on the rest of the vault by one link: 21_роение → 19_пройдёмся_по_слоям_агента
    scene_of = {p: s.id for s in sample.scenes for p in s.notes}
    bees = scene_of["bees/21_роение.md"]
    for note in ("bees/21_роение.md", "ai/19_пройдёмся_по_слоям_агента.md"):
        spot = next(s for s in found if s.notes[0] == note)
        articulation = next(e for e in spot.evidence if e["type"] == "articulation")
        assert [bees] in articulation["scenes_split"]
        assert all(bees in pair for pair in articulation["scene_pairs"])
        assert len(articulation["scene_pairs"]) == len({s.id for s in sample.scenes}) - 1
    top_two = {s.notes[0] for s in found[:2]}
    assert top_two == {"bees/21_роение.md", "ai/19_пройдёмся_по_слоям_агента.md"}


def test_sample_vault_scenes_are_well_linked_inside_and_gaps_respect_the_floor(sample: BlindSpotInput) -> None:
    assert gaps.weak_coupling(sample, 50) == []
    paths, matrix = sample.vectors
    row = {p: i for i, p in enumerate(paths)}
    centroids = []
    for s in sorted(sample.scenes, key=lambda s: s.id):
        mean = matrix[[row[p] for p in s.notes if p not in sample.hubs]].mean(axis=0)
        centroids.append(mean / np.linalg.norm(mean))
    cosines = np.stack(centroids) @ np.stack(centroids).T
    floor = float(np.percentile(cosines[np.triu_indices(len(centroids), 1)], 75))
    found = gaps.scene_gaps(sample, 50)
    for spot in found:
        evidence = {e["type"]: e for e in spot.evidence}
        assert evidence["centroids"]["cosine"] >= max(floor, gaps.GAP_MIN_COSINE) - 1e-3
        cut = evidence["cut"]
        assert cut["links"] <= 0.25 * min(cut["volume_a"], cut["volume_b"])
        assert not set(spot.notes) & set(TRUTH["hubs"])
    assert len(found) <= int(np.sum(cosines[np.triu_indices(len(centroids), 1)] >= floor))


def test_findings_survive_a_json_round_trip(sample: BlindSpotInput) -> None:
    for detector in (gaps.scene_gaps, gaps.weak_coupling, gaps.bridges):
        for spot in detector(sample, 50):
            assert json.loads(json.dumps(list(spot.evidence), ensure_ascii=False)) == list(spot.evidence)


def test_ids_are_stable_across_runs(sample: BlindSpotInput) -> None:
    for detector in (gaps.scene_gaps, gaps.weak_coupling, gaps.bridges):
        assert detector(sample, 50) == detector(sample, 50)
    for spot in gaps.scene_gaps(sample, 50):
        a, b = (e["scene"] for e in spot.evidence if e["type"] == "bridge_candidates")
        assert spot.id == finding_id("scene_gap", f"scene:{a}", f"scene:{b}") and a < b
    for spot in gaps.bridges(sample, 50):
        assert spot.id == finding_id("bridge", spot.notes[0])


def test_a_scene_split_in_two_halves_that_never_link_is_a_scene_gap(tmp_path_factory: pytest.TempPathFactory) -> None:
    bread = [p for p in truth("bread") if p != "bread/rye_crackers_idea.md"]  # an orphan, in no scene
    dough = ["bread/12_sourdough_starter_ratios.md", "bread/15_hydration_math.md",
             "bread/18_flour_types_and_protein.md", "bread/21_bulk_fermentation.md", "bread/33_rye_experiments.md",
             "bread/levain.md"]
    oven = [p for p in bread if p not in dough]
    vault = copy_of_sample(tmp_path_factory, "split")
    unlink(vault, dough, oven)
    unlink(vault, oven, dough)
    data = indexed(vault)
    assert not {(a, b) for a, b in gaps.linked_pairs(data) if (a in dough) != (b in dough) and {a, b} <= set(bread)}

    def scene_holding(notes: list[str]) -> Scene:
        return max(data.scenes, key=lambda s: len(set(s.notes) & set(notes)))

    first, second = sorted([scene_holding(dough), scene_holding(oven)], key=lambda s: s.id)
    assert first.id != second.id  # the halves became two scenes ...
    gap = next(s for s in gaps.scene_gaps(data, 50) if s.id == finding_id("scene_gap", f"scene:{first.id}",
                                                                                f"scene:{second.id}"))
    assert gap.title.endswith("never touch")  # ... that the detector finds, with no link between them
    assert next(e for e in gap.evidence if e["type"] == "cut")["links"] == 0
    question = next(e for e in gap.evidence if e["type"] == "question")["text"]
    assert ", ".join(first.terms[:2]) in question and ", ".join(second.terms[:2]) in question
    assert set(gap.notes) & set(dough) and set(gap.notes) & set(oven)
    assert gap.suggestion.startswith(question)


def test_a_scene_without_links_inside_is_weakly_coupled(tmp_path_factory: pytest.TempPathFactory) -> None:
    stoic = truth("stoic")
    vault = copy_of_sample(tmp_path_factory, "unlinked")
    unlink(vault, stoic, stoic)
    data = indexed(vault)
    scenes = {finding_id("weak_coupling", f"scene:{s.id}"): s for s in data.scenes}
    weak = next(w for w in gaps.weak_coupling(data, 50) if len(set(scenes[w.id].notes) & set(stoic)) >= 4)
    flagged = scenes[weak.id]  # the stoic notes still form a scene, by meaning
    coupling = next(e for e in weak.evidence if e["type"] == "coupling")
    assert coupling["links_inside"] == 0 and coupling["density"] == 0  # the index's links do not count
    assert coupling["expected_density"] > 0
    pairs = next(e for e in weak.evidence if e["type"] == "unlinked_pairs")["pairs"]
    assert pairs and all(p["a"] in flagged.notes and p["b"] in flagged.notes for p in pairs)
    assert weak.suggestion.startswith(f"Link the pieces of «{flagged.label}»: start with [[")
