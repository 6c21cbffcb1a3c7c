"""NotifierFunction (stream -> SNS, EventBridge, cache flush) and SuspensionExpiryFunction under moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber

from aup import bootstrap
from aup.domain.models import AccountState, Finding, Source, hash_api_key
from tests.conftest import load_handler
from tests.eventlib import scheduled_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# Fixed dates only on a clock set to them (ticking: moto and the handlers see time pass), so nothing here
# depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(NOW, tick=True)
_ser = TypeSerializer()


def stream_record(event_id: str, name: str, keys: dict[str, str], old: dict | None, new: dict | None) -> dict:
    def img(d):
        return {k: _ser.serialize(v) for k, v in d.items()}

    body: dict[str, Any] = {
        "Keys": img(keys),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SequenceNumber": event_id,
        "SizeBytes": 100,
    }
    if old is not None:
        body["OldImage"] = img(old)
    if new is not None:
        body["NewImage"] = img(new)
    return {
        "eventID": event_id,
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": body,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
    }


def ledger_items(stack) -> list[dict]:
    """The ledger's current items, as the stream would carry them (plain values)."""
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    items = boto3.client("dynamodb").scan(TableName=stack.outputs["LedgerTableName"])["Items"]
    return [{k: de.deserialize(v) for k, v in i.items()} for i in items]


@pytest.fixture
def sqs_tap(stack):
    """An SQS queue subscribed to the notifications topic and an EventBridge rule on aup.enforcement."""
    sqs, sns, events = boto3.client("sqs"), boto3.client("sns"), boto3.client("events")
    q_sns = sqs.create_queue(QueueName="tap-sns")["QueueUrl"]
    q_eb = sqs.create_queue(QueueName="tap-eb")["QueueUrl"]

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    sns.subscribe(
        TopicArn=stack.outputs["NotificationsTopicArn"],
        Protocol="sqs",
        Endpoint=arn(q_sns),
        Attributes={"RawMessageDelivery": "true"},
    )
    events.put_rule(Name="tap", EventPattern='{"source": ["aup.enforcement"]}')
    events.put_targets(Rule="tap", Targets=[{"Id": "q", "Arn": arn(q_eb)}])

    def drain(url):
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            out.extend(m["Body"] for m in msgs)
            for m in msgs:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return lambda: (drain(q_sns), drain(q_eb))


def records_for(stack, before: list[dict], after: list[dict]) -> list[dict]:
    """Stream records for what changed between two scans of the ledger."""

    def key(i):
        return (i["pk"], i["sk"])

    old = {key(i): i for i in before}
    out = []
    for n, item in enumerate(after):
        prev = old.get(key(item))
        if prev == item:
            continue
        out.append(
            stream_record(
                f"ev-{n}-{item['sk']}",
                "MODIFY" if prev else "INSERT",
                {"pk": item["pk"], "sk": item["sk"]},
                prev,
                item,
            )
        )
    return out


def test_suspension_notifies_sns_and_eventbridge_and_flushes_the_cache(stack, sqs_tap, lambda_context):
    import json

    ledger = bootstrap.ledger()
    ledger.create_account(AccountState(account_id="acme-corp", plan="free"), hash_api_key("k" * 20), NOW, "t")
    before = ledger_items(stack)
    ledger.apply_findings(
        [
            Finding(
                rule_id="D1-scanner-agent",
                clause="D1",
                account_id="acme-corp",
                source=Source.log,
                source_event_id="e1",
                detected_at=NOW,
            )
        ],
        NOW,
    )
    records = [
        r
        for r in records_for(stack, before, ledger_items(stack))
        if r["dynamodb"]["Keys"]["sk"]["S"] == "STATE" or r["dynamodb"]["Keys"]["sk"]["S"].startswith("VIOL")
    ]
    module = load_handler("notifier")
    apigw = module.client("apigateway")
    with Stubber(apigw) as stub:
        stub.add_response(
            "flush_stage_authorizers_cache",
            {},
            {"restApiId": stack.resources["ServiceApi"], "stageName": "prod"},
        )
        result = module.lambda_handler({"Records": records}, lambda_context)
        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": []}
    via_sns, via_eb = sqs_tap()
    types = sorted(json.loads(m)["detail-type"] for m in via_sns)
    assert types == ["AccountSuspended", "ViolationRecorded"]
    eb_types = sorted(json.loads(m)["detail-type"] for m in via_eb)
    assert eb_types == ["AccountSuspended", "ViolationRecorded"]
    # Redelivery of the same records publishes nothing more (idempotent per stream event id).
    with Stubber(apigw) as stub:
        stub.add_response("flush_stage_authorizers_cache", {})
        module.lambda_handler({"Records": records}, lambda_context)
    assert sqs_tap() == ([], [])


def test_reinstatement_and_review_events(stack, sqs_tap, lambda_context):
    import json

    from aup.usecases import accounts

    ledger = bootstrap.ledger()
    ledger.create_account(AccountState(account_id="acme-corp"), hash_api_key("k" * 20), NOW, "t")
    accounts.suspend(ledger, account_id="acme-corp", reason="x", until=None, now=NOW, actor="op")
    before = ledger_items(stack)
    accounts.reinstate(ledger, account_id="acme-corp", reason="ok", now=NOW, actor="op")
    ledger.apply_findings(
        [
            Finding(
                rule_id="W3-threat-phrases",
                clause="W3",
                account_id="acme-corp",
                source=Source.s3,
                source_event_id="obj-1",
                detected_at=NOW,
            )
        ],
        NOW,
    )
    records = records_for(stack, before, ledger_items(stack))
    module = load_handler("notifier")
    with Stubber(module.client("apigateway")) as stub:
        stub.add_client_error("flush_stage_authorizers_cache", "NotImplemented", "not in moto")
        result = module.lambda_handler({"Records": records}, lambda_context)
    assert result == {"batchItemFailures": []}  # a failed flush is logged, never fails the record
    _, via_eb = sqs_tap()
    assert sorted(json.loads(m)["detail-type"] for m in via_eb) == [
        "AccountReinstated",
        "ReviewRequested",
        "ViolationRecorded",
    ]


def test_counters_and_unchanged_state_publish_nothing(stack, sqs_tap, lambda_context):
    module = load_handler("notifier")
    rec = stream_record("c1", "MODIFY", {"pk": "ACCOUNT#acme-corp", "sk": "COUNTER#x"}, {"n": 1}, {"n": 2})
    assert module.lambda_handler({"Records": [rec]}, lambda_context) == {"batchItemFailures": []}
    assert sqs_tap() == ([], [])


def test_a_broken_record_fails_alone(stack, sqs_tap, lambda_context):
    module = load_handler("notifier")
    good = stream_record(
        "g1",
        "INSERT",
        {"pk": "ACCOUNT#a", "sk": "VIOLATION#2026#v1"},
        None,
        {"doc": '{"account_id": "acme-corp", "violation_id": "v1", "rule_id": "D1-error-burst"}'},
    )
    bad = stream_record(
        "b1", "INSERT", {"pk": "ACCOUNT#a", "sk": "VIOLATION#2026#v2"}, None, {"doc": "{nope"}
    )
    result = module.lambda_handler({"Records": [good, bad]}, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "b1"}]}
    _, via_eb = sqs_tap()
    assert len(via_eb) == 1


def test_not_a_stream_event_is_a_clear_error(stack, lambda_context):
    module = load_handler("notifier")
    with pytest.raises(ValueError, match="not a DynamoDB stream event"):
        module.lambda_handler({"foo": 1}, lambda_context)


def test_expiry_lifts_only_ended_temporary_suspensions_with_audit(stack, lambda_context):
    from aup.usecases import accounts

    ledger = bootstrap.ledger()
    for name in ("temp-ended", "temp-running", "indefinite"):
        ledger.create_account(AccountState(account_id=name), hash_api_key(name * 3), NOW, "t")
    accounts.suspend(
        ledger, account_id="temp-ended", reason="x", until=NOW + timedelta(hours=1), now=NOW, actor="op"
    )
    accounts.suspend(
        ledger, account_id="temp-running", reason="x", until=NOW + timedelta(days=2), now=NOW, actor="op"
    )
    accounts.suspend(ledger, account_id="indefinite", reason="x", until=None, now=NOW, actor="op")
    module = load_handler("suspension_expiry")
    later = NOW + timedelta(hours=2)
    result = module.lambda_handler(scheduled_event(later.isoformat().replace("+00:00", "Z")), lambda_context)
    assert result["lifted"] == ["temp-ended"]
    assert ledger.get_account("temp-ended").status.value == "active"
    assert ledger.get_key(hash_api_key("temp-ended" * 3)).status.value == "active"
    assert ledger.get_account("temp-running").status.value == "suspended"
    assert ledger.get_account("indefinite").status.value == "suspended"
    assert ledger.list_audit("temp-ended")[-1].action == "expire"
    # A second sweep for the same instant changes nothing.
    assert (
        module.lambda_handler(scheduled_event(later.isoformat().replace("+00:00", "Z")), lambda_context)[
            "lifted"
        ]
        == []
    )
    assert len(ledger.list_audit("temp-ended")) == 3


def test_expiry_rejects_an_unreadable_time(stack, lambda_context):
    module = load_handler("suspension_expiry")
    with pytest.raises(ValueError, match="unreadable time"):
        module.lambda_handler({"time": "yesterday"}, lambda_context)
