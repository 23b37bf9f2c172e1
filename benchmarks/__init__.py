"""Benchmarks of digitscan: quality on synthetic photographed pages, and speed."""
