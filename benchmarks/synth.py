"""Deterministic generator of synthetic Obsidian vaults for benchmarks.

    python -m benchmarks.synth OUT --notes 10000 [--seed 0] [--force]

The same (n_notes, seed, GENERATOR_VERSION) always gives byte-identical files. The vault has:

* mixed Russian/English notes on 20 themes (vocabularies in `benchmarks/vocab.py`), so notes
  of one theme share words; ~30 folders with Cyrillic and Latin names, some nested;
* log-normal note sizes (median ~1.5 KB, capped at 50 KB); headings, lists, tasks, fenced
  code, tables, callouts, AI-chat exports with `>[!nexus_user]`/`>[!nexus_agent]` callouts
  and `<!-- UID: ... -->` lines; front matter (tags, aliases, a property link) in ~half;
  inline and nested #tags; daily notes;
* [[wikilinks]] with Zipf-distributed target popularity, mostly within the note's theme;
  ~5% of links point at notes that do not exist (also Zipf, so some are referenced many
  times); [[note#heading]], [[note|display]], [[folder/note]], [[note.md]], lower-cased
  names, ![[embeds]] of notes and attachments, a few Markdown links and self-heading links;
* same-named notes in different folders, a few attachments and canvases.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import math
import random
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.vocab import (
    ATTACHMENT_FOLDER,
    CANVAS_FOLDER,
    CHAT_FOLDER,
    COMMON_EN,
    COMMON_RU,
    DAILY_FOLDER,
    GENERIC_FOLDERS,
    HUB_NAMES,
    THEMES,
    Theme,
)

GENERATOR_VERSION = 1

# Planned body sizes; front matter, links and tags make the written files ~20% larger,
# which gives a median note of ~1.5 KB and a largest note of ~50 KB.
MEDIAN_NOTE_BYTES = {"note": 1250, "daily": 500, "chat": 3500}
SIZE_SIGMA = 0.95
MIN_NOTE_BYTES = 100
MAX_NOTE_BYTES = 42_000
BYTES_PER_LINK = 200
LINK_BYTES_ESTIMATE = 32
MISSING_LINK_SHARE = 0.05
IN_THEME_SHARE = 0.85
NOTE_ZIPF_EXPONENT = 1.0
MISSING_ZIPF_EXPONENT = 1.1
BASE_DATE = dt.date(2022, 1, 1)

T = TypeVar("T")


@dataclass(slots=True)
class NotePlan:
    """Everything decided about a note before its text is written."""

    name: str
    folder: str
    theme: Theme
    lang: str  # "en", "ru" or "mixed"
    kind: str  # "note", "daily" or "chat"
    size: int
    created: dt.date
    headings: list[str] = field(default_factory=list)
    duplicate: bool = False

    @property
    def stem_path(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name

    @property
    def path(self) -> str:
        return f"{self.stem_path}.md"


class Zipf:
    """Picks items with probability proportional to 1 / rank**exponent (first item = rank 1)."""

    def __init__(self, items: Sequence[T], exponent: float, rng: random.Random) -> None:
        if not items:
            raise ValueError("Zipf needs at least one item")
        self._items = list(items)
        self._rng = rng
        self._cum: list[float] = []
        total = 0.0
        for rank in range(1, len(self._items) + 1):
            total += rank**-exponent
            self._cum.append(total)

    def pick(self) -> Any:
        x = self._rng.random() * self._cum[-1]
        return self._items[min(bisect.bisect_right(self._cum, x), len(self._items) - 1)]


class Body:
    """Lines of a note being written, with the lines where links and tags may go."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.linkable: list[int] = []
        self.nbytes = 0

    def add(self, line: str, linkable: bool = False) -> None:
        if linkable:
            self.linkable.append(len(self.lines))
        self.lines.append(line)
        self.nbytes += len(line.encode("utf-8")) + 1

    def extend(self, lines: Sequence[str], linkable: bool = False) -> None:
        for line in lines:
            self.add(line, linkable)

    def insert_inline(self, text: str, rng: random.Random) -> None:
        """Put `text` between two words of a random linkable line (after its first 3 words,
        so list markers, task boxes and callout prefixes stay intact)."""
        if not self.linkable:
            self.add(text, linkable=True)
            return
        i = rng.choice(self.linkable)
        words = self.lines[i].split(" ")
        words.insert(rng.choice(_free_positions(words)), text)
        self.lines[i] = " ".join(words)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def _free_positions(words: Sequence[str]) -> list[int]:
    """Word positions (after the first 3 words) that are outside any [...] construct, so
    an inserted link never lands inside another link, a task box or a Markdown link."""
    positions = []
    depth = 0
    for i, word in enumerate(words):
        if depth == 0 and i >= min(3, len(words)):
            positions.append(i)
        depth += word.count("[") - word.count("]")
    if depth == 0:
        positions.append(len(words))
    return positions or [len(words)]


class Words:
    """Seeded sentence, title and heading maker over the theme vocabularies."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def lang(self, lang: str) -> str:
        if lang == "mixed":
            return "ru" if self.rng.random() < 0.5 else "en"
        return lang

    def vocab(self, theme: Theme, lang: str) -> tuple[str, ...]:
        return theme.ru if lang == "ru" else theme.en

    def word(self, theme: Theme, lang: str) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(self.vocab(theme, lang))
        if r < 0.48:
            return self.rng.choice(self.vocab(self.rng.choice(THEMES), lang))
        if lang == "ru" and r < 0.52:
            return self.rng.choice(theme.en)  # code-switching, as in real Russian notes
        return self.rng.choice(COMMON_RU if lang == "ru" else COMMON_EN)

    def sentence(self, theme: Theme, lang: str) -> str:
        words = [self._styled(self.word(theme, lang)) for _ in range(self.rng.randint(6, 15))]
        words[0] = words[0][:1].upper() + words[0][1:]
        return " ".join(words) + self.rng.choice(".....?!")

    def _styled(self, word: str) -> str:
        r = self.rng.random()
        if r < 0.02:
            return f"**{word}**"
        if r < 0.035:
            return f"*{word}*"
        if r < 0.045:
            return f"`{word}`"
        return word

    def sentences(self, theme: Theme, lang: str, lo: int, hi: int) -> str:
        lang = self.lang(lang)
        return " ".join(self.sentence(theme, lang) for _ in range(self.rng.randint(lo, hi)))

    def phrase(self, theme: Theme, lang: str, lo: int = 1, hi: int = 3) -> str:
        words = self.rng.sample(self.vocab(theme, self.lang(lang)), self.rng.randint(lo, hi))
        text = " ".join(words)
        return text[:1].upper() + text[1:]

    def title(self, theme: Theme, lang: str) -> str:
        lang = self.lang(lang)
        words = list(self.rng.sample(self.vocab(theme, lang), 2 if self.rng.random() < 0.55 else 3))
        if self.rng.random() < 0.2:
            common = COMMON_RU if lang == "ru" else COMMON_EN
            words.insert(1, self.rng.choice(common))
        title = " ".join(words)
        title = title[:1].upper() + title[1:]
        r = self.rng.random()
        if r < 0.06:
            title += f" {self.rng.randint(2, 30)}"
        elif r < 0.08:
            title += " (черновик)" if lang == "ru" else " (draft)"
        elif r < 0.09:
            title += " - v2"
        return title

    def tag(self, theme: Theme) -> str:
        base = self.rng.choice(theme.tags)
        if self.rng.random() < 0.4:
            sub = self.rng.choice(theme.ru if base[0] > "z" else theme.en)
            return f"{base}/{sub}"
        return base

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------- planning


def _note_size(rng: random.Random, kind: str) -> int:
    size = int(math.exp(rng.gauss(math.log(MEDIAN_NOTE_BYTES[kind]), SIZE_SIGMA)))
    return max(MIN_NOTE_BYTES, min(MAX_NOTE_BYTES, size))


def _pick_kind(rng: random.Random) -> str:
    r = rng.random()
    return "daily" if r < 0.08 else "chat" if r < 0.14 else "note"


def _pick_folder(rng: random.Random, kind: str, theme: Theme) -> str:
    if kind == "daily":
        return DAILY_FOLDER
    r = rng.random()
    if kind == "chat":
        return CHAT_FOLDER if r < 0.6 else rng.choice(theme.folders)
    if r < 0.72:
        return rng.choice(theme.folders)
    if r < 0.97:
        return rng.choice(GENERIC_FOLDERS)
    return ""


def _plan_headings(words: Words, plan: NotePlan) -> list[str]:
    if plan.kind == "chat":
        return []
    if plan.kind == "daily":
        return ["Задачи", "Заметки"] if plan.lang == "ru" else ["Tasks", "Notes"]
    count = min(30, plan.size // 700 + words.rng.randint(0, 1))
    headings: list[str] = []
    for _ in range(count):
        heading = words.phrase(plan.theme, plan.lang)
        while heading in headings:
            heading += " 2"
        headings.append(heading)
    return headings


class _Namer:
    """Hands out note names: unique vault-wide, except deliberate duplicates in other folders."""

    def __init__(self, words: Words) -> None:
        self.words = words
        self.used: set[str] = set()  # lower-cased names
        self.in_folder: set[tuple[str, str]] = set()  # (folder, name) lower-cased
        self.daily = 0
        self.earlier: list[str] = []

    def name(self, kind: str, folder: str, theme: Theme, lang: str) -> str:
        rng = self.words.rng
        if kind == "daily":
            self.daily += 1
            return (BASE_DATE + dt.timedelta(days=self.daily)).isoformat()
        if kind == "note" and self.earlier and rng.random() < 0.03:
            name = rng.choice(HUB_NAMES) if rng.random() < 0.15 else rng.choice(self.earlier)
            if self._free_in(folder, name):
                return self._take(folder, name)
        for attempt in range(8):
            name = self.words.title(theme, lang)
            if attempt == 7:
                name += f" {len(self.used)}"
            if name.lower() not in self.used:
                return self._take(folder, name)
        raise AssertionError("unreachable: the last attempt is always unique")

    def _free_in(self, folder: str, name: str) -> bool:
        return (folder.lower(), name.lower()) not in self.in_folder

    def _take(self, folder: str, name: str) -> str:
        self.used.add(name.lower())
        self.in_folder.add((folder.lower(), name.lower()))
        self.earlier.append(name)
        return name


def plan_notes(rng: random.Random, n_notes: int) -> list[NotePlan]:
    words = Words(rng)
    namer = _Namer(words)
    plans: list[NotePlan] = []
    for _ in range(n_notes):
        kind = _pick_kind(rng)
        theme = rng.choice(THEMES)
        lang = rng.choices(("en", "ru", "mixed"), weights=(35, 40, 25))[0]
        folder = _pick_folder(rng, kind, theme)
        name = namer.name(kind, folder, theme, lang)
        created = BASE_DATE + dt.timedelta(days=rng.randint(0, 1300))
        plan = NotePlan(name, folder, theme, lang, kind, _note_size(rng, kind), created)
        plan.headings = _plan_headings(words, plan)
        plans.append(plan)
    counts = Counter(p.name.lower() for p in plans)
    for plan in plans:
        plan.duplicate = counts[plan.name.lower()] > 1
    return plans


def plan_missing(words: Words, plans: Sequence[NotePlan], count: int) -> list[str]:
    taken = {p.name.lower() for p in plans}
    missing: list[str] = []
    while len(missing) < count:
        name = words.title(words.rng.choice(THEMES), "mixed")
        if name.lower() not in taken:
            taken.add(name.lower())
            missing.append(name)
    return missing


def plan_attachments(rng: random.Random, n_notes: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    stamp = dt.datetime(2023, 1, 1, 9, 0, 0)
    for i in range(max(2, n_notes // 40)):
        stamp += dt.timedelta(seconds=rng.randint(60, 200_000))
        r = rng.random()
        if r < 0.6:
            name, head = f"Pasted image {stamp:%Y%m%d%H%M%S}.png", b"\x89PNG\r\n\x1a\n"
        elif r < 0.85:
            name, head = f"{rng.choice(('схема', 'diagram'))} {i}.png", b"\x89PNG\r\n\x1a\n"
        else:
            name, head = f"scan {i}.pdf", b"%PDF-1.4\n"
        out.append((name, head + rng.randbytes(rng.randint(200, 4000))))
    return out


# --------------------------------------------------------------------------- linking


class Linker:
    """Chooses link targets (Zipf popularity, mostly in-theme) and spells the link."""

    def __init__(
        self,
        rng: random.Random,
        plans: Sequence[NotePlan],
        missing: Sequence[str],
        attachments: Sequence[str],
        stats: Counter[str],
    ) -> None:
        self.rng = rng
        self.words = Words(rng)
        self.stats = stats
        self.missing_refs: Counter[str] = Counter()
        self.attachments = list(attachments)
        self.global_pick = Zipf(self._shuffled(plans), NOTE_ZIPF_EXPONENT, rng)
        self.theme_pick = {
            theme.key: Zipf(
                self._shuffled([p for p in plans if p.theme is theme] or plans),
                NOTE_ZIPF_EXPONENT,
                rng,
            )
            for theme in THEMES
        }
        self.missing_pick = Zipf(list(missing), MISSING_ZIPF_EXPONENT, rng)

    def _shuffled(self, items: Sequence[NotePlan]) -> list[NotePlan]:
        out = list(items)
        self.rng.shuffle(out)
        return out

    def count_for(self, size: int) -> int:
        if self.rng.random() < 0.04:
            return 0
        return max(1, round(size / BYTES_PER_LINK * self.rng.uniform(0.5, 1.5)))

    def link(self, source: NotePlan) -> str:
        self.stats["links"] += 1
        r = self.rng.random()
        if r < MISSING_LINK_SHARE:
            return self._missing_link(source)
        if r < 0.01 + MISSING_LINK_SHARE and source.headings:
            return self._spelled("self", f"[[#{self.rng.choice(source.headings)}]]")
        in_theme = self.rng.random() < IN_THEME_SHARE
        target = (self.theme_pick[source.theme.key] if in_theme else self.global_pick).pick()
        return self._note_link(source, target)

    def property_link(self, source: NotePlan) -> str:
        """A plain [[link]] for a front-matter property (counted as a link)."""
        self.stats["links"] += 1
        self.stats["link_form:property"] += 1
        return f"[[{self.theme_pick[source.theme.key].pick().name}]]"

    def attachment_embed(self) -> str:
        self.stats["links"] += 1
        name = self.rng.choice(self.attachments)
        if name.endswith(".png") and self.rng.random() < 0.3:
            return self._spelled("attachment", f"![[{name}|{self.rng.choice((200, 300, 400))}]]")
        return self._spelled("attachment", f"![[{name}]]")

    def _missing_link(self, source: NotePlan) -> str:
        name = self.missing_pick.pick()
        self.stats["unresolved_links"] += 1
        self.missing_refs[name] += 1
        if self.rng.random() < 0.2:
            return self._spelled(
                "missing", f"[[{name}|{self.words.phrase(source.theme, source.lang)}]]"
            )
        return self._spelled("missing", f"[[{name}]]")

    def _note_link(self, source: NotePlan, target: NotePlan) -> str:
        rng = self.rng
        use_path = target.folder and (rng.random() < (0.5 if target.duplicate else 0.03))
        name = target.stem_path if use_path else target.name
        r = rng.random()
        if r < 0.10:
            return self._spelled(
                "display", f"[[{name}|{self.words.phrase(source.theme, source.lang)}]]"
            )
        if r < 0.18 and target.headings:
            return self._spelled("heading", f"[[{name}#{rng.choice(target.headings)}]]")
        if r < 0.21:
            return self._spelled("embed", f"![[{name}]]")
        if r < 0.24 and name.lower() != name:
            return self._spelled("lowercase", f"[[{name.lower()}]]")
        if r < 0.26:
            return self._spelled("extension", f"[[{name}.md]]")
        if r < 0.28:
            display = self.words.phrase(source.theme, source.lang)
            return self._spelled("markdown", f"[{display}]({target.path.replace(' ', '%20')})")
        return self._spelled("plain" if not use_path else "path", f"[[{name}]]")

    def _spelled(self, form: str, text: str) -> str:
        self.stats[f"link_form:{form}"] += 1
        return text


# --------------------------------------------------------------------------- rendering


class NoteWriter:
    """Writes the text of one planned note."""

    def __init__(self, rng: random.Random, linker: Linker, stats: Counter[str]) -> None:
        self.rng = rng
        self.words = Words(rng)
        self.linker = linker
        self.stats = stats

    def render(self, plan: NotePlan) -> str:
        n_links = self.linker.count_for(plan.size)
        head = self._front_matter(plan)
        if plan.kind == "chat":
            body = self._chat_body(plan, n_links)
        else:
            body = self._body(plan, n_links)
        self._add_links(plan, body, n_links)
        self._add_tags(plan, body)
        return "\n".join(head) + body.text() if head else body.text()

    # -- front matter

    def _front_matter(self, plan: NotePlan) -> list[str]:
        if plan.kind == "chat":
            return self._chat_front_matter(plan)
        if self.rng.random() >= 0.5:
            return []
        self.stats["notes_with_frontmatter"] += 1
        lines = ["---", "tags:"]
        lines += [f"  - {self.words.tag(plan.theme)}" for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.3:
            lines.append("aliases:")
            lines += [
                f"  - {self.words.phrase(plan.theme, plan.lang, 2, 3)}"
                for _ in range(self.rng.randint(1, 2))
            ]
        lines.append(f"created: {plan.created.isoformat()}")
        if self.rng.random() < 0.3:
            lines.append(f"status: {self.rng.choice(('draft', 'done', 'в работе'))}")
        if self.rng.random() < 0.15:
            lines.append(f'related: "{self.linker.property_link(plan)}"')
        return [*lines, "---", ""]

    def _chat_front_matter(self, plan: NotePlan) -> list[str]:
        self.stats["notes_with_frontmatter"] += 1
        stamp = _chat_stamp(plan.created, 0)
        return [
            "---",
            "nexus: nexus-ai-chat-importer",
            f"provider: {self.rng.choice(('chatgpt', 'claude'))}",
            f'aliases: "{plan.name}"',
            f"conversation_id: {self.words.uid()}",
            f"create_time: {stamp}",
            f"update_time: {_chat_stamp(plan.created, 37)}",
            "---",
            "",
            f"# Title: {plan.name}",
            "",
            f"Created: {stamp}",
            "",
            "",
        ]

    # -- bodies

    def _body(self, plan: NotePlan, n_links: int) -> Body:
        body = Body()
        budget = plan.size - n_links * LINK_BYTES_ESTIMATE
        if plan.kind == "note" and self.rng.random() < 0.3:
            body.extend([f"# {plan.name}", ""])
        marks = [budget * (i + 1) // (len(plan.headings) + 1) for i in range(len(plan.headings))]
        done = 0
        while body.nbytes < budget or done < len(plan.headings):
            if done < len(plan.headings) and (body.nbytes >= marks[done] or body.nbytes >= budget):
                self._heading(body, plan.headings[done], first=done == 0)
                done += 1
            if budget - body.nbytes < 300:
                body.extend([self.words.sentences(plan.theme, plan.lang, 1, 1), ""], linkable=True)
            else:
                self._block(plan, body)
        return body

    def _heading(self, body: Body, text: str, first: bool) -> None:
        level = "##" if first or self.rng.random() < 0.6 else "###"
        body.extend([f"{level} {text}", ""])
        self.stats["headings"] += 1

    def _block(self, plan: NotePlan, body: Body) -> None:
        r = self.rng.random()
        code_share = 0.2 if plan.theme.key in ("code", "ml") else 0.03
        if plan.kind == "daily" and r < 0.5:
            self._tasks(plan, body)
        elif r < 0.58:
            body.add(self.words.sentences(plan.theme, plan.lang, 2, 5), linkable=True)
        elif r < 0.80:
            self._list(plan, body)
        elif r < 0.80 + code_share:
            self._code(plan.theme, body)
        elif r < 0.86 + code_share:
            self._callout(plan, body)
        elif r < 0.88 + code_share:
            self._table(plan, body)
        elif r < 0.90 + code_share and plan.kind == "note":
            self._short_dialogue(plan, body)
        else:
            body.add("> " + self.words.sentences(plan.theme, plan.lang, 1, 2), linkable=True)
        body.add("")

    def _list(self, plan: NotePlan, body: Body) -> None:
        ordered = self.rng.random() < 0.25
        for i in range(self.rng.randint(2, 7)):
            marker = f"{i + 1}." if ordered else "-"
            indent = "  " if i and self.rng.random() < 0.15 else ""
            body.add(
                f"{indent}{marker} {self.words.sentences(plan.theme, plan.lang, 1, 1)}",
                linkable=True,
            )

    def _tasks(self, plan: NotePlan, body: Body) -> None:
        for _ in range(self.rng.randint(2, 6)):
            box = "[x]" if self.rng.random() < 0.4 else "[ ]"
            body.add(f"- {box} {self.words.sentences(plan.theme, plan.lang, 1, 1)}", linkable=True)

    def _code(self, theme: Theme, body: Body) -> None:
        self.stats["code_blocks"] += 1
        lang = self.rng.choice(("python", "python", "bash", "sql", "json", ""))
        body.add(f"```{lang}")
        body.extend(_code_lines(self.rng, theme, lang))
        if self.rng.random() < 0.15:
            body.add(f"# see [[{self.words.phrase(theme, 'en')}]] - not a link inside code")
            self.stats["fake_links_in_code"] += 1
        body.add("```")

    def _callout(self, plan: NotePlan, body: Body) -> None:
        kind = self.rng.choice(("note", "tip", "warning", "info", "quote"))
        body.add(f"> [!{kind}] {self.words.phrase(plan.theme, plan.lang)}")
        for _ in range(self.rng.randint(1, 3)):
            body.add("> " + self.words.sentences(plan.theme, plan.lang, 1, 2), linkable=True)

    def _table(self, plan: NotePlan, body: Body) -> None:
        cols = self.rng.randint(2, 4)
        body.add(
            "| "
            + " | ".join(self.words.phrase(plan.theme, plan.lang, 1, 1) for _ in range(cols))
            + " |"
        )
        body.add("|" + "---|" * cols)
        for _ in range(self.rng.randint(2, 5)):
            cells = (self.words.phrase(plan.theme, plan.lang, 1, 2) for _ in range(cols))
            body.add("| " + " | ".join(cells) + " |")

    def _short_dialogue(self, plan: NotePlan, body: Body) -> None:
        for turn in range(2):
            self._turn(plan, body, turn, max_paragraphs=2)

    def _chat_body(self, plan: NotePlan, n_links: int) -> Body:
        self.stats["chat_notes"] += 1
        body = Body()
        budget = plan.size - n_links * LINK_BYTES_ESTIMATE
        turn = 0
        while body.nbytes < budget or turn < 2:
            self._turn(plan, body, turn, max_paragraphs=6)
            turn += 1
        return body

    def _turn(self, plan: NotePlan, body: Body, turn: int, max_paragraphs: int) -> None:
        """One `>[!nexus_user]` or `>[!nexus_agent]` callout followed by its UID line."""
        user = turn % 2 == 0
        who = "**User**" if user else "**Assistant**"
        callout = "nexus_user" if user else "nexus_agent"
        self.stats["dialogue_turns"] += 1
        body.add(f">[!{callout}] {who} - {_chat_stamp(plan.created, turn)}")
        paragraphs = 1 if user else self.rng.randint(1, max_paragraphs)
        for p in range(paragraphs):
            if p:
                body.add("> ")
            self._turn_paragraph(plan, body, agent=not user)
        body.add(f"<!-- UID: {self.words.uid()} -->")
        body.extend(["", "", "", ""] if self.rng.random() < 0.5 else [""])

    def _turn_paragraph(self, plan: NotePlan, body: Body, agent: bool) -> None:
        r = self.rng.random()
        if agent and r < 0.15:
            body.add(f"> ### {self.words.phrase(plan.theme, plan.lang)}")
        elif agent and r < 0.35:
            for _ in range(self.rng.randint(2, 5)):
                body.add(f"> - {self.words.sentences(plan.theme, plan.lang, 1, 1)}", linkable=True)
            return
        elif agent and r < 0.42:
            self.stats["code_blocks"] += 1
            body.add("> ```python")
            body.extend(["> " + line for line in _code_lines(self.rng, plan.theme, "python")])
            body.add("> ```")
            return
        body.add("> " + self.words.sentences(plan.theme, plan.lang, 1, 4), linkable=True)

    # -- links and tags

    def _add_links(self, plan: NotePlan, body: Body, n_links: int) -> None:
        for _ in range(n_links):
            body.insert_inline(self.linker.link(plan), self.rng)
        if self.rng.random() < 0.08:
            for _ in range(self.rng.randint(1, 3)):
                body.insert_inline(self.linker.attachment_embed(), self.rng)

    def _add_tags(self, plan: NotePlan, body: Body) -> None:
        if self.rng.random() < 0.4:
            for _ in range(self.rng.randint(1, 3)):
                body.insert_inline("#" + self.words.tag(plan.theme), self.rng)
                self.stats["inline_tags"] += 1
        if self.rng.random() < 0.25:
            tags = [f"#{self.words.tag(plan.theme)}" for _ in range(self.rng.randint(1, 3))]
            self.stats["inline_tags"] += len(tags)
            body.extend(["", ("Теги: " if plan.lang == "ru" else "Tags: ") + " ".join(tags)])


def _chat_stamp(day: dt.date, minutes: int) -> str:
    when = dt.datetime(day.year, day.month, day.day, 21, 3) + dt.timedelta(minutes=minutes)
    return when.strftime("%m/%d/%Y at %I:%M %p").replace(" 0", " ")


def _code_lines(rng: random.Random, theme: Theme, lang: str) -> list[str]:
    w = [rng.choice(theme.en) for _ in range(4)]
    if lang == "bash":
        return [
            f"mkdir -p {w[0]}/{w[1]}",
            f"cd {w[0]} && ls -la",
            f'echo "{w[2]} {w[3]}" > {w[1]}.txt',
        ]
    if lang == "sql":
        return [
            f"SELECT {w[0]}, count(*) AS {w[1]}",
            f"FROM {w[2]}",
            f"WHERE {w[3]} > {rng.randint(1, 99)}",
            f"GROUP BY {w[0]};",
        ]
    if lang == "json":
        return [
            "{",
            f'  "{w[0]}": {rng.randint(0, 999)},',
            f'  "{w[1]}": ["{w[2]}", "{w[3]}"]',
            "}",
        ]
    lines = [f"def {w[0]}_{w[1]}({w[2]}, {w[3]}=None):", f'    """{w[1]} {w[2]} {w[3]}."""']
    for _ in range(rng.randint(1, 6)):
        lines.append(
            f"    {rng.choice(theme.en)} = {w[2]} * {rng.randint(2, 64)}  # {rng.choice(theme.en)}"
        )
    lines.append(f"    return {w[2]}")
    return lines


# --------------------------------------------------------------------------- vault


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="\n")


def _canvas(rng: random.Random, words: Words, plans: Sequence[NotePlan], linker: Linker) -> str:
    nodes: list[dict[str, Any]] = []
    for i in range(rng.randint(3, 12)):
        node: dict[str, Any] = {
            "id": f"{rng.getrandbits(64):016x}",
            "x": 450 * (i % 4),
            "y": 350 * (i // 4),
            "width": 400,
            "height": 300,
        }
        if rng.random() < 0.7:
            node |= {"type": "file", "file": linker.global_pick.pick().path}
        else:
            theme = rng.choice(THEMES)
            node |= {
                "type": "text",
                "text": words.sentences(theme, "mixed", 1, 2) + f" [[{rng.choice(plans).name}]]",
            }
        nodes.append(node)
    edges = [
        {
            "id": f"{rng.getrandbits(64):016x}",
            "fromNode": a["id"],
            "fromSide": "right",
            "toNode": b["id"],
            "toSide": "left",
        }
        for a, b in itertools.pairwise(nodes)
    ]
    return json.dumps({"nodes": nodes, "edges": edges}, ensure_ascii=False, indent="\t")


def _folders(paths: Sequence[str]) -> int:
    folders: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return len(folders)


def generate(root: Path, n_notes: int, seed: int = 0) -> dict[str, Any]:
    """Write a synthetic vault of `n_notes` notes into `root` (which must be empty or absent)
    and return its statistics. Deterministic in (n_notes, seed, GENERATOR_VERSION)."""
    if n_notes < 1:
        raise ValueError("n_notes must be at least 1")
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    started = time.perf_counter()
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    plans = plan_notes(rng, n_notes)
    attachments = plan_attachments(rng, n_notes)
    missing = plan_missing(Words(rng), plans, max(8, n_notes // 50))
    linker = Linker(rng, plans, missing, [name for name, _ in attachments], stats)
    writer = NoteWriter(rng, linker, stats)
    sizes = []
    for plan in plans:
        text = writer.render(plan)
        sizes.append(len(text.encode("utf-8")))
        _write(root / plan.path, text)
    for name, data in attachments:
        _write(root / ATTACHMENT_FOLDER / name, data)
    canvases = [
        f"{CANVAS_FOLDER}/{writer.words.phrase(rng.choice(THEMES), 'mixed', 2, 2)} {i}.canvas"
        for i in range(max(1, n_notes // 500))
    ]
    for path in canvases:
        _write(root / path, _canvas(rng, writer.words, plans, linker))
    _write(root / ".obsidian" / "app.json", json.dumps({"attachmentFolderPath": ATTACHMENT_FOLDER}))
    all_paths = (
        [p.path for p in plans] + [f"{ATTACHMENT_FOLDER}/{n}" for n, _ in attachments] + canvases
    )
    return _stats(
        n_notes,
        seed,
        plans,
        sizes,
        attachments,
        canvases,
        all_paths,
        linker,
        stats,
        time.perf_counter() - started,
    )


def _stats(
    n_notes: int,
    seed: int,
    plans: Sequence[NotePlan],
    sizes: Sequence[int],
    attachments: Sequence[tuple[str, bytes]],
    canvases: Sequence[str],
    all_paths: Sequence[str],
    linker: Linker,
    stats: Counter[str],
    seconds: float,
) -> dict[str, Any]:
    ordered = sorted(sizes)
    links = stats["links"]
    top_missing = linker.missing_refs.most_common(1)
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "notes": n_notes,
        "canvases": len(canvases),
        "attachments": len(attachments),
        "files": n_notes + len(canvases) + len(attachments),
        "folders": _folders(all_paths),
        "md_bytes": sum(sizes),
        "note_bytes_median": int(statistics.median(ordered)),
        "note_bytes_p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "note_bytes_max": ordered[-1],
        "links": links,
        "unresolved_links": stats["unresolved_links"],
        "unresolved_share": round(stats["unresolved_links"] / links, 4) if links else 0.0,
        "missing_targets": len(linker.missing_refs),
        "top_missing_refs": top_missing[0][1] if top_missing else 0,
        "link_forms": {
            k.split(":", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith("link_form:")
        },
        "duplicate_name_notes": sum(p.duplicate for p in plans),
        "notes_with_frontmatter": stats["notes_with_frontmatter"],
        "daily_notes": sum(p.kind == "daily" for p in plans),
        "chat_notes": stats["chat_notes"],
        "dialogue_turns": stats["dialogue_turns"],
        "headings": stats["headings"],
        "code_blocks": stats["code_blocks"],
        "fake_links_in_code": stats["fake_links_in_code"],
        "inline_tags": stats["inline_tags"],
        "themes": len(THEMES),
        "seconds": round(seconds, 2),
    }


def cached_vault(cache_dir: Path, n_notes: int, seed: int = 0) -> tuple[Path, dict[str, Any], bool]:
    """Return (vault, stats, reused): the vault for (n_notes, seed) under `cache_dir`,
    generating it first unless a complete copy from this generator version is there."""
    key = f"vault-n{n_notes}-s{seed}-v{GENERATOR_VERSION}"
    vault, stats_file = cache_dir / key, cache_dir / f"{key}.json"
    if vault.is_dir() and stats_file.is_file():
        return vault, json.loads(stats_file.read_text(encoding="utf-8")), True
    if vault.exists():
        shutil.rmtree(vault)  # left over from an interrupted run
    stats = generate(vault, n_notes, seed)
    stats_file.write_text(json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8")
    return vault, stats, False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.synth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="folder to create the vault in (must be empty)")
    parser.add_argument("--notes", type=int, default=1000, help="number of notes (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--force", action="store_true", help="delete OUT first if it is not empty")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            parser.error(f"{args.out} is not empty (use --force to replace it)")
        shutil.rmtree(args.out)
    stats = generate(args.out, args.notes, args.seed)
    print(json.dumps(stats, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
