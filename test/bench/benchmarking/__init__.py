"""Helpers for test/benchmark.py: corpora, child-process measurement, and the report."""
