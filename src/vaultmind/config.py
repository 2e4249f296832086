"""Settings as data: every setting has a name, a default and help text, and is read from
`VAULT/vaultmind.toml` (section `[vaultmind]` or top level) and then from command-line flags.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from vaultmind.errors import ConfigError

CONFIG_FILE = "vaultmind.toml"
DEFAULT_STATE_DIR = ".vaultmind"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "state_dir",
        None,
        "Where the store lives. Default: VAULT/.vaultmind. Set it to keep a read-only vault untouched.",
    ),
    Setting(
        "ignore",
        (),
        "Extra paths or glob patterns (vault-relative) to leave out, on top of "
        "Obsidian's own excluded files in .obsidian/app.json.",
    ),
    Setting(
        "follow_external_symlinks",
        False,
        "Follow symlinks (files or folders) that lead out of the vault and index what they point "
        "to. Off: they are skipped with a warning, so nothing outside the vault is read.",
    ),
    Setting(
        "max_note_bytes",
        4_000_000,
        "Notes larger than this are indexed only up to this many bytes, with a warning.",
    ),
    Setting(
        "workers",
        0,
        "Processes used to parse notes on a full index; 0 picks one per CPU core.",
    ),
    Setting(
        "batch_size",
        500,
        "Notes written to the store per transaction; a killed run loses at most one batch.",
    ),
    Setting(
        "embed",
        True,
        "Embed notes when indexing (semantic search, related notes). --no-embed skips it.",
    ),
    Setting(
        "model",
        "use+bm25",
        "Retrieval channels joined by +: e5 (multilingual-e5-small), use (multilingual Universal "
        "Sentence Encoder), st:NAME (any sentence-transformers model, by name or folder) and bm25 "
        "(words, by their lemmas). Search fuses every channel's ranking; related notes, scenes and "
        "blind spots compare notes by the dense models' vectors together. One name is one channel.",
    ),
    Setting(
        "device",
        "auto",
        "Where torch models embed: auto (a CUDA or Apple MPS GPU when torch sees one, else the CPU), "
        "cpu, cuda or mps. use always runs on the CPU.",
    ),
    Setting(
        "chunk_chars",
        1200,
        "Longest chunk in characters; longer heading sections are split at paragraphs and sentences.",
    ),
    Setting(
        "embed_batch",
        128,
        "Chunks handed to the model per call, and stored per transaction while embedding; the "
        "model sorts and pads them in its own smaller batches.",
    ),
    Setting(
        "hnsw_threshold",
        200_000,
        "Above this many chunk vectors the search index is approximate (HNSW) instead of exact.",
    ),
    Setting(
        "scenes",
        True,
        "Find scenes when indexing (hybrid link + meaning communities). --no-scenes skips it; "
        "`vaultmind scenes` then finds them on demand.",
    ),
    Setting(
        "scene_alpha",
        0.5,
        "Weight of explicit links against meaning in the scene graph: 1 = links only, 0 = meaning only.",
    ),
    Setting(
        "scene_neighbours",
        10,
        "Each note's nearest notes in meaning (k) that may become edges of the scene graph.",
    ),
    Setting(
        "scene_floor",
        0.2,
        "Least similarity (cosine of centred note vectors) for a meaning edge; below it two notes "
        "are not near. 0.2 measured best for use across scenes and blind spots; e5 alone did best at 0.3.",
    ),
    Setting(
        "scene_resolution",
        1.5,
        "Leiden resolution for scenes: higher gives more, smaller scenes.",
    ),
    Setting(
        "region_resolution",
        0.5,
        "Leiden resolution for regions (scenes grouped for zooming out): lower gives fewer regions.",
    ),
    Setting(
        "scene_min_size",
        2,
        "Smallest scene; notes in smaller groups are listed as unplaced.",
    ),
    Setting(
        "scene_match",
        0.3,
        "Least member overlap (Jaccard) for a new scene to keep an old scene's id.",
    ),
    Setting(
        "hub_min_links",
        8,
        "A hub (index page, map of content) links to at least this many notes ...",
    ),
    Setting(
        "hub_words_per_link",
        15,
        "... and has fewer words of its own than this per outgoing link.",
    ),
    Setting(
        "hub_weight",
        0.1,
        "Factor on every scene-graph edge of a hub, so hubs do not glue scenes together.",
    ),
    Setting(
        "report_note",
        "vaultmind blind spots.md",
        "Vault-relative path of the report note `blindspots --write-note` writes; vaultmind never "
        "indexes it (its links would look like a hub).",
    ),
    Setting(
        "chip_system",
        True,
        "Chat chips start with a system turn giving the scene (label, summary), the note's title "
        "and the titles of neighbouring notes.",
    ),
    Setting(
        "chip_doc_tokens",
        2048,
        "Token budget of one scene document (continued-pretraining text); longer scenes make several.",
    ),
    Setting(
        "chip_min_words",
        8,
        "Least words in a section's text for it to become a question-and-answer chip.",
    ),
    Setting(
        "chip_probes",
        True,
        "Build probes (evaluation-only understanding checks) from the held-out scenes.",
    ),
    Setting(
        "chip_near_duplicate",
        0.8,
        "MinHash Jaccard similarity above which two chips are near duplicates (one is kept).",
    ),
    Setting(
        "chip_validation_share",
        0.1,
        "Share of scenes held out for validation (and the probes); the rest are for training.",
    ),
    Setting(
        "chip_split_salt",
        "vaultmind",
        "Salt of the hash that puts a scene in a split; change it for a different, equally stable split.",
    ),
    Setting(
        "chip_secrets",
        "redact",
        "What to do with a chip in which the secret scan finds an API key, token, password or private "
        "key: redact (replace it with [REDACTED:type]) or drop (leave the chip out).",
    ),
    Setting(
        "chip_contacts",
        False,
        "Also redact e-mail addresses and phone numbers in chips.",
    ),
    Setting(
        "chip_license",
        "other",
        "License named in the exported dataset card (an SPDX id such as cc-by-4.0, or other).",
    ),
    Setting(
        "watch_debounce",
        0.3,
        "vaultmind watch: seconds without a file event before a batch of changes is indexed.",
    ),
    Setting(
        "watch_max_wait",
        5.0,
        "vaultmind watch: the longest a change waits while events keep coming (a long sync).",
    ),
    Setting(
        "watch_scene_delay",
        10.0,
        "vaultmind watch: seconds without a change before scenes (and so blind spots) are brought up to date.",
    ),
    Setting(
        "watch_rescan",
        600.0,
        "vaultmind watch: seconds between full scans while idle, which catch changes whose events were lost (0: never).",
    ),
    Setting(
        "watch_lock_wait",
        600.0,
        "vaultmind watch: how long a batch waits for another writer (e.g. doctor --verify) before it is retried.",
    ),
    Setting(
        "seed",
        42,
        "Random seed for community detection and the 2-D map: the same vault gives the same scenes.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_RANGES = {"scene_alpha": (0.0, 1.0), "scene_floor": (-1.0, 1.0), "scene_match": (0.0, 1.0),
           "hub_weight": (0.0, 1.0), "chip_near_duplicate": (0.0, 1.0), "chip_validation_share": (0.0, 0.9)}
DEVICES = ("auto", "cpu", "cuda", "mps")  # where torch models embed (`device` setting, --device)
_CHOICES = {"chip_secrets": ("redact", "drop"), "device": DEVICES}


@dataclass(frozen=True, slots=True)
class Config:
    state_dir: str | None = None
    ignore: tuple[str, ...] = ()
    follow_external_symlinks: bool = False
    max_note_bytes: int = 4_000_000
    workers: int = 0
    batch_size: int = 500
    embed: bool = True
    model: str = "use+bm25"
    device: str = "auto"
    chunk_chars: int = 1200
    embed_batch: int = 128
    hnsw_threshold: int = 200_000
    scenes: bool = True
    scene_alpha: float = 0.5
    scene_neighbours: int = 10
    scene_floor: float = 0.2
    scene_resolution: float = 1.5
    region_resolution: float = 0.5
    scene_min_size: int = 2
    scene_match: float = 0.3
    hub_min_links: int = 8
    hub_words_per_link: int = 15
    hub_weight: float = 0.1
    report_note: str = "vaultmind blind spots.md"
    chip_system: bool = True
    chip_doc_tokens: int = 2048
    chip_min_words: int = 8
    chip_probes: bool = True
    chip_near_duplicate: float = 0.8
    chip_validation_share: float = 0.1
    chip_split_salt: str = "vaultmind"
    chip_secrets: str = "redact"
    chip_contacts: bool = False
    chip_license: str = "other"
    watch_debounce: float = 0.3
    watch_max_wait: float = 5.0
    watch_scene_delay: float = 10.0
    watch_rescan: float = 600.0
    watch_lock_wait: float = 600.0
    seed: int = 42

    def with_overrides(self, **overrides: Any) -> Config:
        """Return a copy with every non-None override applied (flags beat the file)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values = {k: _coerce(k, v) for k, v in overrides.items() if v is not None}
        return replace(self, **values)


def _coerce(name: str, value: Any) -> Any:
    default = _BY_NAME[name].default
    if isinstance(default, tuple):
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"setting {name!r} must be a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"setting {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"setting {name!r} must be a non-empty string, got {value!r}")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ConfigError(f"setting {name!r} must be one of {', '.join(_CHOICES[name])}, got {value!r}")
        return value
    if default is None:
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"setting {name!r} must be a number, got {value!r}")
        low, high = _RANGES.get(name, (0.0, float("inf")))
        if not low <= value <= high:
            raise ConfigError(f"setting {name!r} must be between {low:g} and {high:g}, got {value!r}")
        return float(value)
    if isinstance(default, int):
        least = 0 if name in ("workers", "seed") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"setting {name!r} must be an integer ≥ {least}, got {value!r}")
        return value
    return value


def load_config(vault: Path, **overrides: Any) -> Config:
    """Defaults, then `VAULT/vaultmind.toml`, then `overrides` (None means not given)."""
    config = Config()
    path = vault / CONFIG_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
            raise ConfigError(f"{path}: {e}") from e
        section = data.get("vaultmind", data)
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [vaultmind] must be a table")
        config = config.with_overrides(**section)
    return config.with_overrides(**overrides)


def state_dir_for(vault: Path, config: Config) -> Path:
    if config.state_dir:
        return Path(config.state_dir).expanduser().resolve()
    return vault / DEFAULT_STATE_DIR
