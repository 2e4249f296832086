"""Blind spots: an ordered list of named detectors, each turning the vault's notes, links,
vectors and scenes into ranked `BlindSpot`s with evidence the author can check.

`find_blind_spots` runs them in order on one `BlindSpotInput` (plain data the pipeline reads
from the store) and drops findings the author dismissed. Hubs (index pages, maps of content)
are left out of gap and bridge computations.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vaultmind.types import BlindSpot, Note, Scene

__all__ = ["BlindSpotInput", "Detector", "DETECTORS", "KINDS", "EXPLANATIONS", "LinkRow", "VERSION",
           "find_blind_spots", "finding_id", "spot_to_json", "spot_from_json"]

VERSION = 2  # bump when a detector changes, so cached findings are computed again


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One link occurrence: `target_path` None means a wanted (unresolved) link; `target` is
    the link text as written (no heading part); `context` the sentence around it."""

    source: str
    target: str
    target_path: str | None
    line: int
    context: str
    kind: str  # link, embed, property, markdown


@dataclass(frozen=True, slots=True)
class BlindSpotInput:
    """What the detectors read.

    - `notes`: every Markdown note (vault-relative paths); `titles`, `words` (word counts),
      `aliases` per note; `tags` per note (without `#`).
    - `files`: every other file path in the vault (canvases, attachments): link targets that
      exist but are not notes.
    - `links`: every link occurrence.
    - `vectors`: (note paths, unit note vectors centred on the vault mean) or None when the
      vault is not embedded; `chunks`: (chunk ids, their note paths, unit chunk vectors) and
      `chunk_text` (id → (heading, text, line)) for evidence at chunk level.
    - `scenes`, `unplaced`, `hubs`: the last scene run.
    - `documents`: parsed notes that have dialogue turns or a heading that asks a question.
    - `dismissed`: ids of findings the author dismissed (never shown again).
    """

    notes: Sequence[str]
    titles: Mapping[str, str]
    words: Mapping[str, int]
    links: Sequence[LinkRow]
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)
    tags: Mapping[str, Sequence[str]] = field(default_factory=dict)
    files: Sequence[str] = ()
    vectors: tuple[list[str], np.ndarray] | None = None
    chunks: tuple[np.ndarray, list[str], np.ndarray] | None = None
    chunk_text: Mapping[int, tuple[str, str, int]] = field(default_factory=dict)
    scenes: Sequence[Scene] = ()
    unplaced: Sequence[str] = ()
    hubs: Sequence[str] = ()
    documents: Mapping[str, Note] = field(default_factory=dict)
    dismissed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Detector:
    """A named detector, the kinds of finding it produces, and the function:
    `find(data, limit)` → findings (it may return more than `limit`; the runner cuts)."""

    name: str
    kinds: tuple[str, ...]
    find: Callable[[BlindSpotInput, int], list[BlindSpot]]


def finding_id(kind: str, *about: str) -> str:
    """A stable id from the kind and what the finding is about (paths, link texts, scene ids;
    order-independent): the same gap gets the same id on every run."""
    digest = hashlib.blake2b("\0".join([kind, *sorted(about)]).encode(), digest_size=5).hexdigest()
    return f"{PREFIX[kind]}-{digest}"


PREFIX = {
    "wanted_note": "wn",
    "broken_link": "bl",
    "missing_link": "ml",
    "scene_gap": "sg",
    "weak_coupling": "wc",
    "bridge": "br",
    "orphan": "or",
    "dead_end": "de",
    "stub": "st",
    "unanswered": "uq",
}

EXPLANATIONS = {
    "wanted_note": "A concept you link to but never wrote: a note that does not exist yet. The more notes "
                   "and scenes point at it, the more of your thinking leans on it.",
    "broken_link": "A link that resolves to nothing but almost matches an existing note (case, spacing, a "
                   "typo, or an alias Obsidian does not resolve): probably meant to point there.",
    "missing_link": "Two notes close in meaning that are not linked, not even through one note in between: "
                    "a connection you may not have made yet.",
    "scene_gap": "Two scenes about related things with few links between them: ideas that never touch.",
    "weak_coupling": "A scene whose notes are close in meaning but rarely linked to each other: you wrote "
                     "about it, but never connected the pieces.",
    "bridge": "A note that alone holds scenes together: remove it and they fall apart. A single point of "
              "failure worth strengthening with more links.",
    "orphan": "A note with no links in or out: invisible from anywhere else in the vault.",
    "dead_end": "A note others link to that links nowhere itself: the thought stops there.",
    "stub": "A short note that many others cite: a concept you lean on but have barely written.",
    "unanswered": "A saved dialogue whose last question got no answer, or a heading that asks a question "
                  "with nothing under it.",
}
KINDS = tuple(PREFIX)


def find_blind_spots(data: BlindSpotInput, *, kinds: Iterable[str] | None = None, limit: int = 50,
                     timings: dict[str, float] | None = None) -> list[BlindSpot]:
    """Every detector in order (or only those producing `kinds`), at most `limit` findings per
    kind, best first; dismissed findings left out. `timings` gets seconds per detector."""
    wanted = set(kinds) if kinds is not None else None
    found: list[BlindSpot] = []
    for detector in DETECTORS:
        if wanted is not None and not wanted & set(detector.kinds):
            continue
        started = time.perf_counter()
        spots = [s for s in detector.find(data, limit + len(data.dismissed)) if s.id not in data.dismissed]
        if timings is not None:
            timings[detector.name] = time.perf_counter() - started
        by_kind: dict[str, list[BlindSpot]] = {}
        for spot in spots:
            if wanted is None or spot.kind in wanted:
                by_kind.setdefault(spot.kind, []).append(spot)
        for kind in detector.kinds:
            found.extend(sorted(by_kind.get(kind, []), key=lambda s: (-s.score, s.id))[:limit])
    return found


def spot_to_json(spot: BlindSpot) -> str:
    """A finding as JSON: how feedback keeps it and the store caches it."""
    return json.dumps({"kind": spot.kind, "id": spot.id, "score": spot.score, "title": spot.title,
                       "evidence": list(spot.evidence), "notes": list(spot.notes), "suggestion": spot.suggestion},
                      ensure_ascii=False, default=str)


def spot_from_json(blob: str) -> BlindSpot:
    data = json.loads(blob)
    return BlindSpot(data["kind"], data["id"], data["score"], data["title"], tuple(data["evidence"]),
                     tuple(data["notes"]), data["suggestion"])


# The detector modules import the names above from this package, so they come last.
from vaultmind.blindspots import gaps, links, structure  # noqa: E402

DETECTORS: tuple[Detector, ...] = (
    Detector("wanted notes", ("wanted_note", "broken_link"), structure.wanted_notes),
    Detector("missing links", ("missing_link",), links.missing_links),
    Detector("scene gaps", ("scene_gap",), gaps.scene_gaps),
    Detector("weak coupling", ("weak_coupling",), gaps.weak_coupling),
    Detector("bridges", ("bridge",), gaps.bridges),
    Detector("orphans, dead ends and stubs", ("orphan", "dead_end", "stub"), structure.orphans_dead_ends_stubs),
    Detector("unanswered questions", ("unanswered",), structure.unanswered_questions),
)
