"""Missing links: pairs of notes close in meaning that are neither linked nor one note apart.

Candidates are each note's `K` nearest notes by cosine of the centred note vectors (block
matrix products, so 10,000 notes stay fast) above `FLOOR`. A pair is dropped when the notes
are linked either way (any link kind, or a bare alias/title link the author meant as one), when
a non-hub note links to or from both (two hops in the undirected link graph; a shared index
page does not connect two notes), or when either note is a hub.

Score = 0.7 · closeness + 0.3 · support, both in [0, 1]:
- closeness rewards a pair that stands out for *both* notes: the mean of 1/rank from each
  side (rank of b among a's nearest notes, and of a among b's), with the cosine's percentile
  among all candidates breaking the ties ranks leave.
- support: since pairs within two hops are excluded, common link neighbours are zero by
  construction, so support counts shared *context*: hubs linked with both, shared tags, shared
  wanted link targets, shared non-note link targets (attachments, canvases). Adamic–Adar: each
  shared context node c adds 1/log(2 + notes attached to c), plus a bonus when both notes are
  in the same scene; x ↦ 1 − exp(−x).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping

import numpy as np

from vaultmind.blindspots import BlindSpotInput, finding_id
from vaultmind.types import BlindSpot, Scene

log = logging.getLogger(__name__)

K = 10  # nearest notes per note that may become a candidate pair
RANKS = 50  # how deep each note's neighbour list is kept to rank the other side of a pair
BLOCK = 256  # rows of the similarity matrix at once: ~60 MiB at 10,000 notes (1,024 rows took ~200 MiB, no faster)
# Centred e5 vectors, sample vault: 98% of pairs of notes on different topics are below 0.25
# (median −0.08), half of same-topic pairs above; 86% of k-NN pairs above it share a topic. It
# is the ~88th percentile of all pairs there and in a real 112-note wiki. Ranks, not the floor,
# order the candidates, so the floor only has to cut weak "nearest" notes of outliers: at 0.3 a
# mutual 2nd/3rd-nearest same-topic pair at 0.27 was lost, and fewer of the top 30 shared a topic.
FLOOR = 0.25
SIMILARITY_WEIGHT = 0.7
SCENE_BONUS = 0.5  # as much as a context node shared by ~5 notes
DUPLICATE = 0.95  # closer than this, two notes say nearly the same thing
TEXT_CHARS = 300
MIN_WORDS = 3  # a passage shorter than this (an empty template section) is no evidence
TERMS = 5
TERM_SAMPLE = 1000  # notes read to estimate how common a word is (enough to rank shared words)

_WORD = re.compile(r"[^\W\d_]{4,}")
_TURN = re.compile(r"^(?:user|assistant|system)\b", re.I)  # a saved dialogue turn, not a topic
_NOISE = frozenset("http https www html nexus user assistant agent".split())


def missing_links(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """Pairs of notes close in meaning with no link and no non-hub note between them, best
    first, at most 3 · `limit`; each pair's paths in sorted order."""
    if data.vectors is None or limit <= 0 or len(data.vectors[0]) < 2:
        return []
    order = sorted(range(len(data.vectors[0])), key=data.vectors[0].__getitem__)
    paths = [data.vectors[0][i] for i in order]  # in path order, so a < b and ties do not depend on input order
    hubs = set(data.hubs)
    near, near_cos = nearest(np.asarray(data.vectors[1], dtype=np.float32)[order], np.array([p in hubs for p in paths]))
    a, b, cos, rank_a, rank_b = _pairs(near, near_cos)
    notes = set(data.notes) | set(paths)
    linked, adjacent = _link_graph(data, notes, hubs)
    keep = np.array([(paths[i], paths[j]) not in linked and not adjacent[paths[i]] & adjacent[paths[j]]
                     for i, j in zip(a.tolist(), b.tolist())], dtype=bool)
    log.debug("%d candidate pairs, %d neither linked nor two hops apart", len(a), int(keep.sum()))
    a, b, cos, rank_a, rank_b = a[keep], b[keep], cos[keep], rank_a[keep], rank_b[keep]
    if not len(a):
        return []
    contexts, degree = _contexts(data, notes, hubs)
    scene_of = {p: s for s in data.scenes for p in s.notes}
    support = np.array([_support(paths[i], paths[j], contexts, degree, scene_of)[0]
                        for i, j in zip(a.tolist(), b.tolist())])
    score = SIMILARITY_WEIGHT * closeness(cos, rank_a, rank_b) + (1 - SIMILARITY_WEIGHT) * support
    best = sorted(range(len(a)), key=lambda t: (-score[t], a[t], b[t]))[: 3 * limit]
    words = _Words(data, {paths[i] for t in best for i in (a[t], b[t])})
    chunk_rows = _chunk_rows(data)
    return [_finding(data, paths[a[t]], paths[b[t]], float(score[t]), float(cos[t]), int(rank_a[t]), int(rank_b[t]),
                     _support(paths[a[t]], paths[b[t]], contexts, degree, scene_of)[1], scene_of, words, chunk_rows)
            for t in best]


def nearest(vectors: np.ndarray, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `RANKS` nearest other rows by dot product, nearest first (ties by row):
    (indices, cosines). Rows in `skip` are never anyone's neighbour."""
    n = len(vectors)
    depth = min(RANKS, n - 1)
    near = np.empty((n, depth), dtype=np.int64)
    near_cos = np.empty((n, depth), dtype=np.float32)
    for start in range(0, n, BLOCK):
        block = vectors[start:start + BLOCK] @ vectors.T
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf
        block[:, skip] = -np.inf
        top = np.argpartition(block, n - depth, axis=1)[:, n - depth:]  # no negated copy of the block
        top_cos = np.take_along_axis(block, top, axis=1)
        order = np.lexsort((top, -top_cos), axis=1)
        near[start:start + len(block)] = np.take_along_axis(top, order, axis=1)
        near_cos[start:start + len(block)] = np.take_along_axis(top_cos, order, axis=1)
    return near, near_cos


def _pairs(near: np.ndarray, near_cos: np.ndarray) -> tuple[np.ndarray, ...]:
    """Candidate pairs (a < b) from each row's `K` nearest above `FLOOR`: a, b, cosine, rank of
    b among a's neighbours and of a among b's (1 = nearest; `RANKS` + 1 = further than kept)."""
    n, depth = near.shape
    k = min(K, depth)
    rows = np.repeat(np.arange(n), k)
    cols, cos = near[:, :k].ravel(), near_cos[:, :k].ravel()
    good = cos > FLOOR
    lo, hi, cos = np.minimum(rows, cols)[good], np.maximum(rows, cols)[good], cos[good]
    keys, first = np.unique(lo * n + hi, return_index=True)
    a, b, cos = keys // n, keys % n, cos[first]
    return a, b, cos.astype(np.float64), _rank(near, a, b), _rank(near, b, a)


def _rank(near: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    hit = near[a] == b[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, near.shape[1] + 1)


def closeness(cos: np.ndarray, rank_a: np.ndarray, rank_b: np.ndarray) -> np.ndarray:
    """How much a pair stands out for both notes, in [0, 1]: the mean of 1/rank from each side
    (a note near everything ranks nobody first, so hubs of meaning do not flood the list),
    with a tenth going to the cosine's percentile among the candidates to order equal ranks."""
    mutual = (1.0 / rank_a + 1.0 / rank_b) / 2
    percentile = (np.argsort(np.argsort(cos)) + 1) / len(cos)
    return 0.9 * mutual + 0.1 * percentile


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold().strip()


def _link_graph(data: BlindSpotInput, notes: set[str],
                hubs: set[str]) -> tuple[set[tuple[str, str]], dict[str, set[str]]]:
    """(linked pairs, sorted; non-hub note → its non-hub link neighbours, both directions). An
    unresolved link whose text is another note's title or alias counts as linked: the author
    meant that note (the broken-link detector offers the fix)."""
    named: dict[str, str] = {}
    for path, aliases in data.aliases.items():
        for alias in aliases:
            named.setdefault(_fold(alias), path)
    for path, title in data.titles.items():
        named.setdefault(_fold(title), path)
    linked: set[tuple[str, str]] = set()
    adjacent: dict[str, set[str]] = defaultdict(set)
    for link in data.links:
        target = link.target_path if link.target_path is not None else named.get(_fold(link.target))
        if target is None or target == link.source:
            continue
        linked.add((min(link.source, target), max(link.source, target)))
        if link.target_path is not None and target in notes and link.source not in hubs and target not in hubs:
            adjacent[link.source].add(target)
            adjacent[target].add(link.source)
    return linked, adjacent


def _contexts(data: BlindSpotInput, notes: set[str], hubs: set[str]) -> tuple[dict[str, set[tuple[str, str]]], Counter]:
    """Each note's context nodes, (kind, name): hubs linked with it either way, its tags, the
    wanted link texts and the non-note files it links to; and how many notes share each."""
    contexts: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for link in data.links:
        if link.target_path is None:
            contexts[link.source].add(("wanted", _fold(link.target)))
        elif link.source in hubs and link.target_path != link.source:
            contexts[link.target_path].add(("hub", link.source))
        elif link.target_path in hubs:
            contexts[link.source].add(("hub", link.target_path))
        elif link.target_path not in notes:
            contexts[link.source].add(("file", link.target_path))
    for path, tags in data.tags.items():
        contexts[path].update(("tag", _fold(tag)) for tag in tags)
    degree = Counter(node for nodes in contexts.values() for node in nodes)
    return contexts, degree


def _support(a: str, b: str, contexts: Mapping[str, set[tuple[str, str]]], degree: Counter,
             scene_of: Mapping[str, Scene]) -> tuple[float, list[tuple[str, str]]]:
    """Adamic–Adar over shared context nodes plus the same-scene bonus, mapped to [0, 1]; and
    the shared nodes, most telling first."""
    shared = sorted(contexts.get(a, set()) & contexts.get(b, set()), key=lambda c: (degree[c], c))
    x = sum(1 / math.log(2 + degree[c]) for c in shared)
    scene = scene_of.get(a)
    if scene is not None and scene_of.get(b) is scene:
        x += SCENE_BONUS
    return 1 - math.exp(-x), shared


def _chunk_rows(data: BlindSpotInput) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    if data.chunks is not None:
        for row, path in enumerate(data.chunks[1]):
            rows[path].append(row)
    return rows


class _Words:
    """Words of notes' chunk texts, and how rare each is across notes (document frequency over
    a fixed sample of notes plus the ones asked about: enough to rank shared words)."""

    def __init__(self, data: BlindSpotInput, wanted: set[str]) -> None:
        texts: dict[str, list[str]] = defaultdict(list)
        if data.chunks is not None:
            for chunk_id, path in zip(data.chunks[0].tolist(), data.chunks[1]):
                if chunk_id in data.chunk_text:
                    texts[path].append(data.chunk_text[chunk_id][1])
        every = sorted(texts)
        step = max(1, len(every) // TERM_SAMPLE)
        sample = set(every[::step]) | (wanted & set(texts))
        self.counts = {p: Counter(_WORD.findall(" ".join(texts[p]).lower().replace("ё", "е"))) for p in sample}
        self.notes = len(sample)
        self.frequency = Counter(w for p in sample for w in self.counts[p])

    def shared(self, a: str, b: str) -> list[str]:
        ca, cb = self.counts.get(a, Counter()), self.counts.get(b, Counter())
        stop = _stop_words()
        weight = {w: math.log((1 + self.notes) / (1 + self.frequency[w])) * math.log(1 + min(ca[w], cb[w]))
                  for w in ca.keys() & cb.keys() if w not in stop}
        return [w for w in sorted(weight, key=lambda w: (-weight[w], w)) if weight[w] > 0][:TERMS]


@functools.cache
def _stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    words = [*get_stop_words("russian"), *get_stop_words("english"), *_NOISE]
    return frozenset(w.lower().replace("ё", "е") for w in words)


def _chunk_pair(data: BlindSpotInput, a: str, b: str, rows: Mapping[str, list[int]]) -> dict | None:
    """The closest pair of passages of `a` and `b` that say something: an empty template section
    both notes share ("Sources: -", "- [ ]") matches perfectly and is no evidence."""
    if data.chunks is None or not rows.get(a) or not rows.get(b):
        return None
    ids, _paths, matrix = data.chunks

    def says_something(row: int) -> bool:
        return len(_WORD.findall(data.chunk_text.get(int(ids[row]), ("", "", 0))[1])) >= MIN_WORDS

    mine, theirs = ([r for r in rows[p] if says_something(r)] or rows[p] for p in (a, b))
    dots = matrix[mine] @ matrix[theirs].T
    i, j = np.unravel_index(int(np.argmax(dots)), dots.shape)
    return {"type": "chunk_pair", "cosine": round(float(dots[i, j]), 4),
            "a": _chunk(data, a, int(ids[mine[i]])), "b": _chunk(data, b, int(ids[theirs[j]]))}


def _chunk(data: BlindSpotInput, path: str, chunk_id: int) -> dict:
    heading, text, line = data.chunk_text.get(chunk_id, ("", "", 0))
    text = " ".join(text.split())
    if len(text) > TEXT_CHARS:
        text = text[: TEXT_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return {"path": path, "heading": heading, "line": line, "text": text}


def _finding(data: BlindSpotInput, a: str, b: str, score: float, cos: float, rank_a: int, rank_b: int,
             shared: list[tuple[str, str]], scene_of: Mapping[str, Scene], words: _Words,
             chunk_rows: Mapping[str, list[int]]) -> BlindSpot:
    title_a, title_b = (data.titles.get(p) or p.rsplit("/", 1)[-1].removesuffix(".md") for p in (a, b))
    evidence: list[dict] = [{"type": "similarity", "cosine": round(cos, 4),
                             "rank_a": rank_a if rank_a <= RANKS else None,
                             "rank_b": rank_b if rank_b <= RANKS else None}]
    pair = _chunk_pair(data, a, b, chunk_rows)
    if pair is not None:
        evidence.append(pair)
    if shared:
        evidence.append({"type": "shared_context", **{f"{kind}s" if kind != "wanted" else kind:
                                                      [name for k, name in shared if k == kind]
                                                      for kind in ("hub", "tag", "wanted", "file")}})
    scene_a, scene_b = scene_of.get(a), scene_of.get(b)
    terms = words.shared(a, b)
    scene_terms = [t for t in scene_a.terms if t in scene_b.terms] if scene_a and scene_b else []
    if terms or scene_terms:
        evidence.append({"type": "shared_terms", "terms": terms, "scene_terms": scene_terms})
    evidence.append({"type": "scenes", "a": scene_a.id if scene_a else None, "b": scene_b.id if scene_b else None})
    return BlindSpot(
        kind="missing_link",
        id=finding_id("missing_link", a, b),
        score=round(min(1.0, max(0.0, score)), 4),
        title=f"«{title_a}» and «{title_b}» are close in meaning but not linked",
        evidence=tuple(evidence),
        notes=(a, b),
        suggestion=f"Link [[{title_a}]] and [[{title_b}]]{_where(pair, title_a, title_b)}"
                   + (" They say nearly the same thing: maybe merge them." if cos >= DUPLICATE else ""),
    )


def _where(pair: dict | None, title_a: str, title_b: str) -> str:
    """ — e.g. under “Heading” in [[A]] and “Heading” in [[B]]: where the closest passages are."""
    if pair is None:
        return "."
    places = []
    for side, title in (("a", title_a), ("b", title_b)):
        heading = pair[side]["heading"].rsplit(" > ", 1)[-1].strip()
        if heading and not _TURN.match(heading):
            places.append(f"“{heading}” in [[{title}]]")
    return f" — e.g. under {' and '.join(places)}." if places else "."
