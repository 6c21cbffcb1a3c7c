"""The events the usage monitor accepts, parsed into what it needs (nothing is applied while parsing).

- an EventBridge ``Scheduled Event``: sweep at the event's ``time`` (replay it with a past time to
  sweep as of then);
- an EventBridge ``CloudWatch Alarm State Change`` event;
- an SNS notification (``Records[].Sns.Message``) carrying CloudWatch's alarm JSON.

Anything else, or one of these with a missing or malformed field, raises ``MalformedEvent`` (a
ValueError) naming what is wrong, before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aup.domain.models import UtcDatetime

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
SCHEDULED = "Scheduled Event"
ALARM_CHANGE = "CloudWatch Alarm State Change"


class MalformedEvent(ValueError):
    """The event is not one the usage monitor handles, or lacks a field it needs."""


@dataclass(frozen=True)
class SweepRequest:
    at: datetime
    event_id: str


@dataclass(frozen=True)
class AlarmMetric:
    namespace: str
    name: str
    dimensions: dict[str, str]
    period_seconds: int | None = None
    statistic: str | None = None


@dataclass(frozen=True)
class AlarmChange:
    """One alarm's state transition, in either form."""

    alarm_name: str
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    previous_state: str | None
    at: datetime  # the alarm's state timestamp: when it was evaluated
    reason: str
    form: Literal["eventbridge", "sns"]
    metrics: list[AlarmMetric] = field(default_factory=list)
    threshold: float | None = None


class _Model(BaseModel):
    # Built on first use: a scheduled sweep never parses an alarm, so it never pays for these schemas.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


# --- EventBridge ---------------------------------------------------------------------------------


class _EbState(_Model):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    timestamp: UtcDatetime
    reason: str = ""


class _EbMetric(_Model):
    namespace: str = ""
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class _EbMetricStat(_Model):
    metric: _EbMetric
    period: int | None = None
    stat: str | None = None


class _EbQuery(_Model):
    metric_stat: _EbMetricStat | None = Field(default=None, alias="metricStat")


class _EbConfiguration(_Model):
    metrics: list[_EbQuery] = Field(default_factory=list)


class _EbDetail(_Model):
    alarm_name: str = Field(alias="alarmName", min_length=1)
    state: _EbState
    previous_state: _EbState | None = Field(default=None, alias="previousState")
    configuration: _EbConfiguration = _EbConfiguration()


# --- SNS (CloudWatch's alarm notification JSON) --------------------------------------------------


class _SnsDimension(_Model):
    name: str
    value: str


class _SnsMetric(_Model):
    namespace: str = Field(default="", alias="Namespace")
    name: str = Field(alias="MetricName")
    dimensions: list[_SnsDimension] = Field(default_factory=list, alias="Dimensions")


class _SnsMetricStat(_Model):
    metric: _SnsMetric = Field(alias="Metric")
    period: int | None = Field(default=None, alias="Period")
    stat: str | None = Field(default=None, alias="Stat")


class _SnsQuery(_Model):
    metric_stat: _SnsMetricStat | None = Field(default=None, alias="MetricStat")


class _SnsTrigger(_Model):
    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str = Field(default="", alias="Namespace")
    statistic: str | None = Field(default=None, alias="Statistic")
    dimensions: list[_SnsDimension] = Field(default_factory=list, alias="Dimensions")
    period: int | None = Field(default=None, alias="Period")
    threshold: float | None = Field(default=None, alias="Threshold")
    metrics: list[_SnsQuery] = Field(default_factory=list, alias="Metrics")


class _SnsAlarm(_Model):
    alarm_name: str = Field(alias="AlarmName", min_length=1)
    new_state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"] = Field(alias="NewStateValue")
    old_state: str | None = Field(default=None, alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    at: UtcDatetime = Field(alias="StateChangeTime")
    trigger: _SnsTrigger = Field(alias="Trigger")


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
    )


def _from_eventbridge(event: dict[str, Any]) -> AlarmChange:
    try:
        detail = _EbDetail.model_validate(event.get("detail"))
    except ValidationError as exc:
        raise MalformedEvent(f"alarm state change event: {_problems(exc)}") from None
    metrics = [
        AlarmMetric(
            namespace=q.metric_stat.metric.namespace,
            name=q.metric_stat.metric.name,
            dimensions=dict(q.metric_stat.metric.dimensions),
            period_seconds=q.metric_stat.period,
            statistic=q.metric_stat.stat,
        )
        for q in detail.configuration.metrics
        if q.metric_stat is not None
    ]
    return AlarmChange(
        alarm_name=detail.alarm_name,
        state=detail.state.value,
        previous_state=detail.previous_state.value if detail.previous_state else None,
        at=detail.state.timestamp,
        reason=detail.state.reason,
        form="eventbridge",
        metrics=metrics,
    )


def _from_sns_message(message: Any, n: int) -> AlarmChange:
    if not isinstance(message, str):
        raise MalformedEvent(f"Records[{n}].Sns.Message must be a string")
    try:
        doc = json.loads(message)
    except ValueError:
        raise MalformedEvent(f"Records[{n}].Sns.Message is not JSON") from None
    try:
        alarm = _SnsAlarm.model_validate(doc)
    except ValidationError as exc:
        raise MalformedEvent(
            f"Records[{n}].Sns.Message is not a CloudWatch alarm: {_problems(exc)}"
        ) from None
    t = alarm.trigger
    metrics = []
    if t.metric_name:
        metrics.append(
            AlarmMetric(
                namespace=t.namespace,
                name=t.metric_name,
                dimensions={d.name: d.value for d in t.dimensions},
                period_seconds=t.period,
                statistic=t.statistic,
            )
        )
    for q in t.metrics:
        if q.metric_stat is not None:
            m = q.metric_stat.metric
            metrics.append(
                AlarmMetric(
                    namespace=m.namespace,
                    name=m.name,
                    dimensions={d.name: d.value for d in m.dimensions},
                    period_seconds=q.metric_stat.period,
                    statistic=q.metric_stat.stat,
                )
            )
    return AlarmChange(
        alarm_name=alarm.alarm_name,
        state=alarm.new_state,
        previous_state=alarm.old_state,
        at=alarm.at,
        reason=alarm.reason,
        form="sns",
        metrics=metrics,
        threshold=t.threshold,
    )


class _Time(_Model):
    time: UtcDatetime


def _from_schedule(event: dict[str, Any]) -> SweepRequest:
    try:
        at = _Time.model_validate({"time": event.get("time")}).time
    except ValidationError as exc:
        raise MalformedEvent(f"scheduled event: {_problems(exc)}") from None
    return SweepRequest(at=at, event_id=str(event.get("id") or ""))


def parse_event(event: Any) -> SweepRequest | list[AlarmChange]:
    """What ``event`` asks of the monitor. Raises MalformedEvent for anything it cannot act on."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"event must be a JSON object, got {type(event).__name__}")
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise MalformedEvent("Records must be a non-empty list of SNS records")
        changes = []
        for n, record in enumerate(records):
            sns = record.get("Sns") if isinstance(record, dict) else None
            if not isinstance(sns, dict):
                raise MalformedEvent(f"Records[{n}] is not an SNS record (no Sns object)")
            changes.append(_from_sns_message(sns.get("Message"), n))
        return changes
    kind = event.get("detail-type")
    if kind == SCHEDULED:
        return _from_schedule(event)
    if kind == ALARM_CHANGE:
        return [_from_eventbridge(event)]
    raise MalformedEvent(
        f"unsupported event (detail-type {kind!r}): expected {SCHEDULED!r}, {ALARM_CHANGE!r} or an SNS alarm"
    )
