"""Retrieval channels: which signals rank chunks, from one spelling such as `e5+use+bm25`.

A dense channel is an embedding model (`e5`, `use`, `st:NAME`); `bm25` is the lexical channel
(BM25 over lemmas, `vaultmind.lexical`). `Channels` is itself an `Embedder` whose vectors are
the dense models' vectors concatenated and divided by √n (so an inner product is the mean of
the models' cosines). Its `model_id` is the meaning id the store reads those vectors by;
each model's vectors are stored under the model's own id, so switching the combination
re-embeds only what a newly added model has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind.embed.models import LazyModel, resolve_device
from vaultmind.errors import ModelError
from vaultmind.types import MEANING_SEPARATOR

LEXICAL = "bm25"


def channel_names(spec: str) -> list[str]:
    """The channels a spelling names, in order, each once: `e5+use+bm25` → [e5, use, bm25]."""
    names: list[str] = []
    for part in spec.split("+"):
        name = part.strip()
        if not name:
            raise ModelError(f"empty channel in {spec!r}; join channels with +, e.g. e5+use+bm25")
        if name not in names:
            names.append(name)
    return names


class Channels:
    """The dense models and the lexical channel of one spelling, by channel name."""

    def __init__(self, dense: Sequence[Any], names: Sequence[str], lexical: bool) -> None:
        """`dense`: embedders (each with `model_id`), `names`: their channel names."""
        self.dense = list(dense)
        self.names = list(names)
        self.lexical = lexical
        self.model_id = MEANING_SEPARATOR.join(m.model_id for m in self.dense)

    def name_of(self, model: Any) -> str:
        return self.names[self.dense.index(model)]

    @property
    def dim(self) -> int:
        return sum(m.dim for m in self.dense)

    def _joined(self, parts: list[np.ndarray]) -> np.ndarray:
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._joined([m.embed_passages(texts) for m in self.dense])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._joined([m.embed_queries(texts) for m in self.dense])


def load_channels(spec: str, cache_root: Path | None = None, device: str = "auto") -> Channels:
    """The channels `spec` names (e5+use+bm25), each model loaded on first use. A model that
    falls back to another (e5 to use where e5 cannot run) is kept once."""
    if device != "auto":
        resolve_device(device)  # a device torch does not see fails now, not mid-index
    names = channel_names(spec)
    dense: list[LazyModel] = []
    for name in names:
        if name != LEXICAL:
            model = LazyModel(name, cache_root, device)
            if all(m.model_id != model.model_id for m in dense):
                dense.append(model)
    return Channels(dense, [m.spec for m in dense], LEXICAL in names)


def channel_name(embedder: object, model: Any) -> str:
    """The name a dense model's channel is shown by: e5, use, st:NAME (its model id when it
    is not part of a `Channels`)."""
    if isinstance(embedder, Channels) and model in embedder.dense:
        return embedder.name_of(model)
    return str(getattr(model, "spec", model.model_id))


def dense_models(embedder: object) -> list:
    """The models whose vectors an embedder stores: a `Channels`' dense models, or the
    embedder itself (any object with `model_id` and `embed_passages`)."""
    if isinstance(embedder, Channels):
        return list(embedder.dense)
    return [] if embedder is None else [embedder]


def lexical_channel(embedder: object) -> bool:
    """Whether the lexical channel is on for this embedder."""
    return isinstance(embedder, Channels) and embedder.lexical
