"""The local stack as a newcomer feels it: ``local up`` time, one ``aupctl`` command's latency,
a warm in-process admin call, and an upload's time to its scanner verdict through the dispatcher.

Budgets are generous wall-clock bounds for a 2-core machine (no contract figures exist for these).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = {
    "local up (deploy included)": 30.0,
    "aupctl accounts list (a process)": 5.0,
    "warm admin call in-process": 0.05,
    "upload -> scanner verdict": 10.0,
}


def _aupctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aupctl.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=180,
    )


def main() -> list[str]:
    from aupctl import state
    from aupctl.admin import AdminClient
    from aupctl.runner import FunctionRunner, LocalStack

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AUPCTL_STATE_DIR=tmp, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "layers" / "aup")])
        )
        os.environ["AUPCTL_STATE_DIR"] = tmp
        port = state.free_port()
        started = time.perf_counter()
        up = _aupctl("local", "up", "--port", str(port), env=env)
        figures["local up (deploy included)"] = time.perf_counter() - started
        if up.returncode != 0:
            return [f"local up failed: {up.stderr.strip()[-300:]}"]
        try:
            started = time.perf_counter()
            _aupctl("accounts", "list", "--port", str(port), env=env)
            figures["aupctl accounts list (a process)"] = time.perf_counter() - started

            local = LocalStack(port)
            runner = FunctionRunner(local, log_stream=open(os.devnull, "w"))  # noqa: SIM115
            client = AdminClient(runner)
            client.create_account("bench-acct", "standard")
            runs = []
            for _ in range(20):
                t = time.perf_counter()
                client.get_account("bench-acct")
                runs.append(time.perf_counter() - t)
            figures["warm admin call in-process"] = sorted(runs)[len(runs) // 2]

            if runner.spec("UploadScannerFunction").is_placeholder:
                print("upload -> scanner verdict: skipped (the scanner is a placeholder)")
            else:
                s3 = local.client("s3")
                bucket, key = local.outputs()["UploadsBucketName"], "accounts/bench-acct/bench.txt"
                t = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=key, Body=b"plain text\n" * 1000)
                while time.perf_counter() - t < 60:
                    tags = {x["Key"] for x in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
                    if "aup-verdict" in tags:
                        break
                    time.sleep(0.05)
                figures["upload -> scanner verdict"] = time.perf_counter() - t
        finally:
            _aupctl("local", "down", "--port", str(port), env=env)
            os.environ.pop("AUPCTL_STATE_DIR", None)
    missed = []
    for name, value in figures.items():
        budget = BUDGETS[name]
        ok = value <= budget
        print(f"{name}: {value:.3f} s (budget {budget} s) {'ok' if ok else 'OVER'}")
        if not ok:
            missed.append(f"{name} {value:.2f} s > {budget} s")
    return missed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
