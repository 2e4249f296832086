"""Blind-spot quality: plant known gaps in a copy of the sample vault and measure how many the
detectors recover in their top 10 (recall@10 per kind).

Planted, each on notes the other plants do not touch:
- missing links: every link between a few pairs of same-topic notes is removed (turned into
  its display text), for pairs left more than two hops apart (not counting the hub);
- wanted notes: notes that several others link to are deleted;
- broken links: a link's target gets a one-letter typo;
- an orphan: every link into and out of one note is removed;
- a split scene: every link between the two halves of one topic (a Kernighan–Lin bisection of
  its link graph) is removed — found when a scene gap joins the halves or a weakly coupled
  scene holds both;
- an unanswered question: a user turn is appended to a saved dialogue.

Backs `bench_quality` and tests/test_blindspot_quality.py.
"""

import json
import random
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

import vaultmind
from vaultmind.embed import Embedder, load_channels
from vaultmind.store import Store

from .scene_quality import SAMPLE, TOPICS, TRUTH

TOP = 10
UNANSWERED_TURN = "\n>[!nexus_user] **User** - 12.05.2025 at 08:00\n> And what if I skip a week entirely — does the practice survive?\n"


@dataclass
class Planted:
    missing_links: list[tuple[str, str]] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)  # deleted notes' titles
    broken: list[tuple[str, str]] = field(default_factory=list)  # (typo'd link text, the note it means)
    orphans: list[str] = field(default_factory=list)
    split: tuple[list[str], list[str]] = ((), ())  # type: ignore[assignment]
    unanswered: list[str] = field(default_factory=list)


def _unlink(vault: Path, link: vaultmind.ResolvedLink) -> None:
    """Turn one link occurrence into its display text (an embed: nothing)."""
    path, row = vault / link.source, link.link.line - 1
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[row] = lines[row].replace(link.link.original, "" if link.link.original.startswith("!") else link.link.display, 1)
    path.write_text("\n".join(lines), encoding="utf-8")


def _graph(links: list[vaultmind.ResolvedLink], notes: set[str], hubs: set[str]) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(notes - hubs)
    graph.add_edges_from((l.source, l.target_path) for l in links
                         if l.target_path in notes and l.source in notes and l.source != l.target_path
                         and not {l.source, l.target_path} & hubs)
    return graph


def _within_two_hops(graph: nx.Graph, a: str, b: str) -> bool:
    return graph.has_edge(a, b) or bool(set(graph[a]) & set(graph[b]))


def plant(vault: Path, *, seed: int = 7, pairs: int = 8) -> Planted:
    """Plant the gaps in `vault` (a copy: it is edited) and return what was planted."""
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))
    topic = {p: t for p, t in truth["notes"].items() if t in TOPICS}
    hubs = set(truth["hubs"])
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        vaultmind.index(vault, state_dir=Path(tmp), embed=False, scenes=False)
        with Store.open(Path(tmp)) as store:
            links = store.links()
    notes = set(topic)
    graph = _graph(links, notes | hubs, hubs)
    planted = Planted()
    used: set[str] = set(truth["orphans"]) | set(truth["dead_ends"])
    odd = set(truth["encodings"])  # not UTF-8 on disk: left untouched
    by_pair: dict[tuple[str, str], list[vaultmind.ResolvedLink]] = defaultdict(list)
    for link in links:
        if link.target_path in notes and link.source in notes and link.source != link.target_path \
                and link.source not in odd:
            by_pair[tuple(sorted((link.source, link.target_path)))].append(link)  # type: ignore[arg-type]

    # a split scene: bisect one topic's links, cut across
    split_topic = "bread"
    members = sorted(p for p, t in topic.items() if t == split_topic)
    half_a, half_b = nx.algorithms.community.kernighan_lin_bisection(graph.subgraph(members), seed=seed)
    planted.split = (sorted(half_a), sorted(half_b))
    for (a, b), occurrences in by_pair.items():
        if (a in half_a and b in half_b) or (a in half_b and b in half_a):
            for link in occurrences:
                _unlink(vault, link)
            graph.remove_edge(a, b)
    used |= set(members)

    # missing links: pairs that end up more than two hops apart once unlinked
    candidates = sorted(pair for pair in by_pair if topic[pair[0]] == topic[pair[1]] and not set(pair) & used)
    rng.shuffle(candidates)
    # round-robin over topics, so one well-linked topic does not supply every pair
    queues = {t: [p for p in candidates if topic[p[0]] == t] for t in TOPICS}
    candidates = [q[i] for i in range(len(candidates)) for q in queues.values() if i < len(q)]
    for a, b in candidates:
        if len(planted.missing_links) >= pairs or {a, b} & used:
            continue
        graph.remove_edge(a, b)
        if _within_two_hops(graph, a, b) or graph.degree(a) == 0 or graph.degree(b) == 0:
            graph.add_edge(a, b)
            continue
        for link in by_pair[(a, b)]:
            _unlink(vault, link)
        planted.missing_links.append((a, b))
        used |= {a, b}

    # an orphan: cut every link of one note that has a few
    backlinks: dict[str, set[str]] = defaultdict(set)
    for (a, b), occurrences in by_pair.items():
        for link in occurrences:
            backlinks[link.target_path].add(link.source)  # type: ignore[index]
    free = sorted(p for p in notes if p not in used and p not in odd and p not in truth["bridges"][0])
    orphan = next(p for p in free if 1 <= graph.degree(p) <= 3)
    for (a, b), occurrences in by_pair.items():
        if orphan in (a, b):
            for link in occurrences:
                _unlink(vault, link)
    for link in links:  # links to hubs, wanted notes and attachments count too
        if link.source == orphan or link.target_path == orphan:
            _unlink(vault, link)
    planted.orphans.append(orphan)
    used.add(orphan)

    # wanted notes: delete notes that several others still link to
    for path in sorted(p for p in free if p not in used and len(backlinks[p] - used - hubs) >= 2)[:2]:
        (vault / path).unlink()
        planted.wanted.append(Path(path).stem)
        used.add(path)

    # broken links: a typo in a link to a note with a long title
    typo_links = [l for l in links if l.target_path in notes and l.target_path not in used and l.source not in used | odd
                  and l.link.original.startswith("[[") and len(l.link.target) >= 10 and "/" not in l.link.target]
    for link in sorted(typo_links, key=lambda l: (l.source, l.link.line))[:2]:
        target = link.link.target
        typo = target[:5] + target[6:]  # drop one letter
        path = vault / link.source
        text = path.read_text(encoding="utf-8").split("\n")
        text[link.link.line - 1] = text[link.link.line - 1].replace(f"[[{target}", f"[[{typo}", 1)
        path.write_text("\n".join(text), encoding="utf-8")
        planted.broken.append((typo, link.target_path))  # type: ignore[arg-type]
        used |= {link.source, link.target_path}  # type: ignore[arg-type]

    # an unanswered question: the dialogue ends with the user now
    dialogue = "stoic/17_diary_as_dialogue.md"
    text = (vault / dialogue).read_text(encoding="utf-8")
    head, sep, tail = text.partition("\n## What I changed after this")
    (vault / dialogue).write_text(head.rstrip("\n") + "\n" + UNANSWERED_TURN + "\n" + sep + tail, encoding="utf-8")
    planted.unanswered.append(dialogue)
    return planted


def _fold(text: str) -> str:
    return re.sub(r"\.md$", "", text.strip(), flags=re.I).casefold()


def recall(spots: list[vaultmind.BlindSpot], planted: Planted) -> dict[str, dict[str, Any]]:
    """recall@10 per planted kind, with what was found."""
    top: dict[str, list[vaultmind.BlindSpot]] = defaultdict(list)
    for spot in spots:
        if len(top[spot.kind]) < TOP:
            top[spot.kind].append(spot)
    result: dict[str, dict[str, Any]] = {}

    def score(kind: str, expected: list[Any], hit: Any) -> None:
        found = [e for e in expected if any(hit(e, s) for s in top[kind])]
        result[kind] = {"planted": len(expected), "found": len(found), "recall@10": len(found) / max(len(expected), 1),
                        "missed": [e for e in expected if e not in found]}

    score("missing_link", planted.missing_links, lambda e, s: set(e) <= set(s.notes))
    score("wanted_note", planted.wanted, lambda e, s: _fold(e) in {_fold(n) for n in s.notes})
    score("broken_link", planted.broken, lambda e, s: e[1] in s.notes)
    score("orphan", planted.orphans, lambda e, s: e in s.notes)
    score("unanswered", planted.unanswered, lambda e, s: e in s.notes)
    half_a, half_b = map(set, planted.split)

    def split_found(_e: Any, s: vaultmind.BlindSpot) -> bool:
        notes = set(s.notes)
        if s.kind == "weak_coupling":
            return len(notes & half_a) >= 2 and len(notes & half_b) >= 2
        sides = [set(item.get("notes_a", [])) | set(item.get("notes_b", [])) for item in s.evidence]
        return bool(notes & half_a) and bool(notes & half_b) or any(bool(x & half_a) and bool(x & half_b) for x in sides)

    hits = [s for s in top["scene_gap"] + top["weak_coupling"] if split_found(None, s)]
    result["split scene (scene_gap or weak_coupling)"] = {
        "planted": 1, "found": int(bool(hits)), "recall@10": float(bool(hits)), "missed": [] if hits else ["split"],
        "by": [f"{s.kind} {s.id}" for s in hits],
    }
    return result


def evaluate(model: str | Embedder, workdir: Path, seed: int = 7) -> dict[str, Any]:
    """Plant gaps (with `seed`) in a copy of the sample vault, index it with `model`, run
    every detector and score its top 10."""
    vault = workdir / "vault"
    shutil.copytree(SAMPLE, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    planted = plant(vault, seed=seed)
    embedder = load_channels(model) if isinstance(model, str) else model
    state = workdir / "state"
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    timings: dict[str, float] = {}
    spots = vaultmind.blind_spots(vault, limit=TOP, embedder=embedder, state_dir=state, timings=timings)
    return {"model": embedder.model_id, "planted": planted.__dict__, "recall": recall(spots, planted),
            "timings": timings, "top": {s.id: [s.kind, round(s.score, 3), s.title] for s in spots}}

