"""Structural blind spots: wanted notes and broken links, orphans, dead ends and stubs,
unanswered questions — against the sample vault's ground truth, small hand-made inputs for
each rule, and a smoke run on a real wiki."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import vaultmind
from vaultmind import pipeline
from vaultmind.blindspots import BlindSpotInput, LinkRow
from vaultmind.blindspots.structure import (STUB_WORDS, orphans_dead_ends_stubs, unanswered_questions,
                                            wanted_notes)
from vaultmind.parse import parse_note
from vaultmind.store import Store
from vaultmind.types import BlindSpot, Scene

from .conftest import SAMPLE_VAULT, HashEmbedder, real_vault

TRUTH = json.loads((Path(__file__).parent / "data" / "sample_topics.json").read_text(encoding="utf-8"))
DETECTORS = (wanted_notes, orphans_dead_ends_stubs, unanswered_questions)


def _input_for(vault: Path, state: Path) -> BlindSpotInput:
    embedder = HashEmbedder()
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    with Store.open(state) as store:
        return pipeline.blindspot_input(store, embedder.model_id)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> BlindSpotInput:
    """The sample vault indexed once (test embedder), copied so tests may not touch it."""
    root = tmp_path_factory.mktemp("structure")
    shutil.copytree(SAMPLE_VAULT, root / "vault", ignore=shutil.ignore_patterns(".vaultmind"))
    return _input_for(root / "vault", root / "state")


def of_kind(spots: list[BlindSpot], kind: str) -> list[BlindSpot]:
    return sorted((s for s in spots if s.kind == kind), key=lambda s: (-s.score, s.id))


def sources(spot: BlindSpot) -> set[str]:
    return {e["source"] for e in spot.evidence if e["type"] == "link"}


def make(notes: dict[str, int], links: list[tuple], **extra) -> BlindSpotInput:
    """`notes`: path → word count; `links`: (source, target as written, target path or None[, line])."""
    rows = [LinkRow(s, t, p, *(rest or (1,)), f"… [[{t}]] …", "link") for s, t, p, *rest in links]
    return BlindSpotInput(notes=list(notes), titles={p: p.rsplit("/", 1)[-1][:-3] for p in notes}, words=notes,
                          links=rows, **extra)


def scene(id: int, *notes: str) -> Scene:
    return Scene(id=id, label=f"scene {id}", terms=(), summary="", notes=notes, central=notes[:1], wanted=(),
                 density=0.0, cohesion=None, region=None)


# ------------------------------------------------------------------ the sample vault


def test_sample_wanted_notes_match_the_truth(sample: BlindSpotInput) -> None:
    wanted = of_kind(wanted_notes(sample, 50), "wanted_note")
    assert {s.notes[0] for s in wanted} == set(TRUTH["wanted"])
    assert wanted[0].notes == ("Онтология мышления",)  # linked from 7 notes: first
    for spot in wanted:
        truth = TRUTH["wanted"][spot.notes[0]]
        count = next(e for e in spot.evidence if e["type"] == "count")
        assert count["notes"] == len(truth)
        assert sources(spot) <= set(truth) and len(sources(spot)) == min(len(truth), 5)
        assert 0 <= spot.score < 1
    weather = next(s for s in wanted if s.notes == ("погодный дневник",))
    assert len(next(e for e in weather.evidence if e["type"] == "scenes")["scenes"]) == 2  # bees and hiking
    assert "2 scenes" in weather.suggestion


def test_sample_bare_alias_is_a_broken_link_not_a_wanted_note(sample: BlindSpotInput) -> None:
    spots = wanted_notes(sample, 50)
    (broken,) = of_kind(spots, "broken_link")
    (text, truth), = TRUTH["bare_aliases"].items()
    assert broken.notes == (text, truth["alias_of"])
    assert sources(broken) == set(truth["linked_from"])
    means = next(e for e in broken.evidence if e["type"] == "probably_means")
    assert (means["note"], means["reason"], means["distance"]) == (truth["alias_of"], "alias", 0)
    assert "[[09_варроа_клещ|Варроатоз]]" in broken.suggestion
    assert text not in {s.notes[0] for s in of_kind(spots, "wanted_note")}


def test_sample_orphans_dead_ends_and_stubs_match_the_truth(sample: BlindSpotInput) -> None:
    spots = orphans_dead_ends_stubs(sample, 50)
    assert sorted(s.notes[0] for s in of_kind(spots, "orphan")) == sorted(TRUTH["orphans"])
    assert sorted(s.notes[0] for s in of_kind(spots, "dead_end")) == sorted(TRUTH["dead_ends"])
    # the README's stubs; hiking/Домбай.md is short, but only two notes cite it
    assert {s.notes[0] for s in of_kind(spots, "stub")} == {"ai/Сцена.md", "bees/Подкормка.md", "bread/levain.md",
                                                            "hiking/Эльбрус.md"}
    assert not {s.notes[0] for s in spots} & set(TRUTH["hubs"])
    orphans = of_kind(spots, "orphan")
    assert orphans[0].notes == ("Книги на лето.md",)  # the longest orphan first


def test_sample_unanswered_dialogues_match_the_truth(sample: BlindSpotInput) -> None:
    spots = of_kind(unanswered_questions(sample, 50), "unanswered")
    assert sorted(s.notes[0] for s in spots) == sorted(TRUTH["unanswered_dialogues"])
    question = next(e for e in spots[0].evidence if e["type"] == "question")
    assert question["line"] > 0 and question["text"] and len(question["text"]) <= 300


def test_sample_findings_are_complete_and_stable(sample: BlindSpotInput) -> None:
    for detector in DETECTORS:
        first, second = detector(sample, 50), detector(sample, 50)
        assert [(s.id, s.score) for s in first] == [(s.id, s.score) for s in second]
        assert len({s.id for s in first}) == len(first)
        for spot in first:
            assert spot.title and spot.suggestion and spot.evidence and spot.notes
            assert all("type" in e for e in spot.evidence)
            json.dumps(spot.evidence)


# ------------------------------------------------------------------ wanted notes, by hand


def test_wanted_spellings_are_one_note_shown_as_the_commonest() -> None:
    nfd = unicodedata.normalize("NFD", "Идея й")
    data = make({"a.md": 10, "b.md": 10, "c.md": 10, "d.md": 10},
                [("a.md", "Идея й", None), ("b.md", "идея Й", None), ("c.md", nfd, None), ("d.md", "Идея й.md", None)])
    (spot,) = wanted_notes(data, 10)
    assert spot.notes == ("Идея й",)
    assert sources(spot) == {"a.md", "b.md", "c.md", "d.md"}


def test_a_wanted_note_is_shown_without_md() -> None:
    data = make({"a.md": 10, "b.md": 10, "c.md": 10},
                [("a.md", "Aras Teucras.md", None), ("b.md", "Aras Teucras.md", None), ("c.md", "aras teucras", None)])
    (spot,) = wanted_notes(data, 10)
    assert spot.notes == ("Aras Teucras",) and sources(spot) == {"a.md", "b.md", "c.md"}
    assert "[[Aras Teucras]]" in spot.title and ".md" not in spot.suggestion
    tie = make({"a.md": 10, "b.md": 10}, [("a.md", "idea.md", None), ("b.md", "Idea", None)])
    assert [s.notes for s in wanted_notes(tie, 10)] == [("Idea",)]  # the spelling written without .md


def test_files_and_empty_targets_are_not_wanted_notes() -> None:
    data = make({"a.md": 10}, [("a.md", "diagram.png", None), ("a.md", "scan.PDF", None), ("a.md", "", None),
                               ("a.md", "  ", None), ("a.md", "Node.js", None)])
    assert [s.notes for s in wanted_notes(data, 10)] == [("Node.js",)]  # not a known file extension


def test_wanted_rank_notes_first_and_scenes_strongly() -> None:
    notes = {f"n{i}.md": 10 for i in range(8)}
    links = [(f"n{i}.md", "Wide", None) for i in (0, 4)] + [(f"n{i}.md", "Deep", None) for i in (0, 1, 2)]
    links += [(f"n{i}.md", "Many", None) for i in range(8)] + [("n5.md", "Once", None)]
    data = make(notes, links, scenes=(scene(1, "n0.md", "n1.md", "n2.md", "n3.md"), scene(2, "n4.md", "n5.md")),
                unplaced=("n6.md", "n7.md"))
    ranked = [s.notes[0] for s in of_kind(wanted_notes(data, 10), "wanted_note")]
    assert ranked == ["Many", "Wide", "Deep", "Once"]  # two notes in two scenes outrank three in one
    many = next(s for s in wanted_notes(data, 10) if s.notes == ("Many",))
    assert len(sources(many)) == 5
    assert next(e for e in many.evidence if e["type"] == "count")["not_shown"] == 3
    spread = next(e for e in many.evidence if e["type"] == "scenes")
    assert spread["scenes"] == [1, 2] and spread["labels"] == ["scene 1", "scene 2"] and spread["unplaced"] == 2
    assert {"n0.md", "n4.md"} <= sources(many)  # the shown sources cover both scenes


def test_wanted_ids_are_stable_and_differ_by_target() -> None:
    data = make({"a.md": 1}, [("a.md", "One", None), ("a.md", "Two", None)])
    other = make({"z.md": 1}, [("z.md", "one", None)])  # same target, other source and spelling
    ids = {s.notes[0]: s.id for s in wanted_notes(data, 10)}
    assert ids["One"] != ids["Two"]
    assert wanted_notes(other, 10)[0].id == ids["One"]


NOTES = {"stoic/Marcus Aurelius.md": 100, "ideas/Ёлка новогодняя.md": 100, "ai/Stoicism.md": 100,
         "ai/Fine-tuning checklist.md": 100, "ai/LTM_1.md": 100, "x/Cat.md": 100, "writer.md": 100}


@pytest.mark.parametrize(("text", "note", "reason", "distance"), [
    ("marcus_aurelius", "stoic/Marcus Aurelius.md", "spelling", 1),
    ("MarcusAurelius", "stoic/Marcus Aurelius.md", "spelling", 1),
    ("елка-новогодняя", "ideas/Ёлка новогодняя.md", "spelling", 2),
    ("Stoicsm", "ai/Stoicism.md", "typo", 1),  # 7 letters: one edit allowed
    ("Stoisicm", "ai/Stoicism.md", "typo", 2),  # 8 letters: two edits allowed
    ("Fine-tuning checklst", "ai/Fine-tuning checklist.md", "typo", 1),
    ("Marcus Aurelis", "stoic/Marcus Aurelius.md", "typo", 1),
    ("Old/Marcus Aurelius", "stoic/Marcus Aurelius.md", "folder", 0),
    ("M.A.", "stoic/Marcus Aurelius.md", "alias", 0),
])
def test_near_misses_are_broken_links(text: str, note: str, reason: str, distance: int) -> None:
    data = make(NOTES, [("writer.md", text, None, 7)], aliases={"stoic/Marcus Aurelius.md": ["M.A.", "Марк Аврелий"]})
    (spot,) = wanted_notes(data, 10)
    assert spot.kind == "broken_link" and spot.notes == (text, note)
    means = next(e for e in spot.evidence if e["type"] == "probably_means")
    assert (means["note"], means["reason"], means["distance"]) == (note, reason, distance)
    assert next(e for e in spot.evidence if e["type"] == "link") == {"type": "link", "source": "writer.md", "line": 7,
                                                                     "sentence": f"… [[{text}]] …"}


@pytest.mark.parametrize("text", [
    "Stocsm",  # 6 letters: one edit allowed, "stoicism" is two away
    "Cot",  # under 4 letters: never fuzzy ("Cat" is one edit away)
    "Cats",  # 4 letters, one edit from "cat", but the shorter name is 3 letters
    "LTM_3",  # another note of a numbered series, not a typo of LTM_1
    "Ideas about Stoicism",
])
def test_other_targets_stay_wanted_notes(text: str) -> None:
    data = make(NOTES, [("writer.md", text, None)])
    assert [s.kind for s in wanted_notes(data, 10)] == ["wanted_note"]


def test_bare_alias_in_another_form_and_the_fix() -> None:
    data = make(NOTES, [("writer.md", "МАРК АВРЕЛИЙ", None), ("ai/Stoicism.md", "марк аврелий", None)],
                aliases={"stoic/Marcus Aurelius.md": ["Марк Аврелий"]})
    (spot,) = wanted_notes(data, 10)
    assert spot.kind == "broken_link" and spot.score == pytest.approx(1 - 1 / 3)
    assert "[[Marcus Aurelius|" in spot.suggestion and "2 notes" in spot.suggestion


def test_broken_link_names_a_note_by_path_when_its_title_is_shared() -> None:
    data = make({"a/Plan.md": 5, "b/Plan.md": 5, "w.md": 5}, [("w.md", "p-lan", None)])
    (spot,) = wanted_notes(data, 10)
    assert spot.notes == ("p-lan", "a/Plan.md") and "[[a/Plan|p-lan]]" in spot.suggestion


# ------------------------------------------------------------------ orphans, dead ends, stubs, by hand


def test_what_counts_as_a_connection() -> None:
    notes = {"self.md": 10, "attach.md": 20, "wants.md": 30, "hub.md": 10, "listed.md": 40, "lonely.md": 500,
             "canvas.md": 10}
    links = [("self.md", "", "self.md"), ("attach.md", "pic.png", "pic.png"), ("attach.md", "gone.png", None),
             ("wants.md", "Someday", None), ("hub.md", "listed", "listed.md"), ("canvas.md", "board", "board.canvas")]
    data = make(notes, links, hubs=("hub.md",), files=("pic.png", "board.canvas"))
    orphans = [s.notes[0] for s in of_kind(orphans_dead_ends_stubs(data, 10), "orphan")]
    assert orphans == ["lonely.md", "attach.md", "self.md"]  # longest first; the hub is never reported


def test_dead_ends_count_only_links_to_existing_notes() -> None:
    notes = {"a.md": 100, "b.md": 100, "c.md": 100, "end.md": 100, "wants.md": 100}
    links = [("a.md", "end", "end.md"), ("b.md", "end", "end.md"), ("b.md", "end", "end.md", 9),
             ("a.md", "wants", "wants.md"), ("wants.md", "Someday", None), ("c.md", "a", "a.md"), ("a.md", "c", "c.md")]
    spots = orphans_dead_ends_stubs(make(notes, links), 10)
    dead = of_kind(spots, "dead_end")
    assert [s.notes[0] for s in dead] == ["end.md", "wants.md"]
    assert dead[0].score == pytest.approx(1 - 1 / 3)
    assert dead[0].evidence[0] == {"type": "count", "incoming_notes": 2, "incoming_links": 3, "outgoing": 0}
    assert sources(dead[0]) == {"a.md", "b.md"}


def test_stubs_need_three_citing_notes_besides_hubs() -> None:
    notes = {"stub.md": 12, "short.md": 12, "long.md": STUB_WORDS + 5, "hub.md": 5, "x.md": 100, "y.md": 100,
             "z.md": 100}
    links = [(s, t[:-3], t) for t in ("stub.md", "long.md") for s in ("x.md", "y.md", "z.md")]
    links += [(s, "short", "short.md") for s in ("x.md", "y.md", "hub.md")] + [("stub.md", "x", "x.md")]
    links += [("hub.md", n[:-3], n) for n in ("stub.md", "x.md", "y.md", "z.md")] + [("x.md", "hub", "hub.md")]
    spots = orphans_dead_ends_stubs(make(notes, links, hubs=("hub.md",)), 10)
    (stub,) = of_kind(spots, "stub")
    assert stub.notes == ("stub.md",)
    assert stub.score == pytest.approx((1 - 1 / 4) * (1 - 12 / (2 * STUB_WORDS)))
    assert {"type": "words", "words": 12, "stub_below": STUB_WORDS} in stub.evidence
    assert "hub.md" not in sources(stub)
    assert {s.notes[0] for s in of_kind(spots, "dead_end")} == {"short.md", "long.md"}  # never the hub


def test_a_stub_that_is_also_a_dead_end_is_reported_twice() -> None:
    notes = {"stub.md": 10, "a.md": 100, "b.md": 100, "c.md": 100}
    links = [(s, "stub", "stub.md") for s in ("a.md", "b.md", "c.md")] + [("stub.md", "Later", None)]
    spots = [s for s in orphans_dead_ends_stubs(make(notes, links), 10) if s.notes == ("stub.md",)]
    assert sorted(s.kind for s in spots) == ["dead_end", "stub"]
    assert len({s.id for s in spots}) == 2


def test_an_orphan_is_pointed_at_the_closest_note_of_its_scene() -> None:
    notes = {"hub.md": 5, "far.md": 100, "near.md": 100, "lost.md": 50, "outside.md": 10}
    links = [("outside.md", "far", "far.md"), ("hub.md", "near", "near.md")]
    vectors = np.array([[0.6, 0.8], [1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.6, 0.8]], dtype=np.float32)
    data = make(notes, links, scenes=(scene(4, "far.md", "hub.md", "near.md", "lost.md"),), hubs=("hub.md",),
                vectors=(list(notes), vectors))
    (orphan,) = of_kind(orphans_dead_ends_stubs(data, 10), "orphan")
    assert orphan.score == pytest.approx(1 - 1 / 1.5)
    assert {"type": "scene", "scene": 4, "label": "scene 4"} in orphan.evidence
    # the hub and outside.md are closer, but the hub is never suggested and outside.md is in no scene
    assert {"type": "nearest", "note": "near.md", "similarity": pytest.approx(0.96)} in orphan.evidence
    assert "[[near]]" in orphan.suggestion
    unplaced = make(notes, links, vectors=(list(notes), vectors), hubs=("hub.md",))
    (orphan,) = of_kind(orphans_dead_ends_stubs(unplaced, 10), "orphan")
    assert next(e for e in orphan.evidence if e["type"] == "nearest")["note"] == "outside.md"
    (orphan,) = of_kind(orphans_dead_ends_stubs(make(notes, links), 10), "orphan")  # no vectors: no suggestion
    assert [e["type"] for e in orphan.evidence] == ["count", "words"]


def test_zettelkasten_ids_are_shown_with_their_alias() -> None:
    data = make({"202303210958.md": 10, "a.md": 10}, [("a.md", "202303210958", "202303210958.md")],
                aliases={"202303210958.md": ["frontmatter в callout"]})
    (dead,) = of_kind(orphans_dead_ends_stubs(data, 10), "dead_end")
    assert dead.title.startswith("[[202303210958|frontmatter в callout]]")


def test_limit_keeps_the_best_three_times_limit() -> None:
    data = make({f"n{i:03}.md": i for i in range(100)}, [])
    spots = orphans_dead_ends_stubs(data, 4)
    assert [s.notes[0] for s in spots] == [f"n{i:03}.md" for i in range(99, 87, -1)]


# ------------------------------------------------------------------ unanswered questions, by hand

DIALOGUE = """>[!nexus_user] **User** - 24.07.2025 at 18:20
> {0}
<!-- UID: {2}-1 -->

>[!nexus_agent] **Assistant** - 24.07.2025 at 18:21
> Here is an answer.
<!-- UID: {2}-2 -->
{1}"""
FOLLOW_UP = """
>[!nexus_user] **User** - {0} at 18:30
> {1}
<!-- UID: {2}-3 -->
"""


def documents(**texts: str) -> BlindSpotInput:
    notes = {f"{name}.md": parse_note(f"{name}.md", text) for name, text in texts.items()}
    return BlindSpotInput(notes=list(notes), titles={p: p[:-3] for p in notes}, words={p: 100 for p in notes},
                          links=[], documents=notes)


def test_only_a_last_user_turn_that_asks_is_unanswered() -> None:
    data = documents(
        answered=DIALOGUE.format("Why?", "", "a"),
        open=DIALOGUE.format("Why?", FOLLOW_UP.format("25.07.2025", "And how would that work？", "b"), "b"),
        older=DIALOGUE.format("Why?", FOLLOW_UP.format("01.01.2024", "But why not?", "c"), "c"),
        closing=DIALOGUE.format("Why?", FOLLOW_UP.format("25.07.2025", "Thanks, noted.", "d"), "d"),
    )
    spots = unanswered_questions(data, 10)
    assert [s.notes[0] for s in spots] == ["open.md", "older.md"]  # newer first
    assert spots[0].evidence[0] == {"type": "question", "text": "And how would that work？", "line": 9,
                                    "author": "User", "timestamp": "25.07.2025 at 18:30"}
    assert all(0.8 <= s.score < 1 for s in spots)


QUESTIONS = """---
tags: [x]
---
# Title

## Why?

## How？
<!-- later -->

## What now?
Some text.

## Under a sub-heading?
### Sub
content here

## Only an empty sub-heading?
### Sub2

> ## Quoted?
>
## Last?
"""


def test_question_headings_with_nothing_under_them() -> None:
    spots = unanswered_questions(documents(q=QUESTIONS), 10)
    assert sorted((s.evidence[0]["text"], s.evidence[0]["line"]) for s in spots) == [
        ("How？", 8), ("Last?", 23), ("Only an empty sub-heading?", 18), ("Quoted?", 21), ("Why?", 6)]
    assert all(s.score == pytest.approx(0.5 - 0.05) for s in spots)  # level 2
    assert len({s.id for s in spots}) == len(spots)


def test_unanswered_ids_follow_the_question() -> None:
    first = unanswered_questions(documents(n=DIALOGUE.format("Q", FOLLOW_UP.format("1.1.2025", "Why?", "x"), "x")), 5)
    again = unanswered_questions(documents(n=DIALOGUE.format("Q", FOLLOW_UP.format("1.1.2025", "Why?", "x"), "x")), 5)
    later = unanswered_questions(documents(n=DIALOGUE.format("Q", FOLLOW_UP.format("1.1.2025", "Why?", "y"), "x")), 5)
    assert first[0].id == again[0].id != later[0].id


# ------------------------------------------------------------------ edges and a real vault


def test_empty_input_finds_nothing() -> None:
    empty = BlindSpotInput(notes=[], titles={}, words={}, links=[])
    assert all(detector(empty, 10) == [] for detector in DETECTORS)


def test_real_wiki_smoke(tmp_path: Path) -> None:
    data = _input_for(real_vault("ru-vanadium23-wiki"), tmp_path / "state")
    for detector in DETECTORS:
        spots = detector(data, 20)
        assert len(spots) <= 20 * 3 * 3
        for spot in spots:
            assert spot.evidence and spot.title and spot.suggestion and 0 <= spot.score < 1
            json.dumps(spot.evidence)
    kinds = {s.kind for d in DETECTORS for s in d(data, 20)}
    assert {"wanted_note", "broken_link", "orphan", "dead_end"} <= kinds
