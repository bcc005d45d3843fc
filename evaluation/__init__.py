"""Evaluation datasets, quality evaluation and benchmarks (not imported by the application)."""
