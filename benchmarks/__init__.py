"""Benchmarks for vaultmind: a synthetic vault generator and the indexing benchmark.

Run from the repository root, e.g. `.venv/bin/python -m benchmarks.run_index --notes 10000`.
"""
