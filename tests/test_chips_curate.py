"""Curation: exact and near duplicates collapse to one canonical chip, splits follow scenes (and
scenes linked by a duplicate), stay put as the vault grows, and train chips that quote a probe
are dropped."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from vaultmind.chips.curate import assign_splits, deduplicate, drop_contaminated, group_key, split_summary
from vaultmind.chips.record import chip_id, exact_hash
from vaultmind.types import Chip, ChipMessage, ChipScene, ChipSource, Probe

LONG = ("The starter was fed at eight with equal weights of rye flour and water, then left on the "
        "counter near the window where the morning sun warms the jar; by noon it had doubled, smelled "
        "of yoghurt and green apples, and a spoonful floated in water, so the dough was mixed at one "
        "with the levain, salt and the flour")
OTHER = ("Bees leave the hive on a cold morning only when the air above the entrance is warm enough, "
         "so the first foragers are seen near noon carrying pale pollen from the willows by the river; "
         "a strong colony brings water too, and the beekeeper can read its mood from the sound alone "
         "without opening the lid at all this spring")


def make(text: str | None = None, *, scene: int | None = 1, path: str = "a.md", kind: str = "scene_doc",
         messages: tuple[ChipMessage, ...] = (), probe: Probe | None = None, split: str = "") -> Chip:
    draft = Chip(chip_id="", kind=kind, lang="en", source=ChipSource(path, "0" * 64, 1, 9),
                 scene=ChipScene(scene, "scene"), messages=messages, text=text, probe=probe, split=split)
    return replace(draft, chip_id=chip_id(draft), exact_hash=exact_hash(draft))


def chat(answer: str, *, scene: int | None = 1, path: str = "a.md") -> Chip:
    return make(kind="note_qa", scene=scene, path=path,
                messages=(ChipMessage("system", "You help the author.", "vaultmind"),
                          ChipMessage("user", "What happened?", "vaultmind"), ChipMessage("assistant", answer)))


def probe_chip(question: str, choices: tuple[str, ...] = ("yes", "no")) -> Chip:
    return make(kind="probe", scene=99, path="p.md", split="probe", probe=Probe("causal_cloze", question, choices, 0))


def changed(text: str, index: int, word: str) -> str:
    words = text.split()
    words[index] = word
    return " ".join(words)


def test_the_near_duplicate_texts_are_sixty_words() -> None:
    assert len(LONG.split()) == 60 and len(OTHER.split()) == 60


def test_exact_duplicates_across_notes_collapse_to_one() -> None:
    a = make(LONG, path="a.md", scene=1)
    b = make("  " + LONG.upper().replace(" ", "\n"), path="b.md", scene=2)  # same after normalising
    c = make(LONG, path="c.md", scene=3)
    kept, dropped, linked = deduplicate([a, b, c])
    assert len(kept) == 1 and kept[0].canonical
    assert kept[0].near_cluster is not None
    assert [(d["reason"], d["similarity"], d["duplicate_of"]) for d in dropped] == [("exact", 1.0, kept[0].chip_id)] * 2
    assert sorted(d["source_path"] for d in dropped) == sorted({"a.md", "b.md", "c.md"} - {kept[0].source.path})
    assert linked == [frozenset({"scene:1", "scene:2", "scene:3"})]


def test_a_near_duplicate_is_clustered_and_dropped_and_the_canonical_kept() -> None:
    original = make(LONG, path="a.md", scene=1)
    edited = make(changed(LONG, 30, "quietly"), path="b.md", scene=2)
    longer = make(changed(LONG, 30, "unexpectedly"), path="c.md", scene=3)  # the longest content wins
    different = make(OTHER, path="d.md", scene=4)
    kept, dropped, linked = deduplicate([original, edited, longer, different])
    assert [c.source.path for c in kept] == ["c.md", "d.md"]
    assert kept[0].near_cluster is not None and kept[1].near_cluster is None
    assert all(c.canonical for c in kept)
    assert [(d["source_path"], d["reason"], d["duplicate_of"]) for d in dropped] == [
        ("a.md", "near", longer.chip_id), ("b.md", "near", longer.chip_id)]
    assert all(0.8 <= d["similarity"] < 1.0 for d in dropped)
    assert dropped[0].keys() == {"chip_id", "kind", "reason", "duplicate_of", "source_path", "similarity"}
    assert linked == [frozenset({"scene:1", "scene:2", "scene:3"})]


def test_a_clearly_different_text_is_not_a_duplicate() -> None:
    half = " ".join(LONG.split()[:30] + OTHER.split()[30:])
    kept, dropped, linked = deduplicate([make(LONG), make(OTHER, path="b.md"), make(half, path="c.md")])
    assert (len(kept), dropped, linked) == (3, [], [])
    assert all(c.near_cluster is None and c.canonical for c in kept)


def test_short_texts_are_compared_on_all_their_words() -> None:
    kept, dropped, _ = deduplicate([make("Да."), make("да", path="b.md"), make("Нет.", path="c.md")])
    assert [c.text for c in kept] == ["Да.", "Нет."]
    assert [(d["reason"], d["similarity"]) for d in dropped] == [("near", 1.0)]


def test_chats_and_documents_are_not_compared_with_each_other() -> None:
    kept, dropped, _ = deduplicate([chat(LONG), make(LONG), chat(LONG, path="b.md")])
    assert [c.kind for c in kept] == ["note_qa", "scene_doc"]
    assert [d["reason"] for d in dropped] == ["exact"]


def synthetic(count: int, seed: int, scenes: int = 60) -> list[Chip]:
    rng = random.Random(seed)
    vocabulary = (LONG + " " + OTHER).lower().replace(",", "").replace(";", "").split()
    chips = []
    for i in range(count):
        if chips and rng.random() < 0.15:  # a copy of an earlier chip, one word changed
            text = changed(rng.choice(chips).text, rng.randrange(40, 60), "changed")
        else:
            text = " ".join(rng.choice(vocabulary) for _ in range(60)) + f" n{i}"
        scene = rng.randrange(scenes) if rng.random() < 0.9 else None
        chips.append(make(text, scene=scene, path=f"notes/{i}.md"))
    return chips


def test_dedup_is_deterministic_and_ignores_input_order() -> None:
    chips = synthetic(300, seed=3)
    first, second = deduplicate(chips), deduplicate(chips)
    assert first == second
    assert first[1], "the synthetic set has duplicates"
    shuffled = list(chips)
    random.Random(5).shuffle(shuffled)
    again = deduplicate(shuffled)
    assert sorted((c.source.path, c.near_cluster) for c in again[0]) == sorted((c.source.path, c.near_cluster)
                                                                                for c in first[0])
    assert sorted(map(sorted, again[2])) == sorted(map(sorted, first[2]))


def test_no_group_is_in_two_splits() -> None:
    chips = synthetic(400, seed=11)
    kept, _, linked = deduplicate(chips)
    split = assign_splits(kept, validation_share=0.3, linked_groups=linked)
    seen: dict[str, set[str]] = {}
    for chip in split:
        seen.setdefault(group_key(chip), set()).add(chip.split)
    assert all(len(splits) == 1 for splits in seen.values())
    assert {s for splits in seen.values() for s in splits} == {"train", "validation"}
    assert any(key.startswith("note:") for key in seen)


def test_scenes_that_share_a_near_duplicate_cluster_land_in_the_same_split() -> None:
    alone = assign_splits([make(f"text of scene {i}", scene=i, path=f"{i}.md") for i in range(40)],
                          validation_share=0.5)
    x, y = next((a.scene.id, b.scene.id) for a in alone for b in alone
                if (a.split, b.split) == ("train", "validation"))
    # scene y's only copy of the duplicate is dropped; its other chip must still follow scene x
    chips = [make(LONG, scene=x, path="x.md"), make(changed(LONG, 30, "no"), scene=y, path="y.md"),
             make(OTHER, scene=y, path="y2.md")]
    kept, dropped, linked = deduplicate(chips)
    assert [d["source_path"] for d in dropped] == ["y.md"]
    split = assign_splits(kept, validation_share=0.5, linked_groups=linked)
    # the merged group is named by its smallest key, and takes that key's split
    expected = {c.scene.id: c.split for c in alone}[min((x, y), key=lambda s: f"scene:{s}")]
    assert [c.split for c in split] == [expected, expected]
    assert split_summary(split, linked)["merged_groups"] == 1


def test_adding_scenes_does_not_move_existing_ones() -> None:
    before = assign_splits([make(f"scene {i}", scene=i, path=f"{i}.md") for i in range(200)])
    grown = assign_splits([make(f"scene {i}", scene=i, path=f"{i}.md") for i in range(200, 500)] + list(before))
    after = {c.scene.id: c.split for c in grown}
    assert all(after[c.scene.id] == c.split for c in before)


def test_the_validation_share_holds_over_a_thousand_scenes() -> None:
    split = assign_splits([make(f"scene {i}", scene=i, path=f"{i}.md") for i in range(1000)])
    share = sum(c.split == "validation" for c in split) / len(split)
    assert 0.07 <= share <= 0.13
    summary = split_summary(split)
    assert summary == {"groups": {"train": 1000 - round(share * 1000), "validation": round(share * 1000)},
                       "merged_groups": 0}


def test_the_salt_changes_the_split() -> None:
    chips = [make(f"scene {i}", scene=i, path=f"{i}.md") for i in range(300)]
    assert [c.split for c in assign_splits(chips)] != [c.split for c in assign_splits(chips, salt="other")]
    assert {c.split for c in assign_splits(chips, validation_share=0.0)} == {"train"}
    assert {c.split for c in assign_splits(chips, validation_share=1.0)} == {"validation"}
    with pytest.raises(ValueError):
        assign_splits(chips, validation_share=1.5)


def test_a_chip_without_a_scene_is_grouped_by_its_note() -> None:
    assert group_key(make("x", scene=None, path="inbox/идея.md")) == "note:inbox/идея.md"
    assert group_key(make("x", scene=7)) == "scene:7"


def test_probes_are_left_alone() -> None:
    probe = probe_chip("Why did the dough rise?")
    split = assign_splits([make("a", scene=1), probe, make("b", scene=2)], validation_share=1.0)
    assert split[1] is probe
    assert [c.split for c in split] == ["validation", "probe", "validation"]


def test_a_train_chip_sharing_thirteen_words_with_a_probe_is_dropped() -> None:
    words = LONG.split()
    probe = probe_chip("Why did the dough rise? " + " ".join(words[10:23]), ("it was warm", "it was fed"))
    thirteen = replace(make(" ".join(["Elsewhere:", *words[10:23], "and so on."]), path="b.md"), split="train")
    twelve = replace(make(" ".join(["Elsewhere:", *words[10:22], "and so on."]), path="c.md"), split="train")
    in_choice = replace(chat("it was warm " + " ".join(words[30:40]) + " and fed"), split="train")
    held_out = replace(thirteen, split="validation")
    kept, dropped = drop_contaminated([thirteen, twelve, in_choice, held_out, probe], [probe])
    assert kept == [twelve, in_choice, held_out, probe]
    assert dropped == [{"chip_id": thirteen.chip_id, "kind": "scene_doc", "reason": "contamination",
                        "probe": probe.chip_id}]


def test_probe_choices_and_messages_count_as_probe_text() -> None:
    words = OTHER.split()
    probe = probe_chip("Which is true?", ("no", " ".join(words[0:13])))
    quoted = replace(chat(" ".join(words[0:20])), split="train")
    assert drop_contaminated([quoted], [probe])[0] == []
    assert drop_contaminated([quoted], [])[0] == [quoted]


def test_a_small_vault_holds_out_one_scene_when_the_hash_holds_out_none() -> None:
    chips = [make(f"scene {s} text {s}", scene=s) for s in range(1, 6)]
    split = assign_splits(chips, validation_share=0.0001)  # one bucket in 10,000: no scene falls in it
    held = [c.scene.id for c in split if c.split == "validation"]
    assert len(held) == 1
    assert held == [c.scene.id for c in assign_splits(list(reversed(chips)), validation_share=0.0001)
                    if c.split == "validation"]
    assert {c.split for c in assign_splits(chips, validation_share=0.0)} == {"train"}
    assert {c.split for c in assign_splits(chips[:1], validation_share=0.0001)} == {"train"}  # one scene: nothing to hold out
