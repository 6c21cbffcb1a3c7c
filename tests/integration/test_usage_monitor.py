"""UsageMonitorFunction against the deployed template in moto, with metric data put by the test."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aup import bootstrap
from aup.adapters.aws import client
from aup.adapters.dynamodb.codecs import state_item
from aup.detectors.usage.events import MalformedEvent
from aup.domain.models import AccountState, Outcome, Status, hash_api_key
from tests.conftest import load_handler

EVENTS = Path(__file__).resolve().parents[2] / "events" / "UsageMonitorFunction"
NOW = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)  # sweep time: the last judged period is 12:10-12:15
P = timedelta(minutes=5)
LAST = datetime(2026, 11, 27, 12, 10, tzinfo=UTC)  # start of the last complete period at NOW
# Fixed dates only on a clock set to them (ticking, as on moto): the sweeps, the alarm
# samples and the metric data are of 2026-11-27 and the clock says so, on any date.
pytestmark = pytest.mark.time_machine(NOW, tick=True)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def scheduled(at: datetime = NOW) -> dict[str, Any]:
    e = event("scheduled.json")
    e["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return e


def create(account_id: str, plan: str = "free") -> None:
    bootstrap.ledger().create_account(
        AccountState(account_id=account_id, plan=plan),
        hash_api_key(f"k-{account_id}"),
        NOW - timedelta(days=1),
        "test",
    )


def seed_accounts(account_ids: list[str], plan: str = "free") -> None:
    """Many registered accounts at once. ``create_account`` is one transaction each, and moto deep-copies
    the whole table per transaction item (quadratic: 1,200 accounts take minutes), so the state items
    the ledger would write are put in batches instead."""
    table = bootstrap.ledger().store.table
    items = [
        state_item(AccountState(account_id=a, plan=plan, version=1, created_at=NOW)) for a in account_ids
    ]
    ddb = client("dynamodb")
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]})


def put(
    account_id: str, metric: str, values: list[float | None], *, last: datetime = LAST, unit: str = "None"
) -> None:
    """One datapoint per period, the last value in the period starting at ``last``; None: no data."""
    cw = client("cloudwatch")
    start = last - P * (len(values) - 1)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "AccountId", "Value": account_id}],
            "Timestamp": start + P * i + timedelta(seconds=30),
            "Value": v,
            "Unit": unit,
        }
        for i, v in enumerate(values)
        if v is not None
    ]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AUP/Usage", MetricData=data[i : i + 500])


def sweep(lambda_context: Any, at: datetime = NOW) -> dict[str, Any]:
    return load_handler("usage_monitor").lambda_handler(scheduled(at), lambda_context)


def violations(account_id: str) -> list[Any]:
    return bootstrap.ledger().list_violations(account_id, limit=100).items


def state(account_id: str) -> AccountState:
    s = bootstrap.ledger().get_account(account_id)
    assert s is not None
    return s


# Free plan limits per 5-minute period, and 3x (the "far beyond" threshold):
# CPU 60 s/h -> 5 s (15); memory 512 MB (1536); egress 1 GB/day -> 3.47 MB (10.42 MB);
# requests 2/s -> 600 (1800); storage 1 GB (3 GB).
OVER = {
    "CPUSeconds": (20.0, "D5-cpu", 5, 15),
    "MemoryPeakMB": (1600.0, "D5-memory", 512, 1536),
    "EgressBytes": (11_000_000.0, "D5-egress", 3472222.222222, 10416666.666667),
    "RequestCount": (1900.0, "D5b-requests", 600, 1800),
    "StorageBytes": (3.1e9, "D5b-storage", 1_000_000_000, 3_000_000_000),
}


@pytest.mark.parametrize("metric", sorted(OVER))
def test_sustained_overuse_of_each_metric_is_one_violation_with_series_and_limit(
    stack, lambda_context, metric
):
    value, rule_id, limit, threshold = OVER[metric]
    create("acme-hog")
    put("acme-hog", metric, [1.0, value, value, value, value])  # over from 11:55: sustained at 12:05

    result = sweep(lambda_context)

    assert result["accounts"] == 1 and result["findings"] == 1
    [v] = violations("acme-hog")
    assert v.rule_id == rule_id and v.source.value == "cw"
    ev = v.evidence
    assert ev["metric"] == metric and ev["plan"] == "free" and ev["factor"] == 3
    assert ev["limit_per_period"] == pytest.approx(limit) and ev["threshold"] == pytest.approx(threshold)
    assert ev["reported_period"] == "2026-11-27T12:05:00+00:00" and ev["periods_over"] == 3
    assert [p["value"] for p in ev["series"]][-4:] == [1.0, value, value, value]
    s = state("acme-hog")
    if rule_id.startswith("D5-"):  # high: a temporary suspension at once
        assert s.status is Status.suspended and s.suspension is not None and s.suspension.rule_id == rule_id
    else:  # D5b is medium: a strike
        assert s.status is Status.active and len(s.strikes) == 1


def test_a_single_spike_is_never_a_violation(stack, lambda_context):
    create("acme-spike")
    put("acme-spike", "CPUSeconds", [1, 1, 1, 1, 1000, 1, 1])
    put("acme-spike", "RequestCount", [10, 10, 100_000, 10, 10])
    assert sweep(lambda_context)["findings"] == 0
    assert violations("acme-spike") == [] and state("acme-spike").status is Status.active


def test_two_periods_over_then_down_is_not_sustained(stack, lambda_context):
    create("acme-short")
    put("acme-short", "CPUSeconds", [20, 20, 1, 20, 20])
    assert sweep(lambda_context)["findings"] == 0


def test_steady_usage_just_under_the_threshold_decides_nothing(stack, lambda_context):
    create("acme-steady")
    put("acme-steady", "CPUSeconds", [14.99] * 15)
    put("acme-steady", "MemoryPeakMB", [1535.0] * 15)
    put("acme-steady", "StorageBytes", [2.99e9] * 15)
    assert sweep(lambda_context)["findings"] == 0
    assert violations("acme-steady") == []


def test_exactly_at_the_threshold_is_far_beyond(stack, lambda_context):
    create("acme-edge")
    put("acme-edge", "CPUSeconds", [0, 15, 15, 15])
    assert sweep(lambda_context)["findings"] == 1


def test_account_without_data(stack, lambda_context):
    create("acme-quiet")
    create("acme-hog")
    put("acme-hog", "CPUSeconds", [0, 20, 20, 20])
    result = sweep(lambda_context)
    assert result["accounts"] == 2 and result["findings"] == 1
    assert violations("acme-quiet") == [] and state("acme-quiet").version == 1


def test_plan_change_between_sweeps(stack, lambda_context):
    # 20 CPU-seconds per 5 min: within standard (50/period), far beyond free (threshold 15).
    create("acme-plan", plan="standard")
    put("acme-plan", "CPUSeconds", [0, 20, 20, 20])
    assert sweep(lambda_context)["findings"] == 0

    def downgrade(s: AccountState) -> Outcome:
        return Outcome(state=s.model_copy(update={"plan": "free", "version": s.version + 1}))

    bootstrap.ledger().transition("acme-plan", downgrade)
    result = sweep(lambda_context)
    assert result["findings"] == 1
    [v] = violations("acme-plan")
    assert v.evidence["plan"] == "free" and v.rule_id == "D5-cpu"


def test_same_sweep_twice_and_the_next_sweep_add_nothing(stack, lambda_context):
    create("acme-hog")
    put("acme-hog", "RequestCount", [0, 2000, 2000, 2000, 2000, 2000], last=LAST + P)
    first = sweep(lambda_context)
    again = sweep(lambda_context)
    later = sweep(lambda_context, NOW + P)  # the episode goes on: same episode, nothing new
    assert first["findings"] == 1 and first["decisions"] == {"strike": 1}
    assert again["decisions"] == {} and later["decisions"] == {}
    assert len(violations("acme-hog")) == 1 and len(state("acme-hog").strikes) == 1


def test_a_long_episode_is_reported_when_sustained_then_once_an_hour(stack, lambda_context):
    create("acme-long")
    put("acme-long", "RequestCount", [2000] * 20)  # over from 10:35 to 12:15
    # The schedule runs every 5 minutes through the episode (and some sweeps run twice).
    for k in range(21):
        sweep(lambda_context, datetime(2026, 11, 27, 10, 36, tzinfo=UTC) + k * P)
    sweep(lambda_context)
    periods = sorted(v.evidence["reported_period"] for v in violations("acme-long"))
    # Sustained at 10:45 (the third period over); again on the hourly grid at 12:00, not at 11:00 (too soon).
    assert periods == ["2026-11-27T10:45:00+00:00", "2026-11-27T12:00:00+00:00"]
    assert len(state("acme-long").strikes) == 2


def test_sweep_replayed_for_a_past_instant_judges_that_window(stack, lambda_context):
    create("acme-past")
    put("acme-past", "CPUSeconds", [0, 20, 20, 20], last=LAST - 12 * P)  # an hour earlier
    assert sweep(lambda_context)["findings"] == 0  # at NOW the run began before the window: not re-reported
    result = sweep(lambda_context, NOW - timedelta(hours=1))
    assert result["findings"] == 1
    [v] = violations("acme-past")
    assert v.detected_at == datetime(2026, 11, 27, 11, 15, tzinfo=UTC)  # end of the 11:10 period


def test_1200_accounts_are_read_in_batches_of_500_queries(stack, lambda_context, monkeypatch):
    seed_accounts([f"acct-{n:04d}" for n in range(1200)])
    for n in (0, 499, 500, 1199):  # at the edges of the batches
        put(f"acct-{n:04d}", "CPUSeconds", [0, 20, 20, 20])
    calls: list[int] = []
    cw = client("cloudwatch")
    cw.meta.events.register(
        "before-parameter-build.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )

    result = sweep(lambda_context)

    # Five metrics per account: 6,000 queries, twelve full calls of 500.
    assert result["accounts"] == 1200 and result["queries"] == 6000
    assert calls == [500] * 12 and result["get_metric_data_calls"] == 12
    assert result["findings"] == 4
    assert {d["account_id"] for d in result["decided"]} == {
        "acct-0000",
        "acct-0499",
        "acct-0500",
        "acct-1199",
    }

    # One metric per account (a policy that judges CPU only): three calls, 500 + 500 + 200.
    cpu_only = POLICY_CPU_ONLY
    client("ssm").put_parameter(Name="/aup/policy-cpu-only", Value=cpu_only, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy-cpu-only")
    bootstrap.reset()
    calls.clear()
    client("cloudwatch").meta.events.register(
        "before-parameter-build.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )
    result = sweep(lambda_context)
    assert calls == [500, 500, 200] and result["get_metric_data_calls"] == 3
    assert result["findings"] == 4 and result["decisions"] == {}  # the same (account, metric, period): no-op


def _policy_cpu_only() -> str:
    import yaml

    from aup.policy.loader import default_policy_text

    doc = yaml.safe_load(default_policy_text())
    doc["usage_monitoring"]["metrics"] = {"CPUSeconds": doc["usage_monitoring"]["metrics"]["CPUSeconds"]}
    return yaml.safe_dump(doc)


POLICY_CPU_ONLY = _policy_cpu_only()


# --- alarms ------------------------------------------------------------------------------------

ALARM_FILES = {
    ("eventbridge", "ALARM"): "alarm-state-change-alarm.json",
    ("eventbridge", "OK"): "alarm-state-change-ok.json",
    ("eventbridge", "INSUFFICIENT_DATA"): "alarm-state-change-insufficient-data.json",
    ("sns", "ALARM"): "sns-alarm-alarm.json",
    ("sns", "OK"): "sns-alarm-ok.json",
    ("sns", "INSUFFICIENT_DATA"): "sns-alarm-insufficient-data.json",
}


@pytest.mark.parametrize("form", ["eventbridge", "sns"])
def test_alarm_events_in_both_forms_and_all_states(stack, lambda_context, form):
    create("acme-hog")
    handler = load_handler("usage_monitor")
    # OK and INSUFFICIENT_DATA decide nothing, delivered once or twice.
    for alarm_state in ("OK", "INSUFFICIENT_DATA"):
        for _ in range(2):
            result = handler.lambda_handler(event(ALARM_FILES[(form, alarm_state)]), lambda_context)
            assert result["findings"] == 0 and result["ignored"][0]["state"] == alarm_state
    assert violations("acme-hog") == [] and state("acme-hog").version == 1

    e = event(ALARM_FILES[(form, "ALARM")])
    result = handler.lambda_handler(e, lambda_context)
    redelivered = handler.lambda_handler(copy.deepcopy(e), lambda_context)

    assert result["findings"] == 1 and result["decisions"] == {"suspend_temporary": 1}
    [v] = violations("acme-hog")
    assert v.rule_id == "D5-cpu" and v.evidence["alarm"] == "aup-cpu-acme-hog" and v.evidence["form"] == form
    assert v.evidence["judged_period"] == "2026-11-27T12:10:00+00:00"
    s = state("acme-hog")
    assert s.status is Status.suspended
    assert s.suspension is not None and s.suspension.since == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    assert redelivered["decisions"] == {} and len(violations("acme-hog")) == 1
    assert state("acme-hog").version == s.version


def test_alarm_and_sweep_on_the_same_period_count_once(stack, lambda_context):
    create("acme-hog")
    put("acme-hog", "CPUSeconds", [0, 20, 20, 20], last=LAST)
    handler = load_handler("usage_monitor")
    e = event("alarm-state-change-alarm.json")
    e["detail"]["state"]["timestamp"] = "2026-11-27T12:15:40.000+0000"  # judged period 12:10 = the crossing
    handler.lambda_handler(e, lambda_context)
    sweep(lambda_context)
    assert len(violations("acme-hog")) == 1


def test_alarm_on_service_health_goes_to_review(stack, lambda_context):
    create("acme-noisy")
    e = event("sns-alarm-alarm.json")
    msg = json.loads(e["Records"][0]["Sns"]["Message"])
    msg["Trigger"]["MetricName"] = "ServerErrors"
    msg["Trigger"]["Dimensions"] = [{"name": "AccountId", "value": "acme-noisy"}]
    e["Records"][0]["Sns"]["Message"] = json.dumps(msg)
    result = load_handler("usage_monitor").lambda_handler(e, lambda_context)
    assert result["decisions"] == {"review": 1}
    assert [r.account_id for r in bootstrap.ledger().list_reviews().items] == ["acme-noisy"]
    assert state("acme-noisy").status is Status.active


def test_alarm_without_account_dimension_is_ignored(stack, lambda_context):
    e = event("alarm-state-change-alarm.json")
    e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {"InstanceId": "i-1"}
    result = load_handler("usage_monitor").lambda_handler(e, lambda_context)
    assert result["findings"] == 0 and "AccountId" in result["ignored"][0]["why"]


def _sns_with(message: Any) -> dict[str, Any]:
    e = event("sns-alarm-alarm.json")
    e["Records"][0]["Sns"]["Message"] = message
    return e


def _eb_without(*path: str) -> dict[str, Any]:
    e = event("alarm-state-change-alarm.json")
    node = e
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return e


def _two_sns_records_second_bad() -> dict[str, Any]:
    e = event("sns-alarm-alarm.json")
    bad = copy.deepcopy(e["Records"][0])
    bad["Sns"]["Message"] = "{not json"
    e["Records"].append(bad)
    return e


MALFORMED = {
    "not an object": ["Scheduled Event"],
    "empty object": {},
    "unknown detail-type": {"detail-type": "Object Created", "time": "2026-11-27T12:16:00Z"},
    "schedule without time": {"detail-type": "Scheduled Event"},
    "schedule with a bad time": {"detail-type": "Scheduled Event", "time": "yesterday"},
    "alarm without detail": _eb_without("detail"),
    "alarm without state": _eb_without("detail", "state"),
    "alarm without state timestamp": _eb_without("detail", "state", "timestamp"),
    "alarm with unknown state": None,  # built below
    "sns message not json": _sns_with("{not json"),
    "sns message not an alarm": _sns_with(json.dumps({"hello": "world"})),
    "sns message without trigger": None,
    "sns empty records": {"Records": []},
    "sns record without Sns": {"Records": [{"EventSource": "aws:sns"}]},
    "bad account id in the dimension": None,
    "second sns record bad": _two_sns_records_second_bad(),
}
_e = event("alarm-state-change-alarm.json")
_e["detail"]["state"]["value"] = "PANIC"
MALFORMED["alarm with unknown state"] = _e
_m = json.loads(event("sns-alarm-alarm.json")["Records"][0]["Sns"]["Message"])
del _m["Trigger"]
MALFORMED["sns message without trigger"] = _sns_with(json.dumps(_m))
_e = event("alarm-state-change-alarm.json")
_e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {
    "AccountId": "Not An Id!"
}
MALFORMED["bad account id in the dimension"] = _e


def test_malformed_events_raise_a_clear_error_and_change_nothing(stack, lambda_context):
    create("acme-hog")
    put("acme-hog", "CPUSeconds", [0, 20, 20, 20])
    before = state("acme-hog")
    handler = load_handler("usage_monitor")
    for case, bad in sorted(MALFORMED.items()):
        with pytest.raises(MalformedEvent) as info:
            handler.lambda_handler(copy.deepcopy(bad), lambda_context)
        assert isinstance(info.value, ValueError) and str(info.value), case
    assert violations("acme-hog") == [] and state("acme-hog") == before
    # The same data with a well-formed event does decide: the cases above failed on the event alone.
    assert sweep(lambda_context)["findings"] == 1
