"""Blind spots as Markdown: for the terminal (`--markdown`) and as a report note written into
the vault on request, with wikilinks so the author can click through in Obsidian."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from vaultmind.blindspots import EXPLANATIONS, KINDS
from vaultmind.types import BlindSpot

GENERATED_KEY = "vaultmind"  # front-matter key that marks a note vaultmind wrote (and may rewrite)
HEADINGS = {
    "wanted_note": "Wanted notes",
    "broken_link": "Broken links",
    "missing_link": "Missing links",
    "scene_gap": "Scene gaps",
    "weak_coupling": "Weakly coupled scenes",
    "bridge": "Bridges",
    "orphan": "Orphans",
    "dead_end": "Dead ends",
    "stub": "Stubs",
    "unanswered": "Unanswered questions",
}


def wikilink(path: str, titles: Mapping[str, str]) -> str:
    """`[[Title]]` for a note path (the full path without `.md` when two notes share a title),
    the text itself for anything else (a wanted note's link text)."""
    if path not in titles:
        return f"[[{path}]]" if path and "/" not in path else path
    title = titles[path]
    clash = sum(1 for t in titles.values() if t == title) > 1
    return f"[[{path.removesuffix('.md')}|{title}]]" if clash else f"[[{title}]]"


def _evidence_line(item: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    kind = item.get("type", "")
    if kind == "link":
        return f"{wikilink(item['source'], titles)} (line {item.get('line', '?')}): “{item.get('sentence', '')}”"
    if kind == "chunk_pair":
        a, b = item["a"], item["b"]
        return (f"closest passages ({item['cosine']:.2f}): {wikilink(a['path'], titles)} “{_short(a['text'])}” ↔ "
                f"{wikilink(b['path'], titles)} “{_short(b['text'])}”")
    rest = ", ".join(f"{k}: {_plain(v, titles)}" for k, v in item.items() if k != "type")
    return f"{kind.replace('_', ' ')} — {rest}"


def _plain(value: Any, titles: Mapping[str, str]) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, str) and value in titles:
        return wikilink(value, titles)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain(v, titles) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v, titles)}" for k, v in value.items()) + "}"
    return str(value)


def _short(text: str, width: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render_markdown(spots: Sequence[BlindSpot], titles: Mapping[str, str], *, evidence: int = 3) -> str:
    """Findings grouped by kind (in detector order), each with its title, score, suggestion,
    the first `evidence` facts and its id (for `vaultmind accept/dismiss`)."""
    lines: list[str] = []
    for kind in KINDS:
        group = [s for s in spots if s.kind == kind]
        if not group:
            continue
        lines += [f"## {HEADINGS[kind]}", "", f"*{EXPLANATIONS[kind]}*", ""]
        for spot in group:
            lines.append(f"- **{spot.title}** · score {spot.score:.2f} · `{spot.id}`")
            lines.append(f"    - {spot.suggestion}")
            for item in spot.evidence[:evidence]:
                lines.append(f"    - {_evidence_line(item, titles)}")
        lines.append("")
    return "\n".join(lines) if lines else "No blind spots found.\n"


def report_note(spots: Sequence[BlindSpot], titles: Mapping[str, str], vault_name: str) -> str:
    """The report note: front matter that marks it as vaultmind's, then the findings."""
    stamp = time.strftime("%Y-%m-%d %H:%M")
    header = [
        "---",
        f"{GENERATED_KEY}: blind spots report",
        f"generated: {stamp}",
        "---",
        "",
        f"# Blind spots in {vault_name}",
        "",
        f"Written by vaultmind on {stamp}; it is rewritten on the next `vaultmind blindspots --write-note` "
        "and never indexed. Accept or dismiss a finding with `vaultmind accept|dismiss VAULT ID`.",
        "",
    ]
    return "\n".join(header) + render_markdown(spots, titles)
