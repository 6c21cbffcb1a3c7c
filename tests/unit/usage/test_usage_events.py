"""Event parsing and alarm judgement: every input parses or raises MalformedEvent; only ALARM decides."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.usage.alarms import alarm_findings
from aup.detectors.usage.events import AlarmChange, AlarmMetric, MalformedEvent, SweepRequest, parse_event
from aup.policy import load_default_policy

EVENTS = Path(__file__).resolve().parents[3] / "events" / "UsageMonitorFunction"
POLICY = load_default_policy()
# The samples' dates (the sweep at 12:16, alarms at 12:15:40) on a clock frozen to them.
pytestmark = pytest.mark.time_machine(datetime(2026, 11, 27, 12, 16, tzinfo=UTC), tick=False)


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_scheduled_event_gives_the_sweep_time():
    req = parse_event(load("scheduled.json"))
    assert req == SweepRequest(at=datetime(2026, 11, 27, 12, 16, tzinfo=UTC), event_id=req.event_id)


@pytest.mark.parametrize("form", ["alarm-state-change", "sns-alarm"])
@pytest.mark.parametrize(
    ("slug", "state"), [("alarm", "ALARM"), ("ok", "OK"), ("insufficient-data", "INSUFFICIENT_DATA")]
)
def test_both_alarm_forms_parse_to_the_same_change(form, slug, state):
    [change] = parse_event(load(f"{form}-{slug}.json"))
    assert change.state == state and change.alarm_name == "aup-cpu-acme-hog"
    assert change.at == datetime(2026, 11, 27, 12, 15, 40, 123000, tzinfo=UTC)
    [m] = change.metrics
    assert (m.name, m.namespace, m.dimensions, m.period_seconds) == (
        "CPUSeconds",
        "AUP/Usage",
        {"AccountId": "acme-hog"},
        300,
    )
    verdict = alarm_findings(change, POLICY)
    if state == "ALARM":
        [f] = verdict.findings
        assert f.rule_id == "D5-cpu" and f.account_id == "acme-hog"
        assert f.source_event_id == "usage:acme-hog:CPUSeconds:2026-11-27T12:10:00Z"
    else:
        assert verdict.findings == [] and state in (verdict.ignored or "")


def _change(*metrics: AlarmMetric) -> AlarmChange:
    return AlarmChange(
        alarm_name="a",
        state="ALARM",
        previous_state="OK",
        at=datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC),
        reason="",
        form="eventbridge",
        metrics=list(metrics),
    )


def test_metric_math_alarm_over_two_accounts_gives_one_finding_each():
    verdict = alarm_findings(
        _change(
            AlarmMetric("AUP/Usage", "CPUSeconds", {"AccountId": "acme-one"}, 60),
            AlarmMetric("AUP/Usage", "RequestCount", {"AccountId": "acme-two"}),
            AlarmMetric("AUP/Usage", "Unmapped", {"AccountId": "acme-three"}),
        ),
        POLICY,
    )
    assert sorted((f.account_id, f.rule_id) for f in verdict.findings) == [
        ("acme-one", "D5-cpu"),
        ("acme-two", "D5b-requests"),
    ]
    one = next(f for f in verdict.findings if f.account_id == "acme-one")
    assert one.evidence["judged_period"] == "2026-11-27T11:59:00+00:00"  # the alarm's own 60 s period


def test_unmapped_metric_and_missing_dimension_are_ignored_not_errors():
    assert (
        "alarm_rules"
        in alarm_findings(_change(AlarmMetric("X", "Other", {"AccountId": "acme-one"})), POLICY).ignored
    )
    assert (
        "AccountId" in alarm_findings(_change(AlarmMetric("X", "CPUSeconds", {"Host": "h"})), POLICY).ignored
    )


def test_bad_account_id_is_malformed():
    with pytest.raises(MalformedEvent, match="not an account id"):
        alarm_findings(_change(AlarmMetric("AUP/Usage", "CPUSeconds", {"AccountId": "UPPER CASE"})), POLICY)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[dict]:
    """Real events with one field replaced by an arbitrary JSON value."""
    names = sorted(p.name for p in EVENTS.glob("*.json"))

    def mutate(name: str, key_path: list[str], value: object) -> dict:
        event = load(name)
        node = event
        for key in key_path[:-1]:
            if not isinstance(node, dict) or key not in node:
                return event
            node = node[key]
        if isinstance(node, dict):
            node[key_path[-1]] = value
        return event

    paths = st.sampled_from(
        [
            ["time"],
            ["detail-type"],
            ["detail"],
            ["detail", "state"],
            ["detail", "alarmName"],
            ["detail", "configuration"],
            ["Records"],
        ]
    )
    return st.builds(mutate, st.sampled_from(names), paths, json_values)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, _mutations()))
def test_any_input_parses_or_raises_malformed_event(event):
    try:
        parsed = parse_event(event)
    except MalformedEvent as exc:
        assert str(exc)
        return
    if isinstance(parsed, list):
        for change in parsed:
            with contextlib.suppress(MalformedEvent):
                alarm_findings(change, POLICY)
