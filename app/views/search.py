"""Search: notes by meaning, in Russian or English, each with its matching chunk; and the notes
closest in meaning to one note, marked linked or not linked."""

from __future__ import annotations

import re

import streamlit as st

import common
import vaultmind

WORD = re.compile(r"\w+")
VERBATIM = re.compile(r"(\[\[.*?\]\]|\[[^\]]*\]\([^)]*\)|`[^`]*`|<[^>]*>|https?://\S+)")


@st.cache_data(show_spinner="Searching…", max_entries=64)
def search(vault: str, state_dir: str | None, model: str | None, query: str, limit: int,
           version: tuple) -> list[vaultmind.SearchHit]:
    return vaultmind.search(vault, query, limit=limit, embedder=common.model(), state_dir=state_dir)


@st.cache_data(show_spinner="Finding related notes…", max_entries=64)
def related(vault: str, state_dir: str | None, model: str | None, note: str, limit: int,
            version: tuple) -> list[vaultmind.RelatedNote]:
    return vaultmind.related(vault, note, limit=limit, embedder=vaultmind.embedder(model), state_dir=state_dir)


def highlight(text: str, query: str) -> str:
    """The chunk as Markdown with the words it shares with the query marked (a shared stem is
    enough, so `зиму` marks `зимовка` and `winter` marks `wintering`); words under 4 letters are
    left alone (`как`, `the`)."""
    stems = {w.lower()[: max(3, len(w) - 2)] for w in WORD.findall(query) if len(w) >= 4}
    if not stems:
        return text

    def mark(match: re.Match[str]) -> str:
        word = match.group(0)
        return f":orange-background[{word}]" if any(word.lower().startswith(s) for s in stems) else word

    # links, code and URLs stay as written: a mark inside them would break them
    return "".join(part if i % 2 else WORD.sub(mark, part) for i, part in enumerate(VERBATIM.split(text)))


def where(hit: vaultmind.SearchHit) -> str:
    heading = f" › {hit.heading}" if hit.heading else ""
    return f"`{hit.note}`{heading} (line {hit.line})"


def search_tab(version: tuple) -> None:
    left, right = st.columns([0.8, 0.2])
    query = left.text_input(
        "What are you looking for?", key="q", bind="query-params", type="search",
        placeholder="как пчёлы переживают зиму · why does my bread come out dense",
        help="Search by meaning: a Russian query finds English notes and back.",
    )
    limit = right.number_input("Notes", min_value=1, max_value=100, value=10, key="search.limit")
    if not query or not query.strip():
        st.caption("Type a question or a few words and press Enter. The first search loads the model; "
                   "the next ones are instant.")
        return
    try:
        hits = search(str(common.vault()), common.state_dir(), common.model_name(), query.strip(), int(limit), version)
    except vaultmind.VaultmindError as e:
        st.error(str(e))
        return
    if not hits:
        st.info("Nothing found.")
        return
    st.caption(f"{len(hits)} notes closest in meaning, best first; the marked passage is the part that matched.")
    for rank, hit in enumerate(hits, 1):
        with st.container(border=True):
            st.markdown(f"**{rank}.** {common.note_links(hit.note)} · score **{hit.score:.3f}**")
            st.caption(where(hit) + channel_ranks(hit))
            with st.container(height=160 if len(hit.text) > 600 else "content", border=False):
                st.markdown(highlight(hit.text, query))


def channel_ranks(hit: vaultmind.SearchHit) -> str:
    """` · found by use #3, use notes #1`: where each channel that returned the note placed it
    (`channels` come in the fused order: models, their note views, bm25)."""
    if not hit.channels:
        return ""
    return " · found by " + ", ".join(f"{name} #{found.rank}" for name, found in hit.channels.items())


def related_tab(version: tuple, notes: list[str]) -> None:
    left, right = st.columns([0.8, 0.2])
    note = left.selectbox("Notes related to", notes, index=None, key="related", bind="query-params",
                          placeholder="Choose a note…")
    limit = right.number_input("Notes", min_value=1, max_value=100, value=10, key="related.limit")
    if note is None:
        st.caption("The notes closest in meaning to the one you choose, linked to it or not: the ones not "
                   "linked are candidate links.")
        return
    try:
        found = related(str(common.vault()), common.state_dir(), common.model_name(), note, int(limit), version)
    except vaultmind.VaultmindError as e:
        st.error(str(e))
        return
    unlinked = sum(not r.linked for r in found)
    st.caption(f"{len(found)} notes closest in meaning to {note}; {unlinked} of them not linked to it either way.")
    for rank, r in enumerate(found, 1):
        mark = "🔗 linked" if r.linked else "➕ **not linked**"
        with st.container(border=True):
            st.markdown(f"**{rank}.** {common.note_links(r.note)} · {mark} · similarity **{r.score:.3f}**")
            this, there = st.columns(2)
            this.caption(f"this: {where(r.chunk)}")
            this.markdown(shorten(r.chunk.text))
            there.caption(f"there: {where(r.other_chunk)}")
            there.markdown(shorten(r.other_chunk.text))


def shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


common.header("Search", "Find notes by meaning, in Russian or English")
with common.clear_errors():
    version = common.store_version()
    all_notes = common.note_paths()
tabs = ["🔎 Search", "🧲 Related notes"]
asked = "related" in st.query_params and "q" not in st.query_params  # /search?related=PATH opens that tab
search_part, related_part = st.tabs(tabs, default=tabs[1] if asked else tabs[0])
with search_part:
    search_tab(version)
with related_part:
    related_tab(version, all_notes)
