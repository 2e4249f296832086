"""The values that flow between stages: frozen dataclasses with obvious field names.

Every path is vault-relative, with forward slashes, exactly as it is spelled on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FileKind = Literal["note", "canvas", "attachment"]
LinkKind = Literal["link", "embed", "property", "markdown"]
Role = Literal["user", "assistant"]
ChunkKind = Literal["section", "turn"]


@dataclass(frozen=True, slots=True)
class Warning:
    """Something wrong with one file that did not stop the run."""

    path: str
    code: str
    message: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class NoteFile:
    """A file found in the vault, before it is read."""

    path: str
    kind: FileKind
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Link:
    """One occurrence of a link in a note: `[[target#heading|display]]`, `![[embed]]`,
    `[text](target.md)` or a link inside a front-matter property.

    `target` is the link path as written (no heading or block part, `%20` decoded for
    Markdown links); an empty target means a link into the same note (`[[#heading]]`).
    `display` is what Obsidian shows for the link. `line` is 1-based in the file. `key` is
    the front-matter property (`up`, `related.0`) for property links.
    """

    kind: LinkKind
    target: str
    original: str
    display: str
    heading: str | None = None
    block: str | None = None
    line: int = 0
    context: str = ""
    key: str | None = None

    @property
    def link(self) -> str:
        """The link text as Obsidian reports it: target plus `#heading` / `#^block`."""
        suffix = ""
        if self.heading is not None:
            suffix = "#" + self.heading
        if self.block is not None:
            suffix += "#^" + self.block
        return self.target + suffix


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag without its `#`, as written (`project/alpha`); `line` is 0 for front matter."""

    name: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Callout:
    type: str
    title: str
    body: str
    line: int
    fold: str = ""


@dataclass(frozen=True, slots=True)
class Footnote:
    label: str
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a saved dialogue (a `nexus_user` / `nexus_agent` callout)."""

    index: int
    role: Role
    author: str
    timestamp: str
    text: str
    uid: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Commentary:
    """The author's own text between (or after) dialogue turns; `after_turn` is the index
    of the turn it follows, -1 when it comes before the first turn."""

    after_turn: int
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note. `text` is the decoded (and, if needed, repaired) file content."""

    path: str
    title: str
    text: str
    frontmatter: dict[str, Any] | None
    aliases: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    links: tuple[Link, ...] = ()
    headings: tuple[Heading, ...] = ()
    block_ids: tuple[str, ...] = ()
    callouts: tuple[Callout, ...] = ()
    footnotes: tuple[Footnote, ...] = ()
    turns: tuple[Turn, ...] = ()
    commentary: tuple[Commentary, ...] = ()
    comments: tuple[str, ...] = ()
    private: bool = False
    warnings: tuple[Warning, ...] = ()
    body_line: int = 1

    @property
    def embeds(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.kind == "embed")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a note that gets one vector: a heading section (split to fit the model's
    window) or one dialogue turn. `heading` is the heading path (`A > B`); `hash` is of the
    text that is embedded, so the same text is embedded once, whatever note it is in."""

    path: str
    seq: int
    kind: ChunkKind
    heading: str
    text: str
    line: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChannelHit:
    """Where one retrieval channel placed a note: its rank among the channel's notes (1 =
    first) and the channel's own score (cosine for a dense model, BM25 for `bm25`)."""

    rank: int
    score: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A note that matches a query, with its best matching chunk. With more than one channel,
    `score` is the fused score and `channels` says where each channel placed the note (a
    channel that did not return it is absent)."""

    note: str
    score: float
    heading: str
    text: str
    line: int
    channels: dict[str, ChannelHit] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RelatedNote:
    """A note close in meaning to another, with the best matching pair of chunks."""

    note: str
    score: float
    linked: bool
    chunk: SearchHit
    other_chunk: SearchHit


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    """A stored link occurrence with its resolution: `target_path` is the vault file it
    points at, or None for a wanted (unresolved) note."""

    source: str
    link: Link
    target_path: str | None


@dataclass(frozen=True, slots=True)
class IndexSummary:
    """What one `index` run found and did. `embedded` counts chunks embedded this run (the
    rest came from the vector cache); `model` is the embedder's id, "" when not embedding."""

    notes: int
    canvases: int
    attachments: int
    links: int
    unresolved: int
    warnings: int
    parsed: int
    skipped: int
    removed: int
    renamed: int
    seconds: float
    state_dir: str
    phases: dict[str, float] = field(default_factory=dict)
    chunks: int = 0
    embedded: int = 0
    model: str = ""
    scenes: int = 0


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the store differs from a fresh full index of the same files (`verify`): in
    `table`, at `key` (a path; "path#seq" for one of a note's links or chunks; a model and hash
    for a vector), what the fresh index holds (`expected`) and what the store holds (`found`),
    each a short text, "absent" when there is nothing."""

    table: str
    key: str
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a store lock: the process id, since when (Unix time) and what it is doing
    (`vaultmind index`, `vaultmind watch`)."""

    pid: int
    since: float
    what: str


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """One batch of the daemon: when it ended (Unix time), how many paths it looked at, how
    long it took, and what it did."""

    at: float
    files: int
    seconds: float
    parsed: int
    removed: int
    embedded: int
    full_scan: bool = False


@dataclass(frozen=True, slots=True)
class SceneUpdate:
    """One scene update by the daemon: when it ended, how long it took, how many scenes
    there are, and whether it was incremental (else the whole stage ran)."""

    at: float
    seconds: float
    scenes: int
    incremental: bool


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """What `vaultmind watch` is doing for a store (`running` False: not running; the other
    fields then tell how its last run ended). `state` is starting, scanning, idle, batch,
    scenes or stopped; `stale` names what is waiting to be recomputed."""

    running: bool
    pid: int | None
    since: float | None
    state: str
    queue: int
    notes: int
    stale: tuple[str, ...]
    last_batch: BatchInfo | None
    last_error: str | None
    error_at: float | None
    log: str
    last_scenes: SceneUpdate | None = None


@dataclass(frozen=True, slots=True)
class VaultOverview:
    """The state of a vault's index at a glance: counts, freshness, where the store is and
    what it weighs, the models with vectors, and the daemon. `changed` counts files on disk
    that are new, changed or gone since the last index (by size and mtime, nothing read);
    `wanted` counts distinct notes linked to but not written."""

    vault: str
    state_dir: str
    store_bytes: int
    notes: int
    canvases: int
    attachments: int
    links: int
    unresolved: int
    wanted: int
    warnings: int
    chunks: int
    models: tuple[str, ...]
    scenes: int
    regions: int
    unplaced: int
    indexed_at: float | None
    changed: int
    daemon: WatchStatus


def title_from_path(path: str) -> str:
    """A note's title is its file name without `.md` (or `.canvas`), as in Obsidian."""
    name = path.rsplit("/", 1)[-1]
    for suffix in (".md", ".canvas"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True, slots=True)
class NoteReport:
    """Everything vaultmind knows about one note: the note itself, its links out (each
    resolved or not) and the links that point at it."""

    note: Note
    outgoing: tuple[ResolvedLink, ...]
    backlinks: tuple[ResolvedLink, ...]

    @property
    def unresolved(self) -> tuple[ResolvedLink, ...]:
        return tuple(link for link in self.outgoing if link.target_path is None)


@dataclass(frozen=True, slots=True)
class Scene:
    """A group of notes that form one concept cluster. `notes` are vault-relative paths, most
    central first; `wanted` are the texts of wanted (unresolved) links whose referencing notes
    sit mostly here. `density` is the share of member pairs that are linked (either way);
    `cohesion` the mean similarity in meaning of its members (None without vectors)."""

    id: int
    label: str
    terms: tuple[str, ...]
    summary: str
    notes: tuple[str, ...]
    central: tuple[str, ...]
    wanted: tuple[str, ...]
    density: float
    cohesion: float | None
    region: int | None

    @property
    def size(self) -> int:
        return len(self.notes)


@dataclass(frozen=True, slots=True)
class Region:
    """Scenes grouped for zooming out: a community of scenes."""

    id: int
    label: str
    scenes: tuple[int, ...]
    size: int


@dataclass(frozen=True, slots=True)
class SceneEvent:
    """How a scene came about in run `run`: `birth` (new members), `continue` (kept its id),
    `merge` (took in the members of `others`), `split` (members of `others` went here too),
    `death` (its id is gone). `overlap` is the Jaccard overlap that decided it."""

    run: int
    level: str
    kind: str
    scene: int
    others: tuple[int, ...]
    overlap: float


@dataclass(frozen=True, slots=True)
class SceneMap:
    """One scene run: scenes (largest first), regions, the notes that belong nowhere, each
    note's 2-D position for the map, and what happened to scene ids since the last run."""

    run: int
    created: float
    model: str
    scenes: tuple[Scene, ...]
    regions: tuple[Region, ...]
    unplaced: tuple[str, ...]
    positions: dict[str, tuple[float, float]]
    events: tuple[SceneEvent, ...]
    layout: str
    hubs: tuple[str, ...]

    def scene_of(self, path: str) -> Scene | None:
        return next((s for s in self.scenes if path in s.notes), None)


@dataclass(frozen=True, slots=True)
class SceneReport:
    """One scene up close: members with their centrality, links inside it, links to other
    scenes (source, target, the target's scene) and neighbouring scenes by link weight."""

    scene: Scene
    centrality: dict[str, float]
    internal_links: tuple[tuple[str, str], ...]
    external_links: tuple[tuple[str, str, int | None], ...]
    neighbours: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class BlindSpot:
    """One finding: something the author may not see, with evidence they can check.

    `id` is stable across runs (kind + what it is about), so feedback sticks; `score` orders
    findings of one kind (higher first, comparable within a kind only); `notes` are
    vault-relative paths, or wanted link texts for wanted notes and broken links; `evidence`
    is a list of plain facts (each a dict with a `type` and its fields, e.g. a link's source,
    line and sentence); `suggestion` says what to do."""

    kind: str
    id: str
    score: float
    title: str
    evidence: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    suggestion: str


@dataclass(frozen=True, slots=True)
class ChipMessage:
    """One message of a chat chip. `origin` says who wrote it: `author` (the vault's author),
    `model` (an AI whose answer the author saved) or `vaultmind` (a question or context vaultmind
    made from the note's structure). `weight` (0 or 1) marks the assistant messages to learn
    from, as OpenAI's fine-tuning format does; None leaves it to the trainer."""

    role: Literal["system", "user", "assistant"]
    content: str
    origin: Literal["author", "model", "vaultmind"] = "author"
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class ChipSource:
    """Where a chip came from: the note (vault-relative path, sha256 of its file), the lines it
    spans (1-based, inclusive), the dialogue turns' UIDs and timestamps as written, the note's
    front-matter ids, and every note a chip built from several notes draws on."""

    path: str
    note_sha256: str
    line_start: int
    line_end: int
    turn_uids: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    ids: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChipScene:
    """The scene a chip belongs to: its id (None for a note in no scene), a label made only of
    what may leave the vault, and the titles of the notes used as context."""

    id: int | None
    label: str
    context_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Probe:
    """An understanding check (evaluation only): a question, choices, the index of the right
    one. `verified` stays False until the author has reviewed it."""

    type: Literal["causal_cloze", "link_choice"]
    question: str
    choices: tuple[str, ...]
    answer: int
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Chip:
    """One training or evaluation example (`vaultmind.chip/1`): chat `messages` or plain `text`,
    with its provenance, scene, links, token count, dedup facts and split. `record()` is the
    canonical JSON form every export format is derived from."""

    chip_id: str
    kind: str
    lang: str
    source: ChipSource
    scene: ChipScene
    messages: tuple[ChipMessage, ...] = ()
    text: str | None = None
    commentary: tuple[Commentary, ...] = ()
    probe: Probe | None = None
    links: tuple[str, ...] = ()
    tokens: int = 0
    tokenizer: str = ""
    exact_hash: str = ""
    near_cluster: str | None = None
    canonical: bool = True
    split: str = ""
    redactions: int = 0
    vaultmind_version: str = ""
    settings_hash: str = ""


# A meaning id names the vectors notes are compared by: one model's id, or several models' ids
# joined by " + ", whose vectors are concatenated (each unit length, the whole divided by √n,
# so its inner product is the mean of the models' cosines). Vectors are stored per model.
MEANING_SEPARATOR = " + "


def meaning_parts(meaning: str) -> list[str]:
    """The model ids a meaning id is made of ([] for "", nothing embedded)."""
    return [part for part in meaning.split(MEANING_SEPARATOR) if part]
