"""aupctl in a process of its own, as an operator runs it: the tests that start servers or read exit codes.

``cli_env`` is the environment: no AWS variables of the test process (the command finds its stack by
its own state), aupctl's state in ``state_dir``, the package and the layer importable from the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(state_dir: Path | str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AUPCTL_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "aup")])
    return env


def aupctl(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m aupctl.cli ARGS`` from the checkout's root: its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "aupctl.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=timeout,
        cwd=ROOT,
    )
