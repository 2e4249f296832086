"""What every page shares: which vault, the loaded model, clear errors, links to notes.

Pages import this as `from common import ...` (Streamlit puts the entry script's folder on the
path). Nothing here computes anything about the vault: that is the library's job.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import streamlit as st
from plotly.colors import qualitative

import vaultmind

VAULT_ENV = "VAULTMIND_VAULT"
STATE_ENV = "VAULTMIND_STATE_DIR"
MODEL_ENV = "VAULTMIND_MODEL"
DEFAULT_VAULT = Path(__file__).resolve().parent.parent / "sample_vault"


def vault() -> Path:
    """The vault this app shows: `vaultmind ui VAULT` passes it in VAULTMIND_VAULT; a bare
    `streamlit run app/main.py -- VAULT` passes it as the first argument; else the sample
    vault."""
    given = os.environ.get(VAULT_ENV) or next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    return Path(given).expanduser().resolve() if given else DEFAULT_VAULT


def state_dir() -> str | None:
    return os.environ.get(STATE_ENV) or None


def model_name() -> str | None:
    return os.environ.get(MODEL_ENV) or None


@st.cache_resource(show_spinner="Loading the embedding model…")
def _model(name: str | None) -> vaultmind.Embedder:
    embedder = vaultmind.embedder(name)
    embedder.embed_queries(["warm-up"])  # load it now, once per server: later queries are instant
    return embedder


def model() -> vaultmind.Embedder:
    """The embedding model, loaded once per app server and shared by every session."""
    return _model(model_name())


def lazy_model() -> vaultmind.Embedder:
    """The model without loading it (its id is all that reading stored vectors needs)."""
    return vaultmind.embedder(model_name())


@contextmanager
def clear_errors() -> Iterator[None]:
    """Show vaultmind's errors as one clear message (never a traceback) and stop the page."""
    try:
        yield
    except vaultmind.NotIndexed:
        st.warning(f"**{vault().name}** has not been indexed yet. Open *Overview* and press *Index now*.")
        st.stop()
    except vaultmind.VaultmindError as e:
        st.error(str(e))
        st.stop()


def note_page_url(path: str) -> str:
    """The app's Note page for `path`."""
    return f"/note?path={quote(path, safe='')}"


def note_links(path: str, title: str | None = None) -> str:
    """Markdown: the note's name opening it in the app, and a small link opening it in Obsidian."""
    name = title or path.rsplit("/", 1)[-1].removesuffix(".md")
    return f"[{name}]({note_page_url(path)}) [↗]({vaultmind.obsidian_url(vault(), path)})"


def note_link(path: str, title: str | None = None, *, key_hint: str = "") -> None:
    """A link to the note's page in the app (same tab), and one opening it in Obsidian."""
    name = title or path.rsplit("/", 1)[-1].removesuffix(".md")
    left, right = st.columns([0.9, 0.1])
    left.page_link(NOTE_PAGE, label=name, query_params={"path": path}, help=path)
    right.markdown(f"[↗ Obsidian]({vaultmind.obsidian_url(vault(), path)})", help="Open in Obsidian")


NOTE_PAGE = str(Path(__file__).resolve().parent / "views" / "note.py")


def open_links(paths: list[str]) -> None:
    """Each note: its page in the app, and a link that opens it in Obsidian."""
    with st.container(horizontal=True, gap="medium", vertical_alignment="center"):
        for path in paths:
            name = path.rsplit("/", 1)[-1].removesuffix(".md")
            st.page_link(NOTE_PAGE, label=name, icon=":material/description:", query_params={"path": path}, help=path)
            st.markdown(f"[↗ Obsidian]({vaultmind.obsidian_url(vault(), path)})", width="content")


PALETTE = qualitative.Plotly + qualitative.Safe + qualitative.Vivid  # 31 colours, then they repeat
NO_SCENE = "#9e9e9e"


def scene_colour(scene: int | None) -> str:
    """A scene's colour, the same on every page that colours by scene (by its stable id)."""
    return NO_SCENE if scene is None else PALETTE[(int(scene) - 1) % len(PALETTE)]


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(f"{caption} · vault: `{vault()}`")


def store_version() -> tuple[float, int, int, float]:
    """Changes whenever the store does (an index, a scene run, a verdict): the key to pass to
    `st.cache_data` functions, so a cached answer is never stale after a re-index."""
    return vaultmind.store_version(vault(), state_dir=state_dir())


def index_now() -> vaultmind.IndexSummary:
    """Index this vault with a progress bar per stage (scan, parse, chunk, embed, scenes)."""
    bar = st.progress(0.0, text="Starting…")
    shown: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        step = min(100, 100 * done // total) if total > 0 else 100
        if shown.get("at") != (stage, step):  # parse reports every file: redraw only on a new percent
            shown["at"] = (stage, step)
            bar.progress(step / 100, text=f"{stage}: {done:,} of {total:,}")

    summary = vaultmind.index(vault(), state_dir=state_dir(), embedder=lazy_model(), progress=progress, wait=10)
    bar.empty()
    return summary


def when(timestamp: float | None) -> str:
    """A Unix time as local date and time with how long ago it was: `2026-12-01 22:41 (5 min ago)`."""
    if not timestamp:
        return "never"
    seconds = max(0.0, time.time() - timestamp)
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            ago = f"{int(seconds // span)} {unit} ago"
            break
    else:
        ago = "just now"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(timestamp))} ({ago})"


def size(n_bytes: int) -> str:
    """A byte count for people: `2.4 MB`."""
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def page(name: str) -> str:
    """The file of the app's page `name` (`health`, `scenes`, …), for `st.page_link`."""
    return str(Path(__file__).resolve().parent / "views" / f"{name}.py")


@st.cache_data(show_spinner="Reading the scenes…", max_entries=8)
def _scene_map(vault_: str, state_dir_: str | None, model_: str | None, version: tuple) -> vaultmind.SceneMap:
    return vaultmind.scene_map(vault_, embedder=vaultmind.embedder(model_), state_dir=state_dir_)


def scene_map() -> vaultmind.SceneMap:
    """The vault's scene map, cached until the store changes."""
    return _scene_map(str(vault()), state_dir(), model_name(), store_version())


@st.cache_data(show_spinner="Looking for blind spots…", max_entries=8)
def _blind_spots(vault_: str, state_dir_: str | None, model_: str | None, version: tuple) -> list[vaultmind.BlindSpot]:
    return vaultmind.blind_spots(vault_, limit=200, embedder=vaultmind.embedder(model_), state_dir=state_dir_)


def blind_spots() -> list[vaultmind.BlindSpot]:
    """Every kind's blind spots (up to 200 of each, best first), cached until the store changes."""
    return _blind_spots(str(vault()), state_dir(), model_name(), store_version())


def note_paths() -> list[str]:
    """Every note's path, sorted: each note is in one scene or unplaced, so the scene map has them all."""
    found = scene_map()
    return sorted({p for s in found.scenes for p in s.notes} | set(found.unplaced))


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 note`, `2 notes`, `1,204 canvases`."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"
