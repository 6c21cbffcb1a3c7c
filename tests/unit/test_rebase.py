"""``aupctl invoke --at``: an event's times moved so that its latest is the given instant, offsets kept."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aupctl.clock import parse_instant
from aupctl.errors import CliError
from aupctl.rebase import rebase

EVENTS = Path(__file__).resolve().parents[2] / "events"
AT = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)  # where the samples are moved to (passed in)
pytestmark = pytest.mark.time_machine(AT, tick=False)  # and the clock, for ``--at now``


def sample(function: str, case: str) -> Any:
    return json.loads((EVENTS / function / f"{case}.json").read_text())


def logs(data: str) -> dict[str, Any]:
    return json.loads(gzip.decompress(base64.b64decode(data)))


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_s3_event_in_an_sqs_body_moves_to_the_instant_with_its_sqs_timestamps():
    before = sample("UploadScannerFunction", "object-created")
    moved = rebase(before, AT)
    assert moved.latest == datetime(2026, 11, 27, 10, 0, tzinfo=UTC) and moved.shift == AT - moved.latest
    record = moved.event["Records"][0]
    body = json.loads(record["body"])
    assert body["Records"][0]["eventTime"] == "2027-03-01T08:30:00.000Z"  # its own format kept
    assert record["attributes"]["SentTimestamp"] == str(int(AT.timestamp() * 1000))
    # Nothing else changed: the key, the version, the eTag, the body's layout.
    untouched = json.loads(before["Records"][0]["body"])
    untouched["Records"][0]["eventTime"] = "2027-03-01T08:30:00.000Z"
    assert body == untouched and record["body"] == json.dumps(untouched)


def test_subscription_payload_log_times_move_together_and_ids_stay():
    before = sample("ApiLogAnalyzerFunction", "subscription-scanner")
    moved = rebase(before, AT)
    old, new = logs(before["awslogs"]["data"]), logs(moved.event["awslogs"]["data"])
    shift_ms = round(moved.shift.total_seconds() * 1000)
    assert [e["id"] for e in new["logEvents"]] == [e["id"] for e in old["logEvents"]]
    assert [e["timestamp"] for e in new["logEvents"]] == [e["timestamp"] + shift_ms for e in old["logEvents"]]
    assert max(e["timestamp"] for e in new["logEvents"]) == int(AT.timestamp() * 1000)
    for o, n in zip(old["logEvents"], new["logEvents"], strict=True):
        line_old, line_new = json.loads(o["message"]), json.loads(n["message"])
        assert int(line_new["requestTimeEpoch"]) == int(line_old["requestTimeEpoch"]) + shift_ms
        assert {k: v for k, v in line_new.items() if k != "requestTimeEpoch"} == {
            k: v for k, v in line_old.items() if k != "requestTimeEpoch"
        }
    assert '": ' not in n["message"]  # the access log's compact JSON stays compact


def test_kinesis_records_payloads_and_arrival_times_move_by_one_offset():
    before = sample("ApiLogAnalyzerFunction", "kinesis-credential-stuffing")
    moved = rebase(before, AT)
    shift = moved.shift
    assert shift is not None
    arrivals = [r["kinesis"]["approximateArrivalTimestamp"] for r in moved.event["Records"]]
    assert max(arrivals) == pytest.approx(AT.timestamp(), abs=0.001)  # the latest: the last arrival
    for old, new in zip(before["Records"], moved.event["Records"], strict=True):
        assert new["kinesis"]["approximateArrivalTimestamp"] == pytest.approx(
            old["kinesis"]["approximateArrivalTimestamp"] + shift.total_seconds(), abs=0.001
        )
        a, b = logs(old["kinesis"]["data"]), logs(new["kinesis"]["data"])
        assert [e["timestamp"] + round(shift.total_seconds() * 1000) for e in a["logEvents"]] == [
            e["timestamp"] for e in b["logEvents"]
        ]
        assert (
            new["eventID"] == old["eventID"]
            and new["kinesis"]["sequenceNumber"] == old["kinesis"]["sequenceNumber"]
        )


def test_alarm_state_change_keeps_its_format_and_the_previous_state_offset():
    moved = rebase(sample("UsageMonitorFunction", "alarm-state-change-alarm"), AT)
    e = moved.event
    assert e["detail"]["state"]["timestamp"] == "2027-03-01T08:30:00.000+0000"  # the latest, .123 kept
    assert e["time"] == "2027-03-01T08:30:00Z"  # 123 ms earlier, rounded to the second it is written in
    previous = e["detail"]["previousState"]["timestamp"]
    assert iso(previous.replace("+0000", "+00:00")) == AT - timedelta(minutes=35)


def test_sns_alarm_message_moves_with_the_notification():
    moved = rebase(sample("UsageMonitorFunction", "sns-alarm-alarm"), AT)
    sns = moved.event["Records"][0]["Sns"]
    assert sns["Timestamp"] == "2027-03-01T08:30:00.000Z"
    message = json.loads(sns["Message"])
    assert message["StateChangeTime"] == "2027-03-01T08:29:59.923+0000"  # 77 ms before the notification
    assert "(01/03/27 08:19:20)" in message["NewStateReason"]  # the reason's datapoints follow (rounded)


def test_stream_record_moves_keys_and_documents_and_ends_follow_without_anchoring():
    moved = rebase(sample("NotifierFunction", "suspension-and-violation"), AT)
    modify, insert = moved.event["Records"]
    doc = json.loads(modify["dynamodb"]["NewImage"]["doc"]["S"])
    assert doc["suspension"]["since"] == "2027-03-01T08:30:00Z"
    assert doc["suspension"]["until"] == "2027-03-02T08:30:00Z"  # an end: moved, but never the anchor
    assert doc["suspension"]["policy_version"] == "2026-11-27.1"  # not a time
    assert insert["dynamodb"]["Keys"]["sk"]["S"] == "VIOLATION#2027-03-01T08:30:00.000000Z#4b1d"


def test_dynamodb_approximate_creation_time_is_an_epoch_in_seconds():
    created = int(datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp())
    event = {"Records": [{"dynamodb": {"ApproximateCreationDateTime": created, "SizeBytes": 100}}]}
    moved = rebase(event, AT)
    assert moved.event["Records"][0]["dynamodb"] == {
        "ApproximateCreationDateTime": int(AT.timestamp()),
        "SizeBytes": 100,  # a number, not a time
    }


def test_eventbridge_schedule_and_offsets_other_than_utc():
    moved = rebase({"time": "2026-11-27T12:16:00Z", "detail": {"t": "2026-11-27T13:00:00+01:00"}}, AT)
    assert moved.event["time"] == "2027-03-01T08:30:00Z"
    assert moved.event["detail"]["t"] == "2027-03-01T09:14:00+01:00"  # 12:00Z - 16 min, written in +01:00


def test_events_without_a_time_that_happened_are_left_as_they_are():
    suspend = sample("AdminApiFunction", "suspend")  # names only the end of the suspension it asks for
    for event in (sample("AuthorizerFunction", "known-key"), suspend, {"timeout": 3, "count": 1_800_000_000}):
        moved = rebase(event, AT)
        assert moved.shift is None and moved.event == event and moved.times == 0


def normalized(value: Any) -> Any:
    """JSON strings and base64 gzip payloads decoded (a re-encoded payload differs in its gzip header)."""
    if isinstance(value, dict):
        return {k: normalized(logs(v)) if k == "data" else normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return normalized(json.loads(value))
        except ValueError:
            return value
    return value


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sample_moved_and_moved_back_is_itself(path: Path):
    event = json.loads(path.read_text())
    assert rebase(event, rebase(event, AT).latest or AT).event == event  # no shift: not even re-encoded
    there = rebase(event, AT)
    if there.latest is None:
        return
    assert there.latest < AT and there.times > 0
    back = rebase(there.event, there.latest)
    assert normalized(back.event) == normalized(event)


def test_instants_the_cli_accepts(time_machine):
    time_machine.move_to(datetime(2026, 12, 1, 9, 0, 7, 654321, tzinfo=UTC), tick=False)
    assert parse_instant("now") == datetime(2026, 12, 1, 9, 0, 7, tzinfo=UTC)  # to the second
    assert parse_instant("2026-11-27T12:00:00Z") == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_instant("2026-11-27T13:00:00+01:00") == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_instant("2026-11-27T12:00") == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    with pytest.raises(CliError, match="expected 'now' or an ISO-8601 time"):
        parse_instant("yesterday")
