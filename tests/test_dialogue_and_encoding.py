"""Saved AI dialogues become turns; double-encoded and legacy-encoded notes are repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultmind.files import decode_note, read_text, repair_mojibake
from vaultmind.parse import parse_note

from .conftest import SHARED

SEED = SHARED / "seed"

DIALOGUE = """\
>[!nexus_user] **User** - 08.07.2025 at 8:35
> Как связаны [[пчёлы]] и время?
<!-- UID: u-1 -->

My own thought between turns, see [[Seneca]].

>[!nexus_agent] **Assistant** - 08.07.2025 at 8:36
> Ответ: терпение.
>
> ## Подробнее
> Второй абзац.
<!-- UID: a-1 -->

>[!nexus_user] **User** - 08.07.2025 at 8:40
> И последний вопрос без ответа?
<!-- UID: u-2 -->
"""


def test_dialogue_turns_in_order_with_uids() -> None:
    note = parse_note("d.md", DIALOGUE)
    assert [(t.index, t.role, t.author, t.timestamp, t.uid) for t in note.turns] == [
        (0, "user", "User", "08.07.2025 at 8:35", "u-1"),
        (1, "assistant", "Assistant", "08.07.2025 at 8:36", "a-1"),
        (2, "user", "User", "08.07.2025 at 8:40", "u-2"),
    ]
    assert note.turns[1].text == "Ответ: терпение.\n\n## Подробнее\nВторой абзац."
    assert note.turns[0].line == 1 and note.turns[1].line == 7


def test_commentary_is_kept_apart_from_turns() -> None:
    note = parse_note("d.md", DIALOGUE)
    assert [(c.after_turn, c.text) for c in note.commentary] == [
        (0, "My own thought between turns, see [[Seneca]].")
    ]
    assert all("My own thought" not in t.text for t in note.turns)


def test_note_without_dialogue_has_no_turns_or_commentary() -> None:
    note = parse_note("plain.md", "# Plain\n\nJust text with [[a link]].\n")
    assert note.turns == () and note.commentary == ()


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed is not present")
def test_mojibake_seed_parses_like_the_clean_note() -> None:
    clean = read_text(SEED, "chat-note.md", 10**8)
    broken = read_text(SEED, "mojibake-chat-note.md", 10**8)
    assert [w.code for w in broken.warnings] == ["mojibake"]
    assert "mac_roman" in broken.warnings[0].message
    assert clean.warnings == ()
    a = parse_note("chat-note.md", clean.text)
    b = parse_note("chat-note.md", broken.text)
    assert b.text.rstrip("\n") == a.text.rstrip("\n")
    assert [(l.kind, l.link, l.line) for l in b.links] == [(l.kind, l.link, l.line) for l in a.links]
    assert len(a.links) == 41
    assert b.turns == a.turns and len(a.turns) == 2
    assert b.turns[0].text.startswith("Многие статьи")
    # the file itself is never rewritten
    assert (SEED / "mojibake-chat-note.md").read_text(encoding="utf-8").startswith(
        ">[!nexus_user] **User** - 08.07.2025 at 8:35\n> –ú"
    )


@pytest.mark.parametrize("codec", ["sloppy-windows-1252", "mac_roman", "latin-1"])
def test_double_encoding_through_each_codepage_is_repaired(codec: str) -> None:
    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codec Windows tools really use)

    original = "Заметка про [[пчёлы]] — и café 🐝"
    garbled = original.encode("utf-8").decode(codec)
    repaired = repair_mojibake(garbled)
    assert repaired is not None and repaired[0] == original


def test_twice_double_encoded_text_is_repaired() -> None:
    original = "Сцена и [[смысл]]"
    garbled = original.encode("utf-8").decode("mac_roman").encode("utf-8").decode("mac_roman")
    assert repair_mojibake(garbled) == (original, "mac_roman")


def test_clean_text_is_left_alone() -> None:
    for text in ("plain ascii", "Русский текст с [[ссылкой]]", "Café — naïve", "emoji 🐝 ok"):
        assert repair_mojibake(text) is None


def test_cp1251_note_is_decoded_with_a_warning() -> None:
    text, warnings = decode_note("old.md", "Старая заметка про [[ульи]] и мёд.".encode("cp1251"), 10**7)
    assert text == "Старая заметка про [[ульи]] и мёд."
    assert [(w.path, w.code) for w in warnings] == [("old.md", "encoding")]
    assert "cp1251" in warnings[0].message
