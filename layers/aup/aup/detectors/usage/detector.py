"""D5 / D5b from per-account metric series: usage far beyond the plan's limit, sustained.

Pure functions: the series, the plan and the time window come in, findings go out. No AWS, no clock.

A period is "over" when its value is at or above ``factor`` x the plan's limit converted to the period.
A run of over periods becomes a violation when it reaches ``consecutive_periods``; a single spike never
does. The periods reported for one episode are a fixed set, whatever the sweep that sees them:

- the period where the run becomes sustained, when the run's start is inside the window (its
  previous period is seen and not over);
- then each period on the ``repeat_every_periods`` grid (aligned to the epoch) at least that many
  periods after the crossing, while the run lasts.

Each reported period is one finding whose ``source_event_id`` is (account, metric, period), so a
sweep replayed for the same instant, or an overlapping sweep five minutes later, adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aup.domain.models import Finding, Source
from aup.policy import Plan, Policy
from aup.policy.sections.usage import PER_SECONDS, MetricRule, UsageMonitoring


@dataclass(frozen=True)
class Window:
    """The periods one sweep judges: indexes ``first``..``last`` of the grid ``epoch // period_seconds``."""

    period_seconds: int
    first: int
    last: int

    @classmethod
    def ending_before(cls, at: datetime, section: UsageMonitoring) -> Window:
        """The last ``lookback_periods`` complete periods at ``at`` (less ``settle_seconds``)."""
        p = section.period_seconds
        end = int((at.timestamp() - section.settle_seconds) // p)  # exclusive: the period in progress
        return cls(period_seconds=p, first=end - section.lookback_periods, last=end - 1)

    @property
    def start(self) -> datetime:
        return self.period_start(self.first)

    @property
    def end(self) -> datetime:
        return self.period_start(self.last + 1)

    def period_start(self, index: int) -> datetime:
        return datetime.fromtimestamp(index * self.period_seconds, UTC)

    def index_of(self, ts: datetime) -> int:
        return int(ts.timestamp() // self.period_seconds)


def limit_per_period(rule: MetricRule, plan: Plan, period_seconds: int) -> float:
    """The plan's limit in the metric's unit for one period (rates scaled, levels as they are)."""
    value = float(getattr(plan, rule.limit)) * rule.scale
    if rule.per is not None:
        value *= period_seconds / PER_SECONDS[rule.per]
    return value


@dataclass(frozen=True)
class Episode:
    """One reported period of a sustained run: ``run_start`` is None when the run began before the window."""

    period: int
    run_start: int | None
    periods_over: int  # observed length of the run up to and including ``period``


def sustained_periods(
    values: Mapping[int, float], window: Window, threshold: float, consecutive: int, repeat: int
) -> list[Episode]:
    """The periods to report for ``values`` (period index -> value; missing = not over) in ``window``."""
    out: list[Episode] = []
    run_start: int | None = None
    for i in range(window.first, window.last + 1):
        value = values.get(i)
        if value is None or value < threshold:
            run_start = None
            continue
        if run_start is None:
            run_start = i
        observed = i - run_start + 1
        if observed < consecutive:
            continue
        start_seen = run_start > window.first
        if start_seen:
            crossing = run_start + consecutive - 1
            if i == crossing or (i % repeat == 0 and i - crossing >= repeat):
                out.append(Episode(period=i, run_start=run_start, periods_over=observed))
        elif i % repeat == 0 and i - (window.first + consecutive - 1) >= repeat:
            # The run began before the window: its crossing was at or before first + consecutive - 1.
            out.append(Episode(period=i, run_start=None, periods_over=observed))
    return out


def source_event_id(account_id: str, metric: str, period_start: datetime) -> str:
    """Idempotency key of a usage finding: (account, metric, period). Shared by sweeps and alarms."""
    return f"usage:{account_id}:{metric}:{period_start.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)


def judge_metric(
    account_id: str,
    *,
    plan_name: str,
    plan: Plan,
    metric: str,
    rule: MetricRule,
    values: Mapping[int, float],
    window: Window,
    section: UsageMonitoring,
    policy: Policy,
) -> list[Finding]:
    """Findings for one account's metric series over ``window`` (empty for usage within the plan)."""
    limit = limit_per_period(rule, plan, window.period_seconds)
    threshold = limit * section.factor
    episodes = sustained_periods(
        values, window, threshold, section.consecutive_periods, section.repeat_every_periods
    )
    if not episodes:
        return []
    clause = policy.rule(rule.rule_id).clause
    findings = []
    for ep in episodes:
        period_start = window.period_start(ep.period)
        series = [
            {"period": window.period_start(i).isoformat(), "value": _num(values[i]) if i in values else None}
            for i in range(window.first, ep.period + 1)
        ]
        evidence: dict[str, Any] = {
            "metric": metric,
            "statistic": rule.statistic,
            "unit": rule.unit,
            "plan": plan_name,
            "plan_limit": {rule.limit: _num(float(getattr(plan, rule.limit)))},
            "period_seconds": window.period_seconds,
            "limit_per_period": _num(limit),
            "factor": section.factor,
            "threshold": _num(threshold),
            "consecutive_periods": section.consecutive_periods,
            "periods_over": ep.periods_over,
            "run_started": window.period_start(ep.run_start).isoformat()
            if ep.run_start is not None
            else None,
            "reported_period": period_start.isoformat(),
            "series": series,
        }
        peak = max(values[i] for i in range(ep.period - ep.periods_over + 1, ep.period + 1))
        findings.append(
            Finding(
                rule_id=rule.rule_id,
                clause=clause,
                account_id=account_id,
                source=Source.cw,
                source_event_id=source_event_id(account_id, metric, period_start),
                detected_at=period_start + timedelta(seconds=window.period_seconds),
                confidence=1.0,
                summary=(
                    f"{metric} ({rule.statistic}) >= {section.factor:g}x the {plan_name} plan's limit "
                    f"({_num(limit)} {rule.unit} per {window.period_seconds // 60} min) for "
                    f"{ep.periods_over} consecutive periods, peak {_num(peak)}"
                ),
                evidence=evidence,
            )
        )
    return findings


def judge_account(
    account_id: str,
    plan_name: str,
    series: Mapping[str, Mapping[int, float]],
    window: Window,
    policy: Policy,
) -> list[Finding]:
    """Findings for one account: ``series`` maps metric name -> (period index -> value)."""
    section = policy.usage_monitoring
    if plan_name not in policy.plans:  # an unknown plan is judged as the default plan, and says so
        plan_name = policy.default_plan
    plan = policy.plans[plan_name]
    out: list[Finding] = []
    for metric, rule in section.metrics.items():
        if not rule.enabled:
            continue
        values = series.get(metric)
        if values:
            out.extend(
                judge_metric(
                    account_id,
                    plan_name=plan_name,
                    plan=plan,
                    metric=metric,
                    rule=rule,
                    values=values,
                    window=window,
                    section=section,
                    policy=policy,
                )
            )
    return out
