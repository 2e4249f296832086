"""Training chips: fine-tuning examples made from the vault, each inside its scene and traceable
to its note (see docs/chips.md).

`build_chips` takes plain data read from the store (`ChipInput`) and runs the steps in order:
the public view (private and stale notes out) → the training kinds → secret scan → token
counts → exact and near dedup → splits by scene → probes from held-out scenes → contamination
filter → the caller's filters. It returns the chips and the statistics the dataset card reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from vaultmind.chips.curate import assign_splits, deduplicate, drop_contaminated, group_key, group_of, split_summary
from vaultmind.chips.kinds import CountTokens, dialogues, link_rationales, note_qa, scene_documents
from vaultmind.chips.privacy import flagged, scrub_chips
from vaultmind.chips.probes import causal_cloze, link_choice
from vaultmind.markup import without_spans
from vaultmind.chips.record import CHAT_KINDS, KINDS, SCHEMA, SCHEMA_VERSION, SPLITS, from_record, record
from vaultmind.chips.view import ChipSettings, View, build_view, rehash
from vaultmind.types import Chip, Chunk, Note, ResolvedLink, SceneMap

LANGS = ("ru", "en", "other")
TRAINING_KINDS = tuple(k for k in KINDS if k != "probe")


@dataclass(frozen=True, slots=True)
class ChipInput:
    """What chips are made from, read from the store: every note (private ones included: they
    are left out here, in one place), the sha256 of each note whose file still matches the
    index (a note missing here changed since and is left out), each note's heading sections,
    the links, the scenes, and the tokenizer that counts."""

    notes: dict[str, Note]
    sha256: dict[str, str]
    sections: dict[str, tuple[Chunk, ...]]
    links: tuple[ResolvedLink, ...]
    scenes: SceneMap | None
    tokenizer: str
    count_tokens: CountTokens


@dataclass(frozen=True, slots=True)
class ChipFilters:
    """Which chips to keep after curation: kinds, one scene (a chip pack), languages, token range."""

    kinds: tuple[str, ...] = ()
    scene: int | None = None
    langs: tuple[str, ...] = ()
    min_tokens: int = 0
    max_tokens: int | None = None

    def keeps(self, chip: Chip) -> bool:
        return ((not self.kinds or chip.kind in self.kinds)
                and (self.scene is None or chip.scene.id == self.scene)
                and (not self.langs or chip.lang in self.langs)
                and chip.tokens >= self.min_tokens
                and (self.max_tokens is None or chip.tokens <= self.max_tokens))


@dataclass(frozen=True, slots=True)
class CurationSettings:
    near_threshold: float = 0.8
    validation_share: float = 0.1
    salt: str = "vaultmind"
    secrets: str = "redact"  # or "drop"
    contacts: bool = False
    ngram: int = 13


@dataclass(frozen=True, slots=True)
class ChipSet:
    """The chips in split order (train, validation, probe) and what the card reports."""

    chips: tuple[Chip, ...]
    stats: dict[str, Any] = field(default_factory=dict)


def build_chips(data: ChipInput, settings: ChipSettings, curation: CurationSettings = CurationSettings(),
                filters: ChipFilters = ChipFilters()) -> ChipSet:
    view = build_view(data.notes, data.sha256, data.sections, data.links, data.scenes, settings)
    found = [*dialogues(view), *note_qa(view), *link_rationales(view), *scene_documents(view, data.count_tokens)]
    secrets: Counter[str] = Counter()
    suspects = _suspects(view, curation)
    found, dropped_secret = _scrub(found, curation, secrets, suspects)
    found = _count(found, data)
    kept, duplicates, clusters = deduplicate(found, threshold=curation.near_threshold)
    kept = assign_splits(kept, validation_share=curation.validation_share, salt=curation.salt,
                         linked_groups=clusters)
    validation = {group_key(c) for c in kept if c.split == "validation"}
    held_out = [p for p in view.notes if group_of(view.scene_of.get(p), p) in validation]
    probes: list[Chip] = []
    if settings.probes:
        probes = [*causal_cloze(view, held_out), *link_choice(view, held_out)]
        probes, dropped_probe_secret = _scrub(probes, curation, secrets, suspects)
        dropped_secret += dropped_probe_secret
        probes = _count(list({p.exact_hash: p for p in probes}.values()), data)
    kept, contaminated = drop_contaminated(kept, probes, n=curation.ngram)
    every = sorted([*kept, *probes], key=lambda c: SPLITS.index(c.split))
    chosen = tuple(c for c in every if filters.keeps(c))
    stats = {
        "schema_version": SCHEMA_VERSION,
        "vaultmind_version": settings.vaultmind_version,
        "settings_hash": settings.settings_hash,
        "tokenizer": data.tokenizer,
        "notes": len(data.notes),
        "notes_used": len({p for c in chosen for p in (c.source.path, *c.source.notes)}),
        "kinds": {k: dict(Counter(c.split for c in chosen if c.kind == k)) for k in KINDS},
        "found": dict(Counter(c.kind for c in found)),
        "dedup": {"threshold": curation.near_threshold, "exact_dropped": sum(d["reason"] == "exact" for d in duplicates),
                  "near_dropped": sum(d["reason"] == "near" for d in duplicates),
                  "near_clusters": len({d["duplicate_of"] for d in duplicates if d["reason"] == "near"}),
                  "dropped": duplicates},
        "privacy": {"private_notes": sum(n.private for n in data.notes.values()),
                    "secrets_found": sum(secrets.values()), "secrets_redacted": 0 if curation.secrets == "drop" else sum(secrets.values()),
                    "chips_dropped": dropped_secret, "mode": curation.secrets, "contacts": curation.contacts,
                    "types": dict(secrets)},
        "splits": {"method": "by scene (unplaced notes: by note); scenes sharing a near-duplicate cluster merged "
                             "first; salted sha256 of the group key", **split_summary(kept, clusters),
                   "validation_share": curation.validation_share, "salt": curation.salt},
        "contamination": {"ngram": curation.ngram, "dropped": len(contaminated), "chips": contaminated},
        "model_written": {s: sum(m.origin == "model" for c in chosen if c.split == s for m in c.messages) for s in SPLITS},
        "filters": {"kinds": list(filters.kinds), "scene": filters.scene, "langs": list(filters.langs),
                    "min_tokens": filters.min_tokens, "max_tokens": filters.max_tokens,
                    "left_out": len(every) - len(chosen)},
        "stale_notes": sorted(p for p in data.notes if p not in data.sha256),
        "scenes": len(view.scenes),
    }
    return ChipSet(chosen, stats)


def _suspects(view: View, curation: CurationSettings) -> set[str] | None:
    """Notes in whose text the secret scan finds something: only their chips are scanned (every
    chip string is a piece of some note's text or of a template filled with titles). None when a
    title has a finding: titles travel to other notes' chips, so then every chip is scanned."""
    titles = "\n".join(view.titles.values())
    if flagged({"titles": titles}, contacts=curation.contacts):
        return None
    # HTML comments never reach a chip (dialogue UIDs live there and look like tokens)
    return flagged({p: without_spans(n.text, "<!--", "-->") for p, n in view.notes.items()}, contacts=curation.contacts)


def _scrub(chips: list[Chip], curation: CurationSettings, counts: Counter[str],
           suspects: set[str] | None) -> tuple[list[Chip], int]:
    kept, dropped = [], 0
    scan_at = [i for i, c in enumerate(chips)
               if suspects is None or not suspects.isdisjoint((c.source.path, *c.source.notes))]
    results = dict(zip(scan_at, scrub_chips([chips[i] for i in scan_at], mode=curation.secrets,
                                            contacts=curation.contacts)))
    for i, chip in enumerate(chips):
        clean, found = results.get(i, (chip, Counter()))
        counts.update(found)
        if clean is None:
            dropped += 1
        else:
            kept.append(rehash(clean) if found else clean)
    return kept, dropped


def _count(chips: list[Chip], data: ChipInput) -> list[Chip]:
    """Each chip's tokens: its text's, or the sum of its messages' (no chat template). Chips
    share most of their strings (a system turn per note, a section as answer and in a scene
    document), so each distinct string is counted once."""
    strings = {s for c in chips for s in _parts(c)}
    ordered = list(strings)
    sizes = dict(zip(ordered, data.count_tokens(ordered)))
    return [replace(c, tokens=sum(sizes[s] for s in _parts(c)), tokenizer=data.tokenizer) for c in chips]


def _parts(chip: Chip) -> list[str]:
    return [chip.text] if chip.text is not None else [m.content for m in chip.messages]


__all__ = [
    "CHAT_KINDS",
    "KINDS",
    "LANGS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SPLITS",
    "TRAINING_KINDS",
    "ChipFilters",
    "ChipInput",
    "ChipSet",
    "ChipSettings",
    "CurationSettings",
    "build_chips",
    "from_record",
    "record",
]
