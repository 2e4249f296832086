"""Health: every file the last index could not read cleanly, the model in use, the store."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import common
import vaultmind

# What each warning code means to the author (codes not listed are shown as they are).
PROBLEMS = {
    "yaml": "broken YAML front matter",
    "mojibake": "repaired encoding (double-encoded UTF-8)",
    "encoding": "not UTF-8 (decoded)",
    "unreadable": "unreadable",
    "binary": "binary, not text",
    "too_large": "too large (indexed in part)",
    "empty": "empty note",
    "canvas": "broken canvas",
    "broken_symlink": "broken symlink",
    "symlink_loop": "symlink loop",
    "vanished": "vanished while reading",
}


def warnings_table(warnings: list[vaultmind.Warning]) -> None:
    files = len({w.path for w in warnings})
    st.subheader(f"{common.plural(len(warnings), 'warning')} in {common.plural(files, 'file')}")
    if not warnings:
        st.success("Every file was read and parsed cleanly.")
        return
    by_problem: dict[str, int] = {}
    for w in warnings:
        by_problem[w.code] = by_problem.get(w.code, 0) + 1
    st.markdown(" · ".join(f"**{n:,}** {PROBLEMS.get(code, code)}" for code, n in
                           sorted(by_problem.items(), key=lambda kv: (-kv[1], kv[0]))))
    table = pd.DataFrame({
        "file": [w.path for w in warnings],
        "open": [common.note_page_url(w.path) if w.path.endswith(".md") else None for w in warnings],
        "problem": [PROBLEMS.get(w.code, w.code) for w in warnings],
        "line": pd.array([w.line for w in warnings], dtype="Int64"),
        "what happened": [w.message for w in warnings],
    }).sort_values(["file", "line"], na_position="first", kind="stable")
    st.dataframe(
        table, hide_index=True,
        column_config={
            "file": st.column_config.TextColumn(width="large"),
            "open": st.column_config.LinkColumn("note", display_text="open", width="small",
                                                help="The note's page in the app"),
            "problem": st.column_config.TextColumn(width="medium"),
            "line": st.column_config.NumberColumn(format="%d", width="small"),
            "what happened": st.column_config.TextColumn(width="large"),
        },
    )
    st.caption("Click a column header to sort. Fix a file in Obsidian, then re-index (or let the daemon do it).")


def model_and_store(overview: vaultmind.VaultOverview) -> None:
    st.subheader("Model and store")
    model = common.lazy_model().model_id
    left, right = st.columns(2)
    with left:
        st.markdown(f"Embedding model in use: **{model}**")
        if model in overview.models:
            st.caption(f"The store has its vectors ({common.plural(overview.chunks, 'chunk')} in all).")
        else:
            st.warning(f"The store has no vectors of {model}: search, related notes and scenes by meaning need "
                       f"`vaultmind index \"{overview.vault}\"` with this model.")
        others = [m for m in overview.models if m != model]
        if others:
            st.caption("Also in the store: " + ", ".join(others))
    with right:
        st.markdown(f"Store: `{overview.state_dir}`")
        st.markdown(f"Size: **{common.size(overview.store_bytes)}**, last indexed {common.when(overview.indexed_at)}")
        daemon = overview.daemon
        st.caption(f"Daemon log: `{daemon.log}`")
        if daemon.last_error:
            st.error(f"The daemon's last error ({common.when(daemon.error_at)}): {daemon.last_error}")


common.header("Health", "What could not be read cleanly, and where the index lives")
with common.clear_errors():
    warnings = vaultmind.doctor(common.vault(), state_dir=common.state_dir())
    overview = vaultmind.overview(common.vault(), state_dir=common.state_dir())
warnings_table(warnings)
model_and_store(overview)
