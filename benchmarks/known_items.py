"""Known-item queries: the words a writer remembers from one note (a name, a rare term).

    .venv/bin/python -m benchmarks.known_items

Simulated the usual way (Azzopardi, de Rijke and Balog, 2007): pick a note at random, then
two words that occur in that note and in no other, as they are spelled there. The paraphrase
sets (retrieval.json, crosslingual.json) avoid a note's own words on purpose; this set is the
opposite case, where lexical matching should shine. Deterministic (seeded); writes
tests/data/known_items.json.
"""

import json
import random
import re
from collections import Counter
from pathlib import Path

from vaultmind.lexical import lexemes

from benchmarks import vaults
from benchmarks.retrieval import VAULTS

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "data" / "known_items.json"
PER_VAULT = 20
_WORD = re.compile(r"[^\W\d_]{5,}")
_SKIP = re.compile(r"^---\n.*?\n---\n|<!--.*?-->|\[\[[^\]]*\]\]|https?://\S+", re.S)


def notes_of(vault: Path) -> dict[str, str]:
    return {p.relative_to(vault).as_posix(): _SKIP.sub(" ", p.read_text(encoding="utf-8", errors="replace"))
            for p in vaults.notes_of(vault)}


def queries_for(name: str, vault: Path, rng: random.Random) -> list[dict[str, object]]:
    notes = notes_of(vault)
    keys = {path: set(lexemes(text)) for path, text in notes.items()}
    df = Counter(key for found in keys.values() for key in found)
    made = []
    for path in rng.sample(sorted(notes), len(notes)):
        words = {}
        for word in _WORD.findall(notes[path]):
            key = lexemes(word)
            if len(key) == 1 and df[key[0]] == 1 and key[0] not in words:
                words[key[0]] = word
        if len(words) < 2:
            continue
        picked = rng.sample(sorted(words.values()), 2)
        lang = "ru" if re.search("[а-яё]", " ".join(picked), re.I) else "en"
        made.append({"vault": name, "lang": lang, "query": " ".join(picked), "expected": [path],
                     "why": "two words that occur in this note and no other"})
        if len(made) == PER_VAULT:
            break
    return made


def main() -> None:
    rng = random.Random(7)
    queries = []
    for name, vault in VAULTS.items():
        if vault.is_dir():
            queries += queries_for(name, vault, rng)
    OUT.write_text(json.dumps({"description": __doc__.split("\n\n")[1].replace("\n", " "), "queries": queries},
                              ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(queries)} queries → {OUT}")


if __name__ == "__main__":
    main()
