"""The synthetic vault every benchmark runs on, and the caches built from it.

`generate(root, notes, seed)` writes the same files for the same (notes, seed, VERSION): notes on
twelve themes with their own English and Russian words (notes of a theme share words and link
mostly to each other); log-normal sizes (median about 1.5 KB, at most 40 KB) with headings,
tasks and code blocks; front matter in half; `[[wikilinks]]` to Zipf-popular notes in five
forms, 5% to notes never written; saved AI dialogues, daily notes, names used in two folders,
canvases and attachments. `vault`, `indexed` and their copies are cached under `.asv/work/`.
The size of a run is `NOTES`: `VAULTMIND_BENCH_NOTES`, 10,000 unless set (smoke: 200).
"""

import fcntl
import hashlib
import json
import math
import os
import random
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".asv" / "work"
NOTES = int(os.environ.get("VAULTMIND_BENCH_NOTES", "10000"))
VERSION = 2

THEMES = {  # folder: (English words, Russian words)
    "Bees": ("hive queen nectar swarm comb wax drone brood pollen smoke frame apiary",
             "улей матка нектар рой соты воск трутень расплод пыльца дымарь рамка пасека"),
    "Kitchen": ("sourdough flour yeast oven dough crumb starter proof butter broth knead crust",
                "закваска мука дрожжи печь тесто мякиш опара расстойка масло бульон замес корка"),
    "Dev": ("python function compiler debugger commit branch parser module exception test build merge",
            "функция компилятор отладчик коммит ветка парсер модуль исключение тест сборка слияние код"),
    "ML": ("model gradient embedding attention tensor dataset loss epoch layer token weights training",
           "модель градиент эмбеддинг внимание тензор датасет потеря эпоха слой токен веса обучение"),
    "Garden": ("tomato compost seedling soil mulch pruning greenhouse watering roots harvest seeds beds",
               "томат компост рассада почва мульча обрезка теплица полив корни урожай семена грядки"),
    "Music": ("chord melody rhythm guitar scale tempo harmony piano rehearsal score octave tuning",
              "аккорд мелодия ритм гитара гамма темп гармония фортепиано репетиция партитура октава строй"),
    "Mind": ("attention habit memory focus sleep anxiety reflection journal meaning doubt curiosity calm",
             "внимание привычка память фокус сон тревога рефлексия дневник смысл сомнение любопытство покой"),
    "Travel": ("train mountain border passport hostel ferry valley map route luggage station coast",
               "поезд гора граница паспорт хостел паром долина карта маршрут багаж вокзал побережье"),
    "Money": ("budget invoice savings interest loan expense income tax portfolio rent salary pension",
              "бюджет счёт сбережения процент кредит расход доход налог портфель аренда зарплата пенсия"),
    "Health": ("running protein stretching knee posture vitamin heart breathing cardio injury fasting walk",
               "бег белок растяжка колено осанка витамин сердце дыхание кардио травма голодание прогулка"),
    "Books": ("novel chapter author essay library reading quote margin character plot poem translation",
              "роман глава автор эссе библиотека чтение цитата поля персонаж сюжет стихотворение перевод"),
    "Home": ("kitchen shelf paint drill window boiler roof floor lamp tiles insulation curtain",
             "кухня полка краска дрель окно котёл крыша пол лампа плитка утепление штора"),
}
COMMON = ("the and of a to in is it that with for as on this but not or because when then",
          "и в не на что это как но по из за для то же или если когда потом уже")
ATTACHMENTS = "Files"


def _zipf(n: int, exponent: float = 1.0) -> list[float]:
    return list(np.cumsum([1.0 / (rank + 1) ** exponent for rank in range(n)]))


class _Writer:
    """Words, sentences and links for one vault; all randomness comes from `rng`."""

    def __init__(self, rng: random.Random, names: list[str], themes: list[str], missing: list[str]) -> None:
        self.rng, self.names, self.themes, self.missing = rng, names, themes, missing
        self.words = {t: (en.split(), ru.split()) for t, (en, ru) in THEMES.items()}
        self.common = (COMMON[0].split(), COMMON[1].split())
        self.by_theme = {t: [i for i, x in enumerate(themes) if x == t] for t in THEMES}
        self.weights = {t: _zipf(len(ids)) for t, ids in self.by_theme.items()}
        self.everyone, self.missing_weights = _zipf(len(names)), _zipf(len(missing), 1.1)
        self.links = self.unresolved = 0

    def sentence(self, theme: str, lang: int) -> str:
        words = [self.rng.choice(self.words[theme][lang] if self.rng.random() < 0.6 else self.common[lang])
                 for _ in range(self.rng.randint(6, 14))]
        return " ".join(words).capitalize() + "."

    def link(self, theme: str) -> str:
        self.links += 1
        rng = self.rng
        if rng.random() < 0.05:
            self.unresolved += 1
            return f"[[{rng.choices(self.missing, cum_weights=self.missing_weights)[0]}]]"
        if rng.random() < 0.85:
            target = self.names[rng.choices(self.by_theme[theme], cum_weights=self.weights[theme])[0]]
        else:
            target = self.names[rng.choices(range(len(self.names)), cum_weights=self.everyone)[0]]
        form = rng.random()
        if form < 0.6:
            return f"[[{target.rsplit('/', 1)[-1]}]]"
        if form < 0.75:
            return f"[[{target.rsplit('/', 1)[-1]}|{self.sentence(theme, 0).split()[0].lower()}]]"
        if form < 0.85:
            return f"[[{target.rsplit('/', 1)[-1]}#Notes]]"
        return f"![[{target}]]" if form < 0.9 else f"[[{target}]]"

    def paragraph(self, theme: str, lang: int) -> str:
        parts = [self.sentence(theme, lang) for _ in range(self.rng.randint(2, 5))]
        parts.append(f"See {self.link(theme)}.")
        if self.rng.random() < 0.5:
            parts.insert(1, f"Compare {self.link(theme)}.")
        return " ".join(parts)

    def note(self, i: int, size: int) -> str:
        theme, rng = self.themes[i], self.rng
        lang = rng.randint(0, 1)
        if i % 16 == 15:
            return self.dialogue(theme, lang, size)
        lines = []
        if rng.random() < 0.5:
            tags = " ".join({rng.choice(self.words[theme][0]) for _ in range(2)})
            lines += ["---", f"tags: [{tags.replace(' ', ', ')}]", f"aliases: [{self.sentence(theme, lang)[:-1]}]",
                      f"created: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}", "---", ""]
        while sum(map(len, lines)) < size:
            block = rng.random()
            if block < 0.1:
                lines += [f"## {self.sentence(theme, lang)[:-1]}", ""]
            elif block < 0.2:
                lines += [f"- [{rng.choice(' x')}] {self.sentence(theme, lang)}" for _ in range(3)] + [""]
            elif block < 0.23:
                lines += ["```python", f"text = '[[{rng.choice(self.names)}]]'  # not a link", "```", ""]
            else:
                lines += [self.paragraph(theme, lang), ""]
        lines.append(f"#{theme.lower()} {self.link(theme)}")
        return "\n".join(lines) + "\n"

    def dialogue(self, theme: str, lang: int, size: int) -> str:
        lines = ["---", "nexus: nexus-ai-chat-importer", "provider: chatgpt", "---", ""]
        while sum(map(len, lines)) < size * 2:
            lines += [">[!nexus_user] User", f"> {self.sentence(theme, lang)[:-1]}?", "",
                      ">[!nexus_agent] Assistant", f"> {self.paragraph(theme, lang)}",
                      f"> {self.paragraph(theme, lang)}", ""]
        return "\n".join(lines) + "\n"


def generate(root: Path, notes: int, seed: int = 0) -> dict[str, int]:
    """Write the vault for (notes, seed) into `root` and return what it holds."""
    rng = random.Random(seed)
    folders = list(THEMES)
    themes = [folders[rng.randrange(len(folders))] for _ in range(notes)]
    names = []
    for i, theme in enumerate(themes):
        words = THEMES[theme][i % 2].split()
        folder = "Daily" if i % 25 == 24 else theme
        names.append(f"{folder}/{i:05d} {rng.choice(words)} {rng.choice(words)}")
    for i in range(99, notes, 100):  # every hundredth name is used again in a second folder
        names[i] = names[i - 1].replace(f"{themes[i - 1]}/", "Archive/", 1)
    missing = [f"{rng.choice(THEMES[t][0].split())} {k}" for k, t in enumerate(rng.choices(folders, k=max(8, notes // 50)))]
    writer = _Writer(rng, names, themes, missing)
    total = 0
    for i, name in enumerate(names):
        size = min(40_000, int(rng.lognormvariate(math.log(1000), 0.95)))
        text = writer.note(i, size)
        total += _write(root / f"{name}.md", text)
    for k in range(max(1, notes // 500)):
        nodes = [{"id": str(j), "type": "file", "file": f"{rng.choice(names)}.md", "x": 300 * j, "y": 0,
                  "width": 250, "height": 60} for j in range(5)]
        total += _write(root / "Canvas" / f"map {k}.canvas", json.dumps({"nodes": nodes, "edges": []}))
    for k in range(max(1, notes // 1000)):
        total += _write(root / ATTACHMENTS / f"photo {k}.png", "\x89PNG not really a picture")
    _write(root / ".obsidian" / "app.json", json.dumps({"attachmentFolderPath": ATTACHMENTS}))
    return {"notes": notes, "links": writer.links, "missing": writer.unresolved, "bytes": total}


def _write(path: Path, text: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


@contextmanager
def _built(key: str) -> Iterator[tuple[Path, Path | None]]:
    """(final path, a temp dir to build it in, or None when it is there); one builder at a time."""
    WORK.mkdir(parents=True, exist_ok=True)
    final = WORK / key
    with open(WORK / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            yield final, None
            return
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=WORK))
        try:
            yield final, tmp
            (tmp / "vault").rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def vault(notes: int = NOTES, seed: int = 0) -> Path:
    """The generated vault for (notes, seed), made once; never edit it."""
    with _built(f"vault-n{notes}-s{seed}-v{VERSION}") as (final, tmp):
        if tmp is not None:
            generate(tmp / "vault", notes, seed)
    return final


def scratch(name: str) -> Path:
    """An empty directory `.asv/work/scratch/<name>`, made again on each call."""
    path = WORK / "scratch" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def copy_vault(notes: int = NOTES, name: str = "vault") -> Path:
    """A writable copy of `vault(notes)`."""
    return Path(shutil.copytree(vault(notes), scratch(name) / "vault"))


def indexed(notes: int = NOTES, model: str = "hash") -> Path:
    """`vault(notes)` indexed once with vaultmind (state in `<vault>/.vaultmind`), embedded
    with `HashEmbedder` ("hash") or the channels `model` names; never edit it."""
    from vaultmind.store import SCHEMA_VERSION
    import vaultmind

    with _built(f"indexed-n{notes}-{model}-s{SCHEMA_VERSION}-v{VERSION}") as (final, tmp):
        if tmp is not None:
            shutil.copytree(vault(notes), tmp / "vault")
            if model == "hash":
                vaultmind.index(tmp / "vault", embedder=HashEmbedder())
            else:
                vaultmind.index(tmp / "vault", model=model)
    return final


def copy_indexed(notes: int = NOTES, model: str = "hash", name: str = "indexed") -> Path:
    """A writable copy of `indexed(notes, model)`, its store included."""
    return Path(shutil.copytree(indexed(notes, model), scratch(name) / "vault"))


def notes_of(root: Path) -> list[Path]:
    """The vault's Markdown notes, sorted by path."""
    return sorted(p for p in root.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(root).parts))


def edit_note(root: Path, index: int = 0) -> Path:
    """Append a line linking one existing and one never-written note to the index-th note."""
    paths = notes_of(root)
    path, other = paths[index], paths[(index + 1) % len(paths)]
    with path.open("a", encoding="utf-8") as f:
        f.write(f"\nAn edit: see [[{other.stem}]] and [[Never written {index}]].\n")
    return path


_TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """A fast stand-in for a sentence model: signed hashes of a text's words and word pairs in
    `dim` buckets, unit length. Texts that share words are close; the same in every process."""

    def __init__(self, dim: int = 384) -> None:
        self.dim, self.model_id = dim, f"bench-hash-{dim}-v{VERSION}"
        self._seen: dict[str, int] = {}

    def _hash(self, word: str) -> int:
        if word not in self._seen:
            self._seen[word] = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return self._seen[word]

    def _vector(self, text: str) -> np.ndarray:
        h = np.array([self._hash(w) for w in _TOKEN.findall(text.lower())] or [0], dtype=np.uint64)
        features = np.concatenate([h, (h[:-1] * np.uint64(0x9E3779B97F4A7C15)) ^ h[1:]])
        signs = np.where(features >> np.uint64(63), 1.0, -1.0)
        vector = np.bincount((features % np.uint64(self.dim)).astype(np.intp), signs, self.dim)
        return (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    embed_queries = embed_passages
