"""Curation of chips: exact and near-duplicate removal (MinHash LSH over word 5-grams), splits by
scene that never put one scene (or two scenes sharing a duplicate) on both sides, and the
contamination filter that keeps probe text out of training."""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from vaultmind.chips.record import CHAT_KINDS, authored_of, exact_hash, normalised
from vaultmind.types import Chip

log = logging.getLogger(__name__)

SHINGLE_WORDS = 5
BUCKETS = 10_000
RECALL_AT_THRESHOLD = 0.995
_WORD = re.compile(r"\w+")


def deduplicate(chips: Sequence[Chip], *, threshold: float = 0.8, num_perm: int = 128,
                seed: int = 1) -> tuple[list[Chip], list[dict[str, Any]], list[frozenset[str]]]:
    """Keep one chip per cluster of duplicates: chips with the same normalised content, joined
    with those whose word 5-grams have an estimated Jaccard similarity >= `threshold` (and so on,
    transitively). The kept one is the longest, then the smallest chip_id; it gets
    `canonical=True` and, in a cluster of several, a `near_cluster` id that depends only on the
    members' content. Chats, scene documents and probes are compared only among themselves.

    Returns the kept chips (input order), one record per dropped chip, and the group keys (see
    `group_key`) of every cluster that spans several groups, dropped members included: pass them
    to `assign_splits(linked_groups=...)` so duplicates never straddle train and validation."""
    hashes = [c.exact_hash or exact_hash(c) for c in chips]
    lengths = [len(normalised(authored_of(c))) for c in chips]
    clusters, sketches, rep = _clusters(chips, hashes, threshold, num_perm, seed)
    kept: dict[int, Chip] = {}
    dropped: list[tuple[int, dict[str, Any]]] = []
    linked: set[frozenset[str]] = set()
    for members in clusters:
        canon = min(members, key=lambda i: (-lengths[i], chips[i].chip_id, chips[i].source.path,
                                            chips[i].source.line_start, i))
        cluster_id = _cluster_id(hashes[i] for i in members) if len(members) > 1 else None
        kept[canon] = replace(chips[canon], near_cluster=cluster_id, canonical=True)
        for i in members:
            if i == canon:
                continue
            exact = hashes[i] == hashes[canon]
            similarity = 1.0 if exact else round(sketches[rep[i]].jaccard(sketches[rep[canon]]), 3)
            dropped.append((i, {"chip_id": chips[i].chip_id, "kind": chips[i].kind,
                                "reason": "exact" if exact else "near", "duplicate_of": chips[canon].chip_id,
                                "source_path": chips[i].source.path, "similarity": similarity}))
        keys = frozenset(group_key(chips[i]) for i in members if chips[i].kind != "probe")
        if len(keys) > 1:
            linked.add(keys)
    log.info("dedup: %d chips, %d kept, %d dropped, %d clusters across groups",
             len(chips), len(kept), len(dropped), len(linked))
    return ([kept[i] for i in sorted(kept)], [record for _, record in sorted(dropped, key=lambda d: d[0])],
            sorted(linked, key=sorted))


def group_key(chip: Chip) -> str:
    """What a split is decided for: the chip's scene, or its note when it is in no scene."""
    return group_of(chip.scene.id, chip.source.path)


def group_of(scene: int | None, path: str) -> str:
    """The split group of a note: its scene, or the note itself when it is in no scene."""
    return f"scene:{scene}" if scene is not None else f"note:{path}"


def assign_splits(chips: Sequence[Chip], *, validation_share: float = 0.1, salt: str = "vaultmind",
                  linked_groups: Iterable[Iterable[str]] = ()) -> list[Chip]:
    """Give every chip the split of its group: groups in one of `linked_groups` are merged first,
    and a merged group goes to validation when the salted sha256 of its smallest key falls in
    the first `validation_share` of 10,000 buckets (when that holds out no scene of two or more,
    the scene with the lowest bucket is held out). A group's split depends only on its own key,
    so scenes added later never move existing ones (unless a new duplicate links them). Probes
    stay in split `probe`."""
    if not 0.0 <= validation_share <= 1.0:
        raise ValueError(f"validation_share must be between 0 and 1, not {validation_share}")
    roots = _merged([group_key(c) for c in chips if c.kind != "probe"], linked_groups)
    cut = round(validation_share * BUCKETS)
    splits = {root: "validation" if _bucket(salt, root) < cut else "train" for root in set(roots.values())}
    scenes = sorted((r for r in splits if r.startswith("scene:")), key=lambda r: (_bucket(salt, r), r))
    if cut and len(scenes) >= 2 and not any(splits[r] == "validation" for r in scenes):
        # a small vault whose few scenes all hash above the cut would get no held-out scene and
        # so no probes: the scene nearest the cut is held out (the same one on every run)
        splits[scenes[0]] = "validation"
    return [(c if c.split == "probe" else replace(c, split="probe")) if c.kind == "probe"
            else replace(c, split=splits[roots[group_key(c)]]) for c in chips]


def split_summary(chips: Sequence[Chip], linked_groups: Iterable[Iterable[str]] = ()) -> dict[str, Any]:
    """For the dataset card: groups per split (after merging), and how many groups were made by
    merging scenes that shared a near-duplicate cluster (pass the same `linked_groups`)."""
    linked = [tuple(g) for g in linked_groups]
    split = [c for c in chips if c.split in ("train", "validation")]
    roots = _merged([group_key(c) for c in split], linked)
    split_of = {roots[group_key(c)]: c.split for c in split}
    sizes = Counter(_merged({*roots, *(k for g in linked for k in g)}, linked).values())
    return {"groups": dict(sorted(Counter(split_of.values()).items())),
            "merged_groups": sum(n > 1 for n in sizes.values())}


def drop_contaminated(chips: Sequence[Chip], probes: Sequence[Chip], *,
                      n: int = 13) -> tuple[list[Chip], list[dict[str, Any]]]:
    """Drop every train chip that shares a run of `n` words (normalised) with any probe's
    question, choices or messages, so the evaluation set is not learnt verbatim."""
    seen: dict[str, str] = {}
    for probe in probes:
        for gram in (g for text in _probe_texts(probe) for g in _ngrams(text, n)):
            seen.setdefault(gram, probe.chip_id)
    kept, dropped = [], []
    for chip in chips:
        hit = next((seen[g] for text in _texts(chip) for g in _ngrams(text, n) if g in seen), None) \
            if chip.split == "train" and seen else None
        if hit is None:
            kept.append(chip)
        else:
            dropped.append({"chip_id": chip.chip_id, "kind": chip.kind, "reason": "contamination", "probe": hit})
    log.info("contamination: %d train chips share a %d-gram with a probe", len(dropped), n)
    return kept, dropped


def _clusters(chips: Sequence[Chip], hashes: list[str], threshold: float, num_perm: int,
              seed: int) -> tuple[list[list[int]], dict[int, Any], list[int]]:
    """Positions grouped by duplicate (every position in one cluster, in input order), the
    MinHash of each distinct content, and each position's representative (first same content)."""
    from datasketch import MinHash, MinHashLSH

    first: dict[tuple[str, str], int] = {}
    rep = [first.setdefault((_pool(c), h), i) for i, (c, h) in enumerate(zip(chips, hashes))]
    reps = sorted(first.values())
    shingled = ([s.encode("utf-8") for s in _shingles(authored_of(chips[i]))] for i in reps)
    sketches = dict(zip(reps, MinHash.generator(shingled, num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)))
    parent: dict[Hashable, Hashable] = {i: i for i in reps}
    for pool in sorted({_pool(chips[i]) for i in reps}):
        members = [i for i in reps if _pool(chips[i]) == pool]
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=_bands(threshold, num_perm))
        for i in members:
            lsh.insert(i, sketches[i], check_duplication=False)
        for i in members:
            for j in lsh.query(sketches[i]):
                if j > i and sketches[i].jaccard(sketches[j]) >= threshold:
                    _union(parent, i, j)
    by_root: dict[Hashable, list[int]] = {}
    for i in range(len(chips)):
        by_root.setdefault(_find(parent, rep[i]), []).append(i)
    return list(by_root.values()), sketches, rep


def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH bands and rows such that a pair right at the threshold becomes a candidate with
    probability >= 99.5% (datasketch's default balances misses against false candidates, and
    misses half the pairs at the threshold); the estimated Jaccard then decides."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold ** rows) ** bands >= RECALL_AT_THRESHOLD:
            return bands, rows
    return num_perm, 1


def _pool(chip: Chip) -> str:
    return "chat" if chip.kind in CHAT_KINDS else chip.kind


def _shingles(text: str) -> set[str]:
    """Word 5-grams; a text of fewer words is one shingle of all of them."""
    words = _WORD.findall(normalised(text))
    n = min(SHINGLE_WORDS, len(words))
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)} if words else {""}


def _ngrams(text: str, n: int) -> Iterator[str]:
    words = _WORD.findall(normalised(text))
    return (" ".join(words[i:i + n]) for i in range(len(words) - n + 1))


def _texts(chip: Chip) -> list[str]:
    """Everything a chip trains on (the vaultmind-made system turn aside)."""
    return [*(m.content for m in chip.messages if m.role != "system"), chip.text or "",
            *(c.text for c in chip.commentary)]


def _probe_texts(probe: Chip) -> list[str]:
    asked = [probe.probe.question, *probe.probe.choices] if probe.probe is not None else []
    return [*asked, *_texts(probe)]


def _cluster_id(hashes: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(hashes))).encode()).hexdigest()[:12]


def _bucket(salt: str, key: str) -> int:
    return int(hashlib.sha256(f"{salt}\n{key}".encode()).hexdigest(), 16) % BUCKETS


def _merged(keys: Iterable[str], linked_groups: Iterable[Iterable[str]]) -> dict[str, str]:
    """Each key's merged group, named by its smallest key."""
    keys = list(keys)
    parent: dict[Hashable, Hashable] = {k: k for k in keys}
    for group in linked_groups:
        group = sorted(group)
        for key in group:
            parent.setdefault(key, key)
            _union(parent, group[0], key)
    return {k: _find(parent, k) for k in keys}


def _find(parent: dict[Hashable, Hashable], x: Hashable) -> Hashable:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _union(parent: dict[Hashable, Hashable], a: Hashable, b: Hashable) -> None:
    """Join two sets; the smaller root stays root, so a set is named by its smallest member."""
    a, b = _find(parent, a), _find(parent, b)
    if a != b:
        parent[max(a, b)] = min(a, b)  # type: ignore[type-var]
