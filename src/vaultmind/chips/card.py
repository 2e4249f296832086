"""The dataset card (`README.md`) of a chip export: Hugging Face metadata in its YAML header (the
`configs` let `datasets.load_dataset(folder, name=...)` find each format) and a Markdown body
saying where the chips came from, how they were curated and what each format left out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from vaultmind.types import Chip

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"))
_LANGUAGES = {"ru": ("ru",), "en": ("en",)}
_SPLIT_ORDER = ("train", "validation", "probe")


@dataclass(frozen=True, slots=True)
class Config:
    """One dataset config of an export: its file per split (relative paths), the Arrow schema of
    its rows, its rows per split, and the chips it left out or changed, by reason."""

    name: str
    files: dict[str, str]
    schema: Any
    rows: dict[str, int]
    lost: dict[str, int]


def render_card(chips: Sequence[Chip], stats: Mapping[str, Any], configs: Sequence[Config]) -> str:
    """The card's text; only the keys present in `stats` are rendered."""
    from huggingface_hub import DatasetCard, DatasetCardData

    loadable, elsewhere = _loadable(configs)
    kinds = {c.kind for c in chips}
    metadata = DatasetCardData(
        license=stats.get("license", "other"),
        language=sorted({code for c in chips for code in _LANGUAGES.get(c.lang, ())}) or None,
        task_categories=["text-generation"] + (["question-answering"] if "note_qa" in kinds else []),
        size_categories=_size(len(chips)),
        pretty_name=_pretty_name(stats),
        tags=["vaultmind", "obsidian", "personal-notes"] + (["evaluation"] if "probe" in kinds else []),
        configs=[_config_entry(c, default=i == 0) for i, c in enumerate(loadable)] or None,
        # declared types: `datasets` would otherwise guess each split's from its first rows, and a
        # column that is null in one split (`probe` outside the probe split) cannot be cast
        dataset_info=[{"config_name": c.name, "features": _features(c.schema)} for c in loadable] or None,
    )
    sections = [
        _intro(stats), _loading(loadable, elsewhere), _kinds(chips), _provenance(), _splits(stats),
        _dedup(stats), _privacy(stats), _contamination(stats), _model_turns(chips), _formats(configs),
        _build(stats),
    ]
    body = "\n\n".join(s for s in sections if s)
    # built from a plain string rather than a Jinja template: vault text must never be evaluated
    return str(DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}\n"))


def _loadable(configs: Sequence[Config]) -> tuple[list[Config], list[Config]]:
    """The configs the card lists, all of one file type (JSON if any, else Parquet), and the rest:
    `datasets` picks one builder from the first config for all (huggingface/datasets#7101)."""
    written = [c for c in configs if c.files]
    json_family = [c for c in written if not any(p.endswith(".parquet") for p in c.files.values())]
    family = json_family or written
    return family, [c for c in written if c not in family]


def _config_entry(config: Config, *, default: bool) -> dict[str, Any]:
    files = [{"split": split, "path": path} for split, path in config.files.items()]
    return {"config_name": config.name, "data_files": files, **({"default": True} if default else {})}


def _features(schema: Any) -> list[dict[str, Any]]:
    """An Arrow schema in the card's YAML form of `datasets` features."""
    return [{"name": field.name, **_feature(field.type)} for field in schema]


def _feature(arrow_type: Any) -> dict[str, Any]:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return {"struct": [{"name": f.name, **_feature(f.type)} for f in arrow_type]}
    if pa.types.is_list(arrow_type):
        inner = _feature(arrow_type.value_type)
        return {"list": inner.get("dtype", inner.get("struct", inner))}
    if isinstance(arrow_type, pa.JsonType):
        return {"dtype": "json"}
    return {"dtype": str(arrow_type)}


def _size(n: int) -> str:
    return next((label for bound, label in _SIZES if n < bound), "other")


def _pretty_name(stats: Mapping[str, Any]) -> str:
    # only the vault folder's name: its full path says more about the author than needed
    return f"vaultmind chips: {PurePath(stats['vault']).name}" if stats.get("vault") else "vaultmind chips"


def _intro(stats: Mapping[str, Any]) -> str:
    return (f"# {_pretty_name(stats)}\n\n"
            "Fine-tuning and evaluation examples (\"chips\") exported by vaultmind from one Obsidian vault. "
            "Chat chips (`dialogue`, `note_qa`, `link_rationale`) are for supervised fine-tuning; "
            "`scene_doc` chips are plain text for continued pretraining; `probe` chips are understanding "
            "checks kept for evaluation only and never written to a training format. Every chip keeps its "
            "canonical record (`vaultmind.chip/1`, schema in `chip.schema.json`) in `canonical/`.")


def _loading(loadable: Sequence[Config], elsewhere: Sequence[Config]) -> str:
    if not loadable:
        return ""
    names = ", ".join(f"`{c.name}`" for c in loadable)
    text = ("## Loading\n\n"
            f"Configs: {names}.\n\n"
            "```python\nfrom datasets import load_dataset\n"
            f"chips = load_dataset(\"path/to/this/folder\", name=\"{loadable[0].name}\")\n```")
    if elsewhere:
        names = " and ".join(f"`{c.name}`" for c in elsewhere)
        calls = "\n".join(f"load_dataset(\"parquet\", data_files={c.files!r})" for c in elsewhere)
        text += (f"\n\n{names} are Parquet and `datasets` reads one file type per card "
                 f"(huggingface/datasets#7101), so load them by their files:\n\n```python\n{calls}\n```")
    return text


def _kinds(chips: Sequence[Chip]) -> str:
    counts = Counter((c.kind, c.split) for c in chips)
    splits = [s for s in _SPLIT_ORDER if any(split == s for _, split in counts)]
    kinds = sorted({kind for kind, _ in counts})
    lines = [[kind, *(str(counts[kind, s]) for s in splits)] for kind in kinds]
    return "## Chips per kind and split\n\n" + _table(["kind", *splits], lines) if lines else ""


def _provenance() -> str:
    return ("## Provenance\n\n"
            "Each canonical record keeps the note's vault-relative path and the sha256 of its file, the "
            "lines it spans, the dialogue turns' UIDs and timestamps, the note's ids and its scene. Formats "
            "with no room for these (`openai`, `sharegpt`, `alpaca`, `text`) have a `provenance.jsonl` beside "
            "them mapping each written row (file and line, or list index) back to its `chip_id` and source; "
            "`trl` carries `chip_id`, `source_path`, `note_sha256` and the scene as columns.")


def _splits(stats: Mapping[str, Any]) -> str:
    splits = stats.get("splits")
    if not splits:
        return ""
    text = ("## Scenes and splits\n\n"
            "Chips are grouped by scene (a cluster of related notes), and a whole group goes to one split, "
            "so that validation never sees a note whose neighbours were trained on.\n\n")
    return text + _facts(splits, {"method": "method", "validation_share": "validation share", "salt": "salt",
                                  "groups": "groups per split", "merged_groups": "groups merged"})


def _dedup(stats: Mapping[str, Any]) -> str:
    dedup = stats.get("dedup")
    if not dedup:
        return ""
    text = "## Deduplication\n\n" + _facts(dedup, {
        "threshold": "near-duplicate threshold", "exact_dropped": "exact duplicates dropped",
        "near_dropped": "near duplicates dropped", "near_clusters": "near-duplicate clusters"})
    reasons = Counter((d.get("kind", "?"), d.get("reason", "?")) for d in dedup.get("dropped", ()))
    if reasons:
        lines = [[kind, reason, str(n)] for (kind, reason), n in sorted(reasons.items())]
        text += "\n\n" + _table(["kind", "reason", "dropped"], lines)
    return text


def _privacy(stats: Mapping[str, Any]) -> str:
    privacy = stats.get("privacy")
    if not privacy:
        return ""
    text = "## Privacy\n\n" + _facts(privacy, {
        "private_notes": "private notes left out", "secrets_found": "secrets found",
        "secrets_redacted": "secrets redacted", "chips_dropped": "chips dropped",
        "mode": "secrets handled by", "contacts": "contact details scrubbed"})
    types = privacy.get("types") or {}
    if types:
        text += "\n\n" + _table(["secret type", "found"], [[t, str(n)] for t, n in sorted(types.items())])
    return text


def _contamination(stats: Mapping[str, Any]) -> str:
    contamination = stats.get("contamination")
    if not contamination:
        return ""
    return ("## Contamination\n\n"
            "Training chips sharing a long word n-gram with a probe are dropped, so probes test what was not trained on.\n\n"
            + _facts(contamination, {"ngram": "n-gram length", "dropped": "chips dropped"}))


def _model_turns(chips: Sequence[Chip]) -> str:
    turns = Counter(c.split for c in chips for m in c.messages if m.role == "assistant" and m.origin == "model")
    if not turns:
        return ""
    lines = [[s, str(turns[s])] for s in _SPLIT_ORDER if turns[s]]
    return ("## Turns a model wrote\n\n"
            "In `dialogue` chips the assistant's messages are answers from an AI the author talked to "
            "(origin `model`), not the author's own words.\n\n" + _table(["split", "model-written messages"], lines))


def _formats(configs: Sequence[Config]) -> str:
    lines = [[c.name, ", ".join(f"{s}: {n}" for s, n in c.rows.items() if n) or "none",
              ", ".join(f"{r}: {n}" for r, n in sorted(c.lost.items())) or "none"] for c in configs]
    if not lines:
        return ""
    return ("## Formats\n\n"
            "What each format holds and what it left out or changed (`not_chat`: a document in a chat format, "
            "`not_document`: a chat in the text format; "
            "`multi_turn`: more than one exchange where only one fits; `merged_turns`: consecutive turns of one "
            "role joined; `*_dropped`: a turn removed to fit the format).\n\n"
            + _table(["config", "rows", "lost"], lines))


def _build(stats: Mapping[str, Any]) -> str:
    facts = _facts(stats, {"vaultmind_version": "vaultmind version", "settings_hash": "settings hash",
                           "tokenizer": "tokenizer", "model": "embedding model", "notes_used": "notes used",
                           "license": "license"})
    chosen = {k: v for k, v in (stats.get("filters") or {}).items() if v not in (None, [], (), "", 0)}
    facts += "".join(f"\n- filter `{k}`: {_value(v)}" for k, v in chosen.items())
    if "stale_notes" in stats:
        facts += f"\n- notes changed since they were indexed: {len(stats['stale_notes'])}"
    return "## Build\n\n" + facts.strip() if facts.strip() else ""


def _facts(values: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    return "\n".join(f"- {label}: {_value(values[key])}" for key, label in labels.items() if key in values)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([row(header), row(["---"] * len(header)), *map(row, lines)])
