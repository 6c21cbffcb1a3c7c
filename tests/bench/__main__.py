"""``make bench``: run every ``tests/bench/bench_*.py`` module's ``main()`` and print its figures.

Each module prints lines of the form ``<what>: <figure> (budget <budget>) <ok|OVER>``; this runner
prints a summary and exits non-zero when a budget is missed, so a regression is visible at once.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    only = set(sys.argv[1:])
    failures: list[str] = []
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(f"tests.bench.{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        missed = module.main() or []
        failures.extend(f"{name}: {m}" for m in missed)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if failures:
        print("budgets missed:\n  " + "\n  ".join(failures))
        return 1
    print("all budgets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
