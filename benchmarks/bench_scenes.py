"""The scene stage on the synthetic vault with hashed vectors: the whole stage, its parts, a call
with nothing changed, and the sync daemon's incremental update after a one-note edit. Targets: that
update takes ≤ 20% of a full run; every scene without the edited note keeps its id and members.
Run only these: .venv/bin/asv run --python=same --bench 'bench_scenes'
"""

import vaultmind
from vaultmind import pipeline
from vaultmind.config import Config
from vaultmind.scenes.incremental import SceneState
from vaultmind.store import Store

from .vaults import NOTES, HashEmbedder, copy_indexed, edit_note

MODEL = HashEmbedder().model_id
PARTS = ["read", "graph", "communities", "labels", "ids", "measures", "map", "store"]


class _Daemon:
    """The daemon after a save: scene state built by a full run, one note edited and re-indexed."""

    def __init__(self) -> None:
        self.vault = copy_indexed(NOTES, "hash", "scene-increment")
        self.store, self.state = Store.open(self.vault / ".vaultmind", create=False), SceneState()
        self.full = self.update(set(), full=True)  # an empty state makes this the full run
        self.before = self.store.scene_members()["scene"]
        self.note = edit_note(self.vault).relative_to(self.vault).as_posix()
        vaultmind.index(self.vault, embedder=HashEmbedder(), scenes=False)

    def update(self, dirty: set[str], full: bool = False) -> pipeline.SceneRefresh:
        with self.store.writer_lock():
            refresh = pipeline.update_scenes_incremental(self.store, Config(), MODEL, self.state, dirty)
        assert refresh.full == full, "the scene update was not of the kind this figure is about"
        return refresh


class _Heavy:
    number, repeat, warmup_time, timeout = 1, (1, 3, 300.0), 0, 1800.0
    settled = False  # the edit already in the scenes: the next update has nothing to do

    def setup(self, *_):
        self.daemon = _Daemon()
        self.store = self.daemon.store
        if self.settled:
            self.daemon.update({self.daemon.note})

    def teardown(self, *_):
        self.store.close()


class SceneStage(_Heavy):
    """`pipeline.update_scenes`: the whole stage, and a call that finds nothing changed."""
    unit = "scenes"

    def setup(self):
        self.store = Store.open(copy_indexed(NOTES, "hash", "scene-stage") / ".vaultmind", create=False)

    def time_full(self):
        with self.store.writer_lock():
            pipeline.update_scenes(self.store, Config(), MODEL, force=True)

    peakmem_full = time_full

    def time_nothing_changed(self):
        pipeline.update_scenes(self.store, Config(), MODEL)

    def track_scenes(self):
        return self.store.scene_count()


class SceneSteps:
    """Seconds per part of the full run and of the incremental update, by the stage's own timers."""
    params, param_names, unit, timeout = (["full", "incremental"], PARTS), ["run", "part"], "seconds", 1800.0

    def setup_cache(self):
        with (daemon := _Daemon()).store:
            return {"full": daemon.full.steps, "incremental": daemon.update({daemon.note}).steps}

    def track_seconds(self, steps, run, part):
        return steps[run].get(part, 0.0)


class SceneIncrement(_Heavy):
    """After the edit: the incremental update, in one warm process as the daemon runs it."""
    unit = "share"

    def time_update(self):
        self.daemon.update({self.daemon.note})

    def track_share_of_full(self):  # target: ≤ 0.2
        return self.daemon.update({self.daemon.note}).seconds / self.daemon.full.seconds

    def track_untouched_kept(self):  # scenes without the edited note that kept their id and members
        (d := self.daemon).update({d.note})
        after, untouched = self.store.scene_members()["scene"], {i: m for i, m in d.before.items() if d.note not in m}
        return sum(after.get(i) == m for i, m in untouched.items()) / len(untouched)

    def track_ids_kept(self):  # placed notes that kept their scene id when the edit runs the whole stage
        with self.store.writer_lock():
            pipeline.update_scenes(self.store, Config(), MODEL, force=True)
        before, after = self.daemon.before, self.store.scene_members()["scene"]
        return sum(len(m & after.get(i, frozenset())) for i, m in before.items()) / sum(map(len, before.values()))


class SceneIncrementNothingChanged(_Heavy):
    """The same update once more, when the edit is already in the scenes."""
    settled = True

    def time_update(self):
        self.daemon.update({self.daemon.note})
