"""Meaning: each model's embedding speed in the index pipeline against its own encode, a full
index of the sample vault per channel set, and the faiss vector index (exact or HNSW) over
random unit vectors. Targets: pipeline overhead ≤ 10% of the bare encode; exact search p95
≤ 50 ms up to `hnsw_threshold` (200,000 vectors), the size where HNSW takes over.

    .venv/bin/asv run --python=same --bench 'bench_meaning'
"""

import functools
import itertools
import time

import numpy as np

import vaultmind
from vaultmind.embed import embedding_text
from vaultmind.index import VectorIndex
from vaultmind.store import Store

from .vaults import REPO, scratch

SAMPLE = REPO / "sample_vault"


def chunks_per_s(model):
    """(pipeline, bare) chunks/s on the sample vault, the model loaded before either clock."""
    embedder = vaultmind.embedder(model)
    embedder.embed_passages(["warm-up: load the model and its kernels"])
    state = scratch(f"embed-{model}")
    summary = vaultmind.index(SAMPLE, state_dir=state, embedder=embedder, scenes=False)
    with Store.open(state, create=False) as store:  # the distinct texts the pipeline embedded
        texts = list({c.hash: embedding_text(c.heading, c.text) for _, c in store.chunks()}.values())
    started = time.perf_counter()
    embedder.embed_passages(texts)
    return summary.embedded / summary.phases["embed"], len(texts) / (time.perf_counter() - started)


class Embedding:
    """Pipeline: embedded chunks / the embed phase of a full index into a new store. Bare: the
    same texts through the model's encode in one call. Overhead: 1 − pipeline / bare."""

    params, param_names, timeout = ["e5", "use"], ["model"], 900

    def setup_cache(self):
        return {model: chunks_per_s(model) for model in self.params}

    def track_pipeline_chunks_per_s(self, rates, model):
        return rates[model][0]

    def track_overhead(self, rates, model):
        return 1 - rates[model][0] / rates[model][1]

    track_pipeline_chunks_per_s.unit, track_overhead.unit = "chunks/s", "share"


class FullIndex:
    """A full index of the sample vault into an empty store, loading the models as a first
    `vaultmind index` does: one sample per process (asv starts one per round)."""

    params, param_names = ["e5", "use+bm25", "e5+use+bm25"], ["channels"]
    number, repeat, warmup_time, timeout = 1, 1, 0, 900

    def setup(self, channels):
        self.state = scratch(f"full-index-{channels}")

    def time_index(self, channels):
        vaultmind.index(SAMPLE, state_dir=self.state, model=channels)

    def peakmem_index(self, channels):
        vaultmind.index(SAMPLE, state_dir=self.state, model=channels)


def p95_ms(call, items):
    """The 95th percentile of `call(item)`'s wall time over `items`, in ms."""
    took = []
    for item in items:
        started = time.perf_counter()
        call(item)
        took.append(time.perf_counter() - started)
    return float(np.percentile(took, 95) * 1000)


@functools.cache
def unit_vectors(rows, dim, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(dim, size, kind):
    return VectorIndex.build(np.arange(size), unit_vectors(size, dim), dim, 0 if kind == "hnsw" else size)


@functools.cache
def searchable(dim, size, kind, saved):
    return VectorIndex.load(saved) if kind == "hnsw" else build(dim, size, kind)


class VectorIndexes:
    """`VectorIndex` over random unit vectors (dim 384 is e5's, 512 use's): build (peak memory
    is the process's, vectors included), one query at a time with k=50, and recall@10 against
    exact search (random vectors are HNSW's hard case). HNSW only at 384 × 100,000 (~50 s)."""

    params, param_names = [[384, 512], [100_000, 200_000, 400_000], ["flat", "hnsw"]], ["dim", "vectors", "kind"]
    number, warmup_time, min_run_count, timeout = 1, 0, 1, 900
    _turn = itertools.count()  # outlives setup, which asv runs again before every sample

    def setup_cache(self):
        build(384, 100_000, "hnsw").save(saved := scratch("vector-index") / "hnsw.faiss")
        return saved

    def setup(self, saved, dim, size, kind):
        if kind == "hnsw" and (dim, size) != (384, 100_000):
            raise NotImplementedError("HNSW is measured at 384 × 100,000 only")
        searchable(dim, size, kind, saved)  # built (or loaded) once per process, outside the clock

    def time_build(self, saved, dim, size, kind):
        build(dim, size, kind)

    def peakmem_build(self, saved, dim, size, kind):
        searchable.cache_clear()  # so the peak holds one index, as a lone build's does
        build(dim, size, kind)

    def time_search(self, saved, dim, size, kind):
        searchable(dim, size, kind, saved).search(unit_vectors(200, dim, 1)[[next(self._turn) % 200]], 50)

    def track_p95_ms(self, saved, dim, size, kind):
        index = searchable(dim, size, kind, saved)
        return p95_ms(lambda query: index.search(query[None, :], 50), unit_vectors(200, dim, 1))

    def track_recall_at_10(self, saved, dim, size, kind):
        exact = np.argsort(-(unit_vectors(200, dim, 1)[:100] @ unit_vectors(size, dim).T), axis=1)[:, :10]
        found = searchable(dim, size, kind, saved).search(unit_vectors(200, dim, 1)[:100], 10)[1]
        return float(np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, found)]))

    time_build.repeat, time_search.repeat = (1, 3, 30.0), (50, 200, 10.0)
    track_p95_ms.unit, track_recall_at_10.unit = "ms", "share"
