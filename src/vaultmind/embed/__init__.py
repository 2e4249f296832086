"""Embedders: the Embedder protocol and the models behind it; notes → chunks.

An embedder turns texts into L2-normalised float32 vectors. Its `model_id` is part of every
stored vector's key, so switching models re-embeds and never mixes vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vaultmind.embed.channels import LEXICAL, Channels, channel_name, dense_models, lexical_channel, load_channels
from vaultmind.embed.chunks import CHUNKER_VERSION, DEFAULT_CHUNK_CHARS, chunk_note, embedding_text, text_hash
from vaultmind.embed.models import DEFAULT_MODEL, MODEL_CHOICES, LazyModel, load_model, resolve_device, resolve_spec
from vaultmind.embed.tokens import WORD_COUNTER, TokenCounter, token_counter
from vaultmind.embed.vectors import note_vectors


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for note text, shape (len(texts), dim), unit length."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries, comparable with passages by inner product."""
        ...


__all__ = [
    "Channels",
    "CHUNKER_VERSION",
    "LEXICAL",
    "channel_name",
    "dense_models",
    "load_channels",
    "lexical_channel",
    "resolve_device",
    "DEFAULT_CHUNK_CHARS",
    "DEFAULT_MODEL",
    "MODEL_CHOICES",
    "Embedder",
    "LazyModel",
    "chunk_note",
    "embedding_text",
    "load_model",
    "note_vectors",
    "resolve_spec",
    "text_hash",
    "TokenCounter",
    "WORD_COUNTER",
    "token_counter",
]
