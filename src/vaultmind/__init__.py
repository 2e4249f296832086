"""vaultmind: scenes, blind spots and training chips from an Obsidian vault, offline.

The public API: everything the CLI, the daemon and the app use is named here.
"""

from vaultmind.api import (
    GRAPH_FORMATS,
    doctor,
    export_graph,
    graph_metrics,
    index,
    link_graph,
    note_report,
    related,
    scene_map,
    scene_report,
    search,
)
from vaultmind.config import SETTINGS, Config, Setting, load_config
from vaultmind.errors import (
    ConfigError,
    ExportError,
    ModelError,
    NotEmbedded,
    NoteNotFound,
    NotIndexed,
    SceneNotFound,
    StoreError,
    VaultmindError,
    VaultNotFound,
)
from vaultmind.graph import GraphMetrics
from vaultmind.embed import Embedder
from vaultmind.types import (
    Chunk,
    IndexSummary,
    Link,
    Note,
    NoteReport,
    RelatedNote,
    Region,
    ResolvedLink,
    Scene,
    SceneEvent,
    SceneMap,
    SceneReport,
    SearchHit,
    Turn,
    Warning,
)

__version__ = "0.1.0"

__all__ = [
    "GRAPH_FORMATS",
    "SETTINGS",
    "Chunk",
    "Config",
    "Embedder",
    "ConfigError",
    "ExportError",
    "GraphMetrics",
    "IndexSummary",
    "Link",
    "ModelError",
    "NotEmbedded",
    "Note",
    "NoteNotFound",
    "NoteReport",
    "NotIndexed",
    "RelatedNote",
    "Region",
    "ResolvedLink",
    "Scene",
    "SceneEvent",
    "SceneMap",
    "SceneNotFound",
    "SceneReport",
    "SearchHit",
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
    "related",
    "scene_map",
    "scene_report",
    "search",
]
