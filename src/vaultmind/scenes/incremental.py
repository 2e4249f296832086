"""Incremental scene updates, for a process that stays up while the author edits notes (the
sync daemon). `SceneState` keeps in memory what the scene stage needs between runs, takes the
notes that changed (`SceneChange`) and finds scenes again at a cost that follows the size of
the change rather than the size of the vault.

What differs from a full run (`build_scenes`), on purpose:
- note vectors stay centred on the centre of the last full build, so editing one note does
  not move every other note's vector;
- the k-nearest lists are patched (`nearest.NearestNotes`), link counts and hubs are updated
  per changed source, and only edges whose weight changed are touched;
- Leiden starts from the last membership and moves only the notes of scenes the change
  touched (a changed note, or a note whose edges changed) plus the changed notes; every other
  scene is one fixed node, so it keeps its members (a moving note may still join it);
- labels, density and cohesion are computed again only for scenes whose notes changed; the
  other scenes keep theirs (their IDF stays that of their last labelling);
- the map is not laid out again: notes keep their positions, a changed or new note goes to
  the mean position of its nearest notes.
A change to more than `LARGE_CHANGE` of the notes runs the full stage on the state instead.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from vaultmind.config import Config
from vaultmind.scenes import SceneInput, SceneRun, finish_scenes, weights_from
from vaultmind.scenes.communities import Communities, find_communities, group_communities, leiden
from vaultmind.scenes.hybrid import combine_edges, edge_weight, find_hubs, link_counts, link_strength
from vaultmind.scenes.labels import Labeller
from vaultmind.scenes.nearest import NearestNotes

# Above this share of the vault's notes changed since the last run, run the full stage: the
# scenes those notes sit in then hold most of the vault (so little would stay fixed), and the
# centre fixed at the last full build has drifted enough to be worth computing again.
LARGE_CHANGE = 0.2
# Edge weights closer than this are the same edge: recomputing a k-nearest list gives cosines
# that differ in the last float bits, which must not count as the note's edges changing.
SAME = 1e-6
# The settings scenes depend on: another value of any of them needs a full run.
SETTINGS = ("scene_alpha", "scene_neighbours", "scene_floor", "scene_resolution", "region_resolution",
            "scene_min_size", "scene_match", "hub_min_links", "hub_words_per_link", "hub_weight", "seed")

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class NoteContent:
    """A new or changed note as the scene stage sees it. `vector` is the mean of its chunk
    vectors scaled to unit length, not centred (None: nothing of it is embedded)."""

    title: str
    words: int
    text: str
    vector: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class SceneChange:
    """What changed since the last run: notes added or changed (their content now) or removed
    (None), and every link row now of each source whose links changed, as (target note path,
    or None for a wanted note; wanted note text). Creating or removing a note changes how
    other notes' links resolve, so those sources belong here too."""

    notes: Mapping[str, NoteContent | None] = field(default_factory=dict)
    links: Mapping[str, Sequence[tuple[str | None, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StateRun:
    """One run of the state: the `SceneRun` to store, whether the full stage ran, and the ids
    of scenes whose members changed (new scenes and scenes that ended included)."""

    run: SceneRun
    full: bool
    changed: tuple[int, ...]


class SceneState:
    """The scene stage's inputs and intermediate results, kept between runs: notes, titles,
    words, texts, link rows, raw note vectors and the centre they are centred on, the
    k-nearest lists, link counts, hubs, the weighted edges, the last membership and scenes,
    and each note's term counts. `rebuild` runs the full stage; `apply` takes a change;
    `run` finds scenes again from the last ones."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self.model = ""
        self.layout = "auto"
        self.labeller = Labeller()
        self.last: SceneRun | None = None
        self._load(SceneInput(notes=(), titles={}, words={}, texts={}, links=()), None, Config())

    # ------------------------------------------------------------------ public

    def fits(self, config: Config, model: str) -> bool:
        """Whether the state was built with these settings and vectors of this model (if not,
        only a full `rebuild` gives the right scenes)."""
        return (self.config is not None and self.model == model
                and all(getattr(self.config, n) == getattr(config, n) for n in SETTINGS))

    def rebuild(self, data: SceneInput, config: Config, *, raw: tuple[Sequence[str], np.ndarray] | None = None,
                model: str = "", layout: str = "auto") -> StateRun:
        """The full stage from `data`, as `build_scenes` runs it, keeping what the next
        incremental run needs. `raw` are the notes' vectors before centring (unit means of
        their chunk vectors); the state centres them as `embed.note_vectors` does. `model`
        names where the vectors came from, for `fits`."""
        if data.vectors is not None and raw is None:
            raise ValueError("SceneState centres vectors itself: pass the raw note vectors as raw=, not data.vectors")
        self.config, self.model, self.layout = config, model, layout
        tick = time.perf_counter()
        self._load(data, raw, config)
        steps = {"graph": time.perf_counter() - tick}
        return self._full_run(replace(data, vectors=self.vectors()), steps)

    def apply(self, change: SceneChange) -> None:
        """Take in changed, new and removed notes and changed link rows: update the note
        data, link counts, hubs, k-nearest lists and edge weights now, and remember which
        notes the next `run` must let move."""
        if self.config is None:
            raise ValueError("the scene state is empty: rebuild it first")
        tick = time.perf_counter()
        removed = {p for p, content in change.notes.items() if content is None and p in self.notes}
        added = {p for p, content in change.notes.items() if content is not None and p not in self.notes}
        moved_vectors: dict[str, np.ndarray | None] = {p: None for p in removed if p in self.raw}
        recount = set(change.links) | removed
        for path in removed:
            self._forget_note(path)
        for path, content in change.notes.items():
            if content is not None:
                recount |= self._set_note(path, content, moved_vectors)
        for source, rows in change.links.items():
            self._set_rows(source, rows if source in self.notes else ())
        recount |= self.linking_to(added | removed)  # their links to these notes start or stop counting
        pairs = self._recount_links(recount)
        for note in self._rehub(recount):
            pairs |= {_pair(note, other) for other in self.adjacent.get(note, {})}
        for note in removed:
            pairs |= {_pair(note, other) for other in self.adjacent.get(note, {})}
        if self.nearest is not None:
            pairs |= self.nearest.update(moved_vectors)  # no pairs when links carry the whole weight
        self._reweigh(pairs)
        for note in removed:
            self.adjacent.pop(note, None)
        self._touched |= removed
        self._apply_seconds += time.perf_counter() - tick

    def run(self) -> StateRun:
        """Scenes again after the changes applied since the last run: incrementally from the
        last membership, or the full stage when the change is large."""
        if self.config is None or self.last is None:
            raise ValueError("the scene state is empty: rebuild it first")
        if len(self._changed) > LARGE_CHANGE * max(len(self.notes), 1):
            return self._rerun_fully()
        config = self.config
        steps = {"graph": self._apply_seconds}
        tick = time.perf_counter()
        membership, sums = self._move_notes()
        found = group_communities(sorted(self.notes), self.edges, membership,
                                  region_resolution=config.region_resolution, min_size=config.scene_min_size,
                                  seed=config.seed, sums=sums)
        steps["communities"] = time.perf_counter() - tick
        tick = time.perf_counter()
        placed = self._place(self.last)
        steps["map"] = time.perf_counter() - tick
        keep = {frozenset(s.notes): s for s in self.last.scenes if self._changed.isdisjoint(s.notes)}
        data = self._input()
        found_run = finish_scenes(data, found, self.edges, self.hubs, config, steps, layout=self.layout,
                                  labeller=self.labeller, keep=keep, placed=placed)
        return self._remember(found_run, found, data.previous, full=False)

    def linking_to(self, paths: Iterable[str]) -> set[str]:
        """The notes with a link that resolves to one of `paths`."""
        return {source for p in paths for source in self.linked_from.get(p, ())}

    def vectors(self) -> tuple[list[str], np.ndarray] | None:
        """The notes' centred unit vectors (paths, rows), as `SceneInput.vectors` holds them."""
        return None if self.nearest is None else (self.nearest.paths, self.nearest.vectors)

    # ------------------------------------------------------------------ the full stage

    def _load(self, data: SceneInput, raw: tuple[Sequence[str], np.ndarray] | None, config: Config) -> None:
        """Every structure from scratch, the graph exactly as `hybrid.scene_graph` builds it."""
        self.weights = weights_from(config)
        self.notes = set(data.notes)
        self.titles, self.words, self.texts = dict(data.titles), dict(data.words), dict(data.texts)
        self.rows: dict[str, list[tuple[str | None, str]]] = {}
        self.linked_from: dict[str, set[str]] = {}
        for source, target, text in data.links:
            if source in self.notes:
                self.rows.setdefault(source, []).append((target, text))
                if target is not None:
                    self.linked_from.setdefault(target, set()).add(source)
        note_links = [(s, t) for s, t, _w in data.links if t is not None and s in self.notes and t in self.notes]
        self.hubs = find_hubs(note_links, self.words, self.weights.hub_min_links, self.weights.hub_words_per_link)
        self.link_count = link_counts(note_links)
        self.contributed: dict[str, Counter[Pair]] = {}  # per source, the link pairs it counts for
        for source, target in note_links:
            if source != target:
                self.contributed.setdefault(source, Counter())[_pair(source, target)] += 1
        self._load_vectors(raw)
        near = self.nearest.pairs if self.nearest is not None and self.alpha < 1 else {}
        linked = {pair: link_strength(n) for pair, n in self.link_count.items()}
        self.edges = combine_edges(linked, near, self.hubs, self.weights, self.alpha)
        self.adjacent: dict[str, dict[str, float]] = {}
        for (a, b), weight in self.edges.items():
            self.adjacent.setdefault(a, {})[b] = weight
            self.adjacent.setdefault(b, {})[a] = weight
        self.membership: dict[str, int] = {}  # Leiden's raw community of every note with an edge
        self.strength: dict[str, float] = {}  # each such note's edge weight inside its community
        self.between: dict[tuple[int, int], float] = {}  # edge weight between (and inside) communities
        self.previous: dict[str, dict[int, frozenset[str]]] = {k: dict(v) for k, v in data.previous.items()}
        self.next_ids = dict(data.next_ids)
        self._changed: set[str] = set()  # notes added, removed or with new content since the last run
        self._touched: set[str] = set()  # notes whose edges changed (or that went) since the last run
        self._revectored: set[str] = set()  # notes with a new vector since the last run: placed again on the map
        self._apply_seconds = 0.0

    def _load_vectors(self, raw: tuple[Sequence[str], np.ndarray] | None) -> None:
        """Keep the raw vectors, centre them on their mean (fixed until the next full run) and
        find each note's nearest notes."""
        self.raw: dict[str, np.ndarray] = {}
        self.centre: np.ndarray | None = None
        self.nearest: NearestNotes | None = None
        self.alpha = 1.0  # without vectors, links carry the whole weight
        if raw is None:
            return
        paths, matrix = raw
        matrix = np.asarray(matrix, dtype=np.float32)
        if len(paths) >= 3:
            self.centre = matrix.mean(axis=0)
        centred = self._centred(matrix)
        keep = [i for i, p in enumerate(paths) if p in self.notes]
        self.raw = {paths[i]: matrix[i] for i in keep}
        self.alpha = min(self.weights.alpha, 1.0)
        listed = self.weights.neighbours if self.alpha < 1 else 0
        self.nearest = NearestNotes([paths[i] for i in keep], centred[keep], listed, self.weights.floor)

    def _centred(self, matrix: np.ndarray) -> np.ndarray:
        """Unit rows centred on the fixed centre, as `embed.note_vectors` centres them."""
        if self.centre is None:
            return matrix
        return _unit(matrix - self.centre).astype(np.float32)

    def _full_run(self, data: SceneInput, steps: dict[str, float]) -> StateRun:
        """Leiden from scratch and every scene labelled and measured, as in `build_scenes`."""
        config = self.config or Config()
        tick = time.perf_counter()
        found = find_communities(data.notes, self.edges, resolution=config.scene_resolution,
                                 region_resolution=config.region_resolution, min_size=config.scene_min_size,
                                 seed=config.seed)
        steps["communities"] = time.perf_counter() - tick
        found_run = finish_scenes(data, found, self.edges, self.hubs, config, steps, layout=self.layout,
                                  labeller=self.labeller)
        return self._remember(found_run, found, data.previous, full=True)

    def _rerun_fully(self) -> StateRun:
        """The full stage on the state's own data: a new centre, new lists, Leiden from scratch."""
        paths = list(self.raw)
        raw = (paths, np.stack([self.raw[p] for p in paths])) if self.nearest is not None and paths else None
        data = self._input()
        tick = time.perf_counter()
        self._load(replace(data, vectors=None), raw, self.config or Config())
        steps = {"graph": time.perf_counter() - tick}
        return self._full_run(replace(data, vectors=self.vectors()), steps)

    def _input(self) -> SceneInput:
        """The state as a `SceneInput` (sharing its dictionaries; nothing is copied)."""
        return SceneInput(notes=sorted(self.notes), titles=self.titles, words=self.words, texts=self.texts,
                          links=[(s, t, w) for s, rows in self.rows.items() for t, w in rows],
                          vectors=self.vectors(), previous=self.previous, next_ids=self.next_ids)

    def _remember(self, found_run: SceneRun, found: Communities,
                  previous: Mapping[str, Mapping[int, frozenset[str]]], *, full: bool) -> StateRun:
        """Keep the run's scenes, ids, membership and sums for the next run; forget the changes."""
        before = previous.get("scene", {})
        ended = set(before) - {s.id for s in found_run.scenes}  # merged into another or dissolved
        changed = tuple(sorted({s.id for s in found_run.scenes if before.get(s.id) != frozenset(s.notes)} | ended))
        regions: dict[int, set[str]] = {}
        for scene in found_run.scenes:
            regions.setdefault(scene.region, set()).update(scene.notes)
        self.previous = {"scene": {s.id: frozenset(s.notes) for s in found_run.scenes},
                         "region": {r: frozenset(notes) for r, notes in regions.items()}}
        self.next_ids = dict(found_run.next_ids)
        self.membership, self.strength, self.between = found.membership, found.strength, found.between
        self.last = found_run
        self._changed, self._touched, self._revectored, self._apply_seconds = set(), set(), set(), 0.0
        return StateRun(found_run, full, changed)

    # ------------------------------------------------------------------ taking in a change

    def _forget_note(self, path: str) -> None:
        """Drop a removed note's data and links (its edges go in `_reweigh`)."""
        self.notes.discard(path)
        for data in (self.titles, self.words, self.texts, self.raw):
            data.pop(path, None)  # type: ignore[attr-defined]
        self._set_rows(path, ())
        self.labeller.forget([path])
        self._changed.add(path)

    def _set_note(self, path: str, content: NoteContent, moved_vectors: dict[str, np.ndarray | None]) -> set[str]:
        """Store a new or changed note; returns it when its links must be counted again (a
        new note, or other words, which the hub rule reads)."""
        new = path not in self.notes
        if new or self.titles.get(path) != content.title or self.texts.get(path) != content.text:
            self._changed.add(path)
        recount = {path} if new or self.words.get(path) != content.words else set()
        self.notes.add(path)
        self.titles[path], self.words[path], self.texts[path] = content.title, content.words, content.text
        if self.nearest is not None:
            old = self.raw.get(path)
            vector = None if content.vector is None else np.asarray(content.vector, dtype=np.float32)
            if vector is None and old is not None:
                del self.raw[path]
                moved_vectors[path] = None
            elif vector is not None and (old is None or not np.array_equal(old, vector)):
                self.raw[path] = vector
                moved_vectors[path] = self._centred(vector.reshape(1, -1))[0]
                self._revectored.add(path)
        return recount

    def _set_rows(self, source: str, rows: Sequence[tuple[str | None, str]]) -> None:
        """Replace a source's link rows, keeping the index of who links to what in step."""
        for target, _text in self.rows.pop(source, ()):
            if target is not None and target in self.linked_from:
                self.linked_from[target].discard(source)
        if rows:
            self.rows[source] = list(rows)
            for target, _text in rows:
                if target is not None:
                    self.linked_from.setdefault(target, set()).add(source)

    def _recount_links(self, sources: Iterable[str]) -> set[Pair]:
        """Count the note-to-note links of `sources` again; returns the pairs whose count changed."""
        changed: set[Pair] = set()
        for source in sources:
            old = self.contributed.pop(source, Counter())
            new: Counter[Pair] = Counter()
            if source in self.notes:
                for target, _text in self.rows.get(source, ()):
                    if target is not None and target != source and target in self.notes:
                        new[_pair(source, target)] += 1
            if new:
                self.contributed[source] = new
            for pair in old.keys() | new.keys():
                if old[pair] != new[pair]:
                    total = self.link_count.get(pair, 0) + new[pair] - old[pair]
                    if total > 0:
                        self.link_count[pair] = total
                    else:
                        self.link_count.pop(pair, None)
                    changed.add(pair)
        return changed

    def _rehub(self, notes: Iterable[str]) -> set[str]:
        """Apply the hub rule to `notes` again; returns those that became or stopped being hubs."""
        flipped = set()
        for note in notes:
            if (note in self.notes and self._is_hub(note)) != (note in self.hubs):
                self.hubs ^= {note}
                flipped.add(note)
        return flipped

    def _is_hub(self, note: str) -> bool:
        """`hybrid.find_hubs`'s rule for one note: many distinct notes linked, few own words each."""
        targets = {t for t, _w in self.rows.get(note, ()) if t is not None and t != note and t in self.notes}
        return len(targets) >= self.weights.hub_min_links and \
            self.words.get(note, 0) < self.weights.hub_words_per_link * len(targets)

    def _reweigh(self, pairs: Iterable[Pair]) -> None:
        """Compute the weight of `pairs` again; notes at either end of an edge that appeared,
        went or changed weight are touched."""
        near = self.nearest.pairs if self.nearest is not None and self.alpha < 1 else {}
        for pair in pairs:
            a, b = pair
            weight = None
            if a in self.notes and b in self.notes and (pair in self.link_count or pair in near):
                count = self.link_count.get(pair, 0)
                value = edge_weight(link_strength(count) if count else 0.0, near.get(pair),
                                    a in self.hubs or b in self.hubs, self.weights, self.alpha)
                weight = value if value > 0 else None
            old = self.edges.get(pair)
            if old is None and weight is None or old is not None and weight is not None and abs(old - weight) <= SAME:
                continue
            if weight is None:
                del self.edges[pair]
                self.adjacent[a].pop(b, None)
                self.adjacent[b].pop(a, None)
            else:
                self.edges[pair] = weight
                self.adjacent.setdefault(a, {})[b] = weight
                self.adjacent.setdefault(b, {})[a] = weight
            self._touched |= {a, b}

    # ------------------------------------------------------------------ Leiden from the last run

    def _move_notes(self) -> tuple[dict[str, int], tuple[dict[str, float], dict[tuple[int, int], float]]]:
        """Leiden from the last membership with only the touched scenes' notes and the changed
        notes free to move. Each other community is collapsed into one fixed node (a self
        loop keeps its strength, so the quality of every move is what it is in the full
        graph); the result is expanded back to notes. Returns note → community and the
        strengths and weights between communities of that membership."""
        config = self.config or Config()
        moving = self._touched | self._changed
        freed = {self.membership[p] for p in moving if p in self.membership}
        connected = [p for p in self.notes if self.adjacent.get(p)]
        free = {p for p in connected if p in moving or self.membership.get(p, -1) in freed or p not in self.membership}
        fixed: dict[int, list[str]] = {}
        for p in connected:
            if p not in free:
                fixed.setdefault(self.membership[p], []).append(p)
        relabel = {c: c for c in fixed}
        membership = {p: c for c, members in fixed.items() for p in members}
        if free:
            node = {c: f"\0{c}" for c in fixed}  # no note path starts with NUL
            edges, initial = self._collapsed(free, fixed, node)
            moved = leiden(edges, resolution=config.scene_resolution, seed=config.seed, initial=initial,
                           fixed=set(node.values()))
            spare = max(moved.values(), default=-1) + 1
            for c, members in fixed.items():
                if node[c] not in moved:  # a community with no weight left: it stays what it was
                    moved[node[c]], spare = spare, spare + 1
                relabel[c] = moved[node[c]]
                membership.update(dict.fromkeys(members, relabel[c]))
            membership.update({p: moved[p] for p in free})
        return membership, self._sums(membership, free, relabel)

    def _collapsed(self, free: set[str], fixed: Mapping[int, Sequence[str]],
                   node: Mapping[int, str]) -> tuple[dict[Pair, float], dict[str, int]]:
        """The graph Leiden sees: free notes with their edges, and one node per fixed
        community with the summed weight of its edges to each free note and a self loop of
        (its notes' strength − that weight) / 2, so its strength and the total weight stay
        those of the full graph. A fixed community's edges are those of the last run (an edge
        that changed made both its notes free), so its strength comes from the last run's
        sums. Also the starting membership."""
        community_of = {p: c for c, members in fixed.items() for p in members}
        edges: dict[Pair, float] = {}
        toward_free: Counter[int] = Counter()
        for a in free:
            for b, weight in self.adjacent[a].items():
                if b in free:
                    if a < b:
                        edges[(a, b)] = weight
                else:
                    c = community_of[b]
                    edges[(a, node[c])] = edges.get((a, node[c]), 0.0) + weight
                    toward_free[c] += weight
        strength: Counter[int] = Counter()
        for (x, y), weight in self.between.items():
            strength[x] += weight
            strength[y] += weight  # inside a community (x = y): both ends of the edge count
        for c in fixed:
            loop = (strength[c] - toward_free[c]) / 2
            if loop > 0:
                edges[(node[c], node[c])] = loop
        initial = {p: self.membership[p] for p in free if p in self.membership}
        initial |= {node[c]: c for c in fixed}
        return edges, initial

    def _sums(self, membership: Mapping[str, int], free: set[str],
              relabel: Mapping[int, int]) -> tuple[dict[str, float], dict[tuple[int, int], float]]:
        """Each note's weight inside its community and the weights between communities after
        Leiden moved the free notes: the last run's sums for fixed notes and between fixed
        communities (renumbered by `relabel`), the free notes' edges added."""
        strength = {p: self.strength[p] for p in membership if p not in free}
        between: dict[tuple[int, int], float] = {}
        for (x, y), weight in self.between.items():
            if x in relabel and y in relabel:
                _add(between, relabel[x], relabel[y], weight)
        for a in free:
            inside = 0.0
            for b, weight in self.adjacent[a].items():
                same = membership[a] == membership[b]
                if b not in free:
                    _add(between, membership[a], membership[b], weight)
                    if same:
                        strength[b] += weight
                elif a < b:
                    _add(between, membership[a], membership[b], weight)
                inside += weight if same else 0.0
            strength[a] = inside
        return strength, between

    def _place(self, last: SceneRun) -> tuple[dict[str, tuple[float, float]], str]:
        """The map without laying it out again: every note keeps its last position; a new
        note, or one with a new vector, goes to the mean position of its nearest notes (its
        linked notes without vectors). A full run lays the map out afresh."""
        mapped = self.nearest.paths if self.nearest is not None else sorted(self.notes)
        positions = {p: last.positions[p] for p in mapped if p in last.positions and p not in self._revectored}
        for p in mapped:
            if p not in positions:
                near = [q for q in self._neighbours(p) if q in positions]
                xs, ys = zip(*(positions[q] for q in near)) if near else ((0.0,), (0.0,))
                positions[p] = (round(sum(xs) / len(xs), 5), round(sum(ys) / len(ys), 5))
        return positions, last.layout

    def _neighbours(self, path: str) -> list[str]:
        """A note's nearest notes in meaning, or the notes it shares an edge with."""
        if self.nearest is not None and path in self.nearest.row and self.nearest.nearest.shape[1]:
            return [self.nearest.paths[i] for i in self.nearest.nearest[self.nearest.row[path]].tolist()]
        return list(self.adjacent.get(path, {}))


def _add(between: dict[tuple[int, int], float], x: int, y: int, weight: float) -> None:
    pair = (x, y) if x <= y else (y, x)
    between[pair] = between.get(pair, 0.0) + weight


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
