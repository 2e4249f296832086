"""Curated chips written out as a dataset folder: one subfolder per training format, the canonical
records, the evaluation probes, a dataset card, a report and a manifest, all written atomically.

Probes are evaluation data: they reach only `canonical/` and `probes/`, never a training format."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vaultmind.chips.arrow import ParquetBatches, canonical_schema, parquet as _parquet, row_schemas
from vaultmind.chips.card import Config, render_card
from vaultmind.chips.record import CHAT_KINDS, SCHEMA, SCHEMA_VERSION, SPLITS, record, scene_record, source_record
from vaultmind.errors import ExportError
from vaultmind.types import Chip, ChipMessage

log = logging.getLogger(__name__)

FORMATS = ("openai", "trl", "sharegpt", "alpaca", "text", "canonical")
TRAIN_SPLITS = ("train", "validation")

# Where each dataset config keeps a split: the writers, the card and the report all read this.
DATA_FILES = {"openai": "openai/{}.jsonl", "trl": "trl/{}.parquet",
              "trl_prompt_completion": "trl/prompt_completion/{}.parquet", "sharegpt": "sharegpt/{}.json",
              "alpaca": "alpaca/{}.json", "text": "text/{}.jsonl", "canonical": "canonical/{}.jsonl",
              "probes": "probes/{}.jsonl"}

Rows = dict[str, int]
Written = dict[str, tuple[Rows, Counter]]  # config -> (rows per split, chips left out or changed by reason)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: files relative to `out`, rows per dataset config and split, and per
    config the chips left out or changed, by reason (`report.json` holds the same)."""

    out: Path
    files: tuple[str, ...]
    rows: dict[str, dict[str, int]]
    lost: dict[str, dict[str, int]]
    stats: dict


def write_export(chips: Sequence[Chip], out: Path, formats: Sequence[str], stats: dict, *,
                 overwrite: bool = False) -> ExportResult:
    """Write curated `chips` to the folder `out` in `formats`, rows in the order given. All is
    written to a temporary folder beside `out` and renamed into place: `out` is either the old
    export or the complete new one."""
    _check(chips, formats)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} already exists and is not empty; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # not mkdtemp: its 0700 would stay on `out` while the files inside follow the umask
    try:
        rows, lost = _write_all(chips, tmp, formats, stats)
        files = _write_manifest(tmp)
        _swap_into_place(tmp, out)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"cannot write the export to {out}: {error}") from error
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %d chips to %s (%s)", len(chips), out, ", ".join(formats))
    return ExportResult(out, files, rows, lost, stats)


def _check(chips: Sequence[Chip], formats: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown chip format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    for chip in chips:
        # a probe in a training split would leak the evaluation set into training
        if chip.split not in SPLITS or (chip.kind == "probe") != (chip.split == "probe"):
            raise ExportError(f"chip {chip.chip_id} ({chip.kind}) has split {chip.split!r}; "
                              "probes go to `probe`, every other chip to train or validation")


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`; an old `out` is moved aside first and removed only afterwards."""
    if not out.exists():
        os.replace(tmp, out)
        return
    aside = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, aside)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _write_all(chips: Sequence[Chip], tmp: Path, formats: Sequence[str],
               stats: dict) -> tuple[dict[str, Rows], dict[str, Rows]]:
    written: Written = {}
    training = [c for c in chips if c.split in TRAIN_SPLITS]
    for name in formats:
        written.update(_WRITERS[name](chips if name == "canonical" else training, tmp))
    probes = [c for c in chips if c.split == "probe"]
    if probes:
        written["probes"] = ({"probe": _jsonl(tmp / "probes/probe.jsonl", map(_probe_row, probes))}, Counter())
    rows = {name: counts for name, (counts, _) in written.items()}
    lost = {name: dict(+changes) for name, (_, changes) in written.items()}  # + drops zero counts
    schemas = row_schemas()
    configs = [Config(name, {s: DATA_FILES[name].format(s) for s, n in rows[name].items() if n}, schemas[name],
                      rows[name], lost[name]) for name in written]
    _json(tmp / "chip.schema.json", SCHEMA)
    _json(tmp / "report.json", {"stats": stats, "formats": {
        c.name: {"rows": c.rows, "lost": c.lost, "files": sorted(c.files.values())} for c in configs}})
    (tmp / "README.md").write_text(render_card(chips, stats, configs), encoding="utf-8")
    return rows, lost


def _write_manifest(tmp: Path) -> tuple[str, ...]:
    """Write `manifest.json` (hash and size of every other file); return every file written."""
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    entries = {f: {"sha256": _sha256(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files}
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _json(tmp / "manifest.json", {"schema_version": SCHEMA_VERSION, "created": created, "files": entries})
    return tuple(sorted([*files, "manifest.json"]))


def _by_split(chips: Sequence[Chip], splits: Sequence[str] = TRAIN_SPLITS) -> dict[str, list[Chip]]:
    return {split: [c for c in chips if c.split == split] for split in splits}


def _chat(chips: Sequence[Chip], lost: Counter) -> dict[str, list[Chip]]:
    """The chat chips with something to learn from (a user message, later an assistant one), by split."""
    kept = []
    for chip in chips:
        roles = [m.role for m in chip.messages]
        if chip.kind not in CHAT_KINDS:
            lost["not_chat"] += 1
        elif "user" not in roles or "assistant" not in roles[roles.index("user"):]:
            lost["no_exchange"] += 1
        else:
            kept.append(chip)
    return _by_split(kept)


def _write_rows(tmp: Path, config: str, rows: dict[str, list[tuple[Chip, dict]]]) -> Rows:
    """Each split's rows to the config's file (JSON Lines, or one JSON list), and beside them
    `provenance.jsonl`: for each row its file, its line (or list index) and its chip's source."""
    counts, provenance = {}, []
    for split, pairs in rows.items():
        path = DATA_FILES[config].format(split)
        lines = path.endswith(".jsonl")
        counts[split] = (_jsonl if lines else _json_list)(tmp / path, [row for _, row in pairs])
        name = Path(path).name
        for i, (chip, _) in enumerate(pairs):
            provenance.append({"file": name, **({"line": i + 1} if lines else {"index": i}),
                               "chip_id": chip.chip_id, "kind": chip.kind,
                               "source": source_record(chip), "scene": scene_record(chip)})
    _jsonl(tmp / config / "provenance.jsonl", provenance)
    return counts


def _write_openai(chips: Sequence[Chip], tmp: Path) -> Written:
    lost: Counter = Counter()
    rows = {split: [(c, {"messages": [_openai_message(m) for m in c.messages]}) for c in members]
            for split, members in _chat(chips, lost).items()}
    return {"openai": (_write_rows(tmp, "openai", rows), lost)}


def _openai_message(message: ChipMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.weight is not None:  # OpenAI reads weight on assistant turns only
        out["weight"] = message.weight
    return out


def _write_trl(chips: Sequence[Chip], tmp: Path) -> Written:
    lost: Counter = Counter()
    cut: Counter = Counter()
    chats = _chat(chips, lost)
    conversations = {s: ({"messages": _plain(c.messages), **_trl_meta(c)} for c in m) for s, m in chats.items()}
    prompts = {s: ({**_prompt_completion(c, cut), **_trl_meta(c)} for c in m) for s, m in chats.items()}
    return {"trl": (_write_table(tmp, "trl", conversations), lost),
            "trl_prompt_completion": (_write_table(tmp, "trl_prompt_completion", prompts), lost + cut)}


def _plain(messages: Sequence[ChipMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _trl_meta(chip: Chip) -> dict[str, Any]:
    return {"chip_id": chip.chip_id, "kind": chip.kind, "lang": chip.lang, "scene_id": chip.scene.id,
            "scene_label": chip.scene.label, "source_path": chip.source.path,
            "note_sha256": chip.source.note_sha256, "tokens": chip.tokens}


def _prompt_completion(chip: Chip, cut: Counter) -> dict[str, Any]:
    last = max(i for i, m in enumerate(chip.messages) if m.role == "assistant")
    cut["trailing_turns_dropped"] += last < len(chip.messages) - 1
    return {"prompt": _plain(chip.messages[:last]), "completion": _plain(chip.messages[last:last + 1])}


def _write_sharegpt(chips: Sequence[Chip], tmp: Path) -> Written:
    lost: Counter = Counter()
    rows = {split: [(c, {"conversations": turns, "system": _system(c), "chip_id": c.chip_id})
                    for c in members if (turns := _alternating(c.messages, lost))]
            for split, members in _chat(chips, lost).items()}
    counts = _write_rows(tmp, "sharegpt", rows)
    _llama_factory_info(tmp / "sharegpt", counts, {
        "formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}})
    return {"sharegpt": (counts, lost)}


def _alternating(messages: Sequence[ChipMessage], lost: Counter) -> list[dict[str, str]]:
    """ShareGPT turns, strictly human/gpt from a human turn to a gpt turn: consecutive turns of
    one role are merged, a leading gpt or trailing human turn is dropped; each change is counted."""
    turns: list[dict[str, str]] = []
    merged = False
    for m in messages:
        speaker = {"user": "human", "assistant": "gpt"}.get(m.role)
        if speaker is None:
            continue
        if turns and turns[-1]["from"] == speaker:
            turns[-1]["value"] += "\n\n" + m.content
            merged = True
        else:
            turns.append({"from": speaker, "value": m.content})
    lost["merged_turns"] += merged
    if turns and turns[0]["from"] == "gpt":
        turns.pop(0)
        lost["leading_gpt_dropped"] += 1
    if turns and turns[-1]["from"] == "human":
        turns.pop()
        lost["trailing_human_dropped"] += 1
    return turns


def _system(chip: Chip) -> str:
    return "\n\n".join(m.content for m in chip.messages if m.role == "system")


def _write_alpaca(chips: Sequence[Chip], tmp: Path) -> Written:
    lost: Counter = Counter()
    rows = {}
    for split, members in _chat(chips, lost).items():
        single = [c for c in members if [m.role for m in c.messages if m.role != "system"] == ["user", "assistant"]]
        lost["multi_turn"] += len(members) - len(single)
        rows[split] = [(c, _alpaca_row(c)) for c in single]
    counts = _write_rows(tmp, "alpaca", rows)
    _llama_factory_info(tmp / "alpaca", counts, {"formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "system": "system"}})
    return {"alpaca": (counts, lost)}


def _alpaca_row(chip: Chip) -> dict[str, str]:
    user, assistant = (m.content for m in chip.messages if m.role != "system")
    return {"instruction": user, "input": "", "output": assistant, "system": _system(chip)}


def _llama_factory_info(folder: Path, counts: Rows, entry: dict[str, Any]) -> None:
    """`dataset_info.json` as LLaMA-Factory reads it: one dataset per written split."""
    if any(counts.values()):
        _json(folder / "dataset_info.json",
              {f"vaultmind_{split}": {"file_name": f"{split}.json", **entry} for split, n in counts.items() if n})


def _write_text(chips: Sequence[Chip], tmp: Path) -> Written:
    documents = [c for c in chips if c.kind == "scene_doc"]
    rows = {split: [(c, {"text": c.text}) for c in members] for split, members in _by_split(documents).items()}
    return {"text": (_write_rows(tmp, "text", rows), Counter(not_document=len(chips) - len(documents)))}


def _write_canonical(chips: Sequence[Chip], tmp: Path) -> Written:
    import pyarrow as pa

    schema = canonical_schema(pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])))
    counts = {}
    for split, members in _by_split(chips, SPLITS).items():
        records = (record(c) for c in members)  # one pass: each record to both files, a batch at a time
        with ParquetBatches(tmp / f"canonical/{split}.parquet", schema) as table:
            counts[split] = _jsonl(tmp / f"canonical/{split}.jsonl", (table.add(_paired_ids(r)) or r for r in records))
    return {"canonical": (counts, Counter())}


def _paired_ids(row: dict[str, Any]) -> dict[str, Any]:
    """Parquet has no free-form object: `source.ids` becomes a list of {key, value} pairs."""
    pairs = [{"key": key, "value": value} for key, value in row["source"]["ids"].items()]
    return {**row, "source": {**row["source"], "ids": pairs}}


def _probe_row(chip: Chip) -> dict[str, Any]:
    probe = chip.probe
    return {"chip_id": chip.chip_id, "type": probe.type, "question": probe.question, "choices": list(probe.choices),
            "answer": probe.answer, "verified": probe.verified, "source_path": chip.source.path,
            "scene_id": chip.scene.id}


_WRITERS: dict[str, Callable[[Sequence[Chip], Path], Written]] = {
    "openai": _write_openai, "trl": _write_trl, "sharegpt": _write_sharegpt, "alpaca": _write_alpaca,
    "text": _write_text, "canonical": _write_canonical,
}


def _jsonl(path: Path, rows: Any) -> int:
    """One JSON object a line, written as they come; no rows, no file. Returns the number of rows."""
    import orjson  # an export of a large vault is hundreds of MB of JSON: the stdlib encoder took most of it

    count = 0
    handle = None
    try:
        for row in rows:
            if handle is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("wb")
            handle.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
            count += 1
    finally:
        if handle is not None:
            handle.close()
    return count


def _json_list(path: Path, rows: list[dict[str, Any]]) -> int:
    """A JSON list, one row a line (LLaMA-Factory reads `.json` files as one list)."""
    import orjson

    if rows:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(b"[\n")
            for i, row in enumerate(rows):
                handle.write(orjson.dumps(row) + (b",\n" if i + 1 < len(rows) else b"\n"))
            handle.write(b"]\n")
    return len(rows)


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_table(tmp: Path, config: str, rows: dict[str, list[dict[str, Any]]]) -> Rows:
    schema = row_schemas()[config]
    return {split: _parquet(tmp / DATA_FILES[config].format(split), schema, members) for split, members in rows.items()}


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
