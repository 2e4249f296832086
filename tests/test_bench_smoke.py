"""`make bench-smoke` runs a few benchmarks once each on a 200-note vault, so the benchmarks
cannot rot: a benchmark that fails, or a module asv cannot import, fails this test."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_bench_smoke_runs_every_selected_benchmark() -> None:
    if shutil.which("make") is None or not (ROOT / ".venv" / ".installed").is_file():
        pytest.skip("make bench-smoke runs in the project's .venv, which `make test` builds")
    run = subprocess.run(["make", "-s", "bench-smoke"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    results = re.findall(r"··· (bench_\w+)\.(\w+)\.(\w+)\s+(\S+)", output)
    assert {module for module, *_ in results} >= {"bench_index", "bench_scenes", "bench_blindspots", "bench_chips"}, output[-4000:]
    failed = [r for r in results if r[3] == "failed"]
    assert not failed, output[-4000:]
