"""The chip kinds made for training: saved dialogues, the author's sections as questions and
answers, the author's reasons for a link, and scene documents for continued pretraining."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from vaultmind.chips.text import distinct, language, plain, quoted, title_words, turn_end, unbulleted, words
from vaultmind.chips.view import View
from vaultmind.markup import DATAVIEW_FIELD
from vaultmind.types import Chip, ChipMessage, Commentary

CountTokens = Callable[[Sequence[str]], list[int]]

# ---------------------------------------------------------------- dialogue


def dialogues(view: View) -> Iterator[Chip]:
    """Every saved dialogue as one chat, turns in order; the author's commentary between turns
    goes in its own field, never into the assistant's mouth. Trailing unanswered questions are
    left out (they are a blind spot, not an example)."""
    for path, note in view.notes.items():
        turns = [t for t in note.turns if plain(t.text)]
        while turns and turns[-1].role != "assistant":
            turns.pop()
        if not any(t.role == "user" for t in turns):
            continue
        messages = [ChipMessage(t.role, plain(t.text), "author" if t.role == "user" else "model",
                                1 if t.role == "assistant" else None) for t in turns]
        last = turn_end(note, turns[-1])
        commentary = tuple(Commentary(c.after_turn, plain(c.text), c.line) for c in note.commentary
                           if plain(c.text) and c.after_turn <= turns[-1].index)
        yield view.chip("dialogue", path, messages=messages, lines=(turns[0].line, last),
                        turn_uids=tuple(t.uid for t in turns if t.uid), timestamps=tuple(t.timestamp for t in turns),
                        commentary=commentary, links=_links_in(view, path, turns[0].line, last))


def _links_in(view: View, path: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(distinct(l.target_path or l.link.target for l in view.links_from.get(path, ())
                          if first <= l.link.line <= last and l.target_path != path))


# ---------------------------------------------------------------- note Q&A

_QUESTION_START = re.compile(
    r"^(what|why|how|when|where|which|who|whom|whose|is|are|can|could|should|does|do|did|will|would|"
    r"что|почему|зачем|как|когда|где|какой|какая|какое|какие|каков|кто|чем|чего|сколько|ли|можно|нужно|"
    r"в чём|в чем|откуда|куда|насколько)\b", re.I)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]\s*)+|^\W+", re.U)
_DATE = re.compile(r"\d{1,4}[.\-/]\d{1,2}|\b\d{4}\b")
# Headings that organise a note rather than name a thought.
_NOT_A_TOPIC = {
    "sources", "source", "links", "references", "reference", "see also", "related", "related notes",
    "relevant notes", "notes", "note", "todo", "to do", "tasks", "tags", "log", "changelog", "misc",
    "inbox", "index", "contents", "table of contents", "toc", "summary", "appendix", "footnotes",
    "attachments", "images", "bibliography", "further reading", "backlinks", "meta", "metadata",
    "источники", "источник", "ссылки", "литература", "см. также", "см также", "связанные заметки",
    "релевантные заметки", "заметки", "задачи", "теги", "содержание", "оглавление", "приложение",
    "лог", "журнал", "итоги", "итог", "прочее", "разное", "вложения", "метаданные", "черновик",
}
# "My notes after the talk" is about the author's writing, not a concept.
_FIRST_PERSON = re.compile(r"\b(my|mine|our|i|me|мой|моё|мое|моя|мои|наш|наша|наше|наши|я|мне)\b", re.I)
_FIELD = DATAVIEW_FIELD
_TASK = re.compile(r"^\s*[-*+]\s+\[.\]")
_LIST_MARKER = re.compile(r"^[ \t]*(релевантные заметки|связанные заметки|relevant notes|related notes|see also|"
                          r"см\.? также|sources|источники)[ \t]*:?[ \t]*$", re.I | re.M)


def topic(heading: str) -> tuple[str, bool] | None:
    """(the heading as a question or concept, whether it is a question), or None when the
    heading only organises the note (Sources, Links, a date, a number)."""
    text = _NUMBERING.sub("", heading).strip().rstrip(":").strip()
    if len(words(text)) == 0 or text.casefold() in _NOT_A_TOPIC or _DATE.search(text):
        return None
    if text.endswith("?") or text.endswith("？") or _QUESTION_START.match(text):
        return (text if text.endswith(("?", "？")) else text + "?"), True
    if len(words(text)) > 5 or not any(ch.isalpha() for ch in text) or _FIRST_PERSON.search(text):
        return None
    return text, False


def _answer(text: str) -> str:
    """A section's own words: the list of related notes that often closes it is cut off, and
    so are Dataview fields (`context:: …`); a section that is mostly a task list is no answer."""
    marker = _LIST_MARKER.search(text)
    lines = [line for line in (text[: marker.start()] if marker else text).split("\n") if not _FIELD.match(line)]
    filled = [line for line in lines if line.strip()]
    if filled and sum(bool(_TASK.match(line)) for line in filled) * 2 >= len(filled):
        return ""
    return "\n".join(lines).strip()


def note_qa(view: View) -> Iterator[Chip]:
    """Sections whose heading reads as a question or names a concept, as question → answer;
    the note's title and scene go in the system turn."""
    for path, sections in view.sections.items():
        title = view.titles[path]
        total = view.notes[path].text.count("\n") + 1
        for i, section in enumerate(sections):
            heading = section.heading.rsplit(" > ", 1)[-1]
            found = topic(heading) if heading else None
            answer = _answer(section.text)
            if found is None or len(words(answer)) < view.settings.min_words:
                continue
            lang = language(answer)
            question, is_question = found
            if not is_question:
                question = _concept_question(question, title, lang)
            elif not view.settings.system:
                question = f"{title_words(title)}: {question}"
            end = sections[i + 1].line - 1 if i + 1 < len(sections) else total
            yield view.chip("note_qa", path, lang=lang, lines=(section.line, max(end, section.line)),
                            messages=[ChipMessage("user", question, "vaultmind"),
                                      ChipMessage("assistant", answer, "author", 1)],
                            links=_links_in(view, path, section.line, end))


def _concept_question(concept: str, title: str, lang: str) -> str:
    name = title_words(title)
    mine, theirs = {w.casefold() for w in words(concept)}, {w.casefold() for w in words(name)}
    same = len(mine & theirs) >= 0.5 * len(mine | theirs)  # the note's own title as its first heading
    if lang == "ru":
        return f"Расскажи про {quoted(concept, lang)}." if same else \
            f"Расскажи про {quoted(concept, lang)} (из заметки {quoted(name, lang)})."
    return f"Tell me about {quoted(concept, lang)}." if same else \
        f"Tell me about {quoted(concept, lang)} (from the note {quoted(name, lang)})."


# ---------------------------------------------------------------- link rationale

_MIN_REASON_WORDS = 4


def link_rationales(view: View) -> Iterator[Chip]:
    """Sentences in which the author says why one note relates to another: "How does A relate to
    X?" → the author's own words. Links inside a model's answer are the model's words: skipped."""
    model_lines = {path: [(t.line, turn_end(n, t)) for t in n.turns if t.role == "assistant"]
                   for path, n in view.notes.items() if n.turns}
    seen: set[tuple[str, str, str]] = set()
    for link in view.links:
        if link.link.kind not in ("link", "markdown") or link.target_path == link.source or not link.link.target:
            continue
        if any(a <= link.link.line <= b for a, b in model_lines.get(link.source, ())):
            continue
        reason = _reason(link.link.context, link.link.original)
        if reason is None:
            continue
        target = link.target_path or link.link.target
        key = (link.source, target, reason)
        if key in seen:
            continue
        seen.add(key)
        other = title_words(view.titles[target]) if target in view.titles else link.link.target.rsplit("/", 1)[-1]
        lang = language(reason)
        a = quoted(title_words(view.titles[link.source]), lang)
        question = f"Как {a} связана с {quoted(other, lang)}?" if lang == "ru" else f"How does {a} relate to {quoted(other, lang)}?"
        yield view.chip("link_rationale", link.source, lang=lang, lines=(link.link.line, link.link.line),
                        messages=[ChipMessage("user", question, "vaultmind"), ChipMessage("assistant", reason, "author", 1)],
                        links=(target,))


_CLAUSE = re.compile(r"(?<=[,;])\s+")
_ANY_LINK = re.compile(r"!?\[\[[^\[\]\n]*\]\]|!?\[[^\[\]\n]*\]\([^()\[\]\n]*\)")  # stops at a bracket: linear


def _reason(sentence: str, original: str) -> str | None:
    """The author's words about one link: the whole sentence, or, when the sentence has several
    links ("[[A]] — why, [[B]] — why"), the comma- or semicolon-separated part around this one.
    None when fewer than four words are left besides the link."""
    sentence, original = " ".join(sentence.split()), " ".join(original.split())  # the sentence is stored collapsed
    links = [m.group(0) for m in _ANY_LINK.finditer(sentence)]
    part = sentence
    if len(links) > 1:
        masked = _ANY_LINK.sub(lambda m: f"\x00{links.index(m.group(0))}\x00", sentence)
        mine = f"\x00{links.index(original)}\x00" if original in links else None
        part = next((p for p in _CLAUSE.split(masked) if mine and mine in p), "")
        part = re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], part).strip().rstrip(",;").strip()
    rest = part.replace(original, " ") if original else part
    if not part or len(words(plain(rest))) < _MIN_REASON_WORDS:
        return None
    return unbulleted(plain(part))


# ---------------------------------------------------------------- scene documents


def scene_documents(view: View, count: CountTokens) -> Iterator[Chip]:
    """The author's own text of each scene's notes, in link order (each note next to the notes it
    links with, as In-Context Pretraining packs related documents), cut to the token budget."""
    for scene in view.scenes.values():
        parts = [(p, _document(view, p)) for p in link_order(view, scene.notes)]
        parts = [(p, d) for p, d in parts if d]
        if not parts:
            continue
        sizes = count([d for _, d in parts])
        for members, text in _pack(parts, sizes, view.settings.doc_tokens):
            first = members[0]
            yield view.chip("scene_doc", first, text=text, lines=(1, view.notes[first].text.count("\n") + 1),
                            notes=tuple(members), scene=view.scene_for(first, context_notes=members[:10]),
                            links=tuple(distinct(l.target_path for p in members for l in view.links_from.get(p, ())
                                                 if l.target_path in members)))


def link_order(view: View, notes: Sequence[str]) -> list[str]:
    """Depth-first from the most central note, always to the most central unvisited linked
    note; when a path ends, on from the most central note not yet visited."""
    rank = {p: i for i, p in enumerate(notes)}
    order: list[str] = []
    seen: set[str] = set()
    for start in notes:
        stack = [start]
        while stack:
            path = stack.pop()
            if path in seen:
                continue
            seen.add(path)
            order.append(path)
            nexts = sorted((p for p in view.neighbours.get(path, ()) if p in rank and p not in seen),
                           key=rank.__getitem__, reverse=True)
            stack.extend(nexts)
    return order


def _document(view: View, path: str) -> str:
    parts = [f"# {title_words(view.titles[path])}"]
    for section in view.sections[path]:
        heading = section.heading.rsplit(" > ", 1)[-1]
        parts.append(f"## {heading}\n\n{section.text}" if heading else section.text)
    return "\n\n".join(parts) if len(parts) > 1 else ""


def _pack(parts: list[tuple[str, str]], sizes: list[int], budget: int) -> Iterator[tuple[list[str], str]]:
    """Whole notes packed up to `budget` tokens; a longer note is cut at paragraphs."""
    members: list[str] = []
    texts: list[str] = []
    used = 0
    for (path, text), size in zip(parts, sizes):
        if size > budget:
            if texts:
                yield members, "\n\n".join(texts)
                members, texts, used = [], [], 0
            for piece in _cut(text, size, budget):
                yield [path], piece
            continue
        if used + size > budget and texts:
            yield members, "\n\n".join(texts)
            members, texts, used = [], [], 0
        members.append(path)
        texts.append(text)
        used += size
    if texts:
        yield members, "\n\n".join(texts)


def _cut(text: str, size: int, budget: int) -> list[str]:
    """Paragraph runs of about `budget` tokens, estimated from the text's tokens per character."""
    per_char = size / max(len(text), 1)
    limit = max(int(budget / per_char), 1)
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        while len(paragraph) > limit:  # one huge paragraph: cut at a sentence end, else a space
            cut = max(paragraph.rfind(". ", 0, limit) + 1, paragraph.rfind("\n", 0, limit))
            if cut <= limit // 2:
                space = paragraph.rfind(" ", 0, limit)
                cut = space if space > limit // 2 else limit
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if pieces and len(pieces[-1]) + len(paragraph) + 2 <= limit:
            pieces[-1] += "\n\n" + paragraph
        elif paragraph.strip():
            pieces.append(paragraph)
    return pieces
