"""The metrics reader (batches of 500, NextToken pages) and the sweep, with in-memory fakes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aup.detectors.usage.metrics import CloudWatchMetricsReader, ReadStats, SeriesQuery
from aup.detectors.usage.sweep import sweep
from aup.domain.models import AccountState, Finding, Outcome
from aup.domain.ports import Page
from aup.policy import PolicyError, load_default_policy

POLICY = load_default_policy()
AT = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)
START = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
END = datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
# Fixed dates only on a clock frozen to them: nothing here depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(AT, tick=False)


class FakeCloudWatch:
    """GetMetricData with ``page`` datapoints per response page at most, like CloudWatch's NextToken."""

    def __init__(self, data: dict[tuple[str, str], list[tuple[datetime, float]]], page: int = 10_000) -> None:
        self.data, self.page, self.calls = data, page, []

    def get_metric_data(self, **kw: Any) -> dict[str, Any]:
        assert len(kw["MetricDataQueries"]) <= 500
        self.calls.append(kw)
        results = []
        for q in kw["MetricDataQueries"]:
            m = q["MetricStat"]["Metric"]
            points = [
                p
                for p in self.data.get((m["Dimensions"][0]["Value"], m["MetricName"]), [])
                if kw["StartTime"] <= p[0] < kw["EndTime"]
            ]
            results.append((q["Id"], points))
        offset = int(kw.get("NextToken") or 0)
        flat = [(qid, p) for qid, points in results for p in points]
        chunk = flat[offset : offset + self.page]
        out: dict[str, Any] = {
            "MetricDataResults": [
                {
                    "Id": qid,
                    "Timestamps": [p[0] for _, p in chunk if _ == qid],
                    "Values": [p[1] for _, p in chunk if _ == qid],
                    "StatusCode": "PartialData" if offset + self.page < len(flat) else "Complete",
                }
                for qid, _ in results
            ]
        }
        if offset + self.page < len(flat):
            out["NextToken"] = str(offset + self.page)
        return out


def test_reader_batches_500_queries_and_keeps_their_order():
    cw = FakeCloudWatch({(f"a{n:04d}", "CPUSeconds"): [(START, float(n))] for n in range(1201)})
    reader = CloudWatchMetricsReader("AUP/Usage", client=cw)
    queries = [SeriesQuery(f"a{n:04d}", "CPUSeconds", "Sum", 300) for n in range(1201)]
    out = reader.read(queries, START, END)
    assert [len(c["MetricDataQueries"]) for c in cw.calls] == [500, 500, 201]
    assert [series[0][1] for series in out] == [float(n) for n in range(1201)]
    assert reader.stats == ReadStats(calls=3, queries=1201, datapoints=1201)
    q = cw.calls[0]["MetricDataQueries"][0]
    assert q["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "AccountId", "Value": "a0000"}]
    assert q["MetricStat"]["Stat"] == "Sum" and q["MetricStat"]["Period"] == 300


def test_reader_follows_next_token_and_merges_pages_per_query():
    points = [(START + timedelta(minutes=5 * i), float(i)) for i in range(15)]
    cw = FakeCloudWatch({("acme", "CPUSeconds"): points, ("acme", "RequestCount"): points[::-1]}, page=4)
    reader = CloudWatchMetricsReader("AUP/Usage", client=cw)
    out = reader.read(
        [SeriesQuery("acme", "CPUSeconds", "Sum", 300), SeriesQuery("acme", "RequestCount", "Sum", 300)],
        START,
        END,
    )
    assert len(cw.calls) == math.ceil(30 / 4) and cw.calls[1]["NextToken"] == "4"
    assert out[0] == points and out[1] == points  # sorted by time whatever the page order
    assert reader.stats.partial == []


class FakeLedger:
    def __init__(self, accounts: list[AccountState], page_size: int) -> None:
        self.accounts, self.page_size = accounts, page_size
        self.applied: list[list[Finding]] = []
        self.pages = 0

    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page:
        self.pages += 1
        start = int(next_token or 0)
        end = start + min(limit, self.page_size)
        return Page(items=self.accounts[start:end], next_token=str(end) if end < len(self.accounts) else None)

    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]:
        assert now == AT
        self.applied.append(list(findings))
        return []


@pytest.mark.parametrize(("accounts", "page_size"), [(0, 7), (1, 7), (99, 7), (100, 1000), (1201, 333)])
def test_sweep_buffers_queries_across_account_pages(accounts, page_size):
    data = {
        (f"acct-{n:04d}", "CPUSeconds"): [(END - timedelta(minutes=5 * k), 20.0) for k in range(1, 4)]
        for n in range(accounts)
        if n % 100 == 0
    }
    cw = FakeCloudWatch(data)
    ledger = FakeLedger([AccountState(account_id=f"acct-{n:04d}") for n in range(accounts)], page_size)
    reader = CloudWatchMetricsReader("AUP/Usage", client=cw)
    report = sweep(AT, ledger=ledger, reader=reader, policy=POLICY)
    assert report.accounts == accounts
    assert len(cw.calls) == math.ceil(accounts * 5 / 500)
    assert all(len(c["MetricDataQueries"]) == 500 for c in cw.calls[:-1])
    assert sorted(f.account_id for batch in ledger.applied for f in batch) == sorted(a for a, _ in data)


def test_sweep_refuses_a_policy_naming_unknown_rules():
    section = POLICY.usage_monitoring.model_copy(update={"alarm_rules": {"CPUSeconds": "D5-nope"}})
    policy = POLICY.model_copy(update={"usage_monitoring": section})
    with pytest.raises(PolicyError, match="D5-nope"):
        sweep(
            AT,
            ledger=FakeLedger([], 10),
            reader=CloudWatchMetricsReader("AUP/Usage", client=FakeCloudWatch({})),
            policy=policy,
        )
