"""Shared fixtures: the repository's paths, the real vaults beside it, a fresh store."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_VAULT = ROOT / "sample_vault"
SHARED = Path(os.environ.get("VAULTMIND_SHARED", ROOT.parent / "shared"))
REAL_VAULTS = SHARED / "vaults"


def real_vault(name: str) -> Path:
    path = REAL_VAULTS / name
    if not path.is_dir():
        pytest.skip(f"{path} is not present (../shared is optional)")
    return path


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh, empty state directory outside any vault."""
    return tmp_path / "state"


class HashEmbedder:
    """A tiny deterministic embedder for tests: signed hashing of words (and word pairs) into
    `dim` buckets. Texts that share words are close; it knows nothing of meaning."""

    def __init__(self, spec: str = "hash", dim: int = 256) -> None:
        self.model_id = f"test-hash-{spec}-{dim}"
        self.dim = dim
        self.calls = 0
        self.texts = 0

    def _vector(self, text: str) -> "np.ndarray":
        words = re.findall(r"\w+", text.lower())
        vector = np.zeros(self.dim, dtype=np.float32)
        for feature in words + [a + " " + b for a, b in zip(words, words[1:])]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0], norm = 1.0, 1.0
        return vector / norm

    def embed_passages(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    embed_queries = embed_passages


@pytest.fixture(autouse=True)
def hash_embedder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Every test embeds with HashEmbedder unless marked `real_model`."""
    if request.node.get_closest_marker("real_model"):
        yield None
        return
    import vaultmind.api

    made: list[HashEmbedder] = []

    def factory(spec: str = "e5+use+bm25", cache_root=None, device: str = "auto"):
        channels = hash_channels(spec)
        made.extend(channels.dense)
        return channels

    monkeypatch.setattr(vaultmind.api, "load_channels", factory)
    yield made


def hash_channels(spec: str = "e5+use+bm25", cache_root=None, device: str = "auto"):
    """`vaultmind.embed.load_channels` with a HashEmbedder for each dense model (bm25 is real)."""
    from vaultmind.embed import LEXICAL, Channels, resolve_spec
    from vaultmind.embed.channels import channel_names

    names = [n for n in channel_names(spec) if n != LEXICAL]
    for name in names:
        resolve_spec(name)  # unknown model names still fail as they would for real
    return Channels([HashEmbedder(name) for name in names], names, LEXICAL in channel_names(spec))
