"""``aupctl demo``: a fresh local stack, a scenario through every signal, tables and an HTML report."""

from __future__ import annotations

from pathlib import Path


def run(html: Path | None = None, port: int | None = None) -> int:
    print("demo: not written yet")
    return 0
