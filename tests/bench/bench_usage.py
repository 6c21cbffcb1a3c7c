"""Usage monitor: one sweep's duration and API calls for 1, 100 and 10,000 accounts (moto in-process).

Budget: GetMetricData calls grow by batches of 500 queries (ceil(accounts x metrics / 500)), never per
account. Durations are moto's (its GetMetricData scans every datapoint per query and period), printed
for comparison between runs, not budgeted.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 100, 10_000)
NOW = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)
LAST = datetime(2026, 11, 27, 12, 10, tzinfo=UTC)
P = timedelta(minutes=5)


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_usage_monitor_app", ROOT / "functions/usage_monitor/app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def _seed(ledger: Any, ddb: Any, n: int) -> None:
    from aup.adapters.dynamodb.codecs import state_item
    from aup.domain.models import AccountState

    items = [state_item(AccountState(account_id=f"acct-{i:05d}", plan="free", version=1)) for i in range(n)]
    for i in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={ledger.store.table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
        )


def _put(cw: Any, account_id: str, values: list[float]) -> None:
    start = LAST - P * (len(values) - 1)
    cw.put_metric_data(
        Namespace="AUP/Usage",
        MetricData=[
            {
                "MetricName": "CPUSeconds",
                "Dimensions": [{"Name": "AccountId", "Value": account_id}],
                "Timestamp": start + P * i + timedelta(seconds=30),
                "Value": v,
            }
            for i, v in enumerate(values)
        ],
    )


def one_size(n: int) -> tuple[str, list[str]]:
    from moto import mock_aws

    from aup import bootstrap
    from aup.adapters.aws import client
    from aupctl.stack import deploy

    with mock_aws():
        bootstrap.reset()
        deployed = deploy()
        os.environ["LEDGER_TABLE"] = deployed.outputs["LedgerTableName"]
        os.environ["AUP_POLICY_PARAMETER"] = ""
        bootstrap.reset()
        _seed(bootstrap.ledger(), client("dynamodb"), n)
        hogs = max(1, n // 1000)
        for i in range(hogs):  # a few accounts hog CPU, as many spike once
            _put(client("cloudwatch"), f"acct-{i:05d}", [0, 20, 20, 20])
            if n > 1:
                _put(client("cloudwatch"), f"acct-{n - 1 - i:05d}", [1, 1, 500, 1])
        calls: Counter[str] = Counter()
        for service in ("cloudwatch", "dynamodb"):
            client(service).meta.events.register(
                f"before-call.{service}", lambda model, **_: calls.update([model.name])
            )
        handler = _handler()
        started = time.perf_counter()
        result = handler({"detail-type": "Scheduled Event", "time": NOW.isoformat()}, _Context())
        elapsed = time.perf_counter() - started
        bootstrap.reset()
    expected = math.ceil(result["queries"] / 500)
    line = (
        f"   sweep of {n:>6,} accounts: {elapsed:7.2f} s, {result['queries']:>6,} queries, "
        f"GetMetricData {calls['GetMetricData']:>3} calls (budget ceil(queries/500) = {expected}), "
        f"ledger Query {calls['Query']}, TransactWriteItems {calls['TransactWriteItems']}, "
        f"findings {result['findings']} {dict(result['decisions'])} "
    )
    ok = calls["GetMetricData"] == expected == result["get_metric_data_calls"]
    return line + ("ok" if ok else "OVER"), [] if ok else [
        f"{n} accounts: {calls['GetMetricData']} calls > {expected}"
    ]


def main() -> list[str]:
    import logging

    logging.disable(logging.ERROR)  # moto's Docker complaints on every stream write
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AUP/Usage")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    missed: list[str] = []
    for n in SIZES:
        line, m = one_size(n)
        print(line, flush=True)
        missed.extend(m)
    return missed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
