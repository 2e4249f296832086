"""The vaultmind app: `vaultmind ui VAULT` (or `streamlit run app/main.py -- VAULT`).

It only routes and renders: every number and list on a page comes from one call of the public
API (`import vaultmind`); the embedding model is loaded once per server (`common.model`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
PAGES = HERE / "views"  # not "pages/": Streamlit would treat that folder as its own page list

st.set_page_config(page_title="vaultmind", page_icon="🧭", layout="wide")

navigation = st.navigation(
    {
        "Your vault": [
            st.Page(PAGES / "overview.py", title="Overview", icon="🏠", url_path="overview", default=True),
            st.Page(PAGES / "graph.py", title="Graph", icon="🕸️", url_path="graph"),
            st.Page(PAGES / "scenes.py", title="Scenes", icon="🗺️", url_path="scenes"),
            st.Page(PAGES / "blindspots.py", title="Blind spots", icon="🔦", url_path="blindspots"),
            st.Page(PAGES / "search.py", title="Search", icon="🔎", url_path="search"),
            st.Page(PAGES / "note.py", title="Note", icon="📝", url_path="note"),
        ],
        "Make and check": [
            st.Page(PAGES / "chips.py", title="Chips", icon="🧩", url_path="chips"),
            st.Page(PAGES / "health.py", title="Health", icon="🩺", url_path="health"),
        ],
    }
)
navigation.run()
