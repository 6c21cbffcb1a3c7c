"""Policy section ``usage_monitoring``: thresholds of the metrics rules (D5 D5b D3).

Defaults are the numbers of ``default_policy.yaml`` (docs/architecture.md#plans: "far beyond" is 3x a limit,
sustained for 3 consecutive 5-minute periods; a single spike is never a violation).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The plan fields a metric can be judged against (aup.policy.Plan).
PlanLimit = Literal[
    "requests_per_second",
    "requests_per_day",
    "egress_per_day",
    "cpu_seconds_per_hour",
    "memory_peak",
    "storage",
]
# Statistics moto and CloudWatch both compute (percentiles crash moto; metric math returns nothing there).
Statistic = Literal["Sum", "Maximum", "Average", "Minimum", "SampleCount"]

PER_SECONDS = {"second": 1, "hour": 3600, "day": 86400}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(_Section):
    """How one per-account metric is judged: which statistic, against which plan limit, under which rule.

    ``per`` says the limit is a rate (per second, hour or day): it is scaled to the sweep's period.
    Without ``per`` the limit is a level (memory peak, stored bytes) compared as it is. ``scale``
    converts the plan's unit into the metric's (bytes -> megabytes: 1e-6).
    """

    rule_id: str
    statistic: Statistic
    unit: str
    limit: PlanLimit
    per: Literal["second", "hour", "day"] | None = None
    scale: float = Field(default=1.0, gt=0)
    enabled: bool = True


def _default_metrics() -> dict[str, MetricRule]:
    return {
        "CPUSeconds": MetricRule(
            rule_id="D5-cpu", statistic="Sum", unit="Seconds", limit="cpu_seconds_per_hour", per="hour"
        ),
        "MemoryPeakMB": MetricRule(
            rule_id="D5-memory", statistic="Maximum", unit="Megabytes", limit="memory_peak", scale=1e-6
        ),
        "EgressBytes": MetricRule(
            rule_id="D5-egress", statistic="Sum", unit="Bytes", limit="egress_per_day", per="day"
        ),
        "RequestCount": MetricRule(
            rule_id="D5b-requests", statistic="Sum", unit="Count", limit="requests_per_second", per="second"
        ),
        "StorageBytes": MetricRule(rule_id="D5b-storage", statistic="Maximum", unit="Bytes", limit="storage"),
    }


def _default_alarm_rules() -> dict[str, str]:
    return {
        "CPUSeconds": "D5-cpu",
        "MemoryPeakMB": "D5-memory",
        "EgressBytes": "D5-egress",
        "RequestCount": "D5b-requests",
        "StorageBytes": "D5b-storage",
        "ServerErrors": "D3-service-degradation",
        "Latency": "D3-service-degradation",
    }


class UsageMonitoring(_Section):
    """Thresholds of the usage monitor (``UsageMonitorFunction``)."""

    period_seconds: int = Field(default=300, ge=60)
    factor: float = Field(default=3.0, gt=0)  # "far beyond": usage >= factor x the plan's limit
    consecutive_periods: int = Field(default=3, ge=1)
    # An episode that goes on is reported once when it becomes sustained, then once per
    # ``repeat_every_periods`` (aligned to the clock) while it lasts: a bounded, replay-stable id set.
    repeat_every_periods: int = Field(default=12, ge=1)
    lookback_periods: int = Field(default=15, ge=2)  # periods read per sweep: >= repeat + consecutive
    settle_seconds: int = Field(default=60, ge=0)  # CloudWatch needs a moment to aggregate the last period
    accounts_page_size: int = Field(default=500, ge=1, le=1000)
    metrics: dict[str, MetricRule] = Field(default_factory=_default_metrics)
    # Alarm State Change events: the alarm's metric name (with an AccountId dimension) -> rule id.
    alarm_rules: dict[str, str] = Field(default_factory=_default_alarm_rules)
    alarm_confidence: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> UsageMonitoring:
        if self.period_seconds % 60:
            raise ValueError("period_seconds must be a multiple of 60 (CloudWatch's period grid)")
        if self.lookback_periods < self.repeat_every_periods + self.consecutive_periods:
            raise ValueError("lookback_periods must be >= repeat_every_periods + consecutive_periods")
        return self

    def rule_ids(self) -> set[str]:
        return {m.rule_id for m in self.metrics.values()} | set(self.alarm_rules.values())
