"""``make bench``: run every ``tests/bench/bench_*.py`` module's ``main()`` and print its figures.

Each module prints lines of the form ``<what>: <figure> (budget <budget>) <ok|OVER>`` and returns the
budgets it missed. Each runs in a process of its own (no module's set-up leaks into the next one's
figures); this runner prints a summary and exits non-zero when a budget is missed.
``python -m tests.bench logs spine`` runs only those; ``--quick`` (or ``AUPCTL_SOAK_QUICK=1``) shortens
the soak (``bench_soak``) to 400 invocations.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def _one(name: str) -> int:
    module = importlib.import_module(f"tests.bench.{name}")
    missed = module.main() or []
    for m in missed:
        print(f"   MISSED: {m}", flush=True)
    return 1 if missed else 0


def main(argv: list[str]) -> int:
    # As in Lambda: the runtime's boto3 comes without awscrt, so botocore signs in Python. The dev
    # environment has awscrt (through the SAM CLI), whose signer costs more per call (~660 against
    # ~590 us per counter UpdateItem here); every bench and the processes it starts sign as Lambda does.
    os.environ.setdefault("BOTO_DISABLE_CRT", "true")
    if argv[:1] == ["--one"]:
        return _one(argv[1])
    if "--quick" in argv:  # the soak's short run (bench_soak: 400 invocations instead of 2,000)
        os.environ["AUPCTL_SOAK_QUICK"] = "1"
        argv = [a for a in argv if a != "--quick"]
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    only = set(argv)
    missed: list[str] = []
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", "tests.bench", "--one", name])
        if rc:
            missed.append(name)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if missed:
        print("budgets missed in: " + ", ".join(missed) + " (see the MISSED lines above)")
        return 1
    print("all budgets met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
