"""vaultmind: scenes, blind spots and training chips from an Obsidian vault, offline.

The public API: everything the CLI, the daemon and the app use is named here.
"""

from vaultmind.api import GRAPH_FORMATS, doctor, export_graph, graph_metrics, index, link_graph, note_report
from vaultmind.config import SETTINGS, Config, Setting, load_config
from vaultmind.errors import (
    ConfigError,
    ExportError,
    NoteNotFound,
    NotIndexed,
    StoreError,
    VaultmindError,
    VaultNotFound,
)
from vaultmind.graph import GraphMetrics
from vaultmind.types import IndexSummary, Link, Note, NoteReport, ResolvedLink, Turn, Warning

__version__ = "0.1.0"

__all__ = [
    "GRAPH_FORMATS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "ExportError",
    "GraphMetrics",
    "IndexSummary",
    "Link",
    "Note",
    "NoteNotFound",
    "NoteReport",
    "NotIndexed",
    "ResolvedLink",
    "Setting",
    "StoreError",
    "Turn",
    "VaultNotFound",
    "VaultmindError",
    "Warning",
    "doctor",
    "export_graph",
    "graph_metrics",
    "index",
    "link_graph",
    "load_config",
    "note_report",
]
