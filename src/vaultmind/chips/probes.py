"""Understanding checks for evaluation, never for training: causal cloze (finish the author's
cause/effect sentence: the right continuation against one from the same scene) and link choice
(which of these notes does the author connect to X: distractors from other scenes). Every probe
is `verified: false` until the author reviews it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

from vaultmind.chips.text import language, quoted, sentences, title_words, words
from vaultmind.chips.view import View
from vaultmind.types import Chip, ChipMessage, Probe

# Connectives after which a sentence states a cause or a consequence.
_CONNECTIVE = re.compile(
    r"\s(?:потому что|поэтому|так как|из-за того, что|из-за|следовательно|в результате|отсюда|"
    r"благодаря|значит|because|therefore|as a result|which is why|that is why|so that|hence|thus|"
    r"leads to|due to|causes)\s", re.I)
_MIN_SIDE_WORDS = 3
_LETTERS = "ABCD"
_PER_NOTE = 2


def _rank(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _causal_sentences(view: View, path: str) -> list[tuple[str, str, int]]:
    """(head up to and including the connective, the continuation, line) of each cause/effect sentence."""
    found = []
    for section in view.sections[path]:
        for sentence in sentences(section.text):
            match = _CONNECTIVE.search(sentence)
            if not match:
                continue
            head, tail = sentence[: match.end()].strip(), sentence[match.end():].strip()
            if len(words(sentence[: match.start()])) >= _MIN_SIDE_WORDS and len(words(tail)) >= _MIN_SIDE_WORDS:
                found.append((head, tail, section.line))
    return found


def _tails(view: View, path: str) -> list[str]:
    """Second halves of the note's longer sentences: a plausible wrong continuation."""
    found = []
    for section in view.sections[path]:
        for sentence in sentences(section.text):
            parts = sentence.split()
            if len(parts) >= 2 * _MIN_SIDE_WORDS + 2:
                found.append(" ".join(parts[len(parts) // 2:]))
    return found


def causal_cloze(view: View, held_out: Iterable[str]) -> Iterator[Chip]:
    """The distractor is another cause/effect continuation from the same scene, else the second
    half of another sentence of the scene."""
    notes = [p for p in held_out if p in view.notes]
    by_note = {p: _causal_sentences(view, p) for p in notes}
    for path in notes:
        scene = view.scene_of.get(path)
        if scene is None or not by_note[path]:
            continue
        others = [p for p in notes if view.scene_of.get(p) == scene]
        causal = [tail for p in others for _h, tail, _l in by_note[p]]
        plain_tails = [t for p in others if p != path for t in _tails(view, p)]
        for head, tail, line in sorted(by_note[path], key=lambda c: _rank(path, c[0]))[:_PER_NOTE]:
            pool = [t for t in causal if t != tail] or [t for t in plain_tails if t != tail]
            if not pool:
                continue
            distractor = min(pool, key=lambda t: _rank(head, t))
            choices = sorted([tail, distractor], key=lambda t: _rank(path, head, t))
            lang = language(head + " " + tail)
            ask = "Закончи мысль автора" if lang == "ru" else "Finish the author's thought"
            question = f"{ask}: {quoted(head + ' …', lang)}"
            yield _probe(view, path, "causal_cloze", question, choices, choices.index(tail), lang, (line, line))


def link_choice(view: View, held_out: Iterable[str], distractors: int = 3) -> Iterator[Chip]:
    """For a held-out note with links: one note it links to, against notes of other scenes it
    has no link with either way."""
    for path in held_out:
        if path not in view.notes or path not in view.scene_of:
            continue
        scene = view.scene_of[path]
        linked = set(view.neighbours.get(path, ()))
        targets = [l.target_path for l in view.links_from.get(path, ()) if l.target_path
                   and l.target_path != path and view.scene_of.get(l.target_path) == scene]
        outside = [p for p, s in view.scene_of.items() if s != scene and p not in linked]
        if not targets or len(outside) < distractors:
            continue
        right = min(targets, key=lambda p: _rank(path, p))
        wrong = sorted(outside, key=lambda p: _rank(path, right, p))[:distractors]
        choices = sorted([right, *wrong], key=lambda p: _rank(path, "order", p))
        shown = [title_words(view.titles[p]) for p in choices]
        lang = language(view.notes[path].text[:2000])
        note = quoted(title_words(view.titles[path]), lang)
        question = (f"Какую из этих заметок автор связывает с {note}?" if lang == "ru"
                    else f"Which of these notes does the author connect to {note}?")
        link_line = next(l.link.line for l in view.links_from[path] if l.target_path == right)
        yield _probe(view, path, "link_choice", question, shown, choices.index(right), lang,
                     (link_line, link_line), notes=tuple(choices))


def _probe(view: View, path: str, kind: str, question: str, choices: list[str], answer: int, lang: str,
           lines: tuple[int, int], notes: tuple[str, ...] = ()) -> Chip:
    listed = "\n".join(f"{_LETTERS[i]}) {c}" for i, c in enumerate(choices))
    messages = [ChipMessage("user", f"{question}\n{listed}", "vaultmind"),
                ChipMessage("assistant", f"{_LETTERS[answer]}) {choices[answer]}", "author")]
    return view.chip("probe", path, messages=messages, lines=lines, lang=lang, notes=notes,
                     probe=Probe(kind, question, tuple(choices), answer, False), split="probe")  # type: ignore[arg-type]
