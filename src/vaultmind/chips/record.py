"""The canonical chip record (`vaultmind.chip/1`): its JSON form, its JSON Schema, and the
content hashes that identify and deduplicate chips. Every export format is derived from it."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from vaultmind.types import Chip, ChipMessage, ChipScene, ChipSource, Commentary, Probe

SCHEMA_VERSION = "vaultmind.chip/1"
KINDS = ("dialogue", "note_qa", "link_rationale", "scene_doc", "probe")
CHAT_KINDS = ("dialogue", "note_qa", "link_rationale")
SPLITS = ("train", "validation", "probe")

_SPACE = re.compile(r"\s+")


def normalised(text: str) -> str:
    """Text as compared for duplicates: NFKC, case-folded, whitespace collapsed."""
    if not unicodedata.is_normalized("NFKC", text):  # the check is much cheaper than the rewrite
        text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", text.casefold()).strip()


def content_of(chip: Chip) -> str:
    """What a chip says, without the system context (which changes when scenes are relabelled):
    the basis of its id."""
    if chip.text is not None:
        return chip.text
    parts = [f"{m.role}: {m.content}" for m in chip.messages if m.role != "system"]
    if chip.probe is not None:
        parts += [chip.probe.question, *chip.probe.choices, str(chip.probe.answer)]
    return "\n".join(parts)


def authored_of(chip: Chip) -> str:
    """What a chip teaches that vaultmind did not write: the basis of duplicate detection, so
    the same answer under two generated questions counts as one. Probes are vaultmind's own
    questions: all of their content counts."""
    if chip.kind == "probe" or chip.text is not None:
        return content_of(chip)
    return "\n".join(f"{m.role}: {m.content}" for m in chip.messages
                     if m.role != "system" and m.origin != "vaultmind")


def exact_hash(chip: Chip) -> str:
    return hashlib.sha256(normalised(authored_of(chip)).encode("utf-8")).hexdigest()


def chip_id(chip: Chip) -> str:
    """Stable: the same content of the same kind keeps its id across runs and renames."""
    digest = hashlib.sha256(normalised(content_of(chip)).encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{SCHEMA_VERSION}\n{chip.kind}\n{digest}".encode()).hexdigest()[:24]


def record(chip: Chip) -> dict[str, Any]:
    """The canonical JSON form of a chip."""
    return {
        "chip_id": chip.chip_id,
        "schema_version": SCHEMA_VERSION,
        "kind": chip.kind,
        "lang": chip.lang,
        "messages": [_message(m) for m in chip.messages] if chip.messages else None,
        "text": chip.text,
        "commentary": [{"after_turn": c.after_turn, "text": c.text, "line": c.line} for c in chip.commentary],
        "probe": None if chip.probe is None else {
            "type": chip.probe.type, "question": chip.probe.question, "choices": list(chip.probe.choices),
            "answer": chip.probe.answer, "verified": chip.probe.verified,
        },
        "source": source_record(chip),
        "scene": scene_record(chip),
        "links": list(chip.links),
        "tokens": {"count": chip.tokens, "tokenizer": chip.tokenizer},
        "dedup": {"exact_hash": chip.exact_hash, "near_cluster": chip.near_cluster, "canonical": chip.canonical},
        "split": chip.split,
        "privacy": {"redactions": chip.redactions},
        "build": {"vaultmind_version": chip.vaultmind_version, "settings_hash": chip.settings_hash},
    }


def source_record(chip: Chip) -> dict[str, Any]:
    source = chip.source
    return {"path": source.path, "note_sha256": source.note_sha256, "line_start": source.line_start,
            "line_end": source.line_end, "turn_uids": list(source.turn_uids), "timestamps": list(source.timestamps),
            "ids": dict(source.ids), "notes": list(source.notes)}


def scene_record(chip: Chip) -> dict[str, Any]:
    return {"id": chip.scene.id, "label": chip.scene.label, "context_notes": list(chip.scene.context_notes)}


def from_record(data: dict[str, Any]) -> Chip:
    """A chip back from its canonical JSON form (`record(from_record(r)) == r`)."""
    s, p = data["source"], data["probe"]
    return Chip(
        chip_id=data["chip_id"],
        kind=data["kind"],
        lang=data["lang"],
        source=ChipSource(s["path"], s["note_sha256"], s["line_start"], s["line_end"], tuple(s["turn_uids"]),
                          tuple(s["timestamps"]), tuple(sorted(s["ids"].items())), tuple(s["notes"])),
        scene=ChipScene(data["scene"]["id"], data["scene"]["label"], tuple(data["scene"]["context_notes"])),
        messages=tuple(ChipMessage(m["role"], m["content"], m["origin"], m.get("weight"))
                       for m in data["messages"] or ()),
        text=data["text"],
        commentary=tuple(Commentary(c["after_turn"], c["text"], c["line"]) for c in data["commentary"]),
        probe=None if p is None else Probe(p["type"], p["question"], tuple(p["choices"]), p["answer"], p["verified"]),
        links=tuple(data["links"]),
        tokens=data["tokens"]["count"],
        tokenizer=data["tokens"]["tokenizer"],
        exact_hash=data["dedup"]["exact_hash"],
        near_cluster=data["dedup"]["near_cluster"],
        canonical=data["dedup"]["canonical"],
        split=data["split"],
        redactions=data["privacy"]["redactions"],
        vaultmind_version=data["build"]["vaultmind_version"],
        settings_hash=data["build"]["settings_hash"],
    )


def _message(message: ChipMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content, "origin": message.origin}
    if message.weight is not None:
        out["weight"] = message.weight
    return out


_STR = {"type": "string"}
_STRINGS = {"type": "array", "items": _STR}
_LINE = {"type": "integer", "minimum": 0}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://vaultmind.invalid/schema/chip-1.json",
    "title": SCHEMA_VERSION,
    "description": "One vaultmind training chip: a chat (`messages`) or a document (`text`), with "
                   "its provenance in the vault, its scene, and how it was curated.",
    "type": "object",
    "additionalProperties": False,
    "required": ["chip_id", "schema_version", "kind", "lang", "messages", "text", "commentary", "probe",
                 "source", "scene", "links", "tokens", "dedup", "split", "privacy", "build"],
    "properties": {
        "chip_id": {"type": "string", "pattern": "^[0-9a-f]{24}$",
                    "description": "Hash of the kind and the content without the system turn: stable across runs."},
        "schema_version": {"const": SCHEMA_VERSION},
        "kind": {"enum": list(KINDS)},
        "lang": {"enum": ["ru", "en", "other"], "description": "The script most letters are in."},
        "messages": {
            "type": ["array", "null"],
            "minItems": 2,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["role", "content", "origin"],
                "properties": {
                    "role": {"enum": ["system", "user", "assistant"]},
                    "content": {"type": "string", "minLength": 1},
                    "origin": {"enum": ["author", "model", "vaultmind"],
                               "description": "Who wrote it: the author, an AI the author talked to, or vaultmind."},
                    "weight": {"enum": [0, 1]},
                },
            },
        },
        "text": {"type": ["string", "null"], "minLength": 1},
        "commentary": {
            "description": "The author's own words between dialogue turns: never put in the assistant's mouth.",
            "type": "array",
            "items": {"type": "object", "additionalProperties": False, "required": ["after_turn", "text", "line"],
                      "properties": {"after_turn": {"type": "integer", "minimum": -1}, "text": _STR, "line": _LINE}},
        },
        "probe": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["type", "question", "choices", "answer", "verified"],
            "properties": {
                "type": {"enum": ["causal_cloze", "link_choice"]},
                "question": {"type": "string", "minLength": 1},
                "choices": {"type": "array", "items": _STR, "minItems": 2},
                "answer": {"type": "integer", "minimum": 0},
                "verified": {"type": "boolean"},
            },
        },
        "source": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "note_sha256", "line_start", "line_end", "turn_uids", "timestamps", "ids", "notes"],
            "properties": {
                "path": {"type": "string", "minLength": 1},
                "note_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "line_start": _LINE,
                "line_end": _LINE,
                "turn_uids": _STRINGS,
                "timestamps": _STRINGS,
                "ids": {"type": "object", "additionalProperties": _STR},
                "notes": _STRINGS,
            },
        },
        "scene": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "label", "context_notes"],
            "properties": {"id": {"type": ["integer", "null"]}, "label": _STR, "context_notes": _STRINGS},
        },
        "links": _STRINGS,
        "tokens": {"type": "object", "additionalProperties": False, "required": ["count", "tokenizer"],
                   "properties": {"count": {"type": "integer", "minimum": 0}, "tokenizer": {"type": "string", "minLength": 1}}},
        "dedup": {"type": "object", "additionalProperties": False, "required": ["exact_hash", "near_cluster", "canonical"],
                  "properties": {"exact_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                 "near_cluster": {"type": ["string", "null"]}, "canonical": {"type": "boolean"}}},
        "split": {"enum": list(SPLITS)},
        "privacy": {"type": "object", "additionalProperties": False, "required": ["redactions"],
                    "properties": {"redactions": {"type": "integer", "minimum": 0}}},
        "build": {"type": "object", "additionalProperties": False, "required": ["vaultmind_version", "settings_hash"],
                  "properties": {"vaultmind_version": {"type": "string", "minLength": 1},
                                 "settings_hash": {"type": "string", "minLength": 1}}},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "scene_doc"}}},
         "then": {"properties": {"text": {"type": "string"}, "messages": {"type": "null"}}},
         "else": {"properties": {"messages": {"type": "array"}, "text": {"type": "null"}}}},
        {"if": {"properties": {"kind": {"const": "probe"}}},
         "then": {"properties": {"probe": {"type": "object"}, "split": {"const": "probe"}}},
         "else": {"properties": {"probe": {"type": "null"}, "split": {"enum": ["train", "validation"]}}}},
    ],
}
