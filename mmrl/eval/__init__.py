"""Benchmark evaluation: definitions (benchmark.py), metrics, the resumable runner, reports."""
