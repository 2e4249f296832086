"""Word forms to one key: a Russian word to its pymorphy3 normal form, an English one to its
Snowball stem, so "пчёлы" and "пчелами", "models" and "model" count as one word. Scene labels
and lexical search share it. The analyzer and the stemmer load on first use.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

LATIN = re.compile(r"[a-z]+(?:-[a-z]+)*")
CYRILLIC = re.compile(r"[а-я]+(?:-[а-я]+)*")
_PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn"})


@functools.cache
def morph() -> Any:
    """The shared pymorphy3 analyzer."""
    import pymorphy3  # lazy: loading the dictionaries costs time and memory

    return pymorphy3.MorphAnalyzer()


@functools.cache
def stemmer() -> Any:
    """The shared English Snowball stemmer."""
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=500_000)
def lemma(word: str) -> tuple[str, str]:
    """(normal form with ё, part of speech) of a Russian word: the form most parses agree on."""
    votes: Counter[str] = Counter()
    pos: dict[str, str] = {}
    for parse in morph().parse(word):
        # "улей" is also the instrumental of the name "Уля": common nouns win over names
        votes[parse.normal_form] += parse.score * (0.3 if _PROPER & parse.tag.grammemes else 1.0)
        pos.setdefault(parse.normal_form, str(parse.tag.POS))
    best = max(votes, key=votes.__getitem__, default=word)
    return best, pos.get(best, "")


@functools.lru_cache(maxsize=500_000)
def normalise(word: str) -> str:
    """The key a word form counts under: Russian normal form or English stem, without ё."""
    word = word.lower().replace("ё", "е")
    if CYRILLIC.fullmatch(word):
        return lemma(word)[0].replace("ё", "е")
    if LATIN.fullmatch(word):
        return str(stemmer().stemWord(word))
    return word
