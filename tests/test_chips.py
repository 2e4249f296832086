"""Training chips on the sample vault (test embedder), the user's seed note and a real vault:
the kinds, provenance, scenes, splits, probes, privacy and the commands."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.chips.kinds import _answer, _reason, topic
from vaultmind.cli import main

from .conftest import SAMPLE_VAULT, SHARED, HashEmbedder, real_vault

jsonschema = pytest.importorskip("jsonschema")
VALIDATOR = jsonschema.Draft202012Validator(vaultmind.CHIP_SCHEMA)
PRIVATE_NOTES = ("stoic/дневник_14_марта.md", "bees/18_продажа_мёда_соседям.md")


def indexed_copy(root: Path, source: Path = SAMPLE_VAULT) -> tuple[Path, Path]:
    vault = root / "vault"
    shutil.copytree(source, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    state = root / "state"
    vaultmind.index(vault, state_dir=state, embedder=HashEmbedder())
    return vault, state


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, vaultmind.ChipSet]:
    vault, state = indexed_copy(tmp_path_factory.mktemp("chips"))
    return vault, state, vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())


def by_kind(found: vaultmind.ChipSet, kind: str) -> list[vaultmind.Chip]:
    return [c for c in found.chips if c.kind == kind]


def test_every_kind_is_made_and_every_record_validates(sample) -> None:
    _vault, _state, found = sample
    counts = {k: len(by_kind(found, k)) for k in vaultmind.CHIP_KINDS}
    assert counts["dialogue"] >= 12 and counts["note_qa"] >= 30 and counts["link_rationale"] >= 30
    assert counts["scene_doc"] >= 5 and counts["probe"] >= 2
    for chip in found.chips:
        problems = [e.message for e in VALIDATOR.iter_errors(vaultmind.chip_record(chip))]
        assert problems == [], (chip.kind, chip.source.path, problems)
    assert len({c.chip_id for c in found.chips}) == len(found.chips)


def test_a_dialogue_keeps_its_turns_uids_and_the_authors_commentary_apart(sample) -> None:
    vault, _state, found = sample
    chip = next(c for c in by_kind(found, "dialogue") if c.source.path == "bees/14_зимовка_диалог.md")
    assert [m.role for m in chip.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert [m.origin for m in chip.messages[1:]] == ["author", "model", "author", "model"]
    uids = re.findall(r"UID: ([0-9a-f-]{36})", (vault / chip.source.path).read_text(encoding="utf-8"))
    assert list(chip.source.turn_uids) == uids and len(uids) == 4
    assert chip.source.timestamps[0] == "03.10.2025 at 20:25"
    assert len(chip.commentary) == 1 and chip.commentary[0].text.startswith("Решение на эту зиму")
    assert not any("Решение на эту зиму" in m.content for m in chip.messages)
    assert chip.source.line_start == 1 and len(chip.source.note_sha256) == 64
    assert "bees/11_щавелевая_кислота_сублимация.md" not in chip.links  # linked from the commentary only


def test_note_qa_takes_question_and_concept_headings_only() -> None:
    assert topic("Почему метрики не мышление") == ("Почему метрики не мышление?", True)
    assert topic("1. В чём суть проблемы") == ("В чём суть проблемы?", True)
    assert topic("What breaks first?") == ("What breaks first?", True)
    assert topic("Bulk fermentation") == ("Bulk fermentation", False)
    for organising in ("Sources", "Релевантные заметки", "Links", "2025-03-14", "14.03", "См. также", "Моё уточнение"):
        assert topic(organising) is None, organising


def test_an_answer_drops_dataview_fields_and_a_task_list_is_no_answer() -> None:
    assert _answer("context:: инструменты\nproblem:: диаграммы\nТекст автора про диаграммы.") == "Текст автора про диаграммы."
    assert _answer("- [x] написать почему заметки - это граф ✅ 2024-12-07\n- [ ] ещё одно") == ""
    assert _answer("Суть.\n\nРелевантные заметки:\n- [[A]] — почему") == "Суть."


def test_a_link_reason_is_the_clause_of_its_link() -> None:
    listed = "Дальше: [[Сцена]] (короткое определение), [[07_lora]] — можно ли научить сценам через адаптер, [[12_x]] — разметка."
    assert _reason(listed, "[[07_lora]]") == "07_lora — можно ли научить сценам через адаптер"
    assert _reason(listed, "[[Сцена]]") is None and _reason(listed, "[[12_x]]") is None  # too few words of their own
    assert _reason("- [[a/Software  the Hard Parts|Software  the Hard Parts]]", "[[a/Software  the Hard Parts|Software  the Hard Parts]]") is None
    assert _reason("- [[LTM_2]] — прямо раскрывает слепоты индустрии [^1].", "[[LTM_2]]") == "LTM_2 — прямо раскрывает слепоты индустрии."


def test_note_qa_answers_are_the_authors_sections_with_title_and_scene(sample) -> None:
    _vault, _state, found = sample
    chips = by_kind(found, "note_qa")
    for chip in chips:
        assert chip.messages[-1].origin == "author" and chip.messages[-2].origin == "vaultmind"
        assert "Релевантные заметки" not in chip.messages[-1].content
        system = chip.messages[0]
        assert system.role == "system" and ("\nNote: “" in system.content or "\nЗаметка: «" in system.content)
    questions = {c.messages[1].content for c in chips}
    assert "Tell me about “Folds” (from the note “bulk fermentation”)." in questions
    assert "Tell me about “Bulk fermentation”." in questions  # the note's own title as its heading


def test_link_rationale_is_the_authors_reason_for_one_link(sample) -> None:
    _vault, _state, found = sample
    chips = [c for c in by_kind(found, "link_rationale") if c.source.path == "ai/21_почему_метрики_не_мышление.md"]
    reasons = {c.links[0]: c.messages[-1].content for c in chips}
    assert "предлагает альтернативу" in reasons["ai/52_оценка_без_бенчмарков.md"]
    assert "маленький адаптер" in reasons["ai/07_lora_ранги_и_что_они_кодируют.md"]
    assert reasons["Онтология мышления"].startswith("Онтология мышления — без неё")  # a wanted note too
    question = next(c for c in chips if c.links[0] == "ai/52_оценка_без_бенчмарков.md").messages[1].content
    assert question == "Как «почему метрики не мышление» связана с «оценка без бенчмарков»?"


def test_scene_documents_follow_links_within_one_scene_and_fit_the_budget(sample) -> None:
    _vault, _state, found = sample
    docs = by_kind(found, "scene_doc")
    for doc in docs:
        assert doc.tokens <= 2048 + 16 and doc.text.startswith("# ")
        assert doc.scene.id is not None and doc.source.notes[0] == doc.source.path
        assert not any(p in PRIVATE_NOTES for p in doc.source.notes)
    scenes = defaultdict(list)
    for doc in docs:
        scenes[doc.scene.id].append(doc)
    assert len(scenes) >= 4  # one document or more per scene


def test_no_scene_is_in_two_splits_and_probes_come_from_held_out_scenes(sample) -> None:
    _vault, _state, found = sample
    splits = defaultdict(set)
    for chip in found.chips:
        if chip.kind != "probe":
            splits[chip.scene.id if chip.scene.id is not None else chip.source.path].add(chip.split)
    assert all(len(s) == 1 for s in splits.values()), {k: v for k, v in splits.items() if len(v) > 1}
    held_out = {k for k, s in splits.items() if s == {"validation"}}
    assert any(isinstance(k, int) for k in held_out)  # a scene is held out even in a small vault
    probes = by_kind(found, "probe")
    assert {p.split for p in probes} == {"probe"}
    assert all(p.scene.id in held_out and p.probe is not None and p.probe.verified is False for p in probes)
    for probe in probes:
        assert probe.probe.choices[probe.probe.answer] in probe.messages[-1].content
        assert len(set(probe.probe.choices)) == len(probe.probe.choices)


def test_private_notes_never_reach_a_chip(sample) -> None:
    vault, _state, found = sample
    secret_lines = [line for p in PRIVATE_NOTES for line in (vault / p).read_text(encoding="utf-8").split("\n")
                    if len(line) > 40 and not line.startswith(("---", "tags", "private"))]
    assert secret_lines
    blob = json.dumps([vaultmind.chip_record(c) for c in found.chips], ensure_ascii=False)
    for path in PRIVATE_NOTES:
        assert path not in blob
    assert not [line for line in secret_lines if line.strip() in blob]
    assert found.stats["privacy"]["private_notes"] == 2


def test_chip_ids_are_stable_and_ignore_the_system_turn(sample) -> None:
    vault, state, found = sample
    again = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())
    assert [c.chip_id for c in again.chips] == [c.chip_id for c in found.chips]
    bare = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder(),
                                    config=vaultmind.load_config(vault, chip_system=False))
    dialogue_ids = {c.chip_id for c in by_kind(found, "dialogue")}
    assert dialogue_ids == {c.chip_id for c in bare.chips if c.kind == "dialogue"}
    assert all(m.role != "system" for c in bare.chips for m in c.messages)


def test_filters_pick_a_scene_a_language_and_a_token_range(sample) -> None:
    vault, state, found = sample
    scene = next(c.scene.id for c in found.chips if c.scene.id is not None)
    pack = vaultmind.chips(vault, scene=scene, state_dir=state, embedder=HashEmbedder())
    assert pack and {c.scene.id for c in pack} == {scene}
    english = vaultmind.chips(vault, langs=["en"], kinds=["note_qa"], state_dir=state, embedder=HashEmbedder())
    assert english and {c.lang for c in english} == {"en"} and {c.kind for c in english} == {"note_qa"}
    short = vaultmind.chips(vault, max_tokens=100, state_dir=state, embedder=HashEmbedder())
    assert short and max(c.tokens for c in short) <= 100
    with pytest.raises(vaultmind.SceneNotFound):
        vaultmind.chips(vault, scene=999, state_dir=state, embedder=HashEmbedder())


def test_a_note_changed_since_the_index_is_left_out(tmp_path: Path) -> None:
    vault, state = indexed_copy(tmp_path)
    note = vault / "bees/14_зимовка_диалог.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nещё строка\n", encoding="utf-8")
    found = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())
    assert "bees/14_зимовка_диалог.md" in found.stats["stale_notes"]
    assert not [c for c in found.chips if c.source.path == "bees/14_зимовка_диалог.md"]


PLANTED = {
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github": "ghp_4kDq8ZtR2mYw9vXc1LpN6sB3hJ7fG0aQeT5u",
    "key": "MIIEowIBAAKCAQEA0Zx3kq2nP8vQ7rT1yW4uE6sL9mB5cH2jD8fK3gA1",
}


def test_planted_secrets_and_private_notes_reach_no_output_file(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    (vault / "ai" / "ключи.md").write_text(
        "# Ключи для эксперимента\n\n## Как запускать обучение\n\n"
        f"Запускаю с ключом aws_access_key_id = {PLANTED['aws']} и aws_secret_access_key = \"{PLANTED['aws_secret']}\", "
        f"токен GitHub {PLANTED['github']} — чтобы скачать веса, потому что иначе ничего не работает.\n\n"
        "```\n-----BEGIN RSA PRIVATE KEY-----\n" + PLANTED["key"] + "\n-----END RSA PRIVATE KEY-----\n```\n\n"
        "Связано: [[12_датасет_из_собственных_заметок]] — там про то, откуда берутся данные для обучения.\n",
        encoding="utf-8")
    (vault / "ai" / "тайное.md").write_text(
        "---\nprivate: true\n---\n# Canary private frontmatter\n\n## Что такое канарейка\n\n"
        "CANARYFRONTMATTER слова про обучение модели на собственных заметках и сцены. [[LTM_2]]\n", encoding="utf-8")
    (vault / "bread" / "secret bake.md").write_text(
        "# Secret bake\n\n## What is the secret crumb\n\nCANARYTAG a long sentence about sourdough and the crumb "
        "and the oven spring that nobody may read. #private [[21_bulk_fermentation]]\n", encoding="utf-8")
    (vault / "templates" / "leak.md").write_text("## What is excluded\n\nCANARYEXCLUDED text in an excluded folder "
                                                 "about bread and bees and hiking.\n", encoding="utf-8")
    state = tmp_path / "state"
    vaultmind.index(vault, state_dir=state, embedder=HashEmbedder())
    out = tmp_path / "out"
    result = vaultmind.export_chips(vault, out, formats=["all"], state_dir=state, embedder=HashEmbedder())
    assert result.stats["privacy"]["secrets_found"] >= 3
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 15
    everything = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files if p.suffix != ".parquet")
    parquet = b"\n".join(p.read_bytes() for p in files if p.suffix == ".parquet")
    for needle in [*PLANTED.values(), "CANARYFRONTMATTER", "CANARYTAG", "CANARYEXCLUDED", "тайное", "secret bake",
                   "Canary private", "Secret bake", "templates/leak"]:
        assert needle not in everything, needle
        assert needle.encode() not in parquet, needle
    assert "[REDACTED:" in everything and "ключи.md" in everything  # the note itself is exported, redacted


def test_exact_duplicate_notes_leave_one_chip(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    shutil.copy(vault / "bread/21_bulk_fermentation.md", vault / "hiking/bulk fermentation copy.md")
    state = tmp_path / "state"
    vaultmind.index(vault, state_dir=state, embedder=HashEmbedder())
    found = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())
    dropped = found.stats["dedup"]["dropped"]
    assert any(d["source_path"] in ("hiking/bulk fermentation copy.md", "bread/21_bulk_fermentation.md")
               and d["reason"] == "exact" for d in dropped)
    qa = [c for c in found.chips if c.kind == "note_qa" and "bulk" in c.source.path.lower()]
    contents = [c.messages[-1].content for c in qa]
    assert len(contents) == len(set(contents))


def test_the_users_seed_note_makes_a_dialogue_qa_and_link_reasons(tmp_path: Path) -> None:
    seed = SHARED / "seed" / "chat-note.md"
    if not seed.is_file():
        pytest.skip("../shared is not present")
    source = tmp_path / "seed"
    source.mkdir()
    shutil.copy(seed, source / "chat-note.md")
    vault, state = indexed_copy(tmp_path / "copy", source)
    found = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())
    dialogue = by_kind(found, "dialogue")[0]
    assert [m.role for m in dialogue.messages] == ["system", "user", "assistant"]
    assert dialogue.source.turn_uids == ("bbb210cb-19e1-48fe-a381-297dc5a71823", "b88edc70-47e7-44af-8b15-423a494d6309")
    assert dialogue.commentary and "Релевантные заметки" in dialogue.commentary[0].text
    assert all("Релевантные заметки" not in m.content for m in dialogue.messages)
    questions = {c.messages[1].content for c in by_kind(found, "note_qa")}
    assert "В чём суть проблемы или задачи, о которой идёт речь в заметке?" in questions
    reasons = [c.messages[-1].content for c in by_kind(found, "link_rationale")]
    assert any(r.startswith("LTM_2 — напрямую раскрывает 20 ключевых архитектурных слепот") for r in reasons)
    assert not any(r.lstrip().startswith(("[^", "#### Sources")) for r in reasons)


def test_a_real_vault_exports_valid_chips(tmp_path: Path) -> None:
    wiki = real_vault("ru-vanadium23-wiki")
    vault, state = indexed_copy(tmp_path, wiki)
    found = vaultmind.build_chip_set(vault, state_dir=state, embedder=HashEmbedder())
    assert len(by_kind(found, "note_qa")) >= 20 and len(by_kind(found, "link_rationale")) >= 20
    for chip in found.chips:
        assert not list(VALIDATOR.iter_errors(vaultmind.chip_record(chip))), chip.source.path


# ------------------------------------------------------------------ commands


def test_chips_command_previews_without_writing(sample) -> None:
    vault, state, _found = sample
    result = CliRunner().invoke(main, ["chips", str(vault), "--state-dir", str(state), "--kind", "dialogue",
                                       "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert len(records) == 2 and {r["kind"] for r in records} == {"dialogue"}
    assert all(not list(VALIDATOR.iter_errors(r)) for r in records)
    shown = CliRunner().invoke(main, ["chips", str(vault), "--state-dir", str(state), "-n", "1"])
    assert shown.exit_code == 0 and "link_rationale" in shown.output and "tokens" in shown.output


def test_export_chips_command_writes_refuses_and_overwrites(sample, tmp_path: Path) -> None:
    vault, state, _found = sample
    out = tmp_path / "chips"
    args = ["export", "chips", str(vault), "--state-dir", str(state), "--out", str(out), "--format", "openai",
            "--format", "trl"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert (out / "openai" / "train.jsonl").is_file() and (out / "README.md").is_file()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert CliRunner().invoke(main, [*args, "--overwrite"]).exit_code == 0
    bad = CliRunner().invoke(main, ["export", "chips", str(vault), "--state-dir", str(state), "--out",
                                    str(tmp_path / "x"), "--scene", "999"])
    assert bad.exit_code == 1 and "scene" in bad.output.lower()
