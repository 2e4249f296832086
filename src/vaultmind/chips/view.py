"""What chips may be built from: the public part of the vault (no private note, no note changed
since the last index), its links, scenes with labels made only of public words, and the
settings. Every kind of chip reads this view, never the raw input."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from vaultmind.chips.record import chip_id, exact_hash
from vaultmind.chips.text import distinct, language, quoted, readable_title, safe_label, safe_summary, title_words
from vaultmind.types import (
    Chip,
    ChipMessage,
    ChipScene,
    ChipSource,
    Chunk,
    Note,
    ResolvedLink,
    SceneMap,
)

# Front-matter keys that identify a note (Zettelkasten ids, uids) and travel with its chips.
ID_KEYS = ("id", "uid", "uuid", "zettel_id", "zettelkasten_id", "note_id", "permalink", "slug")

_SYSTEM = {
    "ru": ("Сцена", "Заметка", "Соседние заметки",
           "Отвечай как автор этого хранилища заметок, в его понятиях."),
    "en": ("Scene", "Note", "Neighbouring notes",
           "Answer as the author of this vault of notes, in their own terms."),
}


@dataclass(frozen=True, slots=True)
class ChipSettings:
    system: bool = True
    doc_tokens: int = 2048
    min_words: int = 8
    probes: bool = True
    vaultmind_version: str = ""
    settings_hash: str = ""


@dataclass(frozen=True, slots=True)
class SceneContext:
    id: int
    label: str
    summary: str
    notes: tuple[str, ...]  # public members, most central first


@dataclass
class View:
    notes: dict[str, Note]
    sha256: dict[str, str]
    sections: dict[str, tuple[Chunk, ...]]
    links: tuple[ResolvedLink, ...]
    settings: ChipSettings
    titles: dict[str, str] = field(default_factory=dict)
    scenes: dict[int, SceneContext] = field(default_factory=dict)
    scene_of: dict[str, int] = field(default_factory=dict)
    neighbours: dict[str, list[str]] = field(default_factory=dict)
    links_from: dict[str, list[ResolvedLink]] = field(default_factory=dict)
    _context: dict[str, list[str]] = field(default_factory=dict)
    _system: dict[tuple[str, str], ChipMessage | None] = field(default_factory=dict)

    # ------------------------------------------------------------ building a chip

    def scene_for(self, path: str, context_notes: list[str] | None = None) -> ChipScene:
        scene = self.scenes.get(self.scene_of.get(path, -1))
        titles = tuple(self.titles[p] for p in (context_notes if context_notes is not None else self.context_notes(path)))
        if scene is None:
            return ChipScene(None, "", titles)
        return ChipScene(scene.id, scene.label, titles)

    def context_notes(self, path: str, limit: int = 5) -> list[str]:
        """The notes linked with this one (either way), then the scene's central notes."""
        if path not in self._context:
            scene = self.scenes.get(self.scene_of.get(path, -1))
            central = list(scene.notes[: limit + 1]) if scene else []
            near = self.neighbours.get(path, [])[: limit + 1]
            self._context[path] = [p for p in distinct(near + central) if p != path][:limit]
        return self._context[path]

    def system_message(self, path: str, lang: str) -> ChipMessage | None:
        """One per note and language, shared by its chips (a large vault makes ~100,000 chips)."""
        if (path, lang) not in self._system:
            self._system[path, lang] = self._make_system_message(path, lang)
        return self._system[path, lang]

    def _make_system_message(self, path: str, lang: str) -> ChipMessage | None:
        if not self.settings.system:
            return None
        scene_word, note_word, near_word, instruction = _SYSTEM["ru" if lang == "ru" else "en"]
        lines = [instruction]
        scene = self.scenes.get(self.scene_of.get(path, -1))
        if scene is not None and scene.label:
            lines.append(f"{scene_word}: {scene.label}" + (f" — {scene.summary}" if scene.summary else ""))
        lines.append(f"{note_word}: {quoted(title_words(self.titles[path]), lang)}")
        near = [title_words(self.titles[p]) for p in self.context_notes(path)]
        if near:
            lines.append(f"{near_word}: " + "; ".join(near))
        return ChipMessage("system", "\n".join(lines), "vaultmind")

    def chip(self, kind: str, path: str, *, messages: list[ChipMessage] | None = None, text: str | None = None,
             lines: tuple[int, int], lang: str | None = None, **extra: Any) -> Chip:
        """A chip from `path` with provenance, scene and ids filled in and its hashes computed."""
        note = self.notes[path]
        body = text if text is not None else "\n".join(m.content for m in messages or () if m.role != "system")
        lang = lang or language(body)
        if messages is not None:
            system = self.system_message(path, lang)
            messages = ([system] if system else []) + [m for m in messages if m.role != "system"]
        ids = tuple((k, str(v)) for k, v in sorted((note.frontmatter or {}).items())
                    if k.lower() in ID_KEYS and isinstance(v, (str, int)) and str(v).strip())
        source = ChipSource(path, self.sha256[path], lines[0], lines[1], extra.pop("turn_uids", ()),
                            extra.pop("timestamps", ()), ids, extra.pop("notes", ()))
        draft = Chip(chip_id="", kind=kind, lang=lang, source=source,
                     scene=extra.pop("scene", None) or self.scene_for(path),
                     messages=tuple(messages or ()), text=text,
                     vaultmind_version=self.settings.vaultmind_version, settings_hash=self.settings.settings_hash,
                     **extra)
        return rehash(draft)


def rehash(chip: Chip) -> Chip:
    """The chip with its exact hash and id recomputed from its content."""
    return replace(chip, exact_hash=exact_hash(chip), chip_id=chip_id(chip))


def build_view(notes: dict[str, Note], sha256: dict[str, str], sections: dict[str, tuple[Chunk, ...]],
               links: tuple[ResolvedLink, ...], scenes: SceneMap | None, settings: ChipSettings) -> View:
    """The public view: private and stale notes left out, links into them dropped, scene labels
    rebuilt from public words only."""
    public = {p: n for p, n in notes.items() if not n.private and p in sha256}
    kept_links = tuple(l for l in links if l.source in public
                       and (l.target_path is None or l.target_path in public))
    view = View(public, sha256, {p: sections.get(p, ()) for p in public}, kept_links, settings,
                titles={p: readable_title(n) for p, n in public.items()})
    neighbours: dict[str, list[str]] = defaultdict(list)
    links_from: dict[str, list[ResolvedLink]] = defaultdict(list)
    for link in kept_links:
        links_from[link.source].append(link)
        if link.target_path and link.target_path != link.source:
            neighbours[link.source].append(link.target_path)
            neighbours[link.target_path].append(link.source)
    view.neighbours = {p: distinct(ps) for p, ps in neighbours.items()}
    view.links_from = dict(links_from)
    if scenes is not None:
        for scene in scenes.scenes:
            members = [p for p in scene.notes if p in public]
            if not members:
                continue
            text = "\n".join(c.text for p in members for c in view.sections[p])
            label = safe_label(scene, view.titles, text + "\n" + "\n".join(view.titles[p] for p in members))
            view.scenes[scene.id] = SceneContext(scene.id, label, safe_summary(scene, text), tuple(members))
            view.scene_of.update((p, scene.id) for p in members)
    return view
