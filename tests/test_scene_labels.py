"""Scene labels: c-TF-IDF terms over Russian/English notes and an extractive one-line summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from stop_words import get_stop_words

from vaultmind.scenes.labels import SceneLabel, SceneText, label_scenes, normalise, tokens

SAMPLE_VAULT = Path(__file__).resolve().parent.parent / "sample_vault"
STOP = {w.replace("ё", "е") for w in get_stop_words("russian") + get_stop_words("english")}
MARKDOWN = ("**", "#", ">", "[[", "]]", "http", "www.")

BEES = [
    [
        "Улей Лангстрота собирают из одинаковых корпусов, поставленных друг на друга.",
        "Пчёлы строят соты на рамках внутри улья и не застраивают пчелиный промежуток.",
        "Рамки в улье висят на плечиках, и пчела свободно ходит между ними.",
    ],
    [
        "Перед зимовкой ульи утепляют и сокращают гнездо.",
        "В сильных ульях пчёлы зимуют плотным клубом до самой весны.",
        "Это очень важно: пчелам нужен корм на всю зиму, около двадцати килограммов мёда.",
    ],
    [
        "Весной осматриваю все двенадцать ульев в тихий тёплый день.",
        "Слабую семью пчёл объединяю с соседней, а в улей без корма ставлю рамку мёда.",
    ],
]
BREAD = [
    [
        "A sourdough starter needs regular feeding with flour and water.",
        "I keep two starters in the fridge and feed the starters every week.",
        "Discard half of the starter before feeding, see https://example.com/sourdough-guide.",
    ],
    [
        "Bulk fermentation of sourdough takes five hours at room temperature.",
        "The starters are ready when they double in volume after feeding.",
    ],
    [
        "Rye sourdough needs a rye starter and a long, cool proof.",
        "My rye loaves stayed dense until I fed the starter twice a day.",
    ],
]
AI = [
    [
        "Языковые модели забывают старые навыки после дообучения.",
        "Small models forget old skills after fine-tuning on narrow data.",
        "Для каждой модели я собираю отдельный датасет из своих заметок.",
    ],
    [
        "Оценка моделей без бенчмарков: смотрю, как модель отвечает на мои вопросы.",
        "Models that score well on public benchmarks still fail on my notes.",
    ],
    [
        "LoRA adapters let large models learn a new skill cheaply.",
        "The base model stays frozen while the adapter learns.",
        "Ранг адаптера определяет, сколько модель может выучить.",
    ],
]


def group(prefix: str, titles: list[str], notes: list[list[str]]) -> list[SceneText]:
    return [
        SceneText(f"{prefix}/{title}.md", title, "\n\n".join(sentences), 1.0 - i / 10)
        for i, (title, sentences) in enumerate(zip(titles, notes, strict=True))
    ]


@pytest.fixture(scope="module")
def vault() -> dict[int, list[SceneText]]:
    return {
        0: group("bees", ["Устройство улья", "Зимовка пчёл", "Весенний осмотр"], BEES),
        1: group("bread", ["Sourdough starter", "Bulk fermentation", "Rye experiments"], BREAD),
        2: group("ai", ["Модели и дообучение", "Оценка без бенчмарков", "LoRA"], AI),
    }


@pytest.fixture(scope="module")
def labels(vault: dict[int, list[SceneText]]) -> dict[int, SceneLabel]:
    return label_scenes(vault)


def test_russian_word_forms_share_one_key() -> None:
    assert normalise("моделей") == normalise("модели") == normalise("модель") == "модель"
    assert normalise("ульи") == normalise("ульев") == normalise("улей") == normalise("улья") == "улей"
    assert normalise("пчёлы") == normalise("Пчела") == normalise("пчелам") == "пчела"


def test_english_plurals_share_one_key() -> None:
    assert normalise("models") == normalise("model")
    assert normalise("starters") == normalise("Starter")
    assert normalise("models") != normalise("модели")


def test_tokens_drop_stop_words_urls_and_markdown() -> None:
    text = (
        "> **Модели** — это то, что мы **также** обучаем! See https://huggingface.co/models and "
        "www.example.org. Связано: [[LTM_1|долговременная память]], [[Сцена]] #ai/lora.\n"
        "<!-- UID: 12f20603 --> Fine-tuning GPT-4 in 2025, ёлка, кто-то, don't stop."
    )
    keys = tokens(text)
    assert keys.count("модель") == 1
    kept = {"ltm", "долговременный", "память", "сцена", "lora", normalise("fine-tuning"), "gpt", "елка"}
    dropped = {"http", "https", normalise("huggingface"), "www", "com", "org", "uid", "кто"}
    assert kept <= set(keys) and not set(keys) & (STOP | dropped)
    assert all(len(k) >= 3 and not any(c.isdigit() for c in k) for k in keys)


def test_labels_name_each_group_by_its_own_normalised_terms(labels: dict[int, SceneLabel]) -> None:
    assert {"улей", "пчела"} <= set(labels[0].terms)
    assert {"sourdough"} <= set(labels[1].terms) and {"starter", "starters"} & set(labels[1].terms)
    assert "модель" in labels[2].terms and {"model", "models"} & set(labels[2].terms)
    for label in labels.values():
        assert 3 <= len(label.terms) <= 4
        assert len(set(label.terms)) == len(label.terms)


def test_display_forms(labels: dict[int, SceneLabel]) -> None:
    # Russian terms show as the normal form, never as the form that happened to occur
    occurred = {"ульев", "ульи", "улья", "пчёлы", "пчелы", "модели", "моделей"}
    assert not occurred & set(labels[0].terms + labels[2].terms)
    # English terms show as their most frequent surface form: "models" 3×, "model" 1×
    assert "models" in labels[2].terms and "model" not in labels[2].terms


def test_terms_are_never_stop_words_or_url_fragments(labels: dict[int, SceneLabel]) -> None:
    for label in labels.values():
        for term in label.terms:
            assert term.replace("ё", "е") not in STOP | {"https", "http", "www", "com", "example", "это"}
            assert term.isalpha() or "-" in term


def test_summary_is_a_sentence_from_the_central_notes(labels: dict[int, SceneLabel]) -> None:
    for label, notes in zip(labels.values(), (BEES, BREAD, AI), strict=True):
        assert label.summary in {s for note in notes for s in note}
        assert len(label.summary) <= 160
        assert not any(mark in label.summary for mark in MARKDOWN)


def test_summary_strips_markdown_and_keeps_wikilink_display_text() -> None:
    text = (
        "# Улей\n\n"
        "Коротко.\n\n"
        "- [[улей]], [[рамка]], [[пчела]]\n\n"
        "> **Улей** стоит под липой, подробнее в [[02_устройство_улья|описании улья]] и в [[Подкормка]].\n"
    )
    label = label_scenes({7: [SceneText("a.md", "Улей под липой", text, 1.0)]})[7]
    assert label.summary == "Улей стоит под липой, подробнее в описании улья и в Подкормка."


def test_summary_has_no_footnotes_math_tags_or_block_ids() -> None:
    text = (
        "$$\nF(y, \\sigma) = y\n$$\n\n"
        "Пчёлы *зимуют* ==клубом== в улье, ~~кажется~~ `всегда`[^1] #bees/winter, "
        "см. [[02_устройство_улья#^frame]] и [описание](https://example.com/hive). ^winter\n\n"
        "[^1]: Пчёлы и улей, улей и пчёлы, из книги про ульи.\n"
    )
    label = label_scenes({1: [SceneText("a.md", "Зимовка", text, 1.0)]})[1]
    assert label.summary == "Пчёлы зимуют клубом в улье, кажется всегда, см. 02_устройство_улья и описание."


def test_long_summary_is_cut_at_a_word_boundary() -> None:
    sentence = "Пчёлы в улье " + " ".join(["строят соты из воска и носят мёд"] * 10) + "."
    label = label_scenes({1: [SceneText("a.md", "Пчёлы", sentence, 1.0)]})[1]
    assert len(label.summary) <= 160 and label.summary.endswith("…")
    head = label.summary[:-1]
    assert sentence.startswith(head) and sentence[len(head)] == " "


def test_summary_prefers_the_most_central_notes() -> None:
    notes = [
        SceneText("far.md", "Далёкая", "Пчёлы и улей: пчёлы живут в улье, а улей стоит в саду.", 0.1),
        SceneText("mid1.md", "Средняя", "Весной я ставлю улей на новое место у забора.", 0.5),
        SceneText("mid2.md", "Вторая", "Пчёлы летят за нектаром, пока цветёт липа.", 0.6),
        SceneText("top.md", "Главная", "Мой первый улей купил вместе с пчёлами у соседа.", 0.9),
    ]
    # the far note has the best sentence: it wins when it is among the three most central...
    assert label_scenes({1: notes[:2]})[1].summary == notes[0].text
    # ...and is not read when three notes are more central
    assert label_scenes({1: notes})[1].summary == notes[3].text


def test_a_term_from_one_note_counts_less_than_one_shared_by_the_scene() -> None:
    # equal counts: without the penalty the tie would go to "варроа", alphabetically first
    texts = ["варроа варроа варроа", "пчела", "пчёлы", "пчелу"]
    notes = [SceneText(f"{i}.md", f"2025-05-0{i}", t, 1.0) for i, t in enumerate(texts)]
    assert label_scenes({1: notes}, terms=1)[1].terms == ("пчела",)
    assert label_scenes({1: notes[:2]}, terms=1)[1].terms == ("варроа",)  # a 2-note scene: no penalty


def test_empty_and_wordless_groups_fall_back_to_the_title() -> None:
    wordless = [
        SceneText("n/2025.md", "2025-05-01", "1234 — !!! https://example.com", 0.2),
        SceneText("n/x.md", "Это всё", "42, и то, и это", 0.9),  # only stop words and digits
    ]
    labels = label_scenes({0: [], 1: wordless, 2: [SceneText("n/y.md", "", "", 0.0)]})
    assert labels[0] == SceneLabel((), "")
    assert labels[1] == SceneLabel(("Это", "всё"), "Это всё")
    assert labels[2] == SceneLabel((), "")
    assert label_scenes({}) == {}


def test_labelling_is_deterministic(vault: dict[int, list[SceneText]], labels: dict[int, SceneLabel]) -> None:
    assert label_scenes(vault) == labels
    reordered = {gid: list(reversed(vault[gid])) for gid in sorted(vault, reverse=True)}
    assert label_scenes(reordered) == labels


def test_terms_argument(vault: dict[int, list[SceneText]]) -> None:
    assert all(len(label.terms) == 3 for label in label_scenes(vault, terms=3).values())
    with pytest.raises(ValueError):
        label_scenes(vault, terms=0)


def read_note(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1251")  # one sample note is saved in Windows-1251 on purpose
    if text.startswith("---"):
        parts = text.split("---", 2)
        text = parts[2] if len(parts) == 3 else text
    return text


EXPECTED = {  # at least one of these should name each sample-vault folder
    "ai": {"модель", "сцена", "память", "агент", "lora", "fine-tuning", "датасет", "слой", "embeddings"},
    "bees": {"пчела", "улей", "матка", "рамка", "мёд", "клещ", "варроа", "роение", "расплод", "семья"},
    "bread": {"starter", "sourdough", "flour", "dough", "bread", "закваска", "bulk", "fermentation", "crumb"},
    "hiking": {"маршрут", "перевал", "вода", "гора", "ночёвка", "тропа", "озеро", "снаряжение", "trail"},
    "stoic": {"сенека", "seneca", "marcus", "гнев", "стоик", "stoic", "review", "evening", "контроль"},
}


def test_sample_vault_folders_get_fitting_labels() -> None:
    folders = sorted(p for p in SAMPLE_VAULT.iterdir() if p.is_dir() and p.name in EXPECTED)
    assert [p.name for p in folders] == sorted(EXPECTED)
    groups = {
        i: [
            SceneText(str(f.relative_to(SAMPLE_VAULT)), f.stem, read_note(f), 1.0 / (1 + j))
            for j, f in enumerate(sorted(folder.rglob("*.md")))
            if f.name != "README.md"
        ]
        for i, folder in enumerate(folders)
    }
    labels = label_scenes(groups)
    for i, folder in enumerate(folders):
        label = labels[i]
        assert set(label.terms) & EXPECTED[folder.name], (folder.name, label)
        assert len(label.terms) == 4
        assert 25 <= len(label.summary) <= 160
        assert not any(mark in label.summary for mark in MARKDOWN), label.summary


def test_a_lead_in_sentence_is_never_a_summary() -> None:
    """A sentence that ends in a colon introduces what follows; alone it says nothing."""
    text = ("И помнить, что такое сцена смысла и граф заметок сцены:\n\n"
            "Сцена смысла держит вместе заметки одного понятия и граф их связей.\n")
    summary = label_scenes({7: [SceneText("a.md", "Сцена смысла", text, 1.0)]})[7].summary
    assert summary.startswith("Сцена смысла держит")
