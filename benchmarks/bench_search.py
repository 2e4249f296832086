"""Search latency: `vaultmind.search` on the synthetic vault indexed with the default channels
(use+bm25), by them and by each alone, warm and as the first search in a process; and a whole
`vaultmind search` command on the sample vault. Target: warm p95 ≤ 100 ms.

    .venv/bin/asv run --python=same --bench 'bench_search'
"""

import itertools
import random
import subprocess
import sys
import time

import vaultmind

from .bench_meaning import SAMPLE, p95_ms
from .vaults import NOTES, indexed, notes_of, scratch

DEFAULT, QUERY = "use+bm25", "как пчёлы переживают зиму"
# The command, then its peak RSS: VmHWM, as a child's ru_maxrss keeps its forking parent's.
CLI = ("import sys; from vaultmind.cli import main; main(sys.argv[1:], standalone_mode=False); "
       "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)")


def vault_queries(vault, count=50):
    """Four running words from each of `count` notes picked at random."""
    rng, notes = random.Random(3), notes_of(vault)
    picked = rng.sample(notes, min(2 * count, len(notes)))
    words = [[w for w in p.read_text(encoding="utf-8").split() if w.isalpha()] for p in picked]
    return [" ".join(w[(i := rng.randrange(len(w) - 4)) : i + 4]) for w in words if len(w) > 8][:count]


class Search:
    """One query a sample after asv's warm-up (the median is the p50); the first query in a
    process (one per benchmark): it loads the model and the indexes, makes the note view."""

    params, param_names = [DEFAULT, "use", "bm25"], ["channels"]
    number, repeat, warmup_time, min_run_count = 1, (20, 50, 30.0), 0.5, 1
    timeout = 3600  # the first asv run indexes the vault: ~10 min at 10,000 notes
    _turn = itertools.count()  # outlives setup, which asv runs again before every sample

    def setup_cache(self):
        vault = indexed(NOTES, DEFAULT)
        return vault, vault_queries(vault)

    def setup(self, cache, channels):
        self.embedder = vaultmind.embedder(channels)

    def time_search(self, cache, channels):
        vaultmind.search(cache[0], cache[1][next(self._turn) % len(cache[1])], embedder=self.embedder)

    def track_p95_ms(self, cache, channels):
        vaultmind.search(cache[0], cache[1][0], embedder=self.embedder)
        return p95_ms(lambda query: vaultmind.search(cache[0], query, embedder=self.embedder), cache[1])

    def track_first_search_s(self, cache, channels):
        started = time.perf_counter()
        vaultmind.search(cache[0], cache[1][0], embedder=self.embedder)
        return time.perf_counter() - started

    track_p95_ms.unit, track_first_search_s.unit = "ms", "s"


class ColdCommand:
    """`vaultmind search VAULT QUERY --model CHANNELS` in a new Python process on the sample
    vault, indexed with e5, use and bm25 into a scratch store: e5 queries never import torch."""

    params, param_names = ["e5", DEFAULT], ["channels"]
    number, repeat, warmup_time, min_run_count, timeout = 1, (3, 5, 30.0), 0, 1, 900

    def setup_cache(self):
        return vaultmind.index(SAMPLE, state_dir=scratch("cold-command"), model="e5+use+bm25").state_dir

    def command(self, state, channels):
        return subprocess.run([sys.executable, "-c", CLI, "search", str(SAMPLE), QUERY, "--model", channels,
                               "--state-dir", state], check=True, capture_output=True, text=True)

    def time_command(self, state, channels):
        self.command(state, channels)

    def track_command_peak_mib(self, state, channels):
        return int(self.command(state, channels).stderr.split()[-1]) / 1024

    track_command_peak_mib.unit = "MiB"
