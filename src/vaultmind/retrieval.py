"""Fusing the retrieval channels' rankings into one ranking of notes.

Each channel ranks notes: a dense model's chunks (a note takes the rank of its best chunk),
the same model's note vectors (`use notes`), BM25 over lemmas (by best chunk again). The
rankings are fused by weighted reciprocal rank fusion (Cormack et al., 2009): score =
Σ wᶜ / (k + rankᶜ), over the channels that returned the note. Ranks, not scores, are fused
because the channels' scores live on different scales (cosines near 0.8 for e5, near 0.3 for
USE, unbounded BM25). The bm25 weight follows its confidence (`Fusion.weights_for`).

The weights, k and that power were chosen by measurement (`benchmarks/retrieval.py`; `make fusion`
prints them again): a grid search per combination of channels for the best
lowest recall@5 over the retrieval, cross-lingual and known-item sets of two vaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from vaultmind.types import ChannelHit

NOTES_SUFFIX = " notes"  # `use notes`: the note-vector view of the `use` channel
RRF_K = 60
MEASURED = ("e5", "use", "bm25")  # the channels fusions were fitted for


@dataclass(frozen=True, slots=True)
class Fusion:
    """How one combination of channels is fused: weights, k, and how far the lexical
    channel's weight follows its confidence (`LexicalIndex.confidence` of its best chunk,
    raised to `lexical_power`; 0 = a fixed weight)."""

    weights: dict[str, float]
    k: int = RRF_K
    lexical_power: float = 0.0

    def weights_for(self, lexical_confidence: float) -> dict[str, float]:
        if "bm25" not in self.weights or not self.lexical_power:
            return self.weights
        return {**self.weights, "bm25": self.weights["bm25"] * lexical_confidence**self.lexical_power}


# Fitted per combination of the measured channels by benchmarks/retrieval.py (`make fusion`).
FITTED: dict[str, Fusion] = {
    "e5": Fusion({"e5": 1.0}, 5),
    "use": Fusion({"use": 1.0, "use notes": 1.0}, 10),
    "bm25": Fusion({"bm25": 1.0}, 5),
    "e5+use": Fusion({"e5": 1.0, "use": 1.0, "use notes": 0.25}, 5),
    "e5+bm25": Fusion({"e5": 0.25, "bm25": 1.0}, 5, 2.0),
    "use+bm25": Fusion({"use": 0.5, "bm25": 1.0, "use notes": 0.5}, 5, 1.0),
    "e5+use+bm25": Fusion({"e5": 0.25, "use": 0.25, "bm25": 1.0, "use notes": 0.5}, 5, 3.0),
}


def fitted(names: Sequence[str]) -> Fusion:
    """The fusion for these channels: as fitted for the measured ones among them; a channel
    nobody measured (st:NAME) weighs 1 and its note view 0."""
    found = FITTED.get("+".join(n for n in MEASURED if n in names), Fusion({}))
    return Fusion({**{n: 1.0 for n in names if n not in MEASURED}, **found.weights}, found.k, found.lexical_power)


@dataclass(frozen=True, slots=True)
class NoteRank:
    """A note as one channel ranks it: by its best chunk."""

    note: str
    score: float  # the channel's score of that chunk
    chunk: int  # chunk id


@dataclass(frozen=True, slots=True)
class FusedNote:
    note: str
    score: float  # the fused score (the channel's own score when there is one channel)
    chunk: int  # the best chunk of the channel that contributed most
    channels: dict[str, ChannelHit]


def note_ranking(ids: Sequence[int], scores: Sequence[float], note_of: Callable[[int], str]) -> list[NoteRank]:
    """A channel's chunk hits (best first) as notes, each at the rank of its best chunk."""
    seen: dict[str, NoteRank] = {}
    for chunk_id, score in zip(ids, scores):
        note = note_of(int(chunk_id))
        if note not in seen:
            seen[note] = NoteRank(note, float(score), int(chunk_id))
    return list(seen.values())


def channel_order(name: str) -> tuple[int, str]:
    """Sort key of channel names: e5, use, other models, their note views, then bm25 (the
    order rankings are fused in, so a hit's `channels` come in it, and `--explain` shows)."""
    notes = name.endswith(NOTES_SUFFIX)
    base = name.removesuffix(NOTES_SUFFIX)
    return {"e5": 0, "use": 1}.get(base, 2) + 3 * notes + 10 * (name == "bm25"), name


def weight_of(channel: str, weights: Mapping[str, float]) -> float:
    """A channel's weight; 0 (not computed) for a note view the weights do not name."""
    return weights.get(channel, 0.0 if channel.endswith(NOTES_SUFFIX) else 1.0)


def fuse(rankings: Mapping[str, Sequence[NoteRank]], weights: Mapping[str, float] | None = None,
         k: float = RRF_K) -> list[FusedNote]:
    """Every note any channel returned, best first by weighted reciprocal rank fusion; ties
    go to the note found by more channels, then to the earlier channel's order."""
    fused: dict[str, float] = {}
    best: dict[str, tuple[float, int]] = {}  # note → (largest contribution, its chunk)
    seen: dict[str, dict[str, ChannelHit]] = {}
    for channel, ranking in rankings.items():
        weight = weight_of(channel, weights or {})
        for rank, hit in enumerate(ranking, start=1):
            share = weight / (k + rank)
            fused[hit.note] = fused.get(hit.note, 0.0) + share
            seen.setdefault(hit.note, {})[channel] = ChannelHit(rank, hit.score)
            if hit.note not in best or share > best[hit.note][0]:
                best[hit.note] = (share, hit.chunk)
    single = len(rankings) == 1
    notes = [FusedNote(note, next(iter(seen[note].values())).score if single else score, best[note][1], seen[note])
             for note, score in fused.items()]
    order = {note: i for i, note in enumerate(fused)}
    notes.sort(key=lambda n: (-n.score, -len(n.channels), order[n.note]))
    return notes
