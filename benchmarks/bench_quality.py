"""Quality with the real models, as `track_*` values: search recall@5 and MRR per channel and
for the product's default search, scene AMI against the sample vault's topics, blind-spot
recall@10 of planted gaps. Each needs the wiki vault of `../shared/vaults` for its wiki rows.

    .venv/bin/asv run --python=same --bench bench_quality   # about 4 minutes
"""

import tempfile
from pathlib import Path

import vaultmind
from vaultmind.config import Config
from vaultmind.embed import load_channels
from vaultmind.retrieval import Fusion

from . import blindspot_quality, retrieval, scene_quality
from .retrieval import VAULTS

SEARCH = "vaultmind.search"  # the product: default channels, fitted fusion
SEEDS = (7, 11, 23)  # one planted copy of the sample vault each; recall is pooled
SPLIT = "split scene (scene_gap or weak_coupling)"


def _search(name: str, state: Path, queries: dict[str, list[dict]]) -> dict[str, dict]:
    embedder = vaultmind.embedder()
    vaultmind.index(VAULTS[name], state_dir=state, embedder=embedder)
    ranked = {s: [[h.note for h in vaultmind.search(VAULTS[name], q["query"], limit=10, embedder=embedder,
                                                    state_dir=state)] for q in qs] for s, qs in queries.items()}
    return {s: retrieval.measure(ranked[s], queries[s]) for s in queries}


class Retrieval:
    """Targets: the default search ≥ 0.9 recall@5 on every set, cross-lingual included."""

    params = (list(VAULTS), list(retrieval.SETS), [*retrieval.VIEWS, SEARCH])
    param_names = ["vault", "queries", "channel"]
    timeout = 3600

    def setup_cache(self) -> dict:
        found = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, vault in VAULTS.items():
                if not vault.is_dir():
                    continue
                data = {name: retrieval.collect(name, Path(tmp) / name)}
                for view in retrieval.VIEWS:
                    for (_, s), r in retrieval.scores_of(data, Fusion({view: 1.0}), [name]).items():
                        found[name, s, view] = r
                for s, r in _search(name, Path(tmp) / f"{name}-default", data[name]["queries"]).items():
                    found[name, s, SEARCH] = r
        return found

    def setup(self, found: dict, vault: str, queries: str, channel: str) -> None:
        if (vault, queries, channel) not in found:
            raise NotImplementedError(f"{vault} is not present")

    def track_recall_at_5(self, found: dict, vault: str, queries: str, channel: str) -> float:
        return found[vault, queries, channel]["recall@5"]

    def track_mrr(self, found: dict, vault: str, queries: str, channel: str) -> float:
        return found[vault, queries, channel]["mrr"]

    track_recall_at_5.unit = "recall@5"
    track_mrr.unit = "MRR"


def _sample_scene_input() -> scene_quality.SceneInput:
    """The sample vault indexed with the default channels, as the scene stage reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        return scene_quality.load_input(scene_quality.SAMPLE, Config().model, Path(tmp))


class Scenes:
    """AMI of scenes against the sample vault's topics with the default channels: links only,
    meaning only and the hybrid, with every link and with 70% or 50% of the linked pairs kept
    (mean over five random thinnings). Target: the hybrid at least as good as either alone."""

    params = (["links only", "meaning only", "hybrid"], ["all", "0.7", "0.5"])
    param_names = ["mix", "links kept"]
    timeout = 1800

    def setup_cache(self) -> dict:
        data, truth, config = _sample_scene_input(), scene_quality.topics(), Config()
        ami = {(mix, "all"): r["ami"] for mix, r in scene_quality.mixes(data, truth, config).items()}
        for keep, mixes in scene_quality.thinned_mixes(data, truth, config).items():
            ami |= {(mix, keep): r["ami"] for mix, r in mixes.items()}
        return ami

    def track_ami(self, ami: dict, mix: str, kept: str) -> float:
        return ami[mix, kept]

    track_ami.unit = "AMI"


class SceneGrid:
    """The best hybrid AMI over the grid of scene settings (α, k, floor, resolution), and the
    scenes of the real Russian wiki vault with the default channels (112 notes)."""

    params, param_names, timeout = [["best hybrid AMI", "wiki scenes", "wiki unplaced notes"]], ["figure"], 1800

    def setup_cache(self) -> dict:
        rows = scene_quality.grid(_sample_scene_input(), scene_quality.topics(), Config())
        found = {"best hybrid AMI": scene_quality.best(rows, hybrid=True)["ami"]}
        if scene_quality.WIKI.is_dir():
            with tempfile.TemporaryDirectory() as tmp:
                wiki = scene_quality.wiki_scenes(Config().model, Path(tmp))
            found |= {"wiki scenes": len(wiki.scenes), "wiki unplaced notes": len(wiki.unplaced)}
        return found

    def setup(self, found: dict, figure: str) -> None:
        if figure not in found:
            raise NotImplementedError("the wiki vault is not present")

    def track_value(self, found: dict, figure: str) -> float:
        return found[figure]


class BlindSpots:
    """Share of planted gaps each detector puts in its top 10 (three planted copies of the
    sample vault, default channels). Target: 1.0 for every structural kind and the split scene."""

    params = [["missing_link", "wanted_note", "broken_link", "orphan", "unanswered", SPLIT]]
    param_names = ["kind"]
    timeout = 1800

    def setup_cache(self) -> dict:
        channels = load_channels(Config().model)
        found: dict[str, list[int]] = {}
        for seed in SEEDS:
            with tempfile.TemporaryDirectory() as tmp:
                for kind, r in blindspot_quality.evaluate(channels, Path(tmp), seed=seed)["recall"].items():
                    pooled = found.setdefault(kind, [0, 0])
                    pooled[0], pooled[1] = pooled[0] + r["found"], pooled[1] + r["planted"]
        return found

    def track_recall_at_10(self, found: dict, kind: str) -> float:
        return found[kind][0] / max(found[kind][1], 1)

    track_recall_at_10.unit = "recall@10"
