"""Benchmarks of the CDS Hooks service: HTTP load, stage costs, scaling and memory.

Run `python -m bench.run` from the repository root (see bench/README.md).
"""
