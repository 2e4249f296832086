"""The secret scan: fake but real-looking credentials planted in Russian and English sentences are
replaced and the words around them stay; ordinary notes (the sample vault, the real vaults
beside the repository) produce no findings; a chip is redacted in every string it carries or
dropped whole."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from .conftest import REAL_VAULTS, SAMPLE_VAULT
from vaultmind.chips.privacy import Secret, find_secrets, redact, scrub_chip
from vaultmind.chips.record import chip_id, exact_hash
from vaultmind.types import Chip, ChipMessage, ChipScene, ChipSource, Commentary, Probe

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s0T"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE = "sk_live_51HcK2bL9xYzAbCdEfGhIjKlMn"
OPENAI = "sk-proj-Xq7vR2mK9pL4sT8wN3bC6yH1jF5dG0aZeU7iO2kM4nB9vC3xQ"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ijox"
       "NTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
KEY_BODY = ("MIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumGwpZm9vYmFyYmF6cXV4\n"
            "q3Rm8uYb4hQ2XoLw7pN1cVt5sK9eJdF0gHiA6zBrMyCnDxEsGtHuIvJwKx\n"
            "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=")
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"

PLANTED = [
    # (sentence, the secret in it, words that must stay)
    (f"Ключ доступа AWS: {AWS_ID}, храню отдельно.", AWS_ID, ["Ключ доступа AWS:", "храню отдельно."]),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, ["aws_secret_access_key ="]),
    (f"и секрет к нему {AWS_SECRET}, не забыть", AWS_SECRET, ["и секрет к нему", ", не забыть"]),
    (f"My token is {GITHUB} for the deploy repo.", GITHUB, ["My token is", "for the deploy repo."]),
    (f"Бот в Slack: {SLACK} — не публиковать", SLACK, ["Бот в Slack:", "— не публиковать"]),
    (f"Stripe test went fine with {STRIPE} yesterday", STRIPE, ["Stripe test went fine with", "yesterday"]),
    (f"OpenAI key {OPENAI} (the new one)", OPENAI, ["OpenAI key", "(the new one)"]),
    ("Пароль от роутера password: hunter2xyz! не говорить", "hunter2xyz!",
     ["Пароль от роутера password:", "не говорить"]),
    ("пароль: Tr0ub4dor&3 — от почты", "Tr0ub4dor&3", ["пароль:", "— от почты"]),
    ('db_password = "correct-horse-battery-9"', "correct-horse-battery-9", ["db_password ="]),
    (f"Заголовок Authorization: Bearer {JWT}.", JWT, ["Заголовок Authorization: Bearer", "."]),
    ("Подключение postgres://admin:s3cr3tPassw0rd@db.example.com:5432/app работает",
     "s3cr3tPassw0rd", ["Подключение postgres://admin:", "@db.example.com:5432/app работает"]),
]


def make_chip(*, messages=(), text=None, probe=None, commentary=(), label="сад", context=("Сад",)) -> Chip:
    kind = "probe" if probe else "scene_doc" if text is not None else "dialogue"
    draft = Chip(chip_id="", kind=kind, lang="ru", source=ChipSource("a.md", "0" * 64, 1, 5),
                 scene=ChipScene(1, label, tuple(context)), messages=tuple(messages), text=text,
                 commentary=tuple(commentary), probe=probe, split="probe" if probe else "train")
    return replace(draft, chip_id=chip_id(draft), exact_hash=exact_hash(draft))


@pytest.mark.parametrize(("sentence", "secret", "kept"), PLANTED, ids=[p[1][:12] for p in PLANTED])
def test_a_planted_secret_is_replaced_and_the_words_around_it_stay(sentence: str, secret: str, kept: list[str]) -> None:
    clean = redact(sentence, find_secrets(sentence))
    assert secret not in clean
    assert "[REDACTED:" in clean
    for words in kept:
        assert words in clean


def test_spans_and_types_name_what_was_found() -> None:
    text = f"a {GITHUB} b {AWS_ID} c"
    found = find_secrets(text)
    assert [(s.type, text[s.start:s.end]) for s in found] == [("github_token", GITHUB), ("aws_access_key", AWS_ID)]
    assert redact(text, found) == "a [REDACTED:github_token] b [REDACTED:aws_access_key] c"


def test_a_private_key_block_over_several_lines_is_removed_whole() -> None:
    text = f"Вот ключ от сервера:\n{PEM}\nА дальше обычный текст."
    clean = redact(text, find_secrets(text))
    assert clean == "Вот ключ от сервера:\n[REDACTED:private_key]\nА дальше обычный текст."


def test_a_private_key_without_its_end_line_is_removed_to_its_last_key_line() -> None:
    text = f"Обрезанный ключ:\n-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n\nПотом заметки."
    clean = redact(text, find_secrets(text))
    assert clean == "Обрезанный ключ:\n[REDACTED:private_key]\n\nПотом заметки."
    assert not any(line in clean for line in KEY_BODY.splitlines())


def test_prose_after_a_keyword_is_not_a_password() -> None:
    for text in ["The secret: we walk at dawn, my friend.", "Секрет: мы выходим на рассвете.",
                 "Секретарь: Анна Петровна", "password reset is in settings", "Пароль — это слабое место."]:
        assert find_secrets(text) == [], text


def test_contacts_are_found_only_when_asked() -> None:
    text = "Пишите на ivan.petrov@example.ru или звоните +7 916 123-45-67, 8 (916) 765-43-21, +44 20 7946 0958."
    assert find_secrets(text) == []
    found = find_secrets(text, contacts=True)
    assert [s.type for s in found] == ["email", "phone", "phone", "phone"]
    assert redact(text, found) == ("Пишите на [REDACTED:email] или звоните [REDACTED:phone], [REDACTED:phone], "
                                   "[REDACTED:phone].")


def test_dates_versions_and_numbers_are_not_phones() -> None:
    text = "Версия 2.14.3 от 2024-05-01, ISBN 978-5-389-07435-4, тираж 15000, 3.14159, 10:30–11:45."
    assert find_secrets(text, contacts=True) == []


def test_overlapping_spans_are_merged_under_the_most_specific_type() -> None:
    merged = redact("xx abcdef yy", [Secret("secret_keyword", 3, 9), Secret("github_token", 5, 7)])
    assert merged == "xx [REDACTED:github_token] yy"


def test_the_scan_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the secret scan opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert find_secrets(f"{AWS_ID} {AWS_SECRET} {SLACK} {STRIPE} {GITHUB}")


def test_scrub_chip_redacts_every_string_a_chip_carries() -> None:
    chip = make_chip(
        messages=[ChipMessage("system", f"контекст {GITHUB}", "vaultmind"),
                  ChipMessage("user", f"Что за ключ {AWS_ID}?"),
                  ChipMessage("assistant", f"Это ключ, а вот блок:\n{PEM}\nвсё.")],
        commentary=[Commentary(0, "password: hunter2xyz! — потом сменить", 3)],
        label=f"сад {SLACK}", context=(f"Заметка {STRIPE}",))
    clean, counts = scrub_chip(chip)
    assert clean is not None
    carried = [*(m.content for m in clean.messages), *(c.text for c in clean.commentary), clean.scene.label,
               *clean.scene.context_notes]
    for secret in (GITHUB, AWS_ID, KEY_BODY.splitlines()[1], "hunter2xyz!", SLACK, STRIPE):
        assert not any(secret in text for text in carried)
    assert clean.messages[1].content == "Что за ключ [REDACTED:aws_access_key]?"
    assert clean.commentary[0].text == "password: [REDACTED:secret_keyword] — потом сменить"
    assert counts == {"github_token": 1, "aws_access_key": 1, "private_key": 1, "secret_keyword": 1,
                      "slack_token": 1, "stripe_access_key": 1}
    assert clean.redactions == 6
    assert (clean.chip_id, clean.exact_hash) == (chip.chip_id, chip.exact_hash)  # the caller rehashes


def test_scrub_chip_reaches_text_and_probe_strings() -> None:
    doc, counts = scrub_chip(make_chip(text=f"Сцена.\n\nТокен {GITHUB} в заметке."))
    assert doc is not None and doc.text == "Сцена.\n\nТокен [REDACTED:github_token] в заметке."
    probe = Probe("link_choice", f"Какой ключ {AWS_ID} верный?", ("первый", f"второй {SLACK}"), 0)
    clean, counts = scrub_chip(make_chip(probe=probe))
    assert clean is not None and clean.probe is not None
    assert clean.probe.question == "Какой ключ [REDACTED:aws_access_key] верный?"
    assert clean.probe.choices == ("первый", "второй [REDACTED:slack_token]")
    assert (clean.probe.answer, clean.probe.type) == (0, "link_choice")


def test_scrub_chip_drop_mode_drops_a_chip_with_a_secret_and_keeps_a_clean_one() -> None:
    dirty = make_chip(messages=[ChipMessage("user", "вопрос"), ChipMessage("assistant", f"ответ {GITHUB}")])
    assert scrub_chip(dirty, mode="drop") == (None, {"github_token": 1})
    clean = make_chip(messages=[ChipMessage("user", "вопрос"), ChipMessage("assistant", "ответ")])
    assert scrub_chip(clean, mode="drop") == (clean, {})
    assert scrub_chip(clean) == (clean, {})
    with pytest.raises(ValueError):
        scrub_chip(clean, mode="blur")


def vault_texts(root: Path) -> list[tuple[str, str]]:
    return [(str(p.relative_to(root)), p.read_text(encoding="utf-8", errors="replace"))
            for p in sorted(root.rglob("*.md"))]


def test_the_sample_vault_has_no_secrets() -> None:
    texts = vault_texts(SAMPLE_VAULT)
    assert len(texts) > 50
    found = {path: find_secrets(text, contacts=True) for path, text in texts}
    assert {path: spans for path, spans in found.items() if spans} == {}


def test_the_real_vaults_have_no_secrets() -> None:
    if not REAL_VAULTS.is_dir():
        pytest.skip(f"{REAL_VAULTS} is not present (../shared is optional)")
    texts = vault_texts(REAL_VAULTS)
    assert len(texts) > 300
    found = {path: [(s.type, text[s.start:s.end]) for s in find_secrets(text)] for path, text in texts}
    assert {path: spans for path, spans in found.items() if spans} == {}


def test_a_secret_planted_in_a_real_note_is_the_only_finding() -> None:
    note = next(p for p in sorted(SAMPLE_VAULT.rglob("*.md")) if p.stat().st_size > 500)
    text = note.read_text(encoding="utf-8", errors="replace")
    planted = text + f"\n\ntoken {GITHUB} — удалить\n"
    found = find_secrets(planted)
    assert [planted[s.start:s.end] for s in found] == [GITHUB]
    assert redact(planted, found) == text + "\n\ntoken [REDACTED:github_token] — удалить\n"
    assert find_secrets(text) == []
