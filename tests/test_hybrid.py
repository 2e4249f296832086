"""Hybrid retrieval: channels from one spelling, fusion, stored per model, the lexical
channel kept incrementally, `search --explain` and `--json`, the daemon and `verify`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind import pipeline
from vaultmind.cli import main
from vaultmind.embed import Channels, load_channels
from vaultmind.embed.channels import channel_names
from vaultmind.errors import ModelError
from vaultmind.lexical import LEXICAL_VERSION, LexicalIndex
from vaultmind.retrieval import NoteRank, fuse
from vaultmind.store import Store
from vaultmind.types import MEANING_SEPARATOR, ChannelHit, meaning_parts

from .conftest import SAMPLE_VAULT, HashEmbedder, hash_channels
from .test_watch import Running, differences, settle, wait_until


def _ranking(*notes: str) -> list[NoteRank]:
    return [NoteRank(note, 1.0 / i, i) for i, note in enumerate(notes, 1)]


# ---------------------------------------------------------------- fusion


def test_fusion_sums_weighted_reciprocal_ranks() -> None:
    fused = fuse({"e5": _ranking("a", "b", "c"), "use": _ranking("b", "a"), "bm25": _ranking("c")},
                 {"e5": 1.0, "use": 1.0, "bm25": 1.0}, k=60)
    scores = {n.note: n.score for n in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [n.note for n in fused] == ["a", "b", "c"]  # a and b tie (a was found first), then c
    assert fused[2].channels == {"e5": ChannelHit(3, pytest.approx(1 / 3)), "bm25": ChannelHit(1, 1.0)}
    assert fused[0].channels == {"e5": ChannelHit(1, 1.0), "use": ChannelHit(2, 0.5)}


def test_fusion_weights_decide_and_a_tie_goes_to_the_note_more_channels_found() -> None:
    rankings = {"e5": _ranking("a", "b"), "use": _ranking("b", "a")}
    assert fuse(rankings, {"e5": 2.0, "use": 1.0})[0].note == "a"
    assert fuse(rankings, {"e5": 1.0, "use": 2.0})[0].note == "b"
    tied = fuse({"e5": _ranking("x", "y"), "use": _ranking("z", "y")}, {"e5": 1.0, "use": 1.0}, k=0)
    assert [n.note for n in tied] == ["y", "x", "z"]  # y: 1/2 + 1/2 ties x and z (1/1); two channels found it


def test_one_channel_keeps_its_own_score_and_order() -> None:
    fused = fuse({"e5": [NoteRank("a", 0.91, 7), NoteRank("b", 0.85, 3)]})
    assert [(n.note, n.score, n.chunk) for n in fused] == [("a", 0.91, 7), ("b", 0.85, 3)]


def test_the_best_chunk_comes_from_the_channel_that_contributed_most() -> None:
    fused = fuse({"e5": [NoteRank("a", 0.9, 11)], "bm25": [NoteRank("b", 3.0, 5), NoteRank("a", 2.0, 12)]},
                 {"e5": 1.0, "bm25": 1.0})
    assert next(n for n in fused if n.note == "a").chunk == 11


# ---------------------------------------------------------------- channels


def test_a_spelling_names_its_channels_once_each() -> None:
    assert channel_names("e5+use+bm25") == ["e5", "use", "bm25"]
    assert channel_names(" use + bm25 + use") == ["use", "bm25"]
    with pytest.raises(ModelError, match="empty channel"):
        channel_names("e5++bm25")


def test_loading_channels_loads_no_model_and_names_the_meaning(hash_embedder) -> None:
    channels = load_channels("e5+use+bm25")
    assert channels.names == ["e5", "use"] and channels.lexical
    assert channels.model_id == MEANING_SEPARATOR.join(m.model_id for m in channels.dense)
    assert meaning_parts(channels.model_id) == [m.model_id for m in channels.dense]
    assert meaning_parts("") == []
    assert load_channels("bm25").model_id == "" and load_channels("bm25").dense == []
    with pytest.raises(ModelError, match="unknown model"):
        load_channels("e5+nope")


def test_an_unknown_device_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown device"):
        load_channels("use", device="tpu")
    with pytest.raises(vaultmind.ConfigError, match="device"):
        vaultmind.Config().with_overrides(device="tpu")
    from vaultmind.embed import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")


def test_fused_vectors_are_the_models_vectors_side_by_side(tmp_path: Path, state_dir: Path) -> None:
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE_VAULT / "bees", vault)
    a, b = HashEmbedder("a", 64), HashEmbedder("b", 32)
    channels = Channels([a, b], ["a", "b"], lexical=False)
    vaultmind.index(vault, state_dir=state_dir, embedder=channels, scenes=False)
    with Store.open(state_dir) as store:
        ids_a, _p, matrix_a = pipeline.stored_vectors(store, a.model_id)
        ids_b, _p, matrix_b = pipeline.stored_vectors(store, b.model_id)
        ids, paths, fused = pipeline.stored_vectors(store, channels.model_id)
        assert fused.shape == (len(ids_a), 96)
        assert (ids == ids_a).all() and (ids == ids_b).all()
        assert np.allclose(fused, np.hstack([matrix_a, matrix_b]) / np.sqrt(2), atol=1e-6)
        assert np.allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
        assert store.vector_fingerprint(channels.model_id) == store.vector_fingerprint(a.model_id)
    assert (state_dir / pipeline.vector_index_path(state_dir, a.model_id).name).exists()
    assert (state_dir / pipeline.vector_index_path(state_dir, b.model_id).name).exists()


def test_adding_a_channel_embeds_only_for_the_new_model(tmp_path: Path, state_dir: Path) -> None:
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE_VAULT / "bread", vault)
    a, b = HashEmbedder("a"), HashEmbedder("b")
    first = vaultmind.index(vault, state_dir=state_dir, embedder=Channels([a], ["a"], lexical=False), scenes=False)
    assert first.embedded == first.chunks and a.texts == first.chunks
    with Store.open(state_dir) as store:
        assert store.chunks_without_lexemes(LEXICAL_VERSION) != []  # bm25 was off: nothing split yet
    both = Channels([a, b], ["a", "b"], lexical=True)
    second = vaultmind.index(vault, state_dir=state_dir, embedder=both, scenes=False)
    assert second.embedded == second.chunks  # b's vectors only
    assert a.texts == first.chunks and b.texts == second.chunks
    with Store.open(state_dir) as store:
        assert store.chunks_without_lexemes(LEXICAL_VERSION) == []
        assert store.lexeme_fingerprint(LEXICAL_VERSION)[0] == store.chunk_count()
    third = vaultmind.index(vault, state_dir=state_dir, embedder=both, scenes=False)
    assert third.embedded == 0 and a.texts == first.chunks and b.texts == second.chunks


def test_the_lexical_index_follows_edits_without_splitting_old_text_again(tmp_path: Path, state_dir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE_VAULT / "bees", vault)
    vaultmind.index(vault, state_dir=state_dir, model="bm25", scenes=False)
    split: list[str] = []
    real = pipeline.lexical.lexemes
    monkeypatch.setattr(pipeline.lexical, "lexemes", lambda text: split.append(text) or real(text))
    (vault / "new.md").write_text("# Пыльца\n\nПерга — это пыльца, сложенная пчёлами в соты и заквашенная.\n",
                                  encoding="utf-8")
    vaultmind.index(vault, state_dir=state_dir, model="bm25", scenes=False)
    assert len(split) == 1 and "Перга" in split[0]  # only the new chunk text
    hits = vaultmind.search(vault, "перги", model="bm25", state_dir=state_dir)
    assert hits[0].note == "new.md" and set(hits[0].channels) == {"bm25"}
    (vault / "new.md").unlink()
    vaultmind.index(vault, state_dir=state_dir, model="bm25", scenes=False)
    assert all(h.note != "new.md" for h in vaultmind.search(vault, "перга пыльца", model="bm25", state_dir=state_dir))
    assert vaultmind.verify(vault, state_dir=state_dir, model="bm25") == []


# ---------------------------------------------------------------- search, the CLI


@pytest.fixture
def bm25_vault(tmp_path: Path) -> tuple[Path, Path]:
    vault, state = tmp_path / "vault", tmp_path / "state"
    shutil.copytree(SAMPLE_VAULT, vault)
    result = CliRunner().invoke(main, ["index", str(vault), "--state-dir", str(state), "--model", "bm25", "-q"])
    assert result.exit_code == 0, result.output
    return vault, state


def test_search_explain_shows_every_channel_rank_and_score(tmp_path: Path, state_dir: Path) -> None:
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE_VAULT, vault)
    runner = CliRunner()
    assert runner.invoke(main, ["index", str(vault), "--state-dir", str(state_dir), "-q"]).exit_code == 0
    result = runner.invoke(main, ["search", str(vault), "щавелевая кислота клещ", "--state-dir", str(state_dir),
                                  "-n", "3", "--explain"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    explained = [line.strip() for line in lines if "use " in line and "bm25 " in line]
    assert len(explained) == 3, result.output
    pattern = re.compile(r"(e5|use|use notes|bm25) (#\d+ \(-?\d+\.\d{3}\)|–)")
    # the default channels: use (its chunks and its notes) and bm25
    assert all([m.group(1) for m in pattern.finditer(line)] == ["use", "use notes", "bm25"] for line in explained)
    assert any("#1 (" in line for line in explained)
    data = json.loads(runner.invoke(main, ["search", str(vault), "щавелевая кислота клещ", "--state-dir",
                                           str(state_dir), "-n", "3", "--json"]).output)
    assert len(data) == 3 and all(set(hit["channels"]) <= {"use", "use notes", "bm25"} for hit in data)
    assert all(isinstance(c["rank"], int) and c["rank"] >= 1 for hit in data for c in hit["channels"].values())
    assert "bm25" in data[0]["channels"]
    # each hit's channels come in the fused order, which the app and --explain show
    assert all(list(hit["channels"]) == sorted(hit["channels"], key=vaultmind.channel_order) for hit in data)
    assert sorted(["bm25", "use notes", "e5", "st:x", "use"], key=vaultmind.channel_order) == \
        ["e5", "use", "st:x", "use notes", "bm25"]


def test_bm25_alone_finds_inflected_russian_and_english_stems(bm25_vault) -> None:
    vault, state = bm25_vault
    hits = vaultmind.search(vault, "щавелевой кислотой", model="bm25", state_dir=state, limit=3)
    # "щавелевая кислота" in the note's text; a short chunk of the winter dialogue names it too
    assert "bees/11_щавелевая_кислота_сублимация.md" in [h.note for h in hits]
    assert all(set(h.channels) == {"bm25"} and h.channels["bm25"].score > 0 for h in hits)
    hits = vaultmind.search(vault, "hydrated doughs", model="bm25", state_dir=state, limit=3)
    assert hits[0].note == "bread/15_hydration_math.md"
    assert vaultmind.search(vault, "zzzqqq", model="bm25", state_dir=state) == []


def test_a_channel_never_indexed_is_named_in_the_error(bm25_vault) -> None:
    vault, state = bm25_vault
    with pytest.raises(vaultmind.NotEmbedded):
        vaultmind.search(vault, "bees", model="use", state_dir=state)
    result = CliRunner().invoke(main, ["related", str(vault), "09_варроа_клещ", "--state-dir", str(state)])
    assert result.exit_code == 1 and "nothing is embedded" in result.output


def test_index_device_flag_is_checked(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "a.md").write_text("hello", encoding="utf-8")
    result = CliRunner().invoke(main, ["index", str(vault), "--device", "tpu"])
    assert result.exit_code == 2 and "tpu" in result.output


# ---------------------------------------------------------------- the daemon, the note view


def test_the_daemon_keeps_every_channel_fresh(tmp_path: Path) -> None:
    vault, state = tmp_path / "vault", tmp_path / "state"
    shutil.copytree(SAMPLE_VAULT / "bread", vault)
    channels = hash_channels("e5+use+bm25")
    with Running(vault, state, embedder=channels):
        (vault / "kvass.md").write_text("# Квас\n\nКвас из ржаных сухарей бродит двое суток.\n", encoding="utf-8")
        settle(vault, state)
        # after the quiet spell the daemon has brought the search caches up to date on disk
        wait_until(lambda: not vaultmind.watch_status(vault, state_dir=state).stale
                   and vaultmind.watch_status(vault, state_dir=state).state == "idle", "the quiet-spell refresh")
        with Store.open(state) as store:
            saved = LexicalIndex.load(pipeline.lexical_index_path(state))
            assert saved is not None and saved.fingerprint == store.lexeme_fingerprint(LEXICAL_VERSION)
            assert list(state.glob("notes-*.npz"))
        hits = vaultmind.search(vault, "квас на сухарях", embedder=channels, state_dir=state, limit=3)
        assert hits[0].note == "kvass.md" and "bm25" in hits[0].channels
        (vault / "kvass.md").unlink()
        settle(vault, state)
    assert differences(vault, state, "e5+use+bm25") == []
    assert all(h.note != "kvass.md" for h in vaultmind.search(vault, "квас", embedder=channels, state_dir=state))


def test_the_note_view_is_saved_and_made_again_when_chunks_change(tmp_path: Path, state_dir: Path) -> None:
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE_VAULT / "bees", vault)
    channels = hash_channels("use")
    vaultmind.index(vault, state_dir=state_dir, embedder=channels, scenes=False)
    hits = vaultmind.search(vault, "улей зимовка", embedder=channels, state_dir=state_dir)
    assert any("use notes" in h.channels for h in hits)
    saved = list(state_dir.glob("notes-*.npz"))
    assert len(saved) == 1
    before = saved[0].stat().st_mtime_ns
    vaultmind.search(vault, "матка", embedder=channels, state_dir=state_dir)
    assert saved[0].stat().st_mtime_ns == before  # unchanged chunks: the saved view is reused
    (vault / "new.md").write_text("# Новая\n\nЗимовка пчёл в омшанике.\n", encoding="utf-8")
    vaultmind.index(vault, state_dir=state_dir, embedder=channels, scenes=False)
    hits = vaultmind.search(vault, "омшаник", embedder=channels, state_dir=state_dir)
    assert saved[0].stat().st_mtime_ns != before
    assert "new.md" in [h.note for h in hits]
    # every note in the view carries a chunk of its own, so a hit found only by it shows a passage
    found = [h for h in hits if set(h.channels) == {"use notes"}]
    assert all(h.text for h in found)
