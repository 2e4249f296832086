"""Readable labels for scenes: a few distinctive terms and one extractive sentence.

Terms come from class-based TF-IDF (BERTopic's c-TF-IDF): every scene is one class, and all
scenes are labelled together so the IDF part sees the whole vault. Russian word forms are
merged by their pymorphy3 normal form, English ones by their Snowball stem, so "модели" and
"моделей", "models" and "model" count as one term. The summary is the sentence of the scene's
most central notes that carries the most of those terms.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vaultmind.markup import DATAVIEW_FIELD, without_comments
from vaultmind.words import CYRILLIC, LATIN, lemma
from vaultmind.words import normalise as normalise  # still importable from here

TITLE_WEIGHT = 3  # a note's title names its concept, so its words count three times
SOLO_PENALTY = 0.5  # a term from one note of a bigger scene describes that note, not the scene
SUMMARY_NOTES = 3
CENTRAL_BONUS = 1.15  # ties between similar sentences go to the scene's most central note
MIN_SENTENCE = 25
MAX_SUMMARY = 160

# Vault noise that is not a concept: web/file residue, chat-export markers, the medium itself
# ("note"), Russian filler the stop-words list misses. Both a form and its lemma are checked.
EXTRA_STOP = frozenset(
    "http https www com org html png jpg jpeg gif svg webp pdf md note notes todo nexus uid заметка"
    " это также который которые очень просто может можно нужно еще свой самый весь какой такой этот"
    " тот быть стать мочь".split()
)
# Concept words the general stop lists drop but a vault is often about ("жизнь", "время" in a
# stoic vault; "value", "test" in an engineering one).
KEEP = frozenset("жизнь время человек люди имя мир value work group test point fact".split())
_RU_PARTICLES = frozenset({"то", "либо", "нибудь", "ка", "таки"})  # "кто-то" counts as "кто"
# Pronouns, numerals, prepositions, conjunctions, particles, interjections, "нужно"-words
_FUNCTION_POS = frozenset({"NPRO", "NUMR", "PREP", "CONJ", "PRCL", "INTJ", "PRED"})

_CHAT_HEADER = re.compile(r"^[ \t>]*\[!nexus_\w+\].*$", re.M)  # `>[!nexus_user] **User** - date`
_CALLOUT = re.compile(r"\[![\w-]+\][+-]?")
_URL = re.compile(r"(?:https?|ftp)://[^\s)\]>]+|www\.[^\s)\]>]+", re.I)  # slow: run only on "://"
# Bracketed patterns stop at the next bracket: a note of unclosed `[[` or `<a` must not make
# every attempt scan to its end.
_MD_LINK = re.compile(r"\[([^\[\]]*)\]\([^()\[\]]*\)")
_EMBED = re.compile(r"!\[\[[^\[\]]*\]\]|!\[[^\[\]]*\]\([^()\[\]]*\)")  # an embedded file or image is not prose
_WIKILINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_HTML = re.compile(r"</?[a-zA-Z][^<>]*>")
_NOT_PROSE = re.compile(  # math, footnote references, inline footnotes, block ids (`^scene-def`)
    r"\$\$.*?\$\$|\$(?=\S)[^$\n]*?(?<=\S)\$|\[\^[^\[\]\n]*\]:?|\^\[[^\[\]]*\]|\^(?<=\s\^)[\w-]+$", re.S | re.M
)
_TAG = re.compile(r"#(?<![\w&\\]#)[^\W\d][\w/-]*")  # a literal first char lets re skip ahead
_APOSTROPHE = re.compile(r"['’](?<=[^\W\d_]['’])(?=[^\W\d_])")
_CHUNK = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+(?:\[.\]\s+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(\[]?[A-ZА-ЯЁ0-9])")
_EMPHASIS = re.compile(r"[*`]+|~~+|==+|_+(?<![^\W_]_)|_+(?![^\W_])")
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


@dataclass(frozen=True, slots=True)
class SceneText:
    """One note of a scene, as the labeller sees it."""

    path: str  # vault-relative note path
    title: str
    text: str  # the note's prose; leftover Markdown is stripped here
    centrality: float  # higher = more central in its scene


@dataclass(frozen=True, slots=True)
class SceneLabel:
    """What a scene is called: its most distinctive terms and one sentence from its notes."""

    terms: tuple[str, ...]  # most distinctive first
    summary: str  # at most 160 characters


@functools.cache
def _stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    words = [*get_stop_words("russian"), *get_stop_words("english"), *EXTRA_STOP]
    return frozenset(w.lower().replace("ё", "е").replace("'", "") for w in words) - KEEP


@functools.lru_cache(maxsize=500_000)
def _terms_of(chunk: str) -> tuple[tuple[str, str], ...]:
    """(key, display candidate) for each term in a lowercased chunk; () for stop words."""
    stop = _stop_words()
    if CYRILLIC.fullmatch(chunk):
        head, _, tail = chunk.rpartition("-")
        word = head if head and tail in _RU_PARTICLES else chunk
        normal, pos = lemma(word)
        key = normal.replace("ё", "е")
        ok = len(word) >= 3 and word not in stop and key not in stop and pos not in _FUNCTION_POS
        return ((key, normal),) if ok else ()
    if LATIN.fullmatch(chunk):
        key = normalise(chunk)
        return ((key, chunk),) if len(chunk) >= 3 and chunk not in stop and key not in stop else ()
    if "-" in chunk:  # "gpt-4", "lora-ранги": keep the parts that are words
        return tuple(t for part in chunk.split("-") for t in _terms_of(part))
    return ()


def _strip_links(text: str, *, display_only: bool) -> str:
    """Text without comments, callout markers, URLs, embeds and HTML; links become their words."""
    text = without_comments(text, " ")
    for pattern in (_CHAT_HEADER, _CALLOUT, _EMBED, _HTML, _NOT_PROSE, DATAVIEW_FIELD):
        text = pattern.sub(" ", text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    shown = _wikilink_display if display_only else (lambda m: m.group(1).replace("|", " "))
    return _WIKILINK.sub(shown, _MD_LINK.sub(r"\1", text))


def _wikilink_display(match: re.Match[str]) -> str:
    link, pipe, display = match.group(1).partition("|")
    parts = (p for p in link.split("#") if p and not p.startswith("^"))
    return display if pipe else " › ".join(parts)  # Obsidian shows "a > h"


def _chunks(text: str) -> list[str]:
    text = _strip_links(text, display_only=False).lower().replace("ё", "е")
    return _CHUNK.findall(_APOSTROPHE.sub("", text).replace("_", " "))


def tokens(text: str) -> list[str]:
    """The normalised term keys of a text, in order, without stop words and Markdown."""
    return [key for chunk in _chunks(text) for key, _ in _terms_of(chunk)]


def _clean_display(text: str) -> str:
    """Markdown-free text as a reader sees it: `[[a|b]]` → "b", no `**`, `#`, `>`, tags."""
    text = _EMPHASIS.sub("", _TAG.sub(" ", _strip_links(text, display_only=True)))
    text = re.sub(r"\\([^\w\s])", r"\1", text)  # `\#keeper` is an escaped, literal "#keeper"
    for mark in ("[[", "]]", "#", ">"):
        text = text.replace(mark, " ")
    return re.sub(r" (?=[,.;:!?…)»])", "", " ".join(text.split()))  # a removed tag leaves "word ,"


def _cut(text: str, limit: int = MAX_SUMMARY) -> str:
    head = text[: limit - 1].rsplit(" ", 1)[0] if len(text) > limit else ""
    return head.rstrip(" ,;:—–-") + "…" if head else text[:limit]


def _sentences(text: str) -> list[str]:
    """Raw sentences: paragraph text split at sentence ends; each list item is one sentence."""
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.extend(_SENTENCE_END.split(" ".join(para)))
            para.clear()

    fenced = False
    for raw in _CHAT_HEADER.sub("", without_comments(text)).splitlines():
        line = re.sub(r"^(?:\s*>)+", "", raw).strip()
        if line.startswith(("```", "~~~")) or (line.startswith("$$") and not line.endswith("$$", 2)):
            fenced = not fenced
            flush()
        elif fenced:
            continue
        elif not line or line.startswith(("#", "|", "[!", "[^", "$$")) or set(line) <= set("-*_=| ") or DATAVIEW_FIELD.match(line):
            flush()  # blank lines, headings, tables, footnotes, math, rules and fields end a paragraph
        elif item := _LIST_ITEM.match(line):
            flush()
            out.append(line[item.end() :])
        else:
            para.append(line)
    flush()
    return out


def _by_centrality(notes: Sequence[SceneText]) -> list[SceneText]:
    # a NaN centrality would make the order depend on the input order: it counts as lowest
    return sorted(notes, key=lambda n: (-n.centrality if n.centrality == n.centrality else math.inf, n.path))


def _summary(notes: Sequence[SceneText], weights: Mapping[str, float]) -> str:
    central = _by_centrality(notes)[:SUMMARY_NOTES]
    best: tuple[float, int, int] | None = None
    best_text = ""
    for rank, note in enumerate(central):
        for pos, raw in enumerate(_sentences(note.text)):
            shown = _clean_display(raw)
            bare = _URL.sub(" ", _WIKILINK.sub(" ", _MD_LINK.sub(" ", raw)))
            if len(shown) < MIN_SENTENCE or len(_WORDS.findall(bare)) < 3 or shown.rstrip().endswith(":"):
                continue  # too short, only a list of links, or a lead-in to what follows
            keys = tokens(shown)
            # distinct terms in text order: a set's order (and so the float sum) varies per process
            score = sum(weights.get(k, 0.0) for k in dict.fromkeys(keys)) / math.sqrt(max(len(keys), 1))
            candidate = (score * (CENTRAL_BONUS if rank == 0 else 1.0), -rank, -pos)
            if best is None or candidate > best:
                best, best_text = candidate, shown
    return _cut(best_text or _clean_display(central[0].title))


@dataclass(frozen=True, slots=True)
class NoteTerms:
    """One note's term counts (title words × TITLE_WEIGHT) as ids of a `Labeller`'s
    vocabulary: distinct term keys and their counts, distinct (key, shown form) pairs and
    theirs. A scene's c-TF-IDF counts are the sum of its notes' counts."""

    keys: np.ndarray
    counts: np.ndarray
    forms: np.ndarray
    form_counts: np.ndarray
    total: int


class Labeller:
    """Labels groups of notes with c-TF-IDF terms and a summary sentence, keeping each note's
    term counts between calls: a note is counted again only when its title or text changed,
    so labelling a few changed scenes in a big vault costs little more than counting their
    changed notes."""

    def __init__(self) -> None:
        self._key_id: dict[str, int] = {}
        self._keys: list[str] = []
        self._form_id: dict[tuple[int, str], int] = {}
        self._forms: list[str] = []
        self._forms_of_key: list[list[int]] = []
        self._notes: dict[str, tuple[str, str, NoteTerms]] = {}

    def terms_of(self, note: SceneText) -> NoteTerms:
        """The note's term counts, counted again only when its title or text changed."""
        cached = self._notes.get(note.path)
        if cached is not None and cached[0] == note.title and cached[1] == note.text:
            return cached[2]
        counted = self._count(note.title, note.text)
        self._notes[note.path] = (note.title, note.text, counted)
        return counted

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the counts of notes that are gone."""
        for path in paths:
            self._notes.pop(path, None)

    def label(self, groups: Mapping[int, Sequence[SceneText]], *, terms: int = 4,
              only: Iterable[int] | None = None) -> dict[int, SceneLabel]:
        """Class-based TF-IDF over each group's own text (every group is one class; all groups
        given together so IDF sees the whole vault). With `only`, label just those groups
        (still against all of them)."""
        if terms < 1:
            raise ValueError(f"terms must be at least 1, got {terms}")
        counted = {gid: [self.terms_of(note) for note in notes] for gid, notes in groups.items()}
        every = [t for notes in counted.values() for t in notes]
        vault = self._sum([t.keys for t in every], [t.counts for t in every], len(self._keys))
        shown = self._sum([t.forms for t in every], [t.form_counts for t in every], len(self._forms))
        filled = sum(1 for notes in counted.values() if any(t.total for t in notes))
        avg = int(vault.sum()) / max(filled, 1)
        wanted = groups if only is None else [gid for gid in only if gid in groups]
        return {gid: self._label(groups[gid], counted[gid], vault, shown, avg, terms) for gid in wanted}

    def _count(self, title: str, text: str) -> NoteTerms:
        keys: Counter[int] = Counter()
        forms: Counter[int] = Counter()
        for weight, part in ((TITLE_WEIGHT, title), (1, text)):
            # counting distinct chunks first keeps the per-token work in C
            for chunk, n in Counter(_chunks(part)).items():
                for key, form in _terms_of(chunk):
                    key_id = self._key(key)
                    keys[key_id] += weight * n
                    forms[self._form(key_id, form)] += weight * n
        return NoteTerms(np.fromiter(keys.keys(), np.int64, len(keys)), np.fromiter(keys.values(), np.int64, len(keys)),
                         np.fromiter(forms.keys(), np.int64, len(forms)),
                         np.fromiter(forms.values(), np.int64, len(forms)), sum(keys.values()))

    def _key(self, key: str) -> int:
        key_id = self._key_id.get(key)
        if key_id is None:
            key_id = self._key_id[key] = len(self._keys)
            self._keys.append(key)
            self._forms_of_key.append([])
        return key_id

    def _form(self, key_id: int, form: str) -> int:
        form_id = self._form_id.get((key_id, form))
        if form_id is None:
            form_id = self._form_id[(key_id, form)] = len(self._forms)
            self._forms.append(form)
            self._forms_of_key[key_id].append(form_id)
        return form_id

    @staticmethod
    def _sum(ids: list[np.ndarray], counts: list[np.ndarray], size: int) -> np.ndarray:
        """Summed counts per id (an int array of `size`)."""
        if not ids:
            return np.zeros(size, dtype=np.int64)
        summed = np.bincount(np.concatenate(ids), weights=np.concatenate(counts), minlength=size)
        return summed.astype(np.int64)  # sums of small ints: exact in float64

    def _display(self, key_id: int, shown: np.ndarray) -> str:
        """A term's commonest form in the labelled notes (ties: the first alphabetically)."""
        options = [f for f in self._forms_of_key[key_id] if shown[f] > 0]
        return self._forms[min(options, key=lambda f: (-int(shown[f]), self._forms[f]))]

    def _label(self, notes: Sequence[SceneText], counted: Sequence[NoteTerms], vault: np.ndarray, shown: np.ndarray,
               avg: float, terms: int) -> SceneLabel:
        if not any(t.total for t in counted):  # nothing to count: the central note's title names the scene
            title = _by_centrality(notes)[0].title if notes else ""
            return SceneLabel(tuple(_WORDS.findall(title)[:terms]), _cut(_clean_display(title)))
        group = self._sum([t.keys for t in counted], [t.counts for t in counted], len(self._keys))
        seen_in = np.bincount(np.concatenate([t.keys for t in counted]), minlength=len(self._keys))
        present = np.flatnonzero(group)
        total, solo = int(group.sum()), len(notes) >= 3
        scored = []
        for k, n, seen, in_vault in zip(present.tolist(), group[present].tolist(), seen_in[present].tolist(),
                                        vault[present].tolist()):
            penalty = SOLO_PENALTY if solo and seen == 1 else 1.0
            scored.append((n / total * math.log(1 + avg / in_vault) * penalty, k))
        display: dict[int, str] = {}

        def order(item: tuple[float, int]) -> tuple[float, str, str]:
            if item[1] not in display:
                display[item[1]] = self._display(item[1], shown)
            return -item[0], display[item[1]], self._keys[item[1]]

        # the best `terms * 2` by (score, display form, key): only ties at the cut need a form
        cut = heapq.nlargest(terms * 2, (score for score, _k in scored))[-1]
        ranked = sorted((item for item in scored if item[0] >= cut), key=order)[: terms * 2]
        chosen: dict[int, float] = {}
        for score, key in ranked:  # keys are distinct; a display form is shown once
            if len(chosen) < terms and all(display[key] != display[k] for k in chosen):
                chosen[key] = score
        summary = _summary(notes, {self._keys[k]: score for k, score in chosen.items()})
        return SceneLabel(tuple(display[k] for k in chosen), summary)


def label_scenes(groups: Mapping[int, Sequence[SceneText]], *, terms: int = 4) -> dict[int, SceneLabel]:
    """Class-based TF-IDF over each group's own text (every group is one class; all groups
    given together so IDF sees the whole vault)."""
    return Labeller().label(groups, terms=terms)
