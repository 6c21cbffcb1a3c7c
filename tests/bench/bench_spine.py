"""Spine budgets (docs/architecture.md#performance-budgets): handler cold start vs bare boto3, warm authorizer decision, reads per miss."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [
    "authorizer",
    "admin_api",
    "notifier",
    "suspension_expiry",
    "api_log_analyzer",
    "upload_scanner",
    "usage_monitor",
]
RUNS = 5

_BASELINE = (
    "import time; t=time.perf_counter(); import boto3; boto3.client('dynamodb'); print(time.perf_counter()-t)"
)
_HANDLER = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location('app', sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from aup import bootstrap
bootstrap.ledger().store.ddb  # the clients a first invocation needs
print(time.perf_counter() - t)
"""


# The same first invocation's clients in the layout before the restructure (``BASE``: bench_logs').
_HANDLER_BEFORE = _HANDLER.replace(
    "from aup import bootstrap\nbootstrap.ledger().store.ddb", "from aup import runtime\nruntime.ledger().ddb"
)


def _timed(code: str, *args: str, root: Path = ROOT) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{root / 'layers' / 'aup'}:{root}",
        "LEDGER_TABLE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AUP/Usage",
        # Each function fails its cold start without the variables it needs (aup.bootstrap settings).
        "UPLOADS_BUCKET": "bench-uploads",
        "QUARANTINE_BUCKET": "bench-quarantine",
        "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
        "SERVICE_API_ID": "bench",
        "SERVICE_API_STAGE": "prod",
    }
    from tests.bench.bench_logs import OWN_CODE_ONLY

    out = subprocess.run(
        [sys.executable, "-c", (OWN_CODE_ONLY if root != ROOT else "") + code, *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_starts() -> list[str]:
    """Each handler's import + first clients vs a bare boto3 client, measured in turns (same load); and,
    with the code before in ``BASE``, the same cold start there, in the same turns."""
    from tests.bench.bench_logs import BASE, spread

    before = BASE if (BASE / "functions").is_dir() else None
    missed = []
    rows = []
    for name in HANDLERS:
        path = ROOT / "functions" / name / "app.py"
        if "NotImplementedError" in path.read_text():
            continue
        old_path = before / "functions" / name / "app.py" if before else None
        base_runs, runs, old_runs = [], [], []
        for _ in range(RUNS):
            base_runs.append(_timed(_BASELINE))
            runs.append(_timed(_HANDLER, str(path)))
            if old_path is not None and old_path.is_file():
                old_runs.append(_timed(_HANDLER_BEFORE, str(old_path), root=before))  # type: ignore[arg-type]
        base, t = statistics.median(base_runs), statistics.median(runs)
        ratio = t / base
        ok = ratio <= 1.5
        print(
            f"   cold start {name}: {t * 1000:.0f} ms vs bare boto3 client {base * 1000:.0f} ms = {ratio:.2f}x "
            f"(budget 1.5x) {'ok' if ok else 'OVER'}"
        )
        if not ok:
            missed.append(f"cold start {name} {ratio:.2f}x > 1.5x")
        if old_runs:
            rows.append((name, old_runs, runs))
    if rows:
        print(f"   cold start before ({before}) / after, medians of {RUNS} runs in turns, ms:")
        for name, b, a in rows:
            mb, ma = statistics.median(b), statistics.median(a)
            noise = f"{spread(b):.0%} / {spread(a):.0%}"
            print(
                f"     {name:<18} {mb * 1000:5.0f} {ma * 1000:5.0f}  after/before {ma / mb:.2f}  noise {noise}"
            )
    return missed


def authorizer() -> list[str]:
    from datetime import UTC, datetime

    from moto import mock_aws

    from aup import bootstrap
    from aup.domain.models import AccountState, hash_api_key
    from aupctl.stack import deploy
    from tests.conftest import LambdaContext, load_handler
    from tests.eventlib import authorizer_event

    missed = []
    with mock_aws():
        stack = deploy()
        os.environ["LEDGER_TABLE"] = stack.outputs["LedgerTableName"]
        os.environ["AUTHORIZER_CACHE_SECONDS"] = "60"
        bootstrap.reset()
        bootstrap.ledger().create_account(
            AccountState(account_id="bench-acct", plan="business"),
            hash_api_key("bench-key-0000000000"),
            datetime.now(UTC),
            "bench",
        )
        module = load_handler("authorizer")
        module.logger.setLevel("WARNING")
        ctx = LambdaContext()
        reads = []
        bootstrap.ledger().store.ddb.meta.events.register(
            "before-call.dynamodb", lambda **kw: reads.append(kw["model"].name)
        )
        event = authorizer_event("bench-key-0000000000")
        module.lambda_handler(event, ctx)  # the miss
        miss_reads = len(reads)
        n = 20_000
        with contextlib.redirect_stdout(io.StringIO()):  # each decision's EMF line: written, not shown
            t = time.perf_counter()
            for _ in range(n):
                module.lambda_handler(event, ctx)
            per_call = (time.perf_counter() - t) / n
        hits_reads = len(reads) - miss_reads
        core = module.authorizer()
        t = time.perf_counter()
        for _ in range(n):
            core.decide("bench-key-0000000000", "203.0.113.7")
        decide = (time.perf_counter() - t) / n
    ok = per_call < 0.001
    print(
        f"   authorizer warm cached call through the handler: {per_call * 1e6:.0f} us (budget < 1000 us) "
        f"{'ok' if ok else 'OVER'}; decision alone {decide * 1e6:.1f} us"
    )
    print(
        f"   DynamoDB calls per cache miss: {miss_reads} ({reads[:miss_reads]}); during {n} hits: {hits_reads}"
    )
    if not ok:
        missed.append(f"authorizer warm call {per_call * 1e6:.0f} us")
    if miss_reads != 1 or hits_reads:
        missed.append(f"authorizer reads per miss {miss_reads}, during hits {hits_reads}")
    bootstrap.reset()
    return missed


def main() -> list[str]:
    return cold_starts() + authorizer()
