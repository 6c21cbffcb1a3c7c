"""The scheduled sweep: every account in the ledger (paged), its metrics read in batches, judged.

Queries are buffered across account pages and sent 500 at a time, so the number of GetMetricData
calls is ceil(accounts x metrics / 500) (plus any result pages), not one per account. Findings of
each batch are applied at once; they are idempotent per (account, metric, period), so a sweep that
fails halfway and is retried, or a sweep replayed for the same instant, adds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aup.detectors.usage.detector import Window, judge_account
from aup.detectors.usage.metrics import MetricsReader, SeriesQuery
from aup.domain.models import Finding, Outcome
from aup.domain.ports import Page
from aup.policy import Policy, PolicyError

MAX_REPORTED_DECISIONS = 100


class SweepLedger(Protocol):
    """The part of the ledger a sweep uses."""

    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page: ...
    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]: ...


@dataclass
class SweepReport:
    at: datetime
    window_start: datetime
    window_end: datetime
    accounts: int = 0
    findings: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    decided: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, reader: MetricsReader) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "at": self.at.isoformat(),
            "window": [self.window_start.isoformat(), self.window_end.isoformat()],
            "accounts": self.accounts,
            "queries": reader.stats.queries,
            "get_metric_data_calls": reader.stats.calls,
            "partial_queries": len(reader.stats.partial),
            "findings": self.findings,
            "decisions": dict(self.decisions),
            "decided": self.decided[:MAX_REPORTED_DECISIONS],
        }


def check_policy(policy: Policy) -> None:
    """Every rule the usage section names exists in the policy. Raises PolicyError (fail at cold start)."""
    for rule_id in sorted(policy.usage_monitoring.rule_ids()):
        policy.rule(rule_id)
    if not any(m.enabled for m in policy.usage_monitoring.metrics.values()):
        raise PolicyError("usage_monitoring.metrics: no metric is enabled")


def record_outcomes(report: SweepReport, outcomes: Sequence[Outcome]) -> None:
    for outcome in outcomes:
        for d in outcome.decisions:
            report.decisions[d.label] += 1
            report.decided.append(
                {
                    "account_id": d.account_id,
                    "rule_id": d.rule_id,
                    "violation_id": d.violation_id,
                    "decision": d.label,
                }
            )


class _Batcher:
    """Collects queries across account pages; reads, judges and applies them 500 (a batch) at a time."""

    def __init__(
        self,
        *,
        ledger: SweepLedger,
        reader: MetricsReader,
        policy: Policy,
        window: Window,
        report: SweepReport,
        batch_size: int,
    ) -> None:
        self.ledger, self.reader, self.policy, self.window = ledger, reader, policy, window
        self.report, self.batch_size = report, batch_size
        self.pending: list[SeriesQuery] = []
        self.plans: dict[str, str] = {}
        self.remaining: dict[str, int] = {}
        self.series: dict[str, dict[str, dict[int, float]]] = {}

    def add(self, account_id: str, plan: str, queries: list[SeriesQuery]) -> None:
        self.plans[account_id] = plan
        self.remaining[account_id] = len(queries)
        self.series[account_id] = {}
        self.pending.extend(queries)
        while len(self.pending) >= self.batch_size:
            self.flush(self.batch_size)

    def flush(self, n: int | None = None) -> None:
        if not self.pending:
            return
        batch = self.pending[: n or len(self.pending)]
        del self.pending[: len(batch)]
        w = self.window
        results = self.reader.read(batch, w.start, w.end)
        findings: list[Finding] = []
        for q, points in zip(batch, results, strict=True):
            values = {}
            for ts, value in points:
                i = w.index_of(ts)
                if w.first <= i <= w.last:
                    values[i] = float(value)
            self.series[q.account_id][q.metric] = values
            self.remaining[q.account_id] -= 1
            if self.remaining[q.account_id] == 0:
                findings.extend(
                    judge_account(
                        q.account_id,
                        self.plans.pop(q.account_id),
                        self.series.pop(q.account_id),
                        w,
                        self.policy,
                    )
                )
                del self.remaining[q.account_id]
        if findings:
            self.report.findings += len(findings)
            record_outcomes(self.report, self.ledger.apply_findings(findings, self.report.at))


def sweep(
    at: datetime, *, ledger: SweepLedger, reader: MetricsReader, policy: Policy, batch_size: int = 500
) -> SweepReport:
    """Judge every account's usage as of ``at`` (the schedule event's time) and apply the findings."""
    check_policy(policy)
    section = policy.usage_monitoring
    window = Window.ending_before(at, section)
    metrics = [(name, rule) for name, rule in section.metrics.items() if rule.enabled]
    report = SweepReport(at=at, window_start=window.start, window_end=window.end)
    batcher = _Batcher(
        ledger=ledger, reader=reader, policy=policy, window=window, report=report, batch_size=batch_size
    )
    token: str | None = None
    while True:
        page = ledger.list_accounts(limit=section.accounts_page_size, next_token=token)
        for account in page.items:
            report.accounts += 1
            batcher.add(
                account.account_id,
                account.plan,
                [
                    SeriesQuery(account.account_id, name, rule.statistic, window.period_seconds)
                    for name, rule in metrics
                ],
            )
        token = page.next_token
        if not token:
            break
    batcher.flush()
    return report
