"""D5 / D5b / D3 from CloudWatch alarm state changes on per-account metrics. Pure: no AWS, no clock.

Only a transition into ``ALARM`` decides anything; ``OK`` and ``INSUFFICIENT_DATA`` are reported as
ignored. The alarm's metric must carry an ``AccountId`` dimension, and its metric name must be mapped
to a rule by the policy (``usage_monitoring.alarm_rules``). The finding's ``source_event_id`` is
(account, metric, the period the alarm judged): the same key as a sweep's, so a redelivered alarm,
or an alarm and a sweep on the same period, count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aup.detectors.usage.detector import source_event_id
from aup.detectors.usage.events import AlarmChange, MalformedEvent
from aup.detectors.usage.metrics import DIMENSION
from aup.domain.models import Finding, Source, is_account_id
from aup.policy import Policy

_MAX_REASON = 300


@dataclass(frozen=True)
class AlarmVerdict:
    findings: list[Finding]
    ignored: str | None = None  # why the change decides nothing


def judged_period(at: datetime, period_seconds: int) -> datetime:
    """Start of the last complete period at ``at``: the one whose datapoint moved the alarm."""
    index = int(at.timestamp() // period_seconds) - 1
    return datetime.fromtimestamp(index * period_seconds, UTC)


def alarm_findings(change: AlarmChange, policy: Policy) -> AlarmVerdict:
    """Findings for one alarm state change. Raises MalformedEvent when an AccountId is not an account id."""
    if change.state != "ALARM":
        return AlarmVerdict([], f"state {change.state} decides nothing")
    section = policy.usage_monitoring
    per_account = [m for m in change.metrics if DIMENSION in m.dimensions]
    if not per_account:
        return AlarmVerdict([], f"alarm {change.alarm_name!r} has no metric with an {DIMENSION} dimension")
    findings: dict[str, Finding] = {}
    unmapped: list[str] = []
    for m in per_account:
        account_id = m.dimensions[DIMENSION]
        if not is_account_id(account_id):
            raise MalformedEvent(
                f"alarm {change.alarm_name!r}: {DIMENSION} {account_id[:80]!r} is not an account id"
            )
        rule_id = section.alarm_rules.get(m.name)
        if rule_id is None:
            unmapped.append(m.name)
            continue
        rule = policy.rule(rule_id)
        period = m.period_seconds or section.period_seconds
        period_start = judged_period(change.at, period)
        sid = source_event_id(account_id, m.name, period_start)
        findings[sid + rule_id] = Finding(
            rule_id=rule_id,
            clause=rule.clause,
            account_id=account_id,
            source=Source.cw,
            source_event_id=sid,
            detected_at=period_start + timedelta(seconds=period),
            confidence=section.alarm_confidence,
            summary=f"alarm {change.alarm_name} in ALARM on {m.name}: {rule.title}",
            evidence={
                "alarm": change.alarm_name,
                "form": change.form,
                "state": change.state,
                "previous_state": change.previous_state,
                "state_timestamp": change.at.isoformat(),
                "metric": m.name,
                "namespace": m.namespace,
                "statistic": m.statistic,
                "period_seconds": period,
                "judged_period": period_start.isoformat(),
                "threshold": change.threshold,
                "reason": change.reason[:_MAX_REASON],
            },
        )
    if not findings:
        return AlarmVerdict(
            [], f"no rule maps metric(s) {sorted(set(unmapped))} (usage_monitoring.alarm_rules)"
        )
    return AlarmVerdict(list(findings.values()))
