"""The usage monitor's one entry point: an event in, findings applied, a JSON-able summary out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from aup.detectors.usage.alarms import alarm_findings
from aup.detectors.usage.events import AlarmChange, SweepRequest, parse_event
from aup.detectors.usage.metrics import MetricsReader
from aup.detectors.usage.sweep import SweepLedger, SweepReport, check_policy, record_outcomes, sweep
from aup.domain.models import Finding, Outcome
from aup.policy import Policy


class FindingsLedger(Protocol):
    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]: ...


def handle_alarms(changes: list[AlarmChange], *, ledger: FindingsLedger, policy: Policy) -> dict[str, Any]:
    """Judge every change first (a malformed one raises before anything is written), then apply."""
    findings: list[Finding] = []
    ignored: list[dict[str, str]] = []
    for change in changes:
        verdict = alarm_findings(change, policy)
        findings.extend(verdict.findings)
        if verdict.ignored:
            ignored.append({"alarm": change.alarm_name, "state": change.state, "why": verdict.ignored})
    report = SweepReport(
        at=max(c.at for c in changes),
        window_start=min(c.at for c in changes),
        window_end=max(c.at for c in changes),
        findings=len(findings),
    )
    if findings:
        # ``now`` is the alarm's own state time: a replayed alarm decides as it would have then.
        record_outcomes(report, ledger.apply_findings(findings, report.at))
    return {
        "kind": "alarm",
        "alarms": len(changes),
        "findings": len(findings),
        "ignored": ignored,
        "decisions": dict(report.decisions),
        "decided": report.decided,
    }


def handle(event: Any, *, ledger: SweepLedger, reader: MetricsReader, policy: Policy) -> dict[str, Any]:
    """Run the sweep or judge the alarm(s) ``event`` carries.

    Raises MalformedEvent (a ValueError) for an event it cannot act on, before any write; PolicyError
    when the policy's usage section names unknown rules; LedgerError when the ledger keeps conflicting.
    """
    request = parse_event(event)
    check_policy(policy)
    if isinstance(request, SweepRequest):
        return sweep(request.at, ledger=ledger, reader=reader, policy=policy).as_dict(reader)
    return handle_alarms(request, ledger=ledger, policy=policy)
