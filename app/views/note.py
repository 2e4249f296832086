"""Note: one note with its links out, backlinks, wanted links, scene, related notes and dialogue
turns. Other pages link here with `?path=NOTE`; without a path it offers a note picker."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

import common
import vaultmind

SHOWN = 200  # items per list; a hub can have thousands of backlinks
TURN_CHARS = 3000


@st.cache_data(show_spinner=False, max_entries=64)
def note_report(vault: str, state_dir: str | None, name: str, version: tuple) -> vaultmind.NoteReport:
    return vaultmind.note_report(vault, name, state_dir=state_dir)


@st.cache_data(show_spinner="Finding related notes…", max_entries=64)
def related(vault: str, state_dir: str | None, model: str | None, note: str,
            version: tuple) -> list[vaultmind.RelatedNote]:
    return vaultmind.related(vault, note, limit=10, embedder=vaultmind.embedder(model), state_dir=state_dir)


def context(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def bullet_list(lines: list[str], empty: str) -> None:
    if not lines:
        st.caption(empty)
        return
    st.markdown("\n".join(lines[:SHOWN]))
    if len(lines) > SHOWN:
        st.caption(f"… and {len(lines) - SHOWN:,} more")


def by_note(pairs: Iterable[tuple[str, vaultmind.ResolvedLink]]) -> list[str]:
    """One bullet per note at the other end: how many links, and the first one's sentence."""
    grouped: dict[str, list[vaultmind.ResolvedLink]] = {}
    for path, link in pairs:
        grouped.setdefault(path, []).append(link)
    return [f"- {common.note_links(path)}{f' ×{len(links)}' if len(links) > 1 else ''} — {context(links[0].link.context)}"
            for path, links in grouped.items()]


def outgoing(report: vaultmind.NoteReport) -> None:
    st.markdown(f"**Links out** ({len(report.outgoing) - len(report.unresolved):,})")
    bullet_list(by_note((link.target_path, link) for link in report.outgoing
                        if link.target_path is not None and link.target_path != report.note.path),
                "No links to other notes.")


def backlinks(report: vaultmind.NoteReport) -> None:
    st.markdown(f"**Backlinks** ({len(report.backlinks):,})")
    bullet_list(by_note((link.source, link) for link in report.backlinks), "No note links here.")


def wanted(report: vaultmind.NoteReport) -> None:
    st.markdown(f"**Wanted links** ({len(report.unresolved):,}): notes this one links to that do not exist")
    lines = [f"- **{link.link.target or '#'}** (line {link.link.line}) — {context(link.link.context)}"
             for link in report.unresolved]
    bullet_list(lines, "None: every link here points at a file.")


def scene(found: vaultmind.SceneMap, path: str) -> None:
    st.markdown("**Scene**")
    home = found.scene_of(path)
    if home is None:
        why = "it is a hub (an index page), and hubs are kept out of scenes" if path in found.hubs else \
            "too few links or near neighbours"
        st.caption(f"In no scene: {why}.")
        return
    st.markdown(f"Scene **{home.id}: {home.label}** — {home.size} notes, link density {home.density:.2f}")
    if home.summary:
        st.caption(home.summary)
    central = [p for p in home.central if p != path][:3]
    if central:
        st.markdown("Central notes: " + ", ".join(common.note_links(p) for p in central))
    st.page_link(common.page("scenes"), label=f"Open scene {home.id}", icon="🗺️",
                 query_params={"scene": str(home.id)})


def related_notes(path: str, version: tuple) -> None:
    st.markdown("**Related notes** (closest in meaning)")
    try:
        found = related(str(common.vault()), common.state_dir(), common.model_name(), path, version)
    except vaultmind.VaultmindError as e:
        st.warning(str(e))
        return
    lines = [
        f"- {common.note_links(r.note)} · {'🔗 linked' if r.linked else '➕ **not linked**'} · {r.score:.2f}"
        for r in found
    ]
    bullet_list(lines, "No other note has vectors yet.")
    st.page_link(common.page("search"), label="Compare the passages", icon="🧲", query_params={"related": path})


def dialogue(note: vaultmind.Note) -> None:
    if not note.turns:
        return
    with st.expander(f"Dialogue: {len(note.turns)} turns", expanded=len(note.turns) <= 6):
        for turn in note.turns:
            with st.chat_message("user" if turn.role == "user" else "assistant"):
                st.caption(f"{turn.author} · {turn.timestamp} · line {turn.line}")
                text = turn.text if len(turn.text) <= TURN_CHARS else turn.text[:TURN_CHARS] + " …"
                st.markdown(text)


def picker(notes: list[str], path: str | None) -> None:
    choice = st.selectbox("Note", notes, index=notes.index(path) if path in notes else None,
                          key=f"note.pick:{path}", placeholder="Choose a note…", label_visibility="collapsed")
    if choice is not None and choice != path:
        st.query_params["path"] = choice
        st.rerun()


common.header("Note", "One note, its links and its neighbours")
with common.clear_errors():
    version = common.store_version()
    found = common.scene_map()
    notes = common.note_paths()
path = st.query_params.get("path")
picker(notes, path)
if not path:
    st.info("Choose a note above, or open one from Search, Scenes or Blind spots.")
    st.stop()
with common.clear_errors():
    report = note_report(str(common.vault()), common.state_dir(), path, version)
note = report.note

st.subheader(note.title)
where, graph = st.columns([0.6, 0.4], vertical_alignment="center")
where.markdown(f"`{note.path}` · [↗ open in Obsidian]({vaultmind.obsidian_url(common.vault(), note.path)})")
graph.page_link(common.page("graph"), label="Its neighbourhood in the graph", icon="🕸️",
                query_params={"note": note.path})
facts = []
if note.aliases:
    facts.append("aliases: " + ", ".join(note.aliases))
if note.tags:
    facts.append("tags: " + " ".join(f"#{name}" for name in dict.fromkeys(t.name for t in note.tags)))
if note.private:
    facts.append("🔒 private (left out of training chips)")
if facts:
    st.caption(" · ".join(facts))
for w in note.warnings:
    st.warning(f"{w.code}{f' (line {w.line})' if w.line else ''}: {w.message}")

cells = st.columns(4)
cells[0].metric("Links out", f"{len(report.outgoing) - len(report.unresolved):,}", border=True)
cells[1].metric("Backlinks", f"{len(report.backlinks):,}", border=True)
cells[2].metric("Wanted links", f"{len(report.unresolved):,}", border=True)
cells[3].metric("Dialogue turns", f"{len(note.turns):,}", border=True)

left, right = st.columns(2)
with left:
    scene(found, note.path)
    backlinks(report)
    outgoing(report)
    wanted(report)
with right:
    related_notes(note.path, version)
    dialogue(note)
