"""Helpers for tools/bench.py: the benchmark OTA client and the measured scenarios."""
