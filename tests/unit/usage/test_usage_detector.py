"""The sustained-usage detector: pure, over plain series (period index -> value)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aup.detectors.usage.detector import Window, judge_account, limit_per_period, sustained_periods
from aup.policy import load_default_policy
from aup.policy.sections.usage import UsageMonitoring

POLICY = load_default_policy()
SECTION = POLICY.usage_monitoring
AT = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)
# Fixed dates only on a clock frozen to them: nothing here depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(AT, tick=False)
WINDOW = Window.ending_before(AT, SECTION)
LAST = WINDOW.last


def series(values: list[float | None], last: int = LAST) -> dict[int, float]:
    start = last - len(values) + 1
    return {start + i: v for i, v in enumerate(values) if v is not None}


def periods(values: dict[int, float], window: Window = WINDOW, threshold: float = 15) -> list[int]:
    return [e.period for e in sustained_periods(values, window, threshold, 3, 12)]


def test_window_is_the_last_complete_periods_before_the_settle_delay():
    assert WINDOW.end == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    assert WINDOW.period_start(WINDOW.last) == datetime(2026, 11, 27, 12, 10, tzinfo=UTC)
    assert WINDOW.last - WINDOW.first + 1 == SECTION.lookback_periods
    # 12:15:59 is still inside the settle delay of the 12:15 period.
    assert Window.ending_before(datetime(2026, 11, 27, 12, 15, 59, tzinfo=UTC), SECTION).last == LAST - 1


@pytest.mark.parametrize(
    ("plan", "metric", "expected"),
    [
        ("free", "CPUSeconds", 5.0),  # 60 s/h -> 5 s per 5 min
        ("enterprise", "CPUSeconds", 3000.0),
        ("free", "MemoryPeakMB", 512.0),  # a level: not scaled by the period
        ("business", "MemoryPeakMB", 8000.0),
        ("free", "EgressBytes", 1e9 * 300 / 86400),
        ("standard", "RequestCount", 1500.0),  # 5 req/s sustained over 5 min
        ("free", "StorageBytes", 1e9),
    ],
)
def test_plan_limits_converted_to_the_period(plan, metric, expected):
    assert limit_per_period(SECTION.metrics[metric], POLICY.plans[plan], 300) == pytest.approx(expected)


def test_sustained_run_is_reported_once_at_its_third_period():
    assert periods(series([0, 20, 20, 20])) == [LAST]
    assert periods(series([0, 20, 20, 20, 20, 20])) == [LAST - 2]


@pytest.mark.parametrize(
    "values",
    [
        [0, 0, 1000, 0, 0],  # one spike
        [0, 20, 20, 0, 20, 20],  # two short runs
        [0, 20, None, 20, 20],  # a missing period breaks the run
        [14.99] * 15,  # steady just under
        [0, 20, 20],  # only two periods so far
    ],
)
def test_not_sustained(values):
    assert periods(series(values)) == []


def test_run_that_began_before_the_window_is_only_reported_on_the_grid_far_enough_from_its_start():
    w = Window(period_seconds=300, first=24, last=38)  # index 36 is on the 12-period grid
    assert periods({i: 20.0 for i in range(0, 39)}, w) == []  # 36 - (24 + 2) < 12
    w = Window(period_seconds=300, first=22, last=36)
    assert periods({i: 20.0 for i in range(0, 37)}, w) == [36]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=80))
def test_sweeps_every_period_report_each_episode_once_then_at_most_once_per_repeat(over):
    """A sweep at every period: every run of >= 3 seen from its start is reported at its crossing; reports
    of one run are >= 12 periods apart; runs shorter than 3 are never reported."""
    first_seen = 100
    values = {first_seen + i: (20.0 if o else 0.0) for i, o in enumerate(over)}
    reported: set[int] = set()
    for last in range(first_seen, first_seen + len(over)):
        w = Window(period_seconds=300, first=last - 14, last=last)
        reported.update(periods({i: v for i, v in values.items() if i <= last}, w))
    runs: list[tuple[int, int]] = []
    start = None
    for i in range(first_seen, first_seen + len(over) + 1):
        if values.get(i, 0) >= 15:
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i - 1))
            start = None
    for s, e in runs:
        in_run = sorted(p for p in reported if s <= p <= e)
        if e - s + 1 < 3:
            assert in_run == []
            continue
        assert in_run[0] == s + 2
        assert all(b - a >= 12 for a, b in itertools.pairwise(in_run))
    assert all(any(s <= p <= e for s, e in runs) for p in reported)


def test_findings_carry_series_limit_and_a_stable_source_event_id():
    data = {"CPUSeconds": series([0, 20, 20, 21]), "MemoryPeakMB": series([100] * 15)}
    [f] = judge_account("acme-hog", "free", data, WINDOW, POLICY)
    assert f.rule_id == "D5-cpu" and f.clause == "D5" and f.source.value == "cw"
    assert f.source_event_id == "usage:acme-hog:CPUSeconds:2026-11-27T12:10:00Z"
    assert f.detected_at == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    ev = f.evidence
    assert (
        ev["limit_per_period"] == 5
        and ev["threshold"] == 15
        and ev["plan_limit"] == {"cpu_seconds_per_hour": 60}
    )
    assert [p["value"] for p in ev["series"]][-4:] == [0, 20, 20, 21] and ev["series"][0]["value"] is None
    again = judge_account("acme-hog", "free", data, WINDOW, POLICY)
    assert [g.violation_id for g in again] == [f.violation_id]


def test_unknown_plan_is_judged_as_the_default_plan_and_says_so():
    [f] = judge_account("acme-hog", "platinum", {"CPUSeconds": series([0, 20, 20, 20])}, WINDOW, POLICY)
    assert f.evidence["plan"] == "free"


def test_disabled_metric_is_not_judged():
    metrics = dict(SECTION.metrics)
    metrics["CPUSeconds"] = metrics["CPUSeconds"].model_copy(update={"enabled": False})
    policy = POLICY.model_copy(update={"usage_monitoring": SECTION.model_copy(update={"metrics": metrics})})
    assert judge_account("acme-hog", "free", {"CPUSeconds": series([0, 20, 20, 20])}, WINDOW, policy) == []


def test_section_validation():
    assert UsageMonitoring() == SECTION  # the YAML's numbers are the defaults
    with pytest.raises(ValidationError, match="lookback_periods"):
        UsageMonitoring(lookback_periods=10)
    with pytest.raises(ValidationError, match="multiple of 60"):
        UsageMonitoring(period_seconds=90)
    with pytest.raises(ValidationError):
        UsageMonitoring(
            metrics={
                "CPUSeconds": {
                    "rule_id": "D5-cpu",
                    "statistic": "p99",
                    "unit": "Seconds",
                    "limit": "cpu_seconds_per_hour",
                }
            }
        )
