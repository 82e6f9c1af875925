"""Benchmarks: commands that report figures. Not tests; nothing here asserts a time."""
