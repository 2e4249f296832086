"""The lexical channel: lexemes of Russian/English text and the BM25 index over chunk ids."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from vaultmind.lexical import LEXICAL_VERSION, LexicalIndex, lexemes

CORPUS = {
    11: "Пчёлы зимуют плотным клубом, а ульи утепляют перед зимовкой.",
    7: "Sourdough starter needs regular feeding with flour and water.",
    103: "Bulk fermentation of the dough takes five hours; fermented dough smells of lactic acid.",
    42: "Рамки Лангстрота висят в улье на плечиках.",
    5: "",
    64: "Fire safety in the kitchen: keep the oven clean.",
}


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(np.array(list(CORPUS), dtype=np.int64), [lexemes(t) for t in CORPUS.values()])


def top(index: LexicalIndex, query: str, k: int = 3) -> list[int]:
    return index.search(lexemes(query), k)[1].tolist()


def test_russian_inflections_share_one_key() -> None:
    assert lexemes("пчёлы") == lexemes("пчёл") == lexemes("пчелами") == lexemes("Пчела") == ["пчела"]
    assert lexemes("ульи ульев улей") == ["улей"] * 3


def test_english_words_share_their_stem() -> None:
    assert lexemes("fermentation") == lexemes("fermented") == lexemes("Fermenting")
    assert lexemes("starters") == lexemes("starter")


def test_stop_words_short_words_and_urls_are_left_out() -> None:
    assert lexemes("и в на the of and a я") == []
    assert lexemes("see https://example.com/sourdough-guide?x=1 and www.bees.org/hive now") == []
    assert lexemes("[text](https://example.com/fermentation) bread") == ["text", "bread"]


def test_wikilink_words_are_kept() -> None:
    assert lexemes("[[Lactic acid]] and [[Улей Лангстрота|ульи]]") == ["lactic", "acid", "улей", "лангстрот", "улей"]


def test_numbers_and_content_nouns() -> None:
    assert lexemes("В 2024 году 3 улья") == ["2024", "улей"]  # "год" is a stop word, "3" too short
    assert "comput" in lexemes("my computer")  # a content noun the general stop list drops


def test_a_mixed_sentence_keeps_order_and_repeats() -> None:
    tokens = lexemes("Мы пробовали fine-tuning модели GPT-4 на моделях Ёлки, models don't fit.")
    assert tokens == ["пробовать", "fine", "tune", "модель", "gpt", "модель", "елка", "model", "fit"]


def test_search_finds_the_right_chunk_by_its_id(index: LexicalIndex) -> None:
    assert top(index, "пчела зимовка")[0] == 11
    assert top(index, "fermenting dough")[0] == 103
    assert top(index, "улья")[:2] == [11, 42] or top(index, "улья")[:2] == [42, 11]
    assert top(index, "starters")[0] == 7
    assert top(index, "fire") == [64]


def test_search_results_are_ordered_positive_and_at_most_k(index: LexicalIndex) -> None:
    scores, ids = index.search(lexemes("dough fermentation flour улей"), 2)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert len(ids) == 2 and (scores > 0).all() and scores[0] >= scores[1]
    assert set(index.search(lexemes("dough flour"), 10)[1].tolist()) == {7, 103}


def test_unknown_and_empty_queries_return_nothing(index: LexicalIndex) -> None:
    for query in ([], ["nosuchlexeme"], ["", "zzz"]):
        scores, ids = index.search(query, 5)
        assert scores.dtype == np.float32 and ids.dtype == np.int64 and len(scores) == len(ids) == 0
    assert len(index.search(lexemes("dough"), 0)[1]) == 0


def test_size_ids_and_fingerprint(index: LexicalIndex) -> None:
    assert index.size == len(CORPUS)
    assert index.ids().dtype == np.int64 and sorted(index.ids().tolist()) == sorted(CORPUS)
    assert index.fingerprint == (len(CORPUS), sum(CORPUS))


def test_an_index_of_empty_documents_finds_nothing(tmp_path: Path) -> None:
    empty = LexicalIndex.build(np.array([3, 9], dtype=np.int64), [[], []])
    assert empty.size == 2 and len(empty.search(["улей"], 5)[1]) == 0
    empty.save(tmp_path / "empty.npz")
    loaded = LexicalIndex.load(tmp_path / "empty.npz")
    assert loaded is not None and loaded.fingerprint == (2, 12)
    assert LexicalIndex.build(np.zeros(0, dtype=np.int64), []).size == 0


def test_save_and_load_give_the_same_results(index: LexicalIndex, tmp_path: Path) -> None:
    path = tmp_path / "chunks-bm25.npz"
    index.save(path)
    index.save(path)  # over an existing file
    assert [p.name for p in tmp_path.iterdir()] == ["chunks-bm25.npz"]
    loaded = LexicalIndex.load(path)
    assert loaded is not None
    assert loaded.fingerprint == index.fingerprint and loaded.ids().tolist() == index.ids().tolist()
    for query in ("пчела зимовка", "fermented dough", "улья", "lactic acid flour", "nothing here"):
        for got, want in zip(loaded.search(lexemes(query), 4), index.search(lexemes(query), 4)):
            assert np.array_equal(got, want)


def test_load_of_a_missing_or_corrupt_file_is_none(index: LexicalIndex, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    assert LexicalIndex.load(tmp_path / "missing.npz") is None
    path = tmp_path / "index.npz"
    index.save(path)
    whole = path.read_bytes()
    for broken in (b"", b"not an index at all", whole[: len(whole) // 2]):
        path.write_bytes(broken)
        with caplog.at_level(logging.WARNING, logger="vaultmind.lexical"):
            assert LexicalIndex.load(path) is None
        assert "unreadable" in caplog.text
        caplog.clear()


def test_load_refuses_inconsistent_arrays_and_another_version(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    vocab = np.frombuffer(b'["a"]', np.uint8)
    np.savez(path, version=np.int64(LEXICAL_VERSION), ids=np.array([1], np.int64), data=np.ones(1, np.float32),
             rows=np.array([5], np.int32), starts=np.array([0, 1], np.int64), vocab=vocab)  # row 5 of 1
    assert LexicalIndex.load(path) is None
    np.savez(path, version=np.int64(LEXICAL_VERSION + 1), ids=np.array([1], np.int64), data=np.ones(1, np.float32),
             rows=np.array([0], np.int32), starts=np.array([0, 1], np.int64), vocab=vocab)
    assert LexicalIndex.load(path) is None


def test_build_needs_one_token_list_per_id() -> None:
    with pytest.raises(ValueError, match="2 ids but 1"):
        LexicalIndex.build(np.array([1, 2], dtype=np.int64), [["a"]])


@pytest.mark.timeout(60)
def test_pathological_texts_tokenise_in_one_pass() -> None:
    assert lexemes("[[" * 1_000_000) == []
    assert lexemes("a" * 2_000_000) == []  # one 2 MB "word" is no search term
    assert lexemes("https://" + "x" * 2_000_000) == []
    assert lexemes("слово-" * 400_000) == ["слово"] * 400_000
    assert lexemes("don't'" * 300_000) == []


def test_confidence_is_high_for_rare_words_the_chunk_holds_and_low_otherwise() -> None:
    corpus = ["пчёлы зимуют в улье", "пчёлы летают летом", "квас бродит в бочке", "пчёлы и мёд", "хлеб и квас"]
    index = LexicalIndex.build(np.arange(10, 15, dtype=np.int64), [lexemes(t) for t in corpus])
    rare = lexemes("бочка бродит")
    assert index.confidence(rare, 12) == pytest.approx(1.0)  # both words only in chunk 12
    assert index.confidence(lexemes("пчёлы"), 10) < 0.5  # a word most chunks share
    assert index.confidence(lexemes("winter bees"), 10) == 0.0  # the other language: nothing held
    assert index.confidence(rare, 10) == 0.0 and index.confidence([], 12) == 0.0
    assert index.confidence(rare, 999) == 0.0  # an id the index does not hold
