"""Detectors, one package per signal: pure functions over parsed records, time passed in, no AWS calls."""
