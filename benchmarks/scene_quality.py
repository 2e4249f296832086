"""Scene quality: how well scenes recover the topics the sample vault was written in
(tests/data/sample_topics.json), as adjusted mutual information (AMI), for links only (α = 1),
meaning only (α = 0) and the hybrid, with every link and with links thinned at random, and over
a grid of the scene settings. Backs `bench_quality` and tests/test_scene_quality.py.
"""

import itertools
import json
import random
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import vaultmind
from vaultmind import pipeline
from vaultmind.config import Config
from vaultmind.embed import Embedder, load_channels
from vaultmind.scenes import SceneInput, weights_from
from vaultmind.scenes.communities import find_communities
from vaultmind.scenes.hybrid import scene_graph
from vaultmind.store import Store

REPO = Path(__file__).resolve().parent.parent
TRUTH = REPO / "tests" / "data" / "sample_topics.json"
SAMPLE = REPO / "sample_vault"
WIKI = REPO.parent / "shared" / "vaults" / "ru-vanadium23-wiki"
TOPICS = ("ai", "bees", "bread", "hiking", "stoic")  # the rest (the hub, misc notes) has no topic
GRID = {
    "scene_alpha": (0.0, 0.25, 0.5, 0.75, 1.0),
    "scene_neighbours": (5, 10, 15),
    "scene_floor": (0.1, 0.2, 0.3, 0.4),
    "scene_resolution": (0.5, 1.0, 1.5),
}


def topics() -> dict[str, str]:
    notes = json.loads(TRUTH.read_text(encoding="utf-8"))["notes"]
    return {path: topic for path, topic in notes.items() if topic in TOPICS}


def load_input(vault: Path, model: str | Embedder, state_dir: Path) -> SceneInput:
    """Index `vault` into `state_dir` with `model` and read the scene stage's inputs back."""
    embedder = load_channels(model) if isinstance(model, str) else model
    vaultmind.index(vault, state_dir=state_dir, embedder=embedder, scenes=False)
    with Store.open(state_dir) as store:
        return pipeline.scene_input(store, embedder.model_id)


def partition(data: SceneInput, config: Config) -> dict[str, str]:
    """Note → scene label ("s<i>"; each unplaced note its own "u:<path>"), as the scene stage
    groups them with `config` (the graph and Leiden only: labels and ids do not change it)."""
    note_links = [(s, t) for s, t, _w in data.links if t is not None]
    edges, _hubs = scene_graph(data.notes, note_links, data.vectors, data.words, weights_from(config))
    found = find_communities(data.notes, edges, resolution=config.scene_resolution,
                             region_resolution=config.region_resolution, min_size=config.scene_min_size,
                             seed=config.seed)
    labels = {p: f"s{g}" for g, members in enumerate(found.groups) for p in members}
    labels.update({p: f"u:{p}" for p in found.unplaced})
    return labels


def agreement(labels: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    notes = sorted(truth)
    found = [labels.get(p, f"u:{p}") for p in notes]
    expected = [truth[p] for p in notes]
    return {
        "ami": float(adjusted_mutual_info_score(expected, found)),
        "nmi": float(normalized_mutual_info_score(expected, found)),
        "scenes": len({f for f in found if f.startswith("s")}),
        "unplaced": sum(1 for f in found if f.startswith("u:")),
    }


def grid(data: SceneInput, truth: dict[str, str], base: Config) -> list[dict[str, Any]]:
    rows = []
    names = list(GRID)
    for values in itertools.product(*(GRID[n] for n in names)):
        settings = dict(zip(names, values))
        config = replace(base, **settings)
        rows.append(settings | agreement(partition(data, config), truth))
    return rows


def best(rows: list[dict[str, Any]], alpha: float | None = None, hybrid: bool = False) -> dict[str, Any]:
    chosen = [r for r in rows if (alpha is None or r["scene_alpha"] == alpha)
              and (not hybrid or 0 < r["scene_alpha"] < 1)]
    return max(chosen, key=lambda r: (r["ami"], r["nmi"]))


def mixes(data: SceneInput, truth: dict[str, str], config: Config) -> dict[str, dict[str, float]]:
    """Links only, meaning only and the hybrid, all other settings as in `config`."""
    return {
        "links only": agreement(partition(data, replace(config, scene_alpha=1.0)), truth),
        "meaning only": agreement(partition(data, replace(config, scene_alpha=0.0)), truth),
        "hybrid": agreement(partition(data, config), truth),
    }


THIN = (0.7, 0.5)  # share of linked note pairs kept when links are thinned
THIN_SEEDS = range(5)


def thinned(data: SceneInput, keep: float, seed: int) -> SceneInput:
    """`data` with only a random `keep` share of its linked note pairs (every occurrence of a
    dropped pair goes): a vault whose author links less than the sample vault's does."""
    pairs = sorted({tuple(sorted((s, t))) for s, t, _w in data.links if t is not None and s != t})
    kept = set(random.Random(seed).sample(pairs, int(len(pairs) * keep)))
    links = [(s, t, w) for s, t, w in data.links if t is None or s == t or tuple(sorted((s, t))) in kept]
    return replace(data, links=links)


def thinned_mixes(data: SceneInput, truth: dict[str, str], config: Config) -> dict[str, dict[str, dict[str, float]]]:
    """Mean (and lowest) AMI of each mix over `THIN_SEEDS` thinnings, per kept share."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for keep in THIN:
        runs = [mixes(thinned(data, keep, seed), truth, config) for seed in THIN_SEEDS]
        result[str(keep)] = {
            mix: {"ami": statistics.mean(r[mix]["ami"] for r in runs), "lowest": min(r[mix]["ami"] for r in runs)}
            for mix in runs[0]
        }
    return result


def wiki_scenes(model: str, state_dir: Path) -> vaultmind.SceneMap:
    """The scenes of the real Russian wiki vault, indexed with `model`."""
    vaultmind.index(WIKI, state_dir=state_dir, model=model)
    return vaultmind.scene_map(WIKI, state_dir=state_dir, model=model)

