"""Graph: the vault's links at three zoom levels, as Obsidian's graph view. The scene level
(scenes sized by their notes, joined by the links between them) zooms into one scene's notes;
the local graph shows the notes within a few links of one note. Colour is the scene, size the
backlinks; wanted notes are hollow. Clicking a scene zooms in; clicking a note opens its page.

Data: `vaultmind.graph_view` (each view, cached per `vaultmind.store_version`),
`vaultmind.note_report` (which note a name means); `vaultmind.scene_map` first brings the scenes
up to date. Drawn with Plotly (SVG, at most MAX_NODES nodes a view); docs/app-graph.md
says why.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import networkx as nx
import plotly.graph_objects as go
import streamlit as st

import vaultmind
from common import NOTE_PAGE, clear_errors, header, plural, scene_colour, scene_map, state_dir, store_version, vault

MAX_NODES = 700  # one view's nodes: the force layout is what costs (about 1 s at 650 on the 10k vault)
LABELLED = 30  # note titles written on the chart (the most linked); the rest show on hover
DEPTHS = (1, 2, 3, 4, 5)
WANTED = "#757575"
SYMBOL = {"note": "circle", "canvas": "diamond", "attachment": "square", "wanted": "circle-open"}
VIEWS = {"scenes": "Scenes", "scene": "One scene", "note": "Around a note"}


def short(text: str, limit: int = 42) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- what to draw (cached)


def layout(graph: nx.Graph, *, weight: str = "pull") -> dict[Hashable, tuple[float, float]]:
    """A force layout, as Obsidian draws its graph. A hidden centre tied to every node stands in
    for Obsidian's centre force, so notes without links stay near the rest (a spring layout
    flings them to the edge); the spring layout is dense (fast) below 500 nodes, ForceAtlas2
    the faster above."""
    if len(graph) == 0:
        return {}
    held = nx.Graph()
    held.add_nodes_from(graph)
    held.add_edges_from((a, b, {"pull": d.get(weight, 1.0)}) for a, b, d in graph.edges(data=True))
    main = max(nx.connected_components(graph), key=len)
    centre = object()  # pulls the notes outside the main cluster harder: they float at its edge
    held.add_edges_from((centre, n, {"pull": 0.05 if n in main else 4.0}) for n in graph)
    if len(held) < 500:
        found = nx.spring_layout(held, seed=7, weight="pull", iterations=80)
    else:
        found = nx.forceatlas2_layout(held, seed=7, max_iter=50, weight="pull")
    return {n: (float(found[n][0]), float(found[n][1])) for n in graph}


def scene_drawing(graph: nx.Graph) -> dict[str, Any]:
    """The scene level as plain data: scenes with their position, edges with their weight."""
    for a, b, data in graph.edges(data=True):
        data["pull"] = math.log1p(data.get("weight", 1))
    where = layout(graph)
    nodes = [
        {"id": int(n), "label": d.get("label", str(n)), "notes": int(d.get("notes", 0)), "x": where[n][0],
         "y": where[n][1]}
        for n, d in sorted(graph.nodes(data=True), key=lambda nd: -nd[1].get("notes", 0))
    ]
    edges = [(int(a), int(b), int(d.get("weight", 1))) for a, b, d in graph.edges(data=True)]
    return {"nodes": nodes, "edges": edges, "total": len(nodes), "left_out": 0}


def note_drawing(graph: nx.Graph, center: str | None = None) -> dict[str, Any]:
    """A note view as plain data: at most MAX_NODES notes (nearest to `center` first, then the
    most linked), each with its position; the edges between them."""
    if center is not None and center in graph:
        distance = nx.single_source_shortest_path_length(graph, center)
    else:
        distance = {}
    order = sorted(graph.nodes(data=True),
                   key=lambda nd: (distance.get(nd[0], 0), -nd[1].get("backlinks", 0), str(nd[0])))
    kept = [n for n, _d in order[:MAX_NODES]]
    drawn = graph.subgraph(kept)
    where = layout(drawn)
    nodes = [
        {"id": n, "title": d.get("title") or str(n), "kind": d.get("kind", "note"), "scene": d.get("scene"),
         "backlinks": int(d.get("backlinks", 0)), "distance": distance.get(n), "x": where[n][0], "y": where[n][1]}
        for n, d in ((n, graph.nodes[n]) for n in kept)
    ]
    edges = [(a, b, int(d.get("weight", 1))) for a, b, d in drawn.edges(data=True)]
    wanted = sum(1 for _n, kind in graph.nodes(data="kind") if kind == "wanted")
    return {"nodes": nodes, "edges": edges, "total": len(graph), "left_out": len(graph) - len(kept),
            "center": center, "wanted": wanted}


@st.cache_data(max_entries=64, show_spinner=False)
def drawing(root: str, state: str | None, version: tuple, scene: int | None, note: str | None,
            depth: int) -> dict[str, Any]:
    """One view, ready to draw; `version` (the store's) keys the cache."""
    if note is not None:  # a title or an alias names the same note as its path
        note = vaultmind.note_report(root, note, state_dir=state).note.path
    graph = vaultmind.graph_view(root, scene=scene, note=note, depth=depth, state_dir=state)
    if scene is None and note is None:
        return scene_drawing(graph)
    return note_drawing(graph, note)


# ---------------------------------------------------------------- drawing


def edge_trace(points: dict[Any, tuple[float, float]], edges: list[tuple], width: float, colour: str) -> go.Scatter:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b, _w in edges:
        (ax, ay), (bx, by) = points[a], points[b]
        xs += [ax, bx, None]
        ys += [ay, by, None]
    return go.Scatter(x=xs, y=ys, mode="lines", line={"width": width, "color": colour}, hoverinfo="skip",
                      showlegend=False)


def frame(fig: go.Figure, points: dict[Any, tuple[float, float]], height: int) -> go.Figure:
    """No axes; room around the nodes for their labels; pan by dragging."""
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    xs, ys = [x for x, _y in points.values()] or [0.0], [y for _x, y in points.values()] or [0.0]
    pad_x, pad_y = 0.15 * (max(xs) - min(xs)) + 0.1, 0.08 * (max(ys) - min(ys)) + 0.1
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      xaxis={**hidden, "range": [min(xs) - pad_x, max(xs) + pad_x]},
                      yaxis={**hidden, "range": [min(ys) - pad_y, max(ys) + pad_y], "scaleanchor": "x"},
                      dragmode="pan", hovermode="closest",
                      clickmode="event+select", legend={"orientation": "h", "y": -0.02},
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def scene_figure(data: dict[str, Any]) -> go.Figure:
    """Scenes as circles sized by their notes, lines as thick as the links between them."""
    points = {n["id"]: (n["x"], n["y"]) for n in data["nodes"]}
    fig = go.Figure()
    heaviest = max((w for _a, _b, w in data["edges"]), default=1)
    for low, high, width in ((0, 0.2, 1.0), (0.2, 0.5, 3.0), (0.5, 1.01, 6.0)):  # three line weights
        chosen = [e for e in data["edges"] if low < e[2] / heaviest <= high]
        if chosen:
            fig.add_trace(edge_trace(points, chosen, width, "rgba(150,150,150,0.45)"))
    biggest = max((n["notes"] for n in data["nodes"]), default=1) or 1
    nodes = data["nodes"]
    fig.add_trace(go.Scatter(
        x=[n["x"] for n in nodes], y=[n["y"] for n in nodes], mode="markers+text",
        text=[short(n["label"], 32) for n in nodes], textposition="top center",
        marker={"size": [14 + 46 * math.sqrt(n["notes"] / biggest) for n in nodes],
                "color": [scene_colour(n["id"]) for n in nodes], "line": {"width": 1, "color": "white"}},
        customdata=[[n["id"]] for n in nodes],
        hovertext=[f"scene {n['id']}: {n['label']}<br>{plural(n['notes'], 'note')} · click to see them"
                   for n in nodes],
        hoverinfo="text", showlegend=False,
    ))
    return frame(fig, points, 620)


def note_figure(data: dict[str, Any]) -> go.Figure:
    """Notes coloured by scene and sized by backlinks; wanted notes hollow and grey, canvases
    diamonds, attachments squares; the centre of a local graph ringed."""
    points = {n["id"]: (n["x"], n["y"]) for n in data["nodes"]}
    fig = go.Figure(edge_trace(points, data["edges"], 0.7, "rgba(150,150,150,0.35)"))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for node in data["nodes"]:
        by_kind.setdefault(node["kind"], []).append(node)
    names = {"note": "notes", "canvas": "canvases", "attachment": "attachments", "wanted": "wanted notes (not written)"}
    for kind, nodes in by_kind.items():
        wanted = kind == "wanted"
        fig.add_trace(go.Scatter(
            x=[n["x"] for n in nodes], y=[n["y"] for n in nodes], mode="markers", name=names.get(kind, kind),
            marker={"size": [7 + 3.2 * math.sqrt(n["backlinks"]) for n in nodes], "symbol": SYMBOL.get(kind, "circle"),
                    "color": [WANTED if wanted else scene_colour(n["scene"]) for n in nodes],
                    "line": {"width": 2 if wanted else 0.5, "color": WANTED if wanted else "white"}},
            customdata=[[n["id"], kind] for n in nodes],
            hovertext=[hover(n) for n in nodes], hoverinfo="text",
        ))
    labelled = sorted(data["nodes"], key=lambda n: (n["id"] != data.get("center"), -n["backlinks"]))[:LABELLED]
    fig.add_trace(go.Scatter(
        x=[n["x"] for n in labelled], y=[n["y"] for n in labelled], mode="text", textposition="top center",
        text=[short(n["title"], 28) for n in labelled], hoverinfo="skip", showlegend=False,
        customdata=[[n["id"], n["kind"]] for n in labelled],
        textfont={"size": [13 if n["id"] == data.get("center") else 11 for n in labelled]},
    ))
    if data.get("center") in points:
        x, y = points[data["center"]]
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", hoverinfo="skip", showlegend=False,
                                 marker={"size": 30, "symbol": "circle-open", "color": "#d62728",
                                         "line": {"width": 3}}))
    return frame(fig, points, 680)


def hover(node: dict[str, Any]) -> str:
    where = "no scene" if node["scene"] is None else f"scene {node['scene']}"
    steps = "" if node.get("distance") in (None, 0) else f" · {plural(node['distance'], 'link')} away"
    if node["kind"] == "wanted":
        return f"{node['title']}<br>wanted: linked from {plural(node['backlinks'], 'note')}, not written yet"
    return f"{node['title']}<br>{node['id']}<br>{plural(node['backlinks'], 'backlink')} · {where}{steps}"


# ---------------------------------------------------------------- the page


def clicked(selection: Any) -> list[Any] | None:
    """The custom data of the node clicked (lines and empty space carry none)."""
    points = selection.selection.points if selection else []
    return next((p["customdata"] for p in points if isinstance(p.get("customdata"), list) and p["customdata"]), None)


def zoom_into_scene(chart_key: str) -> None:
    """A click on a scene at the scene level opens that scene's notes."""
    node = clicked(st.session_state.get(chart_key))
    if node:
        st.session_state["graph_view"] = "scene"
        st.session_state["graph_scene"] = int(node[0])


def follow_note(chart_key: str) -> None:
    """A click on a note either opens its page (after this callback, below) or centres the
    local graph on it, as the author chose."""
    node = clicked(st.session_state.get(chart_key))
    if node and st.session_state.get("graph_click") == "centre" and node[1] in ("note", "canvas"):
        st.session_state["graph_view"] = "note"
        st.session_state["graph_note"] = node[0]


def open_clicked_note(event: Any) -> None:
    """A click on a note opens its Note page; wanted notes and attachments have none."""
    node = clicked(event)
    if not node or st.session_state.get("graph_click") == "centre":
        return
    path, kind = node[:2]
    if kind in ("note", "canvas"):
        st.switch_page(NOTE_PAGE, query_params={"path": path})
    elif kind == "wanted":
        st.info(f"**{path}** is a wanted note: notes link to it, but it is not written yet.")
    else:
        st.info(f"**{path}** is an attachment.")


def first_run_from_url() -> None:
    """`/graph?scene=3` and `/graph?note=PATH&depth=2` open those views (other pages link here)."""
    if "graph_view" in st.session_state:
        return
    given = st.query_params
    st.session_state["graph_view"] = "scenes"
    if given.get("note"):
        st.session_state["graph_view"] = "note"
        st.session_state["graph_note"] = given["note"]
    elif given.get("scene", "").isdigit():
        st.session_state["graph_view"] = "scene"
        st.session_state["graph_scene"] = int(given["scene"])
    depth = given.get("depth", "")
    st.session_state["graph_depth"] = int(depth) if depth.isdigit() and int(depth) in DEPTHS else 1


header("Graph", "Scenes and the links between them; zoom into a scene, or into the notes around one note")
first_run_from_url()
root, state = str(vault()), state_dir()

with st.spinner("Reading the vault's links…"), clear_errors():
    scene_map()  # brings the scenes up to date first, as every page that shows them does
    stamp = store_version()
    scenes = drawing(root, state, stamp, None, None, 1)
labels = {n["id"]: n["label"] for n in scenes["nodes"]}
if not labels:
    st.info("No scenes yet: index the vault (Overview) so that its scenes can be found.")
    st.stop()

controls = st.columns([0.36, 0.4, 0.24], vertical_alignment="bottom")
view = controls[0].segmented_control("View", list(VIEWS), format_func=VIEWS.get, key="graph_view") or "scenes"

if view == "scenes":
    st.query_params.from_dict({"view": "scenes"})
    chart_key = f"graph-scenes-{stamp}"
    st.plotly_chart(scene_figure(scenes), key=chart_key, selection_mode="points",
                    on_select=lambda key=chart_key: zoom_into_scene(key),
                    config={"scrollZoom": True, "displaylogo": False})
    st.caption(f"{len(labels)} scenes, sized by their notes; a line's weight is the number of links between "
               "two scenes. Click a scene to see its notes; scroll to zoom, drag to pan.")
    st.stop()

if view == "scene":
    if st.session_state.get("graph_scene") not in labels:
        st.session_state["graph_scene"] = next(iter(labels))
    note, depth = None, 1
    scene = controls[1].selectbox("Scene", list(labels), key="graph_scene",
                                  format_func=lambda s: f"{s} · {labels[s]}")
    st.query_params.from_dict({"view": "scene", "scene": str(scene)})
    with st.spinner("Laying out the scene's notes…"), clear_errors():
        data = drawing(root, state, stamp, scene, None, 1)
    what = (f"Scene {scene} «{labels[scene]}»: {plural(data['total'] - data['wanted'], 'note')} and "
            f"{plural(data['wanted'], 'wanted note')} they link to")
    if data["left_out"]:
        what += f"; the {len(data['nodes']):,} most linked of {data['total']:,} are drawn, {data['left_out']:,} left out"
else:
    if not st.session_state.get("graph_note"):  # start from the most linked note of the largest scene
        most = max(drawing(root, state, stamp, next(iter(labels)), None, 1)["nodes"],
                   key=lambda n: (n["kind"] != "wanted", n["backlinks"]))
        st.session_state["graph_note"] = most["id"]
    scene = None
    note = controls[1].text_input("Note (path, title or alias)", key="graph_note")
    depth = controls[2].select_slider("Depth (links either way)", DEPTHS, key="graph_depth")
    st.query_params.from_dict({"view": "note", "note": note, "depth": str(depth)})
    with st.spinner(f"Finding the notes within {plural(depth, 'link')}…"), clear_errors():
        data = drawing(root, state, stamp, None, note, depth)
    around = len(data["nodes"]) and next(n for n in data["nodes"] if n["id"] == data["center"])
    what = (f"{plural(data['total'] - data['wanted'] - 1, 'note')} and {plural(data['wanted'], 'wanted note')} "
            f"within {plural(depth, 'link')} of «{around['title'] if around else note}»")
    if data["left_out"]:
        what += (f"; the nearest {len(data['nodes']):,} are drawn, {data['left_out']:,} farther ones left out "
                 "(lower the depth to see them all)")

chart_key = f"graph-{view}-{scene if view == 'scene' else note}-{depth if view == 'note' else 0}-{stamp}"
event = st.plotly_chart(note_figure(data), key=chart_key, selection_mode="points",
                        on_select=lambda key=chart_key: follow_note(key),
                        config={"scrollZoom": True, "displaylogo": False})
st.caption(f"{what}. Colour: scene; size: backlinks; hollow: wanted notes. Scroll to zoom, drag to pan.")
st.radio("Clicking a note", ["open", "centre"], key="graph_click", horizontal=True,
         format_func={"open": "opens its page", "centre": "centres the local graph on it"}.get)
open_clicked_note(event)
