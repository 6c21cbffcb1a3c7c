"""Benchmarks run by ``make bench``: figures and ratios against the budgets, never asserted in tests.

The budgets: docs/architecture.md#performance-budgets.
"""
