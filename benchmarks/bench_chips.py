"""Chip export of all formats against `vaultmind index --no-embed` on the synthetic vault. Targets:
the export no slower than that index, peak ≤ 500 MB. Run: .venv/bin/asv run --python=same --bench bench_chips
"""

import time

import vaultmind

from .vaults import NOTES, copy_vault, scratch

PARTS = {"reading": ("reading0", "building0"), "building": ("building0", "building1"),  # seconds between the
         "writing": ("writing0", "writing1")}  # export's progress events, in the one export of setup_cache


class _Exported:
    number, repeat, warmup_time, timeout = 1, (1, 3, 300.0), 0, 3600.0

    def setup_cache(self):  # one function, so both classes share it: index once and export once, timed
        vault, at = copy_vault(NOTES, "chips"), {"start": time.perf_counter()}
        vaultmind.index(vault, embed=False)  # scenes from links alone, as a user without a model gets them
        at["indexed"] = time.perf_counter()
        result = vaultmind.export_chips(vault, scratch("chips-out"), formats=["all"], progress=lambda part, done, _:
                                        at.setdefault(f"{part[7:]}{done}", time.perf_counter()))  # "chips: <part>"
        return {"vault": vault, "parts": {part: at[b] - at[a] for part, (a, b) in PARTS.items()},
                "vs_index": (at["writing1"] - at["indexed"]) / (at["indexed"] - at["start"]),
                "chips": sum(sum(k.values()) for k in result.stats["kinds"].values()),
                "written": sum(p.stat().st_size for p in result.out.rglob("*") if p.is_file()) / 1e6}


class ChipExport(_Exported):
    """`vaultmind.export_chips(formats=["all"])` on the vault indexed without embeddings."""

    def setup(self, cache):
        self.out, self.state = scratch("chips-out"), scratch("chips-index")

    def time_export(self, cache):
        vaultmind.export_chips(cache["vault"], self.out, formats=["all"])

    peakmem_export = time_export  # target: ≤ 500 MB

    def time_index_no_embed(self, cache):
        vaultmind.index(cache["vault"], state_dir=self.state, embed=False)

    def track_vs_index(self, cache):  # export time / index time, both once in setup_cache; target: ≤ 1
        return cache["vs_index"]

    def track_chips(self, cache):
        return cache["chips"]

    def track_written_mb(self, cache):
        return cache["written"]

    track_vs_index.unit, track_chips.unit, track_written_mb.unit = "ratio", "chips", "MB"


class ChipExportParts(_Exported):
    params, param_names, unit = [list(PARTS)], ["part"], "seconds"

    def track_seconds(self, cache, part):
        return cache["parts"][part]
