"""LogIngestion=firehose end to end: API Gateway's lines -> Firehose -> S3 archive -> SQS -> the analyzer.

The stack is deployed with the parameter; lines are put into the deployed delivery stream (moto delivers
each batch as one object, uncompressed; a real stream writes GZIP, covered by ``split_lines`` tests), the
bucket's notifications are read from the deployed queue and handed to the handler as the event-source
mapping would. The same fixtures and expectations as the subscription path's tests.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import boto3
import pytest

from aup import bootstrap
from aup.domain.models import AccountState, Status, hash_api_key
from aup.usecases.ingest_archive import ArchivedObject, split_lines
from tests.conftest import load_handler
from tests.unit.logs import traffic as T

PLANS = {
    "bizcorp": "business",
    "botfarm": "standard",
    "scrapeco": "standard",
    "resell-hub": "standard",
    "spoofy": "standard",
    "alice-studio": "free",
    "scanco": "free",
}
NOW = T.AT
pytestmark = pytest.mark.time_machine(NOW, tick=True)


@pytest.fixture
def firehose_stack(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    from aupctl.stack import deploy

    with mock_aws():
        bootstrap.reset()
        stack = deploy(parameters={"LogIngestion": "firehose"})
        monkeypatch.setenv("LEDGER_TABLE", stack.outputs["LedgerTableName"])
        monkeypatch.setenv("AUP_POLICY_PARAMETER", "")
        bootstrap.reset()
        ledger = bootstrap.ledger()
        for account, plan in PLANS.items():
            ledger.create_account(
                AccountState(account_id=account, plan=plan), hash_api_key(f"key-{account}"), NOW, "test"
            )
        yield stack
        bootstrap.reset()


def put_lines(stack: Any, lines: list[T.Line], *, delimited: bool = True, batch: int = 500) -> None:
    """As API Gateway does: one Firehose record per access-log line."""
    firehose = boto3.client("firehose")
    name = stack.resources["AccessLogFirehose"]
    end = b"\n" if delimited else b""
    for i in range(0, len(lines), batch):
        records = [{"Data": x.text.encode() + end} for x in lines[i : i + batch]]
        firehose.put_record_batch(DeliveryStreamName=name, Records=records)


def notifications(stack: Any) -> list[dict[str, Any]]:
    """The archive queue's messages as SQS event records (what the event-source mapping hands over)."""
    sqs = boto3.client("sqs")
    url = stack.resources["AccessLogArchiveQueue"]
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append({"messageId": m["MessageId"], "eventSource": "aws:sqs", "body": m["Body"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def deliver(stack: Any, ctx: Any, lines: list[T.Line], **kw: Any) -> list[dict[str, Any]]:
    put_lines(stack, lines, **kw)
    records = notifications(stack)
    assert records, "the archive bucket notified nothing"
    handler = load_handler("api_log_analyzer")
    return [handler.lambda_handler({"Records": records[i : i + 10]}, ctx) for i in range(0, len(records), 10)]


def violations(account: str) -> list[Any]:
    return bootstrap.ledger().list_violations(account, limit=100).items


def clauses(account: str) -> set[str]:
    return {v.clause for v in violations(account)}


def test_the_stack_has_the_firehose_path_and_not_the_others(firehose_stack: Any) -> None:
    r = firehose_stack.resources
    assert {"AccessLogFirehose", "AccessLogArchiveBucket", "AccessLogArchiveQueue"} <= set(r)
    assert "AccessLogSubscription" not in r and "AccessLogStream" not in r
    assert r["AccessLogFirehose"].startswith("amazon-apigateway-")
    assert firehose_stack.outputs["AccessLogArchiveBucketName"] == r["AccessLogArchiveBucket"]


@pytest.mark.parametrize(
    "make, account", [(T.person_browsing, "alice-studio"), (T.business_integration, "bizcorp")]
)
def test_honest_traffic_yields_nothing(
    firehose_stack: Any, lambda_context: Any, make: Any, account: str
) -> None:
    results = deliver(firehose_stack, lambda_context, make())
    assert all(r == {"batchItemFailures": []} for r in results)
    assert violations(account) == []
    state = bootstrap.ledger().get_account(account)
    assert state is not None and state.status is Status.active


@pytest.mark.parametrize(
    "make, account, expected, suspended, delimited",
    [
        (T.robot, "botfarm", {"D5a"}, True, True),
        (T.scanner, "scanco", {"D1"}, True, False),  # records without a delimiter, as Firehose concatenates
        (T.id_scraper, "scrapeco", {"W5"}, False, True),
        (T.resold_key, "resell-hub", {"G1"}, False, False),
        (T.spoofer, "spoofy", {"W1"}, True, True),
    ],
)
def test_abuse_yields_its_clause(
    firehose_stack: Any,
    lambda_context: Any,
    make: Any,
    account: str,
    expected: set[str],
    suspended: bool,
    delimited: bool,
) -> None:
    deliver(firehose_stack, lambda_context, make(), delimited=delimited)
    assert expected <= clauses(account)
    assert clauses(account) <= expected | {"D1", "W5"}
    state = bootstrap.ledger().get_account(account)
    assert state is not None and (state.status is not Status.active) is suspended


def test_redelivered_notifications_count_once(firehose_stack: Any, lambda_context: Any) -> None:
    put_lines(firehose_stack, T.robot())
    records = notifications(firehose_stack)
    handler = load_handler("api_log_analyzer")
    batches = [{"Records": records[i : i + 10]} for i in range(0, len(records), 10)]
    for b in batches:
        handler.lambda_handler(b, lambda_context)
    hour = (T.T0 // 3_600_000,)
    key = ("botfarm", f"logs:h:{hour[0]}")
    first = bootstrap.ledger().get_counters([key])[key]
    before = len(violations("botfarm"))
    for b in batches:  # SQS is at-least-once: every message again
        handler.lambda_handler(b, lambda_context)
    assert bootstrap.ledger().get_counters([key])[key] == first
    assert len(violations("botfarm")) == before


def test_an_unreadable_object_fails_only_its_message(firehose_stack: Any, lambda_context: Any) -> None:
    put_lines(firehose_stack, T.scanner())
    good = [m for m in notifications(firehose_stack) if "Records" in json.loads(m["body"])]
    body = json.loads(good[0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = "access-logs/missing-object"
    bad = {"messageId": "broken-1", "eventSource": "aws:sqs", "body": json.dumps(body)}
    handler = load_handler("api_log_analyzer")
    out = handler.lambda_handler({"Records": [bad, *good[:9]]}, lambda_context)
    assert out == {"batchItemFailures": [{"itemIdentifier": "broken-1"}]}
    assert "D1" in clauses("scanco")


def test_s3_test_event_is_skipped(firehose_stack: Any, lambda_context: Any) -> None:
    event = {
        "Records": [
            {"messageId": "t", "eventSource": "aws:sqs", "body": json.dumps({"Event": "s3:TestEvent"})}
        ]
    }
    assert load_handler("api_log_analyzer").lambda_handler(event, lambda_context) == {"batchItemFailures": []}


# --- the object's bytes -> lines (no stack needed) -------------------------------------------------


def test_split_lines_gzip_newlines_and_concatenated_objects() -> None:
    a, b, c = (json.dumps({"requestId": str(n), "path": "/x}{y"}) for n in range(3))
    raw = (a + "\n" + b + c + "\n\n").encode()
    assert split_lines(raw) == [a, b, c]
    assert split_lines(gzip.compress(raw)) == [a, b, c]
    # two gzip members back to back (one per delivery buffer flush) read as one stream
    assert split_lines(gzip.compress(a.encode() + b"\n") + gzip.compress(b.encode())) == [a, b]


def test_split_lines_a_forged_boundary_inside_a_string_is_not_a_line() -> None:
    forged = json.dumps({"path": '/a"}{"principalId":"victim'})  # escaped by JSON: stays one line
    assert split_lines((forged + forged).encode()) == [forged, forged]
    assert split_lines(b'{"a":1}{not json') == ['{"a":1}', "{not json"]


def test_marker_depends_on_key_etag_and_part() -> None:
    o = ArchivedObject(bucket="b", key="k", etag="e1", size=1)
    assert o.marker(0) == ArchivedObject(bucket="b", key="k", etag="e1", size=9).marker(0)
    assert len({o.marker(0), o.marker(1), ArchivedObject("b", "k", "e2", 1).marker(0)}) == 3
