"""Blind spots: what the author does not see in the vault, by kind, best first, each with why
(evidence to check), what to do, and a verdict (accept / dismiss) the store remembers.

Data: `vaultmind.blind_spots` (the list, cached in the store by the library), `vaultmind.feedback`
(the verdicts), `vaultmind.scene_map` (the scene filter's labels); `vaultmind.judge` records a
verdict.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import vaultmind
from common import clear_errors, header, lazy_model, note_links, note_page_url, open_links, state_dir, vault

LINK_TEXT_KINDS = ("wanted_note", "broken_link")  # their notes are link texts, not vault paths
VERDICT_MARK = {"accepted": "✅ accepted", "dismissed": "🚫 dismissed"}


def kind_name(kind: str) -> str:
    return kind.replace("_", " ")


def note_paths(spot: vaultmind.BlindSpot) -> tuple[list[str], list[str]]:
    """(vault paths, link texts of notes that do not exist) among the finding's notes."""
    if spot.kind not in LINK_TEXT_KINDS:
        return list(spot.notes), []
    real = {e.get("note") for e in spot.evidence if e.get("type") == "probably_means"}
    return [n for n in spot.notes if n in real], [n for n in spot.notes if n not in real]


def plain(text: object, limit: int = 400) -> str:
    """Quoted note text as Markdown: one line, `$` not read as math, long text cut."""
    line = " ".join(str(text).split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line.replace("$", r"\$")


def counted(n: object, words: str) -> str:
    """`1 link`, `3 links`: `words` is the plural the evidence uses as its key."""
    words = words.replace("_", " ")
    return f"{n} {words.removesuffix('s') if n == 1 and words.endswith('s') else words}"


def scene_name(scene: object, labels: dict[int, str]) -> str:
    if scene is None:
        return "no scene"
    return f"scene {scene} «{labels[int(scene)]}»" if int(scene) in labels else f"scene {scene}"


def evidence_markdown(item: dict, labels: dict[int, str]) -> str:
    """One evidence fact as a Markdown line; every note in it opens in the app and in Obsidian."""
    kind = item.get("type")
    if kind == "link":
        return f"{note_links(item['source'])}, line {item.get('line')}: “{plain(item.get('sentence', ''))}”"
    if kind == "probably_means":
        return (f"probably means {note_links(item['note'], item.get('title'))} "
                f"({item.get('reason')}, edit distance {item.get('distance')})")
    if kind == "similarity":
        ranks = [f"#{r} of its nearest for {side}" for side, r in (("the first", item.get("rank_a")),
                                                                 ("the second", item.get("rank_b"))) if r]
        return f"similarity in meaning {item.get('cosine', 0):.2f}" + (f" ({'; '.join(ranks)})" if ranks else "")
    if kind == "shared_context":
        parts = [f"{name}: {', '.join(map(str, values))}" for name, values in item.items()
                 if name != "type" and values]
        return "shared context — " + "; ".join(parts)
    if kind == "shared_terms":
        text = "shared words: " + ", ".join(item.get("terms") or ())
        return text + (f"; shared scene terms: {', '.join(item['scene_terms'])}" if item.get("scene_terms") else "")
    if kind == "scenes":
        if "scenes" in item:
            names = [f"{s} «{label}»" for s, label in zip(item["scenes"], item.get("labels") or [])]
            unplaced = f"; {item['unplaced']} linking notes in no scene" if item.get("unplaced") else ""
            return "scenes: " + (", ".join(names) or "none") + unplaced
        return f"{scene_name(item.get('a'), labels)} and {scene_name(item.get('b'), labels)}"
    if kind == "scene":
        return f"in scene {item.get('scene')} «{item.get('label', '')}»"
    if kind == "centroids":
        a, b = item.get("scenes", (None, None))
        return f"{scene_name(a, labels)} and {scene_name(b, labels)} are close in meaning: {item.get('cosine', 0):.2f}"
    if kind == "cut":
        return (f"{counted(item.get('links'), 'links')} between them, out of {item.get('volume_a')} and "
                f"{item.get('volume_b')} link ends in each scene")
    if kind == "bridge_candidates":
        notes = ", ".join(f"{note_links(n['path'], n.get('title'))} ({n.get('cosine', 0):.2f})"
                          for n in item.get("notes") or ())
        return f"bridge candidates in {scene_name(item.get('scene'), labels)}: {notes}"
    if kind == "question":
        where = ", ".join(str(item[k]) for k in ("author", "timestamp") if item.get(k))
        line = f"line {item['line']}" if item.get("line") else ""
        meta = "; ".join(x for x in (where, line) if x)
        return f"question{f' ({meta})' if meta else ''}: “{plain(item.get('text', ''))}”"
    if kind == "heading":
        return f"heading “{plain(item.get('text', ''))}” (line {item.get('line')}) has nothing under it"
    if kind == "articulation":
        pairs = ", ".join(f"{a}–{b}" for a, b in item.get("scene_pairs") or ())
        sizes = " and ".join(map(str, item.get("component_sizes") or ()))
        return f"without it the link graph falls apart into parts of {sizes} notes; scene pairs only it joins: {pairs}"
    if kind == "betweenness":
        return f"betweenness {item.get('value', 0):.3f} (share of shortest paths through it)"
    if kind == "neighbours":
        return "; ".join(f"linked in {scene_name(sid, labels)}: " + ", ".join(note_links(p) for p in paths)
                         for sid, paths in (item.get("by_scene") or {}).items())
    if kind == "coupling":
        return (f"cohesion {item.get('cohesion', 0):.2f}; link density {item.get('density', 0):.2f} where "
                f"{item.get('expected_density', 0):.2f} is expected; {item.get('links_inside')} links among "
                f"{item.get('pairs')} pairs")
    if kind == "unlinked_pairs":
        pairs = [f"{note_links(p['a'])} ↔ {note_links(p['b'])} ({p.get('cosine', 0):.2f})"
                 for p in item.get("pairs") or ()]
        return "closest unlinked pairs: " + "; ".join(pairs)
    if kind == "nearest":
        return f"closest in meaning: {note_links(item['note'])} ({item.get('similarity', 0):.2f})"
    if kind == "count":
        return ", ".join(counted(v, k) for k, v in item.items() if k != "type")
    if kind == "words":
        below = f" (a stub is under {item['stub_below']})" if item.get("stub_below") else ""
        return f"{item.get('words')} words{below}"
    facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in item.items() if k != "type")
    return f"{kind_name(str(kind))}: {facts}" if kind else facts


def show_chunk_pair(item: dict) -> None:
    st.markdown(f"closest passages (similarity {item.get('cosine', 0):.2f}):")
    for column, side in zip(st.columns(2), ("a", "b")):
        passage = item.get(side) or {}
        heading = f" › {plain(passage['heading'], 80)}" if passage.get("heading") else ""
        column.markdown(f"{note_links(passage['path'])}{heading}, line {passage.get('line')}\n\n"
                        f"> {plain(passage.get('text', ''), 600)}")


def judge(finding: str, verdict: str, title: str) -> None:
    """Button callback: record the verdict before the page runs again, so a dismissed finding is
    already gone from that run."""
    try:
        with st.spinner("Recording your verdict…"):
            vaultmind.judge(vault(), finding, verdict, embedder=lazy_model(), state_dir=state_dir())
    except vaultmind.VaultmindError as e:
        st.session_state["spot_message"] = ("error", str(e))
    else:
        st.session_state["spot_message"] = ("success", f"{verdict.capitalize()}: {title}")


def show_spot(spot: vaultmind.BlindSpot, verdict: str | None, labels: dict[int, str]) -> None:
    with st.container(border=True):
        left, right = st.columns([0.8, 0.2], vertical_alignment="top")
        mark = f"  ·  {VERDICT_MARK[verdict]}" if verdict else ""
        left.markdown(f"**{spot.score:.2f}** &nbsp; {plain(spot.title, 600)}{mark}")
        left.markdown(f"→ {plain(spot.suggestion, 800)}")
        left.caption(f"`{spot.id}`")
        if verdict != "accepted":
            right.button("Accept", key=f"accept-{spot.id}", icon="✅", on_click=judge,
                         args=(spot.id, "accepted", spot.title), width="stretch",
                         help="Keep it: a real blind spot (stored as labelled data)")
        if verdict != "dismissed":
            right.button("Dismiss", key=f"dismiss-{spot.id}", icon="🚫", on_click=judge,
                         args=(spot.id, "dismissed", spot.title), width="stretch",
                         help="Not a blind spot: hide it from now on")
        paths, texts = note_paths(spot)
        for text in texts:
            what = "not written yet" if spot.kind == "wanted_note" else "the link text, which resolves to no note"
            st.markdown(f"**{plain(text, 200)}** — {what}")
        if paths:
            open_links(paths)
        with st.expander("Evidence"):
            for item in spot.evidence:
                if item.get("type") == "chunk_pair":
                    show_chunk_pair(item)
                else:
                    st.markdown(f"- {evidence_markdown(item, labels)}")


def spot_table(spots: list[vaultmind.BlindSpot], verdicts: dict[str, str]) -> pd.DataFrame:
    rows = []
    for spot in spots:
        paths, texts = note_paths(spot)
        first = paths[0] if paths else None
        rows.append({
            "kind": kind_name(spot.kind), "score": spot.score, "finding": spot.title,
            "notes": ", ".join([*texts, *(p.rsplit("/", 1)[-1].removesuffix(".md") for p in paths)]),
            "open": note_page_url(first) if first else None,
            "obsidian": vaultmind.obsidian_url(vault(), first) if first else None,
            "verdict": verdicts.get(spot.id, ""), "suggestion": spot.suggestion, "id": spot.id,
        })
    return pd.DataFrame(rows)


header("Blind spots", "What you do not see in your vault: ranked within each kind, explained, with what to do")

if "spot_message" in st.session_state:
    level, text = st.session_state.pop("spot_message")
    (st.error if level == "error" else st.success)(text)

SLOW = "after a change to the vault, scenes and blind spots are found again: up to a minute on 10,000 notes"
with clear_errors(), st.spinner(f"Reading the scenes ({SLOW})…"):
    found = vaultmind.scene_map(vault(), embedder=lazy_model(), state_dir=state_dir())
labels = {s.id: s.label for s in found.scenes}

# other pages link here with ?kind=…&scene=… to open the list already filtered
wanted_scene, wanted_kinds = st.query_params.get("scene"), st.query_params.get_all("kind")
scene_options: list[int | None] = [None, *labels]
kinds = st.multiselect("Kinds", vaultmind.BLIND_SPOT_KINDS, format_func=kind_name, key="spot_kinds",
                       default=[k for k in wanted_kinds if k in vaultmind.BLIND_SPOT_KINDS]
                       or list(vaultmind.BLIND_SPOT_KINDS))
filters = st.columns([0.55, 0.2, 0.25], vertical_alignment="bottom")
scene = filters[0].selectbox(
    "Scene", scene_options, key="spot_scene",
    index=scene_options.index(int(wanted_scene)) if wanted_scene and wanted_scene.isdigit()
    and int(wanted_scene) in labels else 0,
    format_func=lambda s: "every scene" if s is None else f"{s} · {labels[s]}",
)
limit = filters[1].number_input("Best of each kind", min_value=1, max_value=100, value=10, key="spot_limit")
show_dismissed = filters[2].toggle("Show dismissed ones", key="spot_dismissed",
                                   help="Findings you dismissed, so you can accept them after all")

if not kinds:
    st.info("Choose at least one kind.")
    st.stop()

with clear_errors(), st.spinner(f"Reading the blind spots ({SLOW})…"):
    spots = vaultmind.blind_spots(vault(), kinds=kinds, scene=scene, limit=int(limit), include_dismissed=show_dismissed,
                                  embedder=lazy_model(), state_dir=state_dir())
    verdicts = {spot.id: verdict for verdict, spot, _at in vaultmind.feedback(vault(), state_dir=state_dir())}

if not spots:
    st.success("No blind spots of these kinds" + (f" in scene {scene}." if scene is not None else "."))
    st.stop()

table = spot_table(spots, verdicts)
order = [kind_name(k) for k in vaultmind.BLIND_SPOT_KINDS if k in {s.kind for s in spots}]
figure = px.strip(table.assign(verdict=table["verdict"].replace("", "open")), x="score", y="kind", color="verdict",
                  hover_name="finding", hover_data={"kind": False, "verdict": False, "score": ":.2f"},
                  category_orders={"kind": order, "verdict": ["open", "accepted", "dismissed"]},
                  color_discrete_map={"open": "#4c78a8", "accepted": "#54a24b", "dismissed": "#bab0ac"})
figure.update_layout(height=110 + 38 * len(order), margin=dict(l=0, r=0, t=30, b=0), yaxis_title=None,
                     xaxis_title="score (best to the right; compare within a kind)", legend_title=None,
                     legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0))
st.plotly_chart(figure, width="stretch", key="spot_plot")

listed, tabular = st.tabs([f"Findings ({len(spots)})", "Table"])
with listed:
    for kind in vaultmind.BLIND_SPOT_KINDS:
        of_kind = [s for s in spots if s.kind == kind]
        if not of_kind:
            continue
        st.subheader(f"{kind_name(kind)} · {len(of_kind)}")
        st.caption(vaultmind.EXPLANATIONS[kind])
        for spot in of_kind:
            show_spot(spot, verdicts.get(spot.id), labels)
with tabular:
    st.dataframe(
        table, hide_index=True, width="stretch", key="spot_table",
        column_config={
            "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f"),
            "open": st.column_config.LinkColumn("open", display_text="in the app"),
            "obsidian": st.column_config.LinkColumn("obsidian", display_text="in Obsidian"),
        },
    )
