"""Small text helpers for chips: readable Markdown without link syntax, language, sentences,
line spans, and the scene context that may leave the vault."""

from __future__ import annotations

import re
from collections.abc import Iterable

from vaultmind.markup import without_comments
from vaultmind.types import Note, Scene, Turn

_WIKILINK = re.compile(r"!?\[\[([^\[\]|\n]*?)(?:\|([^\[\]\n]*))?\]\]")
_FOOTNOTE_REF = re.compile(r"\s?\[\^[^\]\s]+\]")
_BULLET = re.compile(r"^\s*(?:(?:[-*+]|\d+[.)])\s+)?(?:\[[ xX/-]\]\s+)?")
_CYRILLIC = re.compile(r"[а-яё]", re.I)
_LATIN = re.compile(r"[a-z]", re.I)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[^\s])")
_WORD = re.compile(r"\w+")


def link_text(target: str, shown: str | None) -> str:
    """What Obsidian shows for `[[target|shown]]`: the alias, else the note name (a heading
    link `a#h` reads `a > h`, a self link `#h` reads `h`)."""
    if shown and shown.strip():
        return shown.strip()
    name, _, rest = target.partition("#")
    rest = rest.lstrip("^")
    return f"{name} > {rest}" if name and rest else (name or rest).strip()


def plain(text: str) -> str:
    """Markdown kept, but links read as Obsidian shows them and no footnote markers or comments."""
    text = without_comments(text)
    text = _WIKILINK.sub(lambda m: link_text(m.group(1), m.group(2)), text)
    return _FOOTNOTE_REF.sub("", text).strip()


def unbulleted(text: str) -> str:
    return _BULLET.sub("", text).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def language(text: str) -> str:
    """ru or en by the script most of the letters are in (the author mixes English terms into
    Russian prose and back), other when there are no letters."""
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if cyrillic == latin == 0:
        return "other"
    return "ru" if cyrillic >= latin else "en"


def sentences(text: str) -> list[str]:
    out = []
    for line in text.split("\n"):
        out.extend(s.strip() for s in _SENTENCE.split(unbulleted(line)) if s.strip())
    return out


def turn_end(note: Note, turn: Turn) -> int:
    """The last line (1-based) of a dialogue callout, its UID comment included."""
    lines = note.text.split("\n")
    end = turn.line  # 1-based line of the callout head
    while end < len(lines) and lines[end].lstrip().startswith(">"):
        end += 1
    if end < len(lines) and lines[end].lstrip().startswith("<!--"):
        end += 1
    return end


def title_words(title: str) -> str:
    """A note title as words: no leading number, underscores as spaces ("09_варроа_клещ" →
    "варроа клещ"), the title itself when nothing else is left."""
    cleaned = title.lstrip("0123456789 _-.").replace("_", " ").strip()
    return cleaned or title


def readable_title(note: Note) -> str:
    """A note's name for a reader: its title, or for a Zettelkasten id ("202411151043") its first
    alias, else its first top-level heading."""
    if any(ch.isalpha() for ch in note.title):
        return note.title
    for name in (*note.aliases, *(h.text for h in note.headings if h.level == 1)):
        if name.strip():
            return plain(name.strip())
    return note.title


def safe_label(scene: Scene, public_titles: dict[str, str], public_text: str) -> str:
    """A scene label built only from what may leave the vault: the most central public note's
    title and the scene's terms that occur in public notes (a term may come from a private one)."""
    folded = public_text.casefold()
    terms = [t for t in scene.terms if t.casefold() in folded][:4]
    central = next((public_titles[p] for p in scene.central + scene.notes if p in public_titles), "")
    head = title_words(central) if central else ""
    if head and terms:
        return f"{head}: {', '.join(terms)}"
    return head or ", ".join(terms)


def safe_summary(scene: Scene, public_text: str) -> str:
    """The scene's summary sentence when a public note says it, else nothing."""
    summary = scene.summary.strip()
    if len(words(summary)) < 6 or summary.endswith(":"):  # a heading or a lead-in, not a summary
        return ""
    head = summary.rstrip("…").strip()[:60]  # long summaries are cut with an ellipsis
    return summary if head and head in public_text else ""


def quoted(text: str, lang: str) -> str:
    return f"«{text}»" if lang == "ru" else f"“{text}”"


def distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
