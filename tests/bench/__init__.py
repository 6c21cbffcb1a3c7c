"""Benchmarks run by ``make bench``: figures and ratios against DESIGN.md's budgets, never asserted in tests."""
