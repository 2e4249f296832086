"""The blind-spot detectors on the synthetic vault with hashed vectors: each detector and all of
them on an input already read, reading that input from the store, and the peak memory of the
whole run. Target: all detectors together take about as long as the scene stage.
Run only these: .venv/bin/asv run --python=same --bench 'bench_blindspots'
"""

from vaultmind import pipeline
from vaultmind.blindspots import DETECTORS, find_blind_spots
from vaultmind.store import Store

from .vaults import NOTES, HashEmbedder, indexed

MODEL = HashEmbedder().model_id
LIMIT = 10  # findings per kind, as `vaultmind blindspots` shows by default
KINDS = {d.name: d.kinds for d in DETECTORS} | {"all": None}


def _store() -> Store:
    return Store.open_read_only(indexed(NOTES, "hash") / ".vaultmind")


class _Heavy:
    number, repeat, warmup_time, timeout = 1, (1, 3, 120.0), 0, 1800.0


class Detectors(_Heavy):
    """`find_blind_spots` for one detector's kinds (or all), the input read once per process."""
    params, param_names = [list(KINDS)], ["detector"]

    def setup_cache(self):
        with _store() as store:
            return pipeline.blindspot_input(store, MODEL)

    def time_detector(self, data, detector):
        find_blind_spots(data, kinds=KINDS[detector], limit=LIMIT)


class BlindSpotRun(_Heavy):
    """What `vaultmind blindspots` pays: reading the input, then every detector."""

    def setup(self):
        self.store = _store()

    def teardown(self):
        self.store.close()

    def time_input(self):
        pipeline.blindspot_input(self.store, MODEL)

    def peakmem_all(self):
        find_blind_spots(pipeline.blindspot_input(self.store, MODEL), limit=LIMIT)
