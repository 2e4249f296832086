"""Chip exports: every format written from a handful of hand-made chips, read back with the
tools that consume them (jsonschema, pyarrow, `datasets`), plus the atomic-write guarantees."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from vaultmind.chips import formats
from vaultmind.chips.formats import FORMATS, write_export
from vaultmind.chips.record import SCHEMA, chip_id, exact_hash, from_record, record
from vaultmind.errors import ExportError
from vaultmind.types import Chip, ChipMessage, ChipScene, ChipSource, Probe

STATS = {
    "vault": "/home/someone/Заметки", "vaultmind_version": "0.9.0", "settings_hash": "abc123",
    "tokenizer": "test-words", "license": "cc-by-4.0", "notes_used": 4,
    "dedup": {"threshold": 0.9, "exact_dropped": 1, "near_dropped": 2, "near_clusters": 1,
              "dropped": [{"chip_id": "x", "kind": "note_qa", "reason": "exact", "duplicate_of": "y",
                           "source_path": "a.md"}]},
    "privacy": {"private_notes": 1, "secrets_found": 2, "secrets_redacted": 2, "chips_dropped": 0,
                "types": {"api_key": 2}},
    "splits": {"method": "scene-group hash", "validation_share": 0.2, "salt": "s",
               "groups": {"train": 3, "validation": 1}, "merged_groups": 0},
    "contamination": {"ngram": 13, "dropped": 0},
    "stale_notes": [],
}


def msg(role: str, content: str, origin: str = "author", weight: int | None = None) -> ChipMessage:
    return ChipMessage(role, content, origin, weight)


def chip(kind: str, split: str, lang: str, path: str, *, messages=(), text=None, probe=None,
         scene: int | None = 1) -> Chip:
    draft = Chip(
        chip_id="0" * 24, kind=kind, lang=lang,
        source=ChipSource(path, hashlib.sha256(path.encode()).hexdigest(), 1, 9, ("u1", "u2"),
                          ("2024-05-01T10:00",), (("id", "n-1"),), (path,)),
        scene=ChipScene(scene, "сад и огород" if lang == "ru" else "notes", ("Context",)),
        messages=tuple(messages), text=text, probe=probe, tokens=42, tokenizer="test-words",
        split=split, vaultmind_version="0.9.0", settings_hash="abc123",
    )
    return replace(draft, chip_id=chip_id(draft), exact_hash=exact_hash(draft))


SYSTEM = msg("system", "Ты помогаешь автору.", "vaultmind")


def sample_chips() -> list[Chip]:
    """Every kind, both training splits, a probe, Russian and English, and a dialogue with two
    user messages in a row that ends on a user message."""
    return [
        chip("note_qa", "train", "ru", "Сад.md", messages=[SYSTEM, msg("user", "Когда сажать томаты?", "vaultmind"),
                                                           msg("assistant", "В мае, после заморозков.")]),
        chip("note_qa", "validation", "en", "Garden.md", messages=[msg("user", "What grows in shade?", "vaultmind"),
                                                                   msg("assistant", "Ferns and hostas.")]),
        chip("dialogue", "train", "ru", "Chat.md", messages=[
            SYSTEM, msg("user", "Привет"), msg("user", "Can you help with Python?"),
            msg("assistant", "Конечно.", "model", weight=0), msg("user", "Спасибо!"),
            msg("assistant", "Пожалуйста.", "model", weight=1), msg("user", "Пока")]),
        chip("link_rationale", "train", "en", "Links.md", scene=None, messages=[
            msg("user", "Why does [[A]] link to [[B]]?", "vaultmind"), msg("assistant", "B explains A's method.")]),
        chip("scene_doc", "train", "ru", "Сад.md", text="Сад — это место, где растут томаты и огурцы."),
        chip("scene_doc", "validation", "en", "Garden.md", text="The garden notes, joined as one document."),
        chip("probe", "probe", "ru", "Сад.md", messages=[msg("user", "Почему томаты сажают в мае?", "vaultmind"),
                                                          msg("assistant", "Из-за заморозков.", "vaultmind")],
             probe=Probe("causal_cloze", "Томаты сажают в мае, потому что ___", ("заморозки", "дожди"), 0)),
    ]


@pytest.fixture
def chips() -> list[Chip]:
    return sample_chips()


@pytest.fixture
def export(chips, tmp_path):
    return write_export(chips, tmp_path / "out", FORMATS, STATS)


@pytest.fixture
def offline(monkeypatch):
    """`datasets`, offline: it and `huggingface_hub` read the switches when imported, so both the
    environment and the already-imported settings are set."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    return datasets


def readable(path: Path) -> str:
    """A file's content as text: Parquet is compressed, so its rows are read and dumped."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
    return path.read_text(encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_canonical_lines_validate_and_round_trip(export, chips):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    lines = [r for split in ("train", "validation", "probe")
             for r in read_jsonl(export.out / f"canonical/{split}.jsonl")]
    assert len(lines) == len(chips)
    for line in lines:
        validator.validate(line)
        assert record(from_record(line)) == line
    assert json.loads((export.out / "chip.schema.json").read_text()) == SCHEMA
    assert "Когда сажать" in (export.out / "canonical/train.jsonl").read_text(encoding="utf-8")  # not \u-escaped


def test_canonical_parquet_mirrors_the_record(export):
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(export.out / "canonical/probe.parquet")
    assert table.column_names == list(SCHEMA["properties"])
    row = table.to_pylist()[0]
    assert row["probe"]["choices"] == ["заморозки", "дожди"]
    assert row["source"]["ids"] == [{"key": "id", "value": "n-1"}]
    assert row["messages"][0]["weight"] is None


def test_openai_rows_are_messages_only_and_never_probes(export, chips):
    train = read_jsonl(export.out / "openai/train.jsonl")
    assert export.rows["openai"] == {"train": 3, "validation": 1}
    assert all(set(row) == {"messages"} for row in train)
    weighted = [m for row in train for m in row["messages"] if "weight" in m]
    assert weighted and all(m["role"] == "assistant" for m in weighted)
    assert export.lost["openai"] == {"not_chat": 2}
    probe = chips[-1]
    secrets = [probe.chip_id, probe.probe.question, *(m.content for m in probe.messages)]
    for path in export.out.rglob("*"):
        if path.is_file() and path.parts[-2] not in ("canonical", "probes") and path.name != "manifest.json":
            assert not any(s in readable(path) for s in secrets), path
    probes = read_jsonl(export.out / "probes/probe.jsonl")
    assert probes == [{"chip_id": chips[-1].chip_id, "type": "causal_cloze", "question": chips[-1].probe.question,
                       "choices": ["заморозки", "дожди"], "answer": 0, "verified": False, "source_path": "Сад.md",
                       "scene_id": 1}]


def test_provenance_maps_rows_back_to_chips(export, chips):
    by_id = {c.chip_id: c for c in chips}
    # what a written row keeps of its chip, per format
    kept = {"openai": lambda c: [m.content for m in c.messages], "text": lambda c: c.text,
            "sharegpt": lambda c: c.chip_id, "alpaca": lambda c: next(m.content for m in c.messages if m.role == "user")}
    seen = {"openai": lambda r: [m["content"] for m in r["messages"]], "text": lambda r: r["text"],
            "sharegpt": lambda r: r["chip_id"], "alpaca": lambda r: r["instruction"]}
    for fmt in kept:
        lines = read_jsonl(export.out / f"{fmt}/provenance.jsonl")
        assert len(lines) == sum(export.rows[fmt].values())
        for line in lines:
            chip_ = by_id[line["chip_id"]]
            assert line["kind"] == chip_.kind
            assert line["source"] == record(chip_)["source"] and line["scene"] == record(chip_)["scene"]
            data_file = export.out / fmt / line["file"]
            if "line" in line:
                row = read_jsonl(data_file)[line["line"] - 1]
            else:
                row = json.loads(data_file.read_text(encoding="utf-8"))[line["index"]]
            assert seen[fmt](row) == kept[fmt](chip_)
    openai_lines = read_jsonl(export.out / "openai/provenance.jsonl")
    assert [(p["file"], p["line"]) for p in openai_lines] == [
        ("train.jsonl", 1), ("train.jsonl", 2), ("train.jsonl", 3), ("validation.jsonl", 1)]


def test_sharegpt_alternates_and_counts_its_changes(export):
    rows = json.loads((export.out / "sharegpt/train.json").read_text(encoding="utf-8"))
    for row in rows:
        speakers = [t["from"] for t in row["conversations"]]
        assert speakers == ["human", "gpt"] * (len(speakers) // 2) and speakers
    dialogue = next(r for r in rows if len(r["conversations"]) > 2)
    assert dialogue["conversations"][0]["value"] == "Привет\n\nCan you help with Python?"
    assert dialogue["system"] == "Ты помогаешь автору."
    assert export.lost["sharegpt"] == {"not_chat": 2, "merged_turns": 1, "trailing_human_dropped": 1}
    info = json.loads((export.out / "sharegpt/dataset_info.json").read_text())
    assert info["vaultmind_train"] == {
        "file_name": "train.json", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}


def test_alpaca_keeps_single_turn_chips(export):
    assert export.lost["alpaca"] == {"not_chat": 2, "multi_turn": 1}
    assert export.rows["alpaca"] == {"train": 2, "validation": 1}
    first = json.loads((export.out / "alpaca/train.json").read_text(encoding="utf-8"))[0]
    assert first == {"instruction": "Когда сажать томаты?", "input": "", "output": "В мае, после заморозков.",
                     "system": "Ты помогаешь автору."}


def test_trl_parquet_loads_as_conversations(export, tmp_path, offline):
    datasets = offline
    files = {"train": str(export.out / "trl/train.parquet"), "validation": str(export.out / "trl/validation.parquet")}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    messages = loaded["train"].features["messages"]
    assert isinstance(messages, datasets.List)
    assert messages.feature == {"role": datasets.Value("string"), "content": datasets.Value("string")}
    assert loaded["train"].features["scene_id"] == datasets.Value("int64")
    assert [r["scene_id"] for r in loaded["train"]] == [1, 1, None]
    pc = datasets.load_dataset("parquet", data_files=str(export.out / "trl/prompt_completion/train.parquet"),
                               split="train", cache_dir=str(tmp_path / "cache"))
    dialogue = next(r for r in pc if r["kind"] == "dialogue")
    assert dialogue["completion"] == [{"role": "assistant", "content": "Пожалуйста."}]
    assert dialogue["prompt"][-1] == {"role": "user", "content": "Спасибо!"}
    assert export.lost["trl_prompt_completion"] == {"not_chat": 2, "trailing_turns_dropped": 1}


def test_every_card_config_loads_with_datasets(export, tmp_path, offline):
    datasets = offline
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(export.out / "README.md")
    configs = card.data.to_dict()["configs"]
    assert configs[0]["default"] is True
    assert {c["config_name"] for c in configs} == {"openai", "sharegpt", "alpaca", "text", "canonical", "probes"}
    for config in configs:
        for entry in config["data_files"]:
            loaded = datasets.load_dataset(str(export.out), name=config["config_name"], split=entry["split"],
                                           cache_dir=str(tmp_path / "cache"))
            assert loaded.num_rows == export.rows[config["config_name"]][entry["split"]], config["config_name"]
    assert card.data.language == ["en", "ru"] and card.data.license == "cc-by-4.0"
    assert "question-answering" in card.data.task_categories and card.data.size_categories == "n<1K"
    assert "trl/train.parquet" in card.text  # the Parquet configs are documented in the body
    assert "| dialogue | 1 | 0 | 0 |" in card.text
    assert "/home/someone" not in str(card)


def test_report_and_manifest(export):
    report = json.loads((export.out / "report.json").read_text(encoding="utf-8"))
    assert report["stats"] == STATS
    assert report["formats"]["openai"]["files"] == ["openai/train.jsonl", "openai/validation.jsonl"]
    manifest = json.loads((export.out / "manifest.json").read_text())
    on_disk = {p.relative_to(export.out).as_posix() for p in export.out.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    assert set(export.files) == on_disk
    for name, entry in manifest["files"].items():
        data = (export.out / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_output_is_deterministic(chips, tmp_path):
    first = write_export(chips, tmp_path / "a", FORMATS, STATS)
    second = write_export(chips, tmp_path / "b", FORMATS, STATS)
    hashes = [json.loads((r.out / "manifest.json").read_text())["files"] for r in (first, second)]
    assert hashes[0] == hashes[1]


def test_an_existing_export_is_replaced_only_with_overwrite(chips, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(ExportError, match="--overwrite") as refused:
        write_export(chips, out, ["openai"], STATS)
    assert str(out) in str(refused.value) and (out / "old.txt").exists()
    write_export(chips, out, ["openai"], STATS, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "openai/train.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failure_mid_write_leaves_nothing_behind(chips, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(formats._WRITERS, "sharegpt", broken)
    with pytest.raises(RuntimeError):
        write_export(chips, tmp_path / "out", FORMATS, STATS)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_old_export(chips, tmp_path, monkeypatch):
    out = write_export(chips, tmp_path / "out", ["text"], STATS).out
    before = (out / "manifest.json").read_bytes()
    monkeypatch.setattr(formats, "_parquet", lambda *a: (_ for _ in ()).throw(OSError("no space left")))
    with pytest.raises(ExportError, match="no space left"):
        write_export(chips, out, FORMATS, STATS, overwrite=True)
    assert (out / "manifest.json").read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_bad_input_is_refused(chips, tmp_path):
    with pytest.raises(ExportError, match="unknown chip format"):
        write_export(chips, tmp_path / "out", ["csv"], STATS)
    with pytest.raises(ExportError, match="split"):
        write_export([replace(chips[-1], split="train")], tmp_path / "out", ["openai"], STATS)
    assert not (tmp_path / "out").exists()


def test_a_parquet_only_export_lists_its_parquet_configs(chips, tmp_path, offline):
    datasets = offline
    out = write_export([c for c in chips if c.kind != "probe"], tmp_path / "out", ["trl"], STATS).out
    for name in ("trl", "trl_prompt_completion"):
        loaded = datasets.load_dataset(str(out), name=name, cache_dir=str(tmp_path / "cache"))
        assert {s: d.num_rows for s, d in loaded.items()} == {"train": 3, "validation": 1}


def test_an_empty_export_still_has_its_card_and_manifest(tmp_path):
    result = write_export([], tmp_path / "out", FORMATS, {})
    assert result.files == ("README.md", "chip.schema.json", "manifest.json", "report.json")
    assert "configs" not in (result.out / "README.md").read_text(encoding="utf-8")
