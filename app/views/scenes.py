"""Scenes: the map of the notes, each dot a note placed by meaning and links and coloured by its
scene, with the scenes' labels; then one scene up close: its label and summary, its central
notes, the scenes it links to, its blind spots, and "export this scene's chips". Clicking a
dot, or a neighbouring scene's bar, opens that scene.

Data: `vaultmind.scene_map` (scenes and the map), `vaultmind.scene_report` (centrality and
neighbours), `vaultmind.blind_spots` (the scene's findings), `vaultmind.overview` (where the
store is, for the export folder), `vaultmind.export_chips` (the export); all cached per
`vaultmind.store_version`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import vaultmind
from common import (
    NOTE_PAGE,
    clear_errors,
    header,
    lazy_model,
    note_links,
    NO_SCENE,
    PALETTE,
    page,
    plural,
    scene_colour,
    scene_map,
    state_dir,
    store_version,
    vault,
)

CENTRAL_SHOWN = 15  # members in the centrality chart
SPOTS_PER_KIND = 5


def short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str) -> str:
    """Text as Markdown that reads as written: `$` is not maths, `<` starts no tag."""
    return text.replace("$", r"\$").replace("<", "&lt;")


def title_of(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".md")


# ---------------------------------------------------------------- cached API answers


@st.cache_data(show_spinner="Placing the notes on the map…", max_entries=4)
def map_points(root: str, state: str | None, version: tuple, _found: vaultmind.SceneMap) -> pd.DataFrame:
    """One row per note of the map: where it is, its scene (0: none) and title."""
    scene_of = {p: s.id for s in _found.scenes for p in s.notes}
    where = _found.positions
    return pd.DataFrame({"x": [x for x, _y in where.values()], "y": [y for _x, y in where.values()],
                         "scene": [scene_of.get(p, 0) for p in where], "title": [title_of(p) for p in where]})


@st.cache_data(show_spinner="Reading the scene…", max_entries=32)
def report(root: str, state: str | None, version: tuple, scene: int) -> vaultmind.SceneReport:
    return vaultmind.scene_report(root, scene, embedder=lazy_model(), state_dir=state)


@st.cache_data(show_spinner="Looking for blind spots in this scene (the first time on a large vault takes a while)…",
               show_time=True, max_entries=32)
def scene_spots(root: str, state: str | None, version: tuple, scene: int) -> list[vaultmind.BlindSpot]:
    return vaultmind.blind_spots(root, scene=scene, limit=SPOTS_PER_KIND, embedder=lazy_model(), state_dir=state)


@st.cache_data(show_spinner=False, max_entries=4)
def store_folder(root: str, state: str | None, version: tuple) -> str:
    return vaultmind.overview(root, state_dir=state).state_dir


# ---------------------------------------------------------------- drawing


def map_figure(points: pd.DataFrame, found: vaultmind.SceneMap, chosen: vaultmind.Scene) -> go.Figure:
    """Every note as a dot coloured by its scene (WebGL: 10,000 dots), the scenes' labels in the
    middle of their notes, the chosen scene's notes ringed. Columns, not lists, and colours as
    numbers on a scale of the scene colours: Plotly then checks no dot one by one."""
    small = len(points) < 2000
    scale = [[i / len(PALETTE), colour] for i, colour in enumerate([*PALETTE, NO_SCENE])]
    colour = points["scene"].map(lambda s: len(PALETTE) if s == 0 else (s - 1) % len(PALETTE))
    fig = go.Figure(go.Scattergl(
        x=points["x"], y=points["y"], mode="markers", text=points["title"], customdata=points["scene"],
        marker={"size": 7 if small else 4, "color": colour, "colorscale": scale, "cmin": 0, "cmax": len(PALETTE),
                "opacity": 0.85},
        hovertemplate="%{text}<extra></extra>", showlegend=False,
    ))
    ringed = points[points["scene"] == chosen.id]
    fig.add_trace(go.Scattergl(
        x=ringed["x"], y=ringed["y"], mode="markers", hoverinfo="skip", showlegend=False,
        marker={"size": 11 if small else 7, "color": "rgba(0,0,0,0)", "line": {"width": 1.5, "color": "#222"}},
    ))
    middles = points[points["scene"] != 0].groupby("scene")[["x", "y"]].mean()
    for scene in found.scenes:
        if scene.id in middles.index:
            fig.add_annotation(x=middles.at[scene.id, "x"], y=middles.at[scene.id, "y"],
                               text=f"<b>{scene.id}</b> {short(scene.label)}", showarrow=False,
                               font={"size": 12, "color": scene_colour(scene.id)}, bgcolor="rgba(255,255,255,0.75)")
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(height=560, margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis=hidden,
                      yaxis={**hidden, "scaleanchor": "x"}, dragmode="pan", hovermode="closest",
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def centrality_chart(rep: vaultmind.SceneReport) -> go.Figure:
    top = sorted(rep.centrality.items(), key=lambda kv: -kv[1])[:CENTRAL_SHOWN][::-1]
    fig = go.Figure(go.Bar(
        x=[v for _p, v in top], y=[short(title_of(p), 40) for p, _v in top], orientation="h",
        marker_color=scene_colour(rep.scene.id), customdata=[[p] for p, _v in top],
        hovertemplate="%{customdata[0]}<br>centrality %{x:.3f}<extra></extra>",
    ))
    fig.update_layout(height=max(180, 26 * len(top) + 40), margin={"l": 0, "r": 0, "t": 0, "b": 30},
                      xaxis_title="centrality in the scene")
    return fig


def neighbour_chart(rep: vaultmind.SceneReport, labels: dict[int, str]) -> go.Figure:
    near = [(s, n) for s, n in rep.neighbours if s in labels][:12][::-1]
    fig = go.Figure(go.Bar(
        x=[n for _s, n in near], y=[f"{s} · {short(labels[s], 34)}" for s, _n in near], orientation="h",
        marker_color=[scene_colour(s) for s, _n in near], customdata=[[s] for s, _n in near],
        hovertemplate="%{y}<br>%{x} links<extra></extra>",
    ))
    fig.update_layout(height=max(160, 28 * len(near) + 40), margin={"l": 0, "r": 0, "t": 0, "b": 30},
                      xaxis_title="links between the two scenes")
    return fig


def choose_scene_from(chart_key: str) -> None:
    """A click on the map (a note) or on a neighbour's bar opens that scene."""
    event = st.session_state.get(chart_key)
    for point in event.selection.points if event else []:
        value = point.get("customdata")  # the map's is the scene id itself, a bar's a one-item list
        scene = value[0] if isinstance(value, list) and value else value
        if isinstance(scene, (int, float)) and int(scene) > 0:
            st.session_state["scenes_scene"] = int(scene)
            return


def show_spots(spots: list[vaultmind.BlindSpot]) -> None:
    if not spots:
        st.caption("None found in this scene.")
        return
    by_kind: dict[str, list[vaultmind.BlindSpot]] = {}
    for spot in spots:
        by_kind.setdefault(spot.kind, []).append(spot)
    for kind, found in by_kind.items():
        st.markdown(f"**{kind.replace('_', ' ')}** ({len(found)})")
        st.markdown("\n".join(f"- {plain(spot.title)}  \n  <small>{plain(spot.suggestion)}</small>" for spot in found),
                    unsafe_allow_html=True)


def export_section(scene: vaultmind.Scene, folder_default: str) -> None:
    st.subheader("Export this scene's chips")
    st.caption("Training examples made from this scene's notes only, in the formats trainers load; "
               "the Chips page has every filter and a preview.")
    left, right = st.columns([0.45, 0.55], vertical_alignment="bottom")
    formats = left.multiselect("Formats", vaultmind.CHIP_FORMATS, default=list(vaultmind.CHIP_FORMATS),
                               key="scenes_chip_formats")
    folder = right.text_input("Export to the folder", value=folder_default, key=f"scenes_chip_folder_{scene.id}")
    target = Path(folder).expanduser()
    occupied = target.is_dir() and any(target.iterdir())
    overwrite = False
    if occupied and (target / "manifest.json").is_file():
        overwrite = st.checkbox(f"Replace the earlier export in `{target}`", key="scenes_chip_overwrite")
    elif occupied or (target.exists() and not target.is_dir()):
        st.error(f"`{target}` is not empty and holds no vaultmind export: choose an empty or a new folder.")
        return
    if st.button("Export this scene's chips", type="primary", icon=":material/save:", key="scenes_chip_export",
                 disabled=not formats or not folder.strip() or (occupied and not overwrite)):
        bar = st.progress(0.0, text="Reading the notes…")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage.capitalize()}…")

        with clear_errors(), st.spinner("Exporting…", show_time=True):
            result = vaultmind.export_chips(vault(), target, scene=scene.id, formats=formats, overwrite=overwrite,
                                            embedder=lazy_model(), state_dir=state_dir(), progress=progress)
        bar.empty()
        rows = sum(n for splits in result.rows.values() for n in splits.values())
        st.success(f"Wrote {plural(len(result.files), 'file')} ({plural(rows, 'row')}) to `{result.out}`; "
                   "`manifest.json` lists them.")


# ---------------------------------------------------------------- the page

header("Scenes", "Groups of notes that form one concept, found from links and meaning together")
root, state = str(vault()), state_dir()
with clear_errors():
    found = scene_map()
    version = store_version()
if not found.scenes:
    st.info("No scenes yet: a scene needs notes that link to each other or are close in meaning.")
    st.stop()
labels = {s.id: s.label for s in found.scenes}
regions = {r.id: r.label for r in found.regions}

counts = st.columns(4)
counts[0].metric("Scenes", f"{len(found.scenes):,}")
counts[1].metric("Regions", f"{len(found.regions):,}", help="Scenes grouped for zooming out")
counts[2].metric("Notes in scenes", f"{sum(s.size for s in found.scenes):,}")
counts[3].metric("Unplaced notes", f"{len(found.unplaced):,}", help="No links and no near neighbour in meaning")

if "scenes_scene" not in st.session_state:
    asked = st.query_params.get("scene", "")
    st.session_state["scenes_scene"] = int(asked) if asked.isdigit() and int(asked) in labels else found.scenes[0].id
elif st.session_state["scenes_scene"] not in labels:  # the scene is gone since (a re-index)
    st.session_state["scenes_scene"] = found.scenes[0].id
chosen = st.session_state["scenes_scene"]
scene = next(s for s in found.scenes if s.id == chosen)

points = map_points(root, state, version, found)
map_key = f"scenes-map-{version}-{chosen}"  # a new chart per scene: no stale selection
st.plotly_chart(map_figure(points, found, scene), key=map_key, selection_mode="points",
                on_select=lambda key=map_key: choose_scene_from(key),
                config={"scrollZoom": True, "displaylogo": False})
st.caption(f"{plural(len(found.positions), 'note')}, placed by meaning ({found.layout}) and coloured by scene; "
           "grey: in no scene. Click a note to open its scene below; scroll to zoom, drag to pan.")

scene_id = st.selectbox("Scene", list(labels), key="scenes_scene", format_func=lambda s: f"{s} · {labels[s]}")
st.query_params["scene"] = str(scene_id)
scene = next(s for s in found.scenes if s.id == scene_id)
with clear_errors():
    rep = report(root, state, version, scene.id)

st.subheader(f"{scene.id}. {scene.label}")
if scene.summary:
    st.markdown(f"> {plain(scene.summary)}")
facts = st.columns(4)
facts[0].metric("Notes", f"{scene.size:,}")
facts[1].metric("Link density", f"{scene.density:.2f}", help="The share of member pairs linked either way")
facts[2].metric("Cohesion", "—" if scene.cohesion is None else f"{scene.cohesion:.2f}",
                help="The members' mean similarity in meaning")
facts[3].metric("Region", "—" if scene.region is None else str(scene.region),
                help=regions.get(scene.region, "") if scene.region is not None else None)
st.caption("Terms: " + ", ".join(scene.terms))
go_to = st.columns(3)
go_to[0].page_link(page("graph"), label="See its notes in the graph", icon="🕸️",
                   query_params={"scene": str(scene.id)})
go_to[1].page_link(page("blindspots"), label="All its blind spots", icon="🔦", query_params={"scene": str(scene.id)})
go_to[2].page_link(page("chips"), label="All chip options", icon="🧩")

central, neighbours = st.columns(2)
with central:
    st.markdown("**Central notes**")
    st.markdown("\n".join(f"- {note_links(path)}" for path in scene.central))
    central_key = f"scenes-central-{scene.id}-{version}"
    picked = st.plotly_chart(centrality_chart(rep), key=central_key, on_select="rerun", selection_mode="points",
                             config={"displayModeBar": False})
    st.caption("Members by centrality in the scene; click a bar to open the note.")
    points = picked.selection.points if picked else []
    note = next((p["customdata"][0] for p in points if isinstance(p.get("customdata"), list) and p["customdata"]), None)
    if note:
        st.switch_page(NOTE_PAGE, query_params={"path": note})
with neighbours:
    st.markdown("**Neighbouring scenes** (by the links between them)")
    if any(s in labels for s, _n in rep.neighbours):
        near_key = f"scenes-near-{scene.id}-{version}"
        st.plotly_chart(neighbour_chart(rep, labels), key=near_key, selection_mode="points",
                        on_select=lambda key=near_key: choose_scene_from(key), config={"displayModeBar": False})
        st.caption(f"{plural(len(rep.internal_links), 'link')} inside, {plural(len(rep.external_links), 'link')} "
                   "to other notes. Click a bar to open that scene.")
    else:
        st.caption("No links to other scenes.")
    if scene.wanted:
        st.markdown("**Wanted notes referenced here:** " + ", ".join(f"[[{plain(w)}]]" for w in scene.wanted))

with st.expander(f"All {plural(scene.size, 'note')} of the scene"):
    members = pd.DataFrame([{"note": title_of(p), "centrality": rep.centrality.get(p, 0.0), "path": p,
                             "central": p in scene.central} for p in scene.notes])
    st.dataframe(members, hide_index=True, width="stretch", key=f"scenes-members-{scene.id}",
                 column_config={"centrality": st.column_config.NumberColumn(format="%.3f")})

st.subheader("Its blind spots")
with clear_errors():
    spots = scene_spots(root, state, version, scene.id)
show_spots(spots)

with clear_errors():
    folder = Path(store_folder(root, state, version)) / f"chips-scene-{scene.id}"
export_section(scene, str(folder))
