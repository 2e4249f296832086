"""Overview: the vault at a glance — counts, blind spots by kind, scenes, how fresh the index
is and whether the daemon keeps it so, with a button to re-index when it does not."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import common
import vaultmind

JUST_INDEXED = "overview.just_indexed"  # the summary of a re-index, shown once after the rerun


def summary_text(summary: vaultmind.IndexSummary) -> str:
    p = common.plural
    text = (
        f"Indexed in {summary.seconds:.1f} s: {p(summary.notes, 'note')}, {p(summary.canvases, 'canvas', 'canvases')}, "
        f"{p(summary.attachments, 'attachment')}; {p(summary.links, 'link')} ({summary.unresolved:,} unresolved); "
        f"{p(summary.warnings, 'warning')}. Parsed {summary.parsed:,}, unchanged {summary.skipped:,}, "
        f"removed {summary.removed:,}, renamed {summary.renamed:,}"
    )
    if summary.model:
        text += f"; {p(summary.chunks, 'chunk')}, {summary.embedded:,} newly embedded with {summary.model}"
    return text + f"; {p(summary.scenes, 'scene')}."


def index_button(label: str, *, primary: bool) -> None:
    if st.button(label, type="primary" if primary else "secondary"):
        with common.clear_errors():
            st.session_state[JUST_INDEXED] = common.index_now()
        st.rerun()


def first_index() -> None:
    st.info(
        f"**{common.vault().name}** has not been indexed yet. Indexing reads every note, resolves the "
        "links, embeds the text with the local model and finds the scenes; nothing leaves this machine."
    )
    index_button("Index now", primary=True)


def counts(overview: vaultmind.VaultOverview) -> DeltaGenerator:
    """The counts at a glance; returns the cell the blind spot count goes in once it is known."""
    cells = st.columns(6)
    cells[0].metric("Notes", f"{overview.notes:,}", border=True)
    cells[1].metric("Links", f"{overview.links:,}", border=True,
                    help=f"Link occurrences between notes; {overview.unresolved:,} of them point at no file.")
    cells[2].metric("Wanted notes", f"{overview.wanted:,}", border=True,
                    help="Notes you link to but never wrote.")
    cells[3].metric("Scenes", f"{overview.scenes:,}", border=True,
                    help=f"Groups of notes that form one concept cluster, in {overview.regions:,} regions; "
                         f"{overview.unplaced:,} notes belong to none.")
    cells[5].metric("Warnings", f"{overview.warnings:,}", border=True,
                    help="Files that could not be read cleanly (see Health).")
    p = common.plural
    st.caption(
        f"{p(overview.canvases, 'canvas', 'canvases')} · {p(overview.attachments, 'attachment')} · "
        f"{p(overview.chunks, 'chunk')} · {p(overview.regions, 'region')} · {p(overview.unplaced, 'unplaced note')}"
    )
    if overview.warnings:
        st.page_link(common.page("health"), label=f"See the {p(overview.warnings, 'warning')} on Health", icon="🩺")
    return cells[4].empty()


def freshness(overview: vaultmind.VaultOverview) -> None:
    st.subheader("Index")
    left, right = st.columns(2)
    with left:
        st.markdown(f"Last indexed **{common.when(overview.indexed_at)}**")
        if overview.changed:
            changed = common.plural(overview.changed, "file")
            st.warning(f"{changed} changed on disk since then (new, edited or deleted).")
        else:
            st.success("Up to date with the files on disk.")
    with right:
        daemon = overview.daemon
        if daemon.running:
            st.markdown(
                f"🟢 **vaultmind watch is running** (pid {daemon.pid}, since {common.when(daemon.since)}) "
                f"and keeps the index fresh: {daemon.state}, {daemon.queue:,} files waiting."
            )
            if daemon.last_batch:
                batch = daemon.last_batch
                st.caption(f"Last batch {common.when(batch.at)}: {batch.files:,} files in {batch.seconds:.2f} s "
                           f"({batch.parsed:,} parsed, {batch.removed:,} removed, {batch.embedded:,} embedded)")
        else:
            st.markdown("⚪ **The sync daemon is not running**, so the index changes only when you re-index.")
            index_button("Re-index now", primary=bool(overview.changed))
            st.caption(f"To keep it fresh while you write: `vaultmind watch \"{overview.vault}\"`")
        if daemon.last_error:
            st.error(f"The daemon's last error ({common.when(daemon.error_at)}): {daemon.last_error}")


def blind_spot_chart(spots: list[vaultmind.BlindSpot]) -> None:
    st.subheader("Blind spots by kind")
    by_kind = {kind: 0 for kind in vaultmind.BLIND_SPOT_KINDS}
    for spot in spots:
        by_kind[spot.kind] = by_kind.get(spot.kind, 0) + 1
    if not spots:
        st.success("No blind spots found.")
        return
    kinds = list(by_kind)[::-1]  # plotly draws the first bar at the bottom
    figure = go.Figure(go.Bar(
        x=[by_kind[k] for k in kinds], y=[k.replace("_", " ") for k in kinds], orientation="h",
        text=[by_kind[k] for k in kinds], textposition="outside", cliponaxis=False,
        customdata=[vaultmind.EXPLANATIONS.get(k, "") for k in kinds],
        hovertemplate="<b>%{y}</b>: %{x}<br>%{customdata}<extra></extra>",
    ))
    figure.update_layout(height=340, margin=dict(l=0, r=40, t=10, b=0), xaxis_title=None, yaxis_title=None)
    st.plotly_chart(figure, config={"displayModeBar": False})
    if max(by_kind.values()) >= 200:
        st.caption("At most 200 of each kind are counted.")
    st.page_link(common.page("blindspots"), label="Explore the blind spots", icon="🔦")


def wanted_notes(spots: list[vaultmind.BlindSpot]) -> None:
    wanted = [s for s in spots if s.kind == "wanted_note"]
    if not wanted:
        return
    st.markdown("**Wanted notes most linked to**")
    st.markdown("\n".join(f"- {spot.title}" for spot in wanted[:5]))


def scene_chart(scenes: tuple[vaultmind.Scene, ...]) -> None:
    st.subheader("Scenes")
    if not scenes:
        st.info("No scenes yet: a scene needs linked or similar notes.")
        return
    figure = go.Figure(go.Treemap(
        labels=[f"{s.id}. {s.label}" for s in scenes], parents=[""] * len(scenes),
        values=[s.size for s in scenes], customdata=[[s.size, s.density] for s in scenes],
        hovertemplate="<b>%{label}</b><br>%{customdata[0]} notes, link density %{customdata[1]:.2f}<extra></extra>",
        textinfo="label+value",
    ))
    figure.update_layout(height=340, margin=dict(l=0, r=0, t=10, b=0))
    st.plotly_chart(figure, config={"displayModeBar": False})
    st.page_link(common.page("scenes"), label="Explore the scenes", icon="🗺️")


common.header("Overview", "Your vault at a glance")
just_indexed = st.session_state.pop(JUST_INDEXED, None)
if just_indexed is not None:
    st.success(summary_text(just_indexed), icon="✅")
try:
    overview = vaultmind.overview(common.vault(), state_dir=common.state_dir())
except vaultmind.NotIndexed:
    first_index()
    st.stop()
except vaultmind.VaultmindError as e:
    st.error(str(e))
    st.stop()
spot_cell = counts(overview)
freshness(overview)
spots: list[vaultmind.BlindSpot] | None = None
scenes: tuple[vaultmind.Scene, ...] | None = None
try:  # the counts above stand on their own: a failure here only leaves the charts out
    scenes = common.scene_map().scenes
    spots = common.blind_spots()
except vaultmind.VaultmindError as e:
    st.error(str(e))
spot_cell.metric("Blind spots", "—" if spots is None else f"{len(spots):,}", border=True,
                 help="Findings of every kind (see below).")
left, right = st.columns(2)
with left:
    if spots is not None:
        blind_spot_chart(spots)
        wanted_notes(spots)
with right:
    if scenes is not None:
        scene_chart(scenes)
st.caption(f"Store: `{overview.state_dir}`, {common.size(overview.store_bytes)}")
