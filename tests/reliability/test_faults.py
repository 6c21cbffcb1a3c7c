"""Faults: throttling, conflicts, missing or forbidden objects, an unreadable policy.

Each fault is answered instead of AWS at botocore's ``before-send`` hook (``support.inject``), so the
functions' own botocore retry policy runs as on AWS. The property, for every fault: the function
retries and succeeds, or it fails the record (batch item failure / raised error for async) with
nothing half-applied, and a redelivery once the fault has cleared ends exactly where a clean delivery
ends. The authorizer's behaviour when the ledger is unreachable (fail closed by default, template
parameter ``AuthorizerFailMode``) is tested in ``tests/integration/test_authorizer.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import load_handler
from tests.reliability.support import (
    EVENTS,
    SAMPLES_CLOCK,
    Fault,
    inject,
    load_sample,
    record_figures,
    scan,
    snapshot,
)
from tests.unit.uploads import samples as files

NOW = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)  # the usage sweep's time; accounts are created then
# The samples' day on the clock (ticking: moto and the handlers see time pass): judged as on that day.
pytestmark = pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)
P = timedelta(minutes=5)


@pytest.fixture
def env(stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from aup import bootstrap
    from aup.domain.models import AccountState, hash_api_key

    for account, plan in (("scanco", "free"), ("acme-corp", "free"), ("sweep-heavy", "free")):
        bootstrap.ledger().create_account(
            AccountState(account_id=account, plan=plan), hash_api_key(f"key-{account}-000000"), NOW, "seed"
        )
    return stack


def few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attempts instead of five (persistent faults would otherwise cost seconds of backoff each)."""
    from botocore.config import Config

    from aup import bootstrap
    from aup.adapters import aws

    monkeypatch.setattr(aws, "_CONFIG", Config(retries={"max_attempts": 2, "mode": "standard"}))
    bootstrap.reset()


def aws_client(service: str) -> Any:
    from aup.adapters.aws import client

    return client(service)


def canonical(snap: dict[tuple[str, str], dict[str, Any]]) -> dict[Any, Any]:
    """What must be equal between a clean delivery and a faulty one redelivered: violations, counters,
    account states (status, strikes, suspension rule), numbers of audit entries and markers. Timestamps
    of the wall clock (audit keys, updated_at) are left out: the two runs happen at different times."""
    out: dict[Any, Any] = {}
    for (pk, sk), item in snap.items():
        if sk.startswith("AUDIT#"):
            out[(pk, "AUDIT")] = out.get((pk, "AUDIT"), 0) + 1
        elif pk.startswith(("MARK#", "IDEMPOTENCY#")):
            out[pk.split("#")[0]] = out.get(pk.split("#")[0], 0) + 1
        elif sk == "STATE":
            doc = json.loads(item["doc"]["S"])
            out[(pk, sk)] = (
                doc["status"],
                len(doc.get("strikes") or []),
                (doc.get("suspension") or {}).get("rule_id"),
            )
        elif sk.startswith("VIOLATION#"):
            out[(pk, sk)] = (item["rule_id"]["S"], item["decision"]["S"])
        elif sk.startswith("COUNTER#"):
            out[(pk, sk)] = {k: v for k, v in item.items() if k != "expires_at"}
        elif not pk.startswith(("KEY#", "REVIEW#")):
            out[(pk, sk)] = "present"
    return out


def wipe_activity(ddb: Any, table: str) -> None:
    """Delete everything the deliveries wrote (keep accounts and keys) and reset the states' history.
    The warm analyzer's memory of the set items it wrote goes with them (it would skip rewriting them)."""
    from aup import bootstrap
    from aup.adapters.dynamodb.codecs import state_item
    from aup.domain.models import AccountState
    from aup.usecases.analyze_logs import remembered

    for item in scan(ddb, table):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if sk == "STATE" or pk.startswith("KEY#") or item.get("actor", {}).get("S") == "seed":
            continue
        ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    ledger = bootstrap.ledger()
    remembered(ledger).forget()
    for account in ("scanco", "acme-corp", "sweep-heavy"):
        state = ledger.get_account(account)
        assert state is not None
        fresh = AccountState(
            account_id=account, plan=state.plan, version=state.version, created_at=state.created_at
        )
        fresh.key_hashes = state.key_hashes
        ddb.put_item(TableName=table, Item=state_item(fresh))


def clean_then_faulty(run: Any, faults: list[Fault], ddb: Any, table: str) -> tuple[Any, Any, Any]:
    """(clean outcome, faulty outcome, redelivered outcome), asserting the ledger ends equal."""
    clean = run()
    reference = canonical(snapshot(ddb, table))
    wipe_activity(ddb, table)
    before = snapshot(ddb, table)
    with inject(aws_client(faults[0].service), *faults):
        faulty = run()
    assert any(f.injected for f in faults), "the fault never fired: the test proves nothing"
    record_figures("faults", injected=sum(f.injected for f in faults), scenarios=1)
    half = snapshot(ddb, table)
    redelivered = run()
    assert canonical(snapshot(ddb, table)) == reference, "the redelivery did not end where a clean run ends"
    return clean, faulty, (before, half, redelivered)


def record_failed(result: Any) -> bool:
    """The only record of the batch reported failed: as a batch item failure, or (every record of the
    batch failed) powertools' BatchProcessingError, after which the platform redelivers the batch."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    return isinstance(result, BatchProcessingError) or result == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }


def outcome(handler: Any, event: Any, context: Any) -> Any:
    try:
        return handler(json.loads(json.dumps(event)), context)
    except Exception as exc:
        return exc


# ------------------------------------------------------------------------------------ DynamoDB


def analyzer_run(context: Any) -> Any:
    module = load_handler("api_log_analyzer")
    event = load_sample(EVENTS / "ApiLogAnalyzerFunction" / "subscription-scanner.json")
    return lambda: outcome(module.lambda_handler, event, context)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_ledger_write_is_retried_and_succeeds(env: Any, lambda_context: Any, code: str):
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    run = analyzer_run(lambda_context)
    fault = Fault("dynamodb", "TransactWriteItems", code, times=1)
    clean, faulty, _ = clean_then_faulty(run, [fault], ddb, table)
    assert isinstance(clean, dict) and clean["findings"] > 0
    assert isinstance(faulty, dict) and faulty["findings"] == clean["findings"], faulty
    assert fault.injected == 1 and fault.passed >= 1  # botocore retried it


def test_persistent_throttling_fails_the_invocation_and_the_redelivery_completes(
    env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
):
    few_retries(monkeypatch)
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    run = analyzer_run(lambda_context)
    fault = Fault("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", times=None)
    _, faulty, (before, half, redelivered) = clean_then_faulty(run, [fault], ddb, table)
    assert isinstance(faulty, Exception), "the async invocation must fail so that Lambda retries it"
    # Nothing half-applied: no violation, no state change; only counters that are applied once per marker.
    written = {k for k in half if k not in before}
    assert all(sk.startswith("COUNTER#") or pk.startswith("MARK#") for pk, sk in written), written
    assert all(half[k] == before[k] for k in before if k[1] == "STATE")
    assert isinstance(redelivered, dict) and redelivered["findings"] > 0


def test_a_real_version_conflict_is_reloaded_and_both_changes_land(env: Any, lambda_context: Any):
    """An operator suspends the account between the analyzer's read and its write: the analyzer's
    transaction fails its version condition, reloads, and applies on top; the audit shows both."""
    import boto3

    from aup.bootstrap import ledger_on
    from aup.policy import load_default_policy
    from aup.usecases import accounts

    table = env.outputs["LedgerTableName"]
    ddb = aws_client("dynamodb")
    operator = ledger_on(table, load_default_policy(), boto3.client("dynamodb"))
    fired: list[str] = []

    def conflict(**_: Any) -> None:
        if not fired:
            fired.append("x")
            accounts.suspend(
                operator, account_id="scanco", reason="ops", until=None, now=NOW, actor="operator-1"
            )

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", conflict)
    try:
        result = analyzer_run(lambda_context)()
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", conflict)
    assert isinstance(result, dict) and result["findings"] > 0 and fired
    state = operator.get_account("scanco")
    assert state is not None and state.status.value == "suspended"
    assert state.suspension is not None and state.suspension.rule_id == "E1-operator"  # indefinite wins
    audit = operator.list_audit("scanco")
    assert [a.actor for a in audit].count("operator-1") == 1
    # Each transaction has its own version: the operator's change and the analyzer's reloaded one never
    # share one (a batch may audit several findings, a strike and a suspension, under one version).
    operator_versions = {a.version for a in audit if a.actor == "operator-1"}
    assert operator_versions.isdisjoint(a.version for a in audit if a.actor != "operator-1")
    assert operator.list_violations("scanco", 100).items
    record_figures("faults", injected=1, scenarios=1)


# ------------------------------------------------------------------------------------ S3 (scanner)


def scanner_event(bucket: str, key: str, version: str | None) -> dict[str, Any]:
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key), "size": 100, "sequencer": "01"}
    if version:
        obj["versionId"] = version
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-27T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": obj},
            }
        ]
    }
    return {
        "Records": [
            {
                "messageId": "m-0",
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "awsRegion": "us-east-1",
            }
        ]
    }


def put_upload(stack: Any, key: str, body: bytes) -> tuple[str, str | None]:
    bucket = stack.outputs["UploadsBucketName"]
    resp = aws_client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return bucket, resp.get("VersionId")


def test_no_such_key_is_skipped_not_failed_and_writes_nothing(env: Any, lambda_context: Any):
    bucket = env.outputs["UploadsBucketName"]
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    before = snapshot(ddb, table)
    event = scanner_event(bucket, "accounts/acme-corp/deleted-before-scan.csv", None)
    resp = load_handler("upload_scanner").lambda_handler(event, lambda_context)
    assert resp == {"batchItemFailures": []}
    assert snapshot(ddb, table) == before
    record_figures("faults", injected=1, scenarios=1)


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("HeadObject", "AccessDenied", 403),
        ("GetObject", "AccessDenied", 403),
        ("GetObject", "NoSuchKey", 404),  # gone between the head and the read
        ("PutObjectTagging", "AccessDenied", 403),
    ],
)
def test_scanner_faults_fail_the_record_or_skip_it_and_redelivery_completes(
    env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, operation: str, code: str, status: int
):
    few_retries(monkeypatch)
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    key = "accounts/acme-corp/exports/customers.csv"
    bucket, version = put_upload(env, key, files.cards_csv(40))
    event = scanner_event(bucket, key, version)
    module = load_handler("upload_scanner")

    def run() -> Any:
        return outcome(module.lambda_handler, event, lambda_context)

    def untag() -> None:
        aws_client("s3").delete_object_tagging(Bucket=bucket, Key=key)

    clean = run()
    assert clean == {"batchItemFailures": []}
    reference = canonical(snapshot(ddb, table))
    wipe_activity(ddb, table)
    untag()
    before = snapshot(ddb, table)
    fault = Fault("s3", operation, code, status=status, times=None)
    with inject(aws_client("s3"), fault):
        faulty = run()
    assert fault.injected
    record_figures("faults", injected=fault.injected, scenarios=1)
    half = snapshot(ddb, table)
    if code == "NoSuchKey":  # the object is gone: nothing to scan, nothing to retry, nothing written
        assert faulty == {"batchItemFailures": []} and half == before
        return
    assert record_failed(faulty), faulty
    if operation != "PutObjectTagging":
        assert half == before, "a failed read wrote to the ledger"
    redelivered = run()
    assert redelivered == {"batchItemFailures": []}
    assert canonical(snapshot(ddb, table)) == reference
    tags = {
        t["Key"]: t["Value"] for t in aws_client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    }
    assert tags["aup-verdict"] == "violation"


# ------------------------------------------------------------------------------------ CloudWatch (usage)


def usage_run(context: Any) -> Any:
    cw = aws_client("cloudwatch")
    last = NOW.replace(minute=10)
    cw.put_metric_data(
        Namespace="AUP/Usage",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": [{"Name": "AccountId", "Value": "sweep-heavy"}],
                "Timestamp": last - P * i + timedelta(seconds=30),
                "Value": 6000.0,
                "Unit": "Count",
            }
            for i in range(3)
        ],
    )
    module = load_handler("usage_monitor")
    event = load_sample(EVENTS / "UsageMonitorFunction" / "scheduled.json")
    return lambda: outcome(module.lambda_handler, event, context)


def test_cloudwatch_throttling_is_retried(env: Any, lambda_context: Any):
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    fault = Fault("cloudwatch", "GetMetricData", "Throttling", times=1)
    clean, faulty, _ = clean_then_faulty(usage_run(lambda_context), [fault], ddb, table)
    assert isinstance(clean, dict) and clean["findings"] > 0, clean
    assert isinstance(faulty, dict) and faulty["findings"] == clean["findings"]


def test_persistent_cloudwatch_throttling_fails_the_sweep_before_any_write(
    env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
):
    few_retries(monkeypatch)
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    fault = Fault("cloudwatch", "GetMetricData", "Throttling", times=None)
    _, faulty, (before, half, redelivered) = clean_then_faulty(usage_run(lambda_context), [fault], ddb, table)
    assert isinstance(faulty, Exception), "the scheduled invocation must fail (retries, then its DLQ)"
    assert half == before
    assert isinstance(redelivered, dict) and redelivered["findings"] > 0


# ------------------------------------------------------------------------------------ SSM (cold start)


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException", "ParameterNotFound"])
@pytest.mark.parametrize("function", ["api_log_analyzer", "upload_scanner", "usage_monitor"])
def test_unreadable_policy_parameter_fails_the_cold_start_loudly(
    env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, function: str, code: str
):
    from aup import bootstrap
    from aup.policy import PolicyError

    few_retries(monkeypatch)
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    ddb, table = aws_client("dynamodb"), env.outputs["LedgerTableName"]
    before = snapshot(ddb, table)
    events = {
        "api_log_analyzer": EVENTS / "ApiLogAnalyzerFunction" / "subscription-scanner.json",
        "upload_scanner": EVENTS / "UploadScannerFunction" / "object-created.json",
        "usage_monitor": EVENTS / "UsageMonitorFunction" / "scheduled.json",
    }
    fault = Fault("ssm", "GetParameter", code, times=None)
    with inject(aws_client("ssm"), fault):
        module = load_handler(function)
        with pytest.raises(PolicyError, match="/aup/policy"):
            module.lambda_handler(load_sample(events[function]), lambda_context)
    assert fault.injected
    assert snapshot(ddb, table) == before
    record_figures("faults", injected=fault.injected, scenarios=1)


# ------------------------------------------------------------------------------------ SNS (notifier)


def test_notifier_publish_failure_fails_the_record_and_publishes_once_after(
    env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
):
    few_retries(monkeypatch)
    sqs, sns = aws_client("sqs"), aws_client("sns")
    queue = sqs.create_queue(QueueName="notifications-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=env.outputs["NotificationsTopicArn"], Protocol="sqs", Endpoint=arn)
    module = load_handler("notifier")
    event = load_sample(EVENTS / "NotifierFunction" / "suspension-and-violation.json")
    fault = Fault("sns", "Publish", "Throttling", times=None)
    with inject(sns, fault):
        failed = outcome(module.lambda_handler, event, lambda_context)
    assert record_failed(failed) or failed.get("batchItemFailures"), "an unpublished record must be retried"
    for _ in range(2):  # the retry, and one more redelivery
        assert module.lambda_handler(json.loads(json.dumps(event)), lambda_context) == {
            "batchItemFailures": []
        }
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    published = [json.loads(json.loads(m["Body"])["Message"])["detail-type"] for m in messages]
    assert published and len(published) == len(set(published)), published  # each change exactly once
    record_figures("faults", injected=fault.injected, scenarios=1)
