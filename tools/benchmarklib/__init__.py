"""Helpers for tools/benchmark.py: the benchmark OTA client and the measured scenarios."""
