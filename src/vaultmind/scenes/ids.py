"""Stable scene ids: a new scene keeps the id of the old scene it overlaps most (Jaccard of
members, one-to-one by the Hungarian method) when the overlap is at least a threshold; every
other new scene gets a fresh id, never one used before. Merges and splits are read off the
overlaps that remain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SHARE = 0.3  # an old and a new scene are related when either holds this share of the other's members


@dataclass(frozen=True, slots=True)
class Matched:
    """New ids (one per new group, in order), the next unused id, and events as
    (kind, id, other ids, overlap)."""

    ids: tuple[int, ...]
    next_id: int
    events: tuple[tuple[str, int, tuple[int, ...], float], ...]


def match_ids(old: Mapping[int, frozenset[str]], new: Sequence[frozenset[str]], *, threshold: float,
              next_id: int) -> Matched:
    from scipy.optimize import linear_sum_assignment

    old_ids = sorted(old)
    next_id = max([next_id, *(i + 1 for i in old_ids)])
    jaccard = np.zeros((len(new), len(old_ids)))
    shared = np.zeros_like(jaccard)
    for n, members in enumerate(new):
        for o, old_id in enumerate(old_ids):
            common = len(members & old[old_id])
            if common:
                jaccard[n, o] = common / len(members | old[old_id])
                shared[n, o] = common / min(len(members), len(old[old_id]))
    ids: list[int | None] = [None] * len(new)
    kept: dict[int, float] = {}
    if len(new) and len(old_ids):
        rows, columns = linear_sum_assignment(-jaccard)
        for n, o in zip(rows, columns):
            if jaccard[n, o] >= threshold:
                ids[n] = old_ids[o]
                kept[n] = float(jaccard[n, o])
    for n in range(len(new)):
        if ids[n] is None:
            ids[n] = next_id
            next_id += 1
    events: list[tuple[str, int, tuple[int, ...], float]] = []
    matched_old = {ids[n] for n in kept}
    for n, new_id in enumerate(ids):
        related = [old_ids[o] for o in range(len(old_ids)) if shared[n, o] >= SHARE and old_ids[o] != new_id]
        best = float(jaccard[n].max()) if len(old_ids) else 0.0
        gone = tuple(i for i in related if i not in matched_old)
        if n in kept and gone:
            events.append(("merge", new_id, gone, kept[n]))
        elif n in kept:
            events.append(("continue", new_id, (), kept[n]))
        elif related:
            events.append(("split", new_id, tuple(related), best))
        else:
            events.append(("birth", new_id, (), best))
    for o, old_id in enumerate(old_ids):
        if old_id not in matched_old:
            best = float(jaccard[:, o].max()) if len(new) else 0.0
            events.append(("death", old_id, (), best))
    return Matched(tuple(int(i) for i in ids if i is not None), next_id, tuple(events))
