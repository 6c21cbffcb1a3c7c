"""At-least-once delivery: every sample in ``events/`` delivered three times leaves the ledger as after one.

Deliveries go through aupctl's in-process runner (``aupctl invoke``'s engine: the deployed function's
environment, warm handler modules, EMF published to the local CloudWatch) against a moto server. The
stack is seeded first so that the samples do real work: the accounts they name exist, the objects
the scanner's samples point at are uploaded (with abusive content), the usage sweep finds metrics far
beyond a plan, and one temporary suspension has ended before the expiry sample's time.

The whole ledger table is compared item by item after delivery 1 and after delivery 3, except the
TTL of applied-once markers and the expiry times of idempotency records.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from tests.reliability.support import (
    SAMPLES_CLOCK,
    diff,
    kinds,
    load_sample,
    record_figures,
    sample_paths,
    snapshot,
)
from tests.unit.uploads import samples as files

pytestmark = [pytest.mark.slow, pytest.mark.server]

SAMPLES = sample_paths()
SWEEP_AT = datetime(2026, 11, 27, 12, 16, tzinfo=UTC)
P = timedelta(minutes=5)


@pytest.fixture(scope="module", autouse=True)
def _clock_on_the_fixed_dates():
    """The clock set to the samples' day (and SWEEP_AT's) for the whole module, the moto server's thread
    included (ticking: moto, botocore and the handlers see time pass): nothing here depends on the
    day the suite runs."""
    with time_machine.travel(SAMPLES_CLOCK, tick=True):
        yield


ACCOUNTS = {  # account -> plan; every account a sample names
    "acme-corp": "free",
    "acme-hog": "free",
    "alice-studio": "standard",
    "scanco": "free",
    "sample-co": "standard",
    "victim-one": "free",
    "victim-two": "free",
    "victim-three": "free",
    "victim-four": "free",
    "sweep-heavy": "free",
    "expired-susp": "free",
}
SCANNER_OBJECTS = {
    "accounts/acme-corp/reports/q3 summary.csv": files.cards_csv(40),
    "loose/report+2026.txt": b"plain text without an owner\n",
}


@pytest.fixture(scope="module")
def seeded(server_stack: Any) -> dict[str, Any]:
    from aup.bootstrap import ledger_on
    from aup.domain.models import AccountState, SuspensionKind, hash_api_key
    from aup.policy import load_default_policy

    s = server_stack
    ledger = ledger_on(s.table, load_default_policy(), s.client("dynamodb"))
    created = SWEEP_AT - timedelta(days=30)
    for account, plan in ACCOUNTS.items():
        key = "demo-key-acme-0000000001" if account == "acme-corp" else f"key-{account}-0000000000"
        ledger.create_account(AccountState(account_id=account, plan=plan), hash_api_key(key), created, "seed")
    # A temporary suspension that ended before the expiry sample's time: the sample lifts it once.
    from aup.usecases import accounts

    accounts.suspend(
        ledger,
        account_id="expired-susp",
        reason="seeded",
        until=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
        now=created,
        actor="seed",
    )
    state = ledger.get_account("expired-susp")
    assert state is not None and state.suspension and state.suspension.kind is SuspensionKind.temporary

    # Uploads the scanner's samples name (their bucket, version and eTag rewritten to these objects).
    s3 = s.client("s3")
    bucket = s.outputs["UploadsBucketName"]
    versions = {}
    for key, body in SCANNER_OBJECTS.items():
        resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
        versions[key] = (resp.get("VersionId"), resp["ETag"].strip('"'))

    # Three periods of requests far beyond the free plan (2 req/s sustained) for the usage sweep.
    cw = s.client("cloudwatch")
    last = SWEEP_AT.replace(minute=10)
    cw.put_metric_data(
        Namespace="AUP/Usage",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": [{"Name": "AccountId", "Value": "sweep-heavy"}],
                "Timestamp": last - P * i + timedelta(seconds=30),
                "Value": 2 * 300 * 10.0,
                "Unit": "Count",
            }
            for i in range(3)
        ],
    )
    return {"bucket": bucket, "versions": versions}


def prepared(path: Path, seeded: dict[str, Any]) -> Any:
    """The sample as delivered on this stack (the scanner's records name the stack's bucket)."""
    event = load_sample(path)
    if path.parent.name != "UploadScannerFunction":
        return event
    event = copy.deepcopy(event)
    for record in event["Records"]:
        body = json.loads(record["body"])
        for rec in body.get("Records", []):
            from urllib.parse import unquote_plus

            rec["s3"]["bucket"]["name"] = seeded["bucket"]
            key = unquote_plus(rec["s3"]["object"]["key"])
            if key in seeded["versions"]:
                version, etag = seeded["versions"][key]
                if version:
                    rec["s3"]["object"]["versionId"] = version
                else:
                    rec["s3"]["object"].pop("versionId", None)
                if "eTag" in rec["s3"]["object"]:
                    rec["s3"]["object"]["eTag"] = etag
        if "Bucket" in body:
            body["Bucket"] = seeded["bucket"]
        record["body"] = json.dumps(body)
    return event


STATE_FIELDS_AN_OPERATOR_REPEAT_MAY_MOVE = {"version", "updated_at", "since"}


def operator_repeats_are_audited_only(a: dict[Any, Any], b: dict[Any, Any]) -> None:
    """The admin API is request/response (API Gateway never redelivers): a repeated operator request is a
    new operator action. It may add audit entries and bump the state's version and timestamps, but it
    never adds a violation, a strike, a review or a counter, and never changes status, plan or flags."""
    for key in set(b) - set(a):
        assert key[1].startswith("AUDIT#"), f"an operator repeat wrote {key}"
        assert "arn:aws:iam::" in json.dumps(b[key]), "an audit entry without the operator's identity"
    assert not set(a) - set(b)
    for key in set(a) & set(b):
        if a[key] == b[key]:
            continue
        assert key[1] == "STATE", f"an operator repeat changed {key}"
        before, after = (json.loads(x[key]["doc"]["S"]) for x in (a, b))
        for doc in (before, after):
            doc.pop("version", None), doc.pop("updated_at", None)
            if doc.get("suspension"):
                doc["suspension"].pop("since", None)
        assert before == after, f"an operator repeat changed the state beyond its version: {key}"


def deliver(server_stack: Any, function: str, event: Any) -> Any:
    """One delivery; an error the platform would retry is part of the outcome, not a test failure."""
    try:
        return server_stack.runner.invoke(function, copy.deepcopy(event)).result
    except Exception as exc:  # the platform redelivers a raised invocation: the same applies
        return f"raised {type(exc).__name__}: {exc}"


@pytest.mark.parametrize("path", SAMPLES, ids=[f"{p.parent.name}/{p.stem}" for p in SAMPLES])
def test_three_deliveries_leave_the_ledger_as_one(server_stack: Any, seeded: dict[str, Any], path: Path):
    ddb, table = server_stack.client("dynamodb"), server_stack.table
    event = prepared(path, seeded)
    before = snapshot(ddb, table)
    first = deliver(server_stack, path.parent.name, event)
    after_one = snapshot(ddb, table)
    later = [deliver(server_stack, path.parent.name, event) for _ in range(2)]
    after_three = snapshot(ddb, table)

    if path.parent.name == "AdminApiFunction":
        operator_repeats_are_audited_only(after_one, after_three)
        changes = []
    else:
        changes = diff(after_one, after_three)
        assert not changes, f"{path.parent.name}/{path.stem} changed the ledger on redelivery: {changes[:20]}"
    if not isinstance(first, str):  # a delivery that succeeded once succeeds again
        assert all(not isinstance(r, str) for r in later), later
    written = diff(before, after_one)
    k = kinds(after_one)
    record_figures(
        "redelivery",
        samples=1,
        deliveries=3,
        items_written_by_first_delivery=len(written),
        items_changed_by_redeliveries=len(changes),
    )
    record_figures(f"redelivery-ledger-{path.parent.name}", writes=len(written))
    if path == SAMPLES[-1]:
        record_figures("redelivery-final", **{f"ledger_{name}": n for name, n in k.items()})


def test_samples_did_real_work(server_stack: Any, seeded: dict[str, Any]) -> None:
    """Runs after the samples (module order): the seeded samples reached the ledger."""
    from aup.bootstrap import ledger_on
    from aup.policy import load_default_policy

    ledger = ledger_on(server_stack.table, load_default_policy(), server_stack.client("dynamodb"))
    rules = {
        a: {v.rule_id for v in ledger.list_violations(a, 100).items}
        for a in ("acme-corp", "scanco", "sweep-heavy")
    }
    assert "W2-bulk-personal-data" in rules["acme-corp"], rules
    assert any(r.startswith("D1") for r in rules["scanco"]), rules
    assert any(r.startswith("D5") for r in rules["sweep-heavy"]), rules
    lifted = ledger.get_account("expired-susp")
    assert lifted is not None and lifted.status.value == "active"
    counts = kinds(snapshot(server_stack.client("dynamodb"), server_stack.table))
    assert counts["violation"] >= 3 and counts["audit"] >= len(ACCOUNTS)
