"""Blind spots in the shape of the link graph and the text: wanted notes and broken links,
orphans, dead ends and stubs, unanswered questions. Vectors are optional: they only pick
the note to suggest linking an orphan with.

Rules (Obsidian is the specification):
- Link texts are compared as Obsidian compares names: NFC, casefolded, `.md` optional.
- A link counts as a connection when it points at another note or canvas, or at a wanted
  note (Obsidian's graph draws unresolved links by default); self links and links to
  attachments do not (attachments are hidden in the graph by default).
- An unresolved target with a file extension (`diagram.png`) is a missing attachment, not a
  concept: it is neither a wanted note nor a connection.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import groupby

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from vaultmind.blindspots import BlindSpotInput, LinkRow, finding_id
from vaultmind.types import BlindSpot, Note, Scene, title_from_path

__all__ = ["STUB_WORDS", "STUB_CITERS", "wanted_notes", "orphans_dead_ends_stubs", "unanswered_questions"]

log = logging.getLogger(__name__)

# Below ~60 words a note is a definition line or a placeholder, not yet a written thought.
STUB_WORDS = 60
# Fewer than three citing notes is ordinary linking; three or more means the vault leans on it.
STUB_CITERS = 3
SHOWN = 5  # link occurrences shown as evidence; the rest are counted

_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif bmp svg webp avif tif tiff ico heic mp3 wav m4a ogg flac 3gp webm mp4 mkv mov ogv avi pdf "
    "canvas base txt csv tsv json xml yaml yml html htm doc docx xls xlsx ppt pptx odt ods odp rtf zip tar gz 7z "
    "rar epub excalidraw ipynb".split())
_EXTENSION = re.compile(r"\.([a-z0-9]{1,10})$")
_LOOSE = re.compile(r"[\s_\-‐–—]+")
_BLANK = re.compile(r"^(?:<!--.*?-->|%%.*?%%|[-=*_ ]*)$")  # comments and rules are not content


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip()).casefold()


def _without_md(text: str) -> str:
    text = text.strip()
    return text[:-3].rstrip() if text.lower().endswith(".md") and text[:-3].strip() else text


def _wanted_key(target: str) -> str:
    key = _fold(target)
    return key[:-3].rstrip() if key.endswith(".md") else key


def _wanted_name(texts: Iterable[str]) -> str:
    """A wanted note's name as the author writes it most often, without `.md` (one written
    without `.md` wins a tie), as `graph.wanted_name` names its node."""
    counts: Counter[str] = Counter()
    bare: Counter[str] = Counter()
    for text in texts:
        name = _without_md(text)
        counts[name] += 1
        bare[name] += name == text.strip()
    return max(counts, key=lambda name: (counts[name], bare[name]))


def _is_concept(key: str) -> bool:
    """False for empty targets and file names (`diagram.png`): those are not notes to write."""
    match = _EXTENSION.search(key)
    return bool(key) and not (match and match.group(1) in _FILE_EXTENSIONS)


def _loose(name: str) -> str:
    """Spelling-insensitive form: no spaces, underscores or dashes; ё is е."""
    return _LOOSE.sub("", name.replace("ё", "е"))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _title(data: BlindSpotInput, path: str) -> str:
    return data.titles.get(path) or title_from_path(path)


def _link_names(data: BlindSpotInput, *, labelled: bool = False) -> dict[str, str]:
    """What to write inside `[[...]]` for each note: its title, or its path when the title is
    shared by several notes (Obsidian would otherwise pick one of them). `labelled` adds the
    first alias to a title without letters: `202303210958|frontmatter в callout`."""
    counts = Counter(_fold(_title(data, p)) for p in data.notes)
    names = {p: _title(data, p) if counts[_fold(_title(data, p))] == 1 else p[:-3] for p in data.notes}
    if labelled:  # a Zettelkasten id says nothing to the reader by itself
        for path, name in names.items():
            if data.aliases.get(path) and not any(ch.isalpha() for ch in name):
                names[path] = f"{name}|{data.aliases[path][0]}"
    return names


def _scene_index(data: BlindSpotInput) -> dict[str, Scene]:
    return {path: scene for scene in data.scenes for path in scene.notes}


def _link_evidence(links: Sequence[LinkRow], scene_of: dict[str, Scene]) -> list[dict]:
    """One link item per note (its first occurrence), spread across scenes first, then a count."""
    first: dict[str, LinkRow] = {}
    for link in sorted(links, key=lambda r: (r.source, r.line)):
        first.setdefault(link.source, link)
    seen: Counter[int] = Counter()
    order = []
    for source in sorted(first):
        scene = scene_of[source].id if source in scene_of else -1
        order.append((seen[scene], source))
        seen[scene] += 1
    shown = [first[source] for _, source in sorted(order)[:SHOWN]]
    items: list[dict] = [{"type": "link", "source": r.source, "line": r.line, "sentence": r.context} for r in shown]
    items.append({"type": "count", "notes": len(first), "links": len(links), "not_shown": len(first) - len(shown)})
    return items


def _top(spots: Iterable[BlindSpot], limit: int) -> list[BlindSpot]:
    """At most 3·limit per kind, best first: the runner drops dismissed ones and cuts to limit."""
    ranked = sorted(spots, key=lambda s: (s.kind, -s.score, s.id))
    return [s for _, group in groupby(ranked, key=lambda s: s.kind) for s in list(group)[: max(limit, 0) * 3]]


# ---------------------------------------------------------------- wanted notes and broken links


def _typo_budget(length: int) -> int:
    """Edits allowed for a name of `length` characters: short names are too easily another word."""
    return 0 if length < 4 else 1 if length < 8 else 2


class _Existing:
    """The vault's note names and aliases, for finding what an unresolved link probably means."""

    def __init__(self, data: BlindSpotInput) -> None:
        self.alias_of: dict[str, str] = {}
        for path in sorted(data.aliases):
            for alias in data.aliases[path]:
                self.alias_of.setdefault(_fold(str(alias)), path)
        self.by_name: dict[str, str] = {}
        self.by_loose: dict[str, tuple[str, str]] = {}
        for path in sorted(data.notes, key=lambda p: (len(p), p)):  # shortest path wins, as in Obsidian
            name = _fold(_title(data, path))
            self.by_name.setdefault(name, path)
            self.by_loose.setdefault(_loose(name), (path, name))
        self.by_length: dict[int, list[str]] = defaultdict(list)
        for loose in self.by_loose:
            self.by_length[len(loose)].append(loose)
        self._window: dict[tuple[int, int], list[str]] = {}

    def probable(self, key: str) -> tuple[str, str, int] | None:
        """(note path, reason, edit distance) for a wanted key that almost names a note."""
        name = key.rsplit("/", 1)[-1]
        if name != key and name in self.by_name:  # moved, or a folder that is not in this vault
            return self.by_name[name], "folder", 0
        if name in self.alias_of:
            return self.alias_of[name], "alias", 0
        loose = _loose(name)
        if loose in self.by_loose:
            path, title = self.by_loose[loose]
            return path, "spelling", Levenshtein.distance(name, title)
        budget = _typo_budget(len(loose))
        if not budget:
            return None
        digits = re.findall(r"\d+", loose)
        for choice, distance, _ in process.extract(loose, self._near(len(loose), budget), limit=5,
                                                   scorer=Levenshtein.distance, score_cutoff=budget):
            # both names long enough for their edits, and `LTM_3` is the next of a series, not a typo of `LTM_1`
            if distance <= _typo_budget(len(choice)) and re.findall(r"\d+", choice) == digits:
                return self.by_loose[choice][0], "typo", int(distance)
        return None

    def _near(self, length: int, budget: int) -> list[str]:
        if (length, budget) not in self._window:
            self._window[length, budget] = [n for size in range(length - budget, length + budget + 1)
                                            for n in self.by_length.get(size, ())]
        return self._window[length, budget]


def wanted_notes(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """`wanted_note`: an unresolved link target, ranked by the notes and scenes pointing at it:
    score = 1 − 1/(1 + notes + 2·(scenes − 1)), a scene counting like two more notes.
    `broken_link` instead when the target almost names an existing note (a bare alias, the
    same name spelt differently, a typo): score = 1 − 1/(1 + occurrences)."""
    groups: dict[str, list[LinkRow]] = defaultdict(list)
    for link in data.links:
        if link.target_path is None and _is_concept(key := _wanted_key(link.target)):
            groups[key].append(link)
    if not groups:
        return []
    scene_of, existing, names = _scene_index(data), _Existing(data), _link_names(data)
    spots = []
    for key, links in groups.items():
        match = existing.probable(key)
        if match is None:
            spots.append(_wanted(key, _wanted_name(r.target for r in links), links, scene_of))
        else:  # shown as written: it is the text to change
            text = Counter(r.target.strip() for r in links).most_common(1)[0][0]
            title = _title(data, match[0])
            spots.append(_broken(key, text, links, match, scene_of, title, names.get(match[0], title)))
    log.debug("%d wanted targets, %d of them broken links", len(spots), sum(s.kind == "broken_link" for s in spots))
    return _top(spots, limit)


def _wanted(key: str, text: str, links: list[LinkRow], scene_of: dict[str, Scene]) -> BlindSpot:
    sources = {r.source for r in links}
    scenes = sorted({scene_of[s].id: scene_of[s] for s in sources if s in scene_of}.items())
    score = 1 - 1 / (1 + len(sources) + 2 * max(len(scenes) - 1, 0))
    spread = f" in {_count(len(scenes), 'scene')}" if scenes else ""
    evidence = _link_evidence(links, scene_of) + [
        {"type": "scenes", "scenes": [i for i, _ in scenes], "labels": [s.label for _, s in scenes],
         "unplaced": sum(1 for s in sources if s not in scene_of)}]
    return BlindSpot(
        kind="wanted_note", id=finding_id("wanted_note", key), score=score,
        title=f"[[{text}]] is linked from {_count(len(sources), 'note')} but not written",
        evidence=tuple(evidence), notes=(text,),
        suggestion=f"Write [[{text}]]: {_count(len(sources), 'note')}{spread} point at it")


def _broken(key: str, text: str, links: list[LinkRow], match: tuple[str, str, int], scene_of: dict[str, Scene],
            title: str, name: str) -> BlindSpot:
    path, reason, distance = match
    why = {"alias": "an alias, which Obsidian does not resolve in a bare link", "folder": "in another folder",
           "spelling": "spelt differently", "typo": f"{_count(distance, 'letter')} off"}[reason]
    shown = text.rsplit("/", 1)[-1]
    fixed = f"[[{name}]]" if _fold(shown) == _fold(name) else f"[[{name}|{shown}]]"
    evidence = _link_evidence(links, scene_of) + [
        {"type": "probably_means", "note": path, "title": title, "reason": reason, "distance": distance}]
    return BlindSpot(
        kind="broken_link", id=finding_id("broken_link", key, path), score=1 - 1 / (1 + len(links)),
        title=f"[[{text}]] probably means [[{title}]] ({why})",
        evidence=tuple(evidence), notes=(text, path),
        suggestion=f"Change [[{text}]] to {fixed} in {_count(len({r.source for r in links}), 'note')}")


# ---------------------------------------------------------------- orphans, dead ends, stubs


def orphans_dead_ends_stubs(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """`orphan`: no link in or out (score 1 − 1/(1 + words/100): a longer note loses more by
    being invisible). `dead_end`: linked to, but links to no note (a wanted link leads nowhere
    yet); score 1 − 1/(1 + linking notes). `stub`: under STUB_WORDS words and cited by at least
    STUB_CITERS notes other than hubs; score (1 − 1/(1 + citers))·(1 − words/(2·STUB_WORDS)).
    Hubs are never reported."""
    notes = set(data.notes)
    incoming: dict[str, list[LinkRow]] = defaultdict(list)
    links_out: set[str] = set()  # to another note or canvas
    connected: set[str] = set()  # has a link in or out, wanted notes included
    for link in data.links:
        target = link.target_path
        if target is None:
            if _is_concept(_wanted_key(link.target)):
                connected.add(link.source)
        elif target != link.source and (target in notes or target.lower().endswith(".canvas")):
            links_out.add(link.source)
            connected.update((link.source, target))
            if target in notes:
                incoming[target].append(link)
    scene_of, names, hubs = _scene_index(data), _link_names(data, labelled=True), set(data.hubs)
    spots: list[BlindSpot] = []
    orphans: list[str] = []
    for path in data.notes:
        if path in hubs:
            continue
        words = int(data.words.get(path, 0))
        if path not in connected:
            orphans.append(path)
        elif incoming.get(path):
            links = incoming[path]
            if path not in links_out:
                spots.append(_dead_end(path, words, links, scene_of, names))
            citing = [r for r in links if r.source not in hubs]
            if words < STUB_WORDS and len({r.source for r in citing}) >= STUB_CITERS:
                spots.append(_stub(path, words, citing, scene_of, names))
    orphans.sort(key=lambda p: (-data.words.get(p, 0), finding_id("orphan", p)))  # the order of their scores
    near = _Nearest(data, hubs)  # only for the orphans kept: each a small matrix product
    spots += [_orphan(p, int(data.words.get(p, 0)), scene_of.get(p), names, near(p, scene_of.get(p)))
              for p in orphans[: max(limit, 0) * 3]]
    return _top(spots, limit)


class _Nearest:
    """The note closest in meaning to a given one, among its scene's notes (all notes when it
    has no scene); None without vectors. Hubs are never suggested."""

    def __init__(self, data: BlindSpotInput, hubs: set[str]) -> None:
        paths, self.matrix = data.vectors if data.vectors is not None else ([], np.zeros((0, 0), np.float32))
        self.row = {p: i for i, p in enumerate(paths) if p not in hubs}

    def __call__(self, path: str, scene: Scene | None) -> tuple[str, float] | None:
        pool = [p for p in (scene.notes if scene is not None else self.row) if p != path and p in self.row]
        if path not in self.row or not pool:
            return None
        similarity = self.matrix[[self.row[p] for p in pool]] @ self.matrix[self.row[path]]
        best = int(similarity.argmax())
        return pool[best], float(similarity[best])


def _orphan(path: str, words: int, scene: Scene | None, names: dict[str, str],
            nearest: tuple[str, float] | None) -> BlindSpot:
    evidence: list[dict] = [{"type": "count", "incoming": 0, "outgoing": 0}, {"type": "words", "words": words}]
    suggestion = f"Link [[{names[path]}]] from a note it belongs with, or link it to one"
    if scene is not None:
        evidence.append({"type": "scene", "scene": scene.id, "label": scene.label})
    if nearest is not None:
        other, similarity = nearest
        evidence.append({"type": "nearest", "note": other, "similarity": round(similarity, 3)})
        suggestion = f"Link [[{names[path]}]] with [[{names.get(other, other)}]], the note closest to it in meaning"
    return BlindSpot(kind="orphan", id=finding_id("orphan", path), score=1 - 1 / (1 + words / 100),
                     title=f"[[{names[path]}]] has no links in or out", evidence=tuple(evidence), notes=(path,),
                     suggestion=suggestion)


def _dead_end(path: str, words: int, links: list[LinkRow], scene_of: dict[str, Scene],
              names: dict[str, str]) -> BlindSpot:
    sources = {r.source for r in links}
    lead = f"{_count(len(sources), 'note')} lead{'s' if len(sources) == 1 else ''} here"
    evidence = [{"type": "count", "incoming_notes": len(sources), "incoming_links": len(links), "outgoing": 0},
                *_link_evidence(links, scene_of), {"type": "words", "words": words}]
    return BlindSpot(kind="dead_end", id=finding_id("dead_end", path), score=1 - 1 / (1 + len(sources)),
                     title=f"[[{names[path]}]]: {lead}, it links nowhere",
                     evidence=tuple(evidence), notes=(path,),
                     suggestion=f"Link [[{names[path]}]] onward: to the notes it builds on or leads to")


def _stub(path: str, words: int, links: list[LinkRow], scene_of: dict[str, Scene],
          names: dict[str, str]) -> BlindSpot:
    citers = len({r.source for r in links})
    score = (1 - 1 / (1 + citers)) * (1 - words / (2 * STUB_WORDS))
    evidence = [{"type": "words", "words": words, "stub_below": STUB_WORDS}, *_link_evidence(links, scene_of)]
    return BlindSpot(kind="stub", id=finding_id("stub", path), score=score,
                     title=f"[[{names[path]}]] is cited by {citers} notes but has {words} words",
                     evidence=tuple(evidence), notes=(path,),
                     suggestion=f"Expand [[{names[path]}]]: {citers} notes lean on it")


# ---------------------------------------------------------------- unanswered questions

def _date(timestamp: str) -> tuple[int, int, int]:
    """(year, month, day) of `2025-07-24 …` or `24.07.2025 at …`; (0, 0, 0) if neither."""
    if m := re.search(r"(\d{4})-(\d\d?)-(\d\d?)", timestamp):
        return int(m[1]), int(m[2]), int(m[3])
    if m := re.search(r"(\d\d?)\.(\d\d?)\.(\d{4})", timestamp):
        return int(m[3]), int(m[2]), int(m[1])
    return 0, 0, 0


def unanswered_questions(data: BlindSpotInput, limit: int) -> list[BlindSpot]:
    """`unanswered`: a saved dialogue whose last turn is the user's and asks something (has a
    `?`; a closing remark is not a question), score 0.8 + 0.1·(1 − 4/(4 + turns)) + 0.05·recency
    rank; or a heading ending in `?` with nothing under it, score 0.5 − 0.05·(level − 1)."""
    names = _link_names(data, labelled=True)
    dialogues = [(path, note) for path, note in sorted(data.documents.items())
                 if note.turns and note.turns[-1].role == "user" and re.search(r"[?？]", note.turns[-1].text)]
    dated = sorted(dialogues, key=lambda item: _date(item[1].turns[-1].timestamp))
    recency = {path: rank / max(len(dated) - 1, 1) for rank, (path, _) in enumerate(dated)}
    spots = [_dialogue(path, note, recency[path], names) for path, note in dialogues]
    for path, note in sorted(data.documents.items()):
        spots.extend(_empty_questions(path, note, names))
    return _top(spots, limit)


def _dialogue(path: str, note: Note, recency: float, names: dict[str, str]) -> BlindSpot:
    turn = note.turns[-1]
    score = 0.8 + 0.1 * (1 - 4 / (4 + len(note.turns))) + 0.05 * recency
    evidence = ({"type": "question", "text": turn.text[:300], "line": turn.line, "author": turn.author,
                 "timestamp": turn.timestamp}, {"type": "count", "turns": len(note.turns)})
    name = names.get(path, title_from_path(path))
    return BlindSpot(kind="unanswered", id=finding_id("unanswered", path, turn.uid or turn.text[:200]), score=score,
                     title=f"The last question in [[{name}]] got no answer", evidence=evidence, notes=(path,),
                     suggestion=f"Answer it in [[{name}]] (line {turn.line}), or write down why it stays open")


def _empty_questions(path: str, note: Note, names: dict[str, str]) -> list[BlindSpot]:
    """Headings that ask a question and have no text under them before the next heading of the
    same or a higher level (a sub-heading with text under it is content)."""
    lines = note.text.splitlines()
    heading_lines = {h.line for h in note.headings}
    found = []
    for i, heading in enumerate(note.headings):
        if not heading.text.rstrip().endswith(("?", "？")) or heading.line < note.body_line:
            continue
        end = next((h.line for h in note.headings[i + 1:] if h.level <= heading.level), len(lines) + 1)
        body = (lines[n - 1].lstrip("> \t").strip() for n in range(heading.line + 1, end) if n not in heading_lines)
        if any(not _BLANK.match(text) for text in body):
            continue
        name = names.get(path, title_from_path(path))
        target = name.split("|")[0] + "#" + heading.text
        found.append(BlindSpot(
            kind="unanswered", id=finding_id("unanswered", path, "#" + heading.text),
            score=0.5 - 0.05 * min(heading.level - 1, 5),
            title=f"[[{name}]] asks “{heading.text}” and leaves it empty",
            evidence=({"type": "heading", "text": heading.text, "line": heading.line, "level": heading.level},),
            notes=(path,), suggestion=f"Answer it under [[{target}]], or remove the heading"))
    return found
