"""Scene quality: how well scenes recover the topics the sample vault was written in
(tests/data/sample_topics.json), measured as adjusted mutual information (AMI) and NMI, for
links only (α = 1), meaning only (α = 0) and the hybrid — over a grid of the other settings so
each mix is judged at its best and at the defaults. Also lists the scenes of the real Russian
wiki vault for reading.

    .venv/bin/python -m benchmarks.scene_quality [--model e5 --model use+bm25]

Writes benchmarks/results/scenes-quality.{json,md}. `partition` and `agreement` back
tests/test_scene_quality.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
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
RESULTS = REPO / "benchmarks" / "results"
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


def wiki_scenes(model: str, state_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    vaultmind.index(WIKI, state_dir=state_dir, model=model)
    found = vaultmind.scene_map(WIKI, state_dir=state_dir, model=model)
    sizes = [s.size for s in found.scenes]
    return {
        "seconds": time.perf_counter() - started,
        "notes": sum(sizes) + len(found.unplaced),
        "scenes": len(found.scenes),
        "regions": len(found.regions),
        "unplaced": len(found.unplaced),
        "sizes": sizes,
        "median size": statistics.median(sizes) if sizes else 0,
        "hubs": list(found.hubs),
        "list": [{"id": s.id, "size": s.size, "label": s.label, "summary": s.summary, "central": list(s.central),
                  "density": round(s.density, 3), "wanted": list(s.wanted[:5])} for s in found.scenes],
    }


def run(models: list[str]) -> dict[str, Any]:
    truth = topics()
    result: dict[str, Any] = {"truth notes": len(truth), "grid": {k: list(v) for k, v in GRID.items()}, "models": {}}
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            embedder = load_channels(model)
            data = load_input(SAMPLE, embedder, Path(tmp) / "sample")
            rows = grid(data, truth, Config())
            entry: dict[str, Any] = {
                "model id": embedder.model_id,
                "defaults": mixes(data, truth, Config()),
                "thinned links": thinned_mixes(data, truth, Config()),
                "best links only": best(rows, alpha=1.0),
                "best meaning only": best(rows, alpha=0.0),
                "best hybrid": best(rows, hybrid=True),
                "by alpha at defaults' k, floor, resolution": {
                    str(a): next(r for r in rows if r["scene_alpha"] == a and r["scene_neighbours"] == Config().scene_neighbours
                                 and r["scene_floor"] == Config().scene_floor
                                 and r["scene_resolution"] == Config().scene_resolution)
                    for a in GRID["scene_alpha"]
                },
                "grid": rows,
            }
            if WIKI.is_dir():
                entry["ru-vanadium23-wiki"] = wiki_scenes(model, Path(tmp) / "wiki")
            result["models"][model] = entry
    return result


def _row(name: str, m: dict[str, Any]) -> str:
    settings = ", ".join(f"{k.removeprefix('scene_')} {m[k]}" for k in GRID if k in m)
    return f"| {name} | {m['ami']:.3f} | {m['nmi']:.3f} | {m['scenes']} | {m['unplaced']} | {settings} |"


def render(result: dict[str, Any]) -> str:
    lines = ["# Scene quality", "",
             f"Sample vault: {result['truth notes']} notes with an intended topic ({', '.join(TOPICS)}). "
             "AMI/NMI between scenes and topics; each unplaced note counts as its own group. "
             "Grid: " + "; ".join(f"{k} {v}" for k, v in result["grid"].items()) + ".", ""]
    for model, entry in result["models"].items():
        lines += [f"## {model} ({entry['model id']})", "", "| mix | AMI | NMI | scenes | unplaced | settings |",
                  "|---|---:|---:|---:|---:|---|"]
        for name, m in entry["defaults"].items():
            lines.append(_row(f"{name}, defaults", m))
        for name in ("best links only", "best meaning only", "best hybrid"):
            lines.append(_row(name, entry[name]))
        lines += ["", f"With links thinned (mean AMI over {len(THIN_SEEDS)} random thinnings; lowest in brackets):", "",
                  "| links kept | links only | meaning only | hybrid |", "|---:|---:|---:|---:|"]
        for keep, m in entry["thinned links"].items():
            lines.append(f"| {float(keep):.0%} | " + " | ".join(
                f"{m[mix]['ami']:.3f} ({m[mix]['lowest']:.3f})" for mix in ("links only", "meaning only", "hybrid")) + " |")
        lines += ["", "AMI by α at the default k, floor and resolution: " + ", ".join(
            f"α={a}: {m['ami']:.3f}" for a, m in entry["by alpha at defaults' k, floor, resolution"].items()), ""]
        wiki = entry.get("ru-vanadium23-wiki")
        if wiki:
            lines += [f"### ru-vanadium23-wiki: {wiki['scenes']} scenes, {wiki['regions']} regions, "
                      f"{wiki['unplaced']} of {wiki['notes']} notes unplaced; median size {wiki['median size']}, "
                      f"sizes {wiki['sizes']}; hubs {wiki['hubs']}", "",
                      "| id | size | density | label | summary |", "|---:|---:|---:|---|---|"]
            for s in wiki["list"]:
                summary = s["summary"].replace("|", "\\|")
                lines.append(f"| {s['id']} | {s['size']} | {s['density']} | {s['label'].replace('|', '/')} | {summary} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append",
                        help="channels, as the `model` setting spells them (repeatable; default e5, the default and e5+use)")
    args = parser.parse_args()
    result = run(args.model or ["e5", Config().model, "e5+use"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scenes-quality.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "scenes-quality.md").write_text(render(result), encoding="utf-8")
    print(render(result).split("### ")[0])


if __name__ == "__main__":
    main()
