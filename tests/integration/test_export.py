"""The evidence export, the audit trail and the violation filters of the admin API (moto, the template
deployed), and ``aupctl accounts export --verify``.

The bundle's data are planted through the real detectors (as tests/reliability/test_security.py
does): card numbers, SSNs, e-mail addresses and API keys in uploads and request paths, and a
known-illegal image; no raw value nor key-shaped string may reach the bundle.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aup.usecases import export
from tests.conftest import load_handler
from tests.eventlib import OPERATOR_ARN, admin_event
from tests.reliability.support import SAMPLES_CLOCK
from tests.reliability.test_security import (
    API_KEYS,
    CARDS,
    EMAILS,
    RAW,
    SSNS,
    access_line,
    subscription,
    upload_event,
)
from tests.unit.uploads import samples as files

ACCOUNT = "leaky-co"
ACCOUNT_KEY = "key-leaky-co-0000000000"
ILLEGAL = b"\x89PNG\r\n\x1a\n" + b"synthetic known-illegal sample" * 10
KEY_SHAPED = re.compile(r"sk_live_[0-9a-z]{8,}|AKIA[0-9A-Z]{16}|aup_[A-Za-z0-9_-]{30,}|key-leaky-co-\d+")


@pytest.fixture
def admin(stack: Any, lambda_context: Any):
    module = load_handler("admin_api")

    def call(method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        resp = module.lambda_handler(admin_event(method, path, body, **kw), lambda_context)
        return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None

    return call


@pytest.fixture
def planted(stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An account with violations from uploads (personal data, keys, a known-illegal image) and logs."""
    import boto3

    from aup import bootstrap
    from aup.adapters.aws import client
    from aup.policy.loader import default_policy_text

    s3 = client("s3")
    ops = "aup-ops-data"
    s3.create_bucket(Bucket=ops)
    s3.put_object(Bucket=ops, Key="lists/illegal.txt", Body=f"{hashlib.sha256(ILLEGAL).hexdigest()}\n")
    text = default_policy_text().replace(
        "known_illegal:   {rule_id: W4-known-illegal-hash, uri: null}",
        f"known_illegal:   {{rule_id: W4-known-illegal-hash, uri: 's3://{ops}/lists/illegal.txt'}}",
    )
    assert "lists/illegal.txt" in text
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()

    admin_api = load_handler("admin_api")
    created = admin_api.lambda_handler(
        admin_event("POST", "/accounts", {"account_id": ACCOUNT, "plan": "free", "api_key": ACCOUNT_KEY}),
        lambda_context,
    )
    assert created["statusCode"] == 201

    bucket = stack.outputs["UploadsBucketName"]
    uploads = {
        f"accounts/{ACCOUNT}/exports/cards.csv": files.cards_csv(12),
        f"accounts/{ACCOUNT}/hr/staff.csv": files.ssn_csv(8),
        f"accounts/{ACCOUNT}/conf/settings.env": f"STRIPE={API_KEYS[0]}\nAWS_KEY={API_KEYS[1]}\n".encode(),
        f"accounts/{ACCOUNT}/img/pic.png": ILLEGAL,
    }
    scanner = load_handler("upload_scanner")
    for key, body in uploads.items():
        version = s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")
        result = scanner.lambda_handler(upload_event(bucket, key, version), lambda_context)
        assert result == {"batchItemFailures": []}
    lines = [
        access_line(i, f"/v1/users/{EMAILS[i % 30]}?card={CARDS[i % 12]}&ssn={SSNS[i % 8]}")
        for i in range(60)
    ]
    lines += [access_line(100 + i, f"/.env?key={API_KEYS[i % 2]}", ua="sqlmap/1.8") for i in range(40)]
    assert load_handler("api_log_analyzer").lambda_handler(subscription(lines), lambda_context)["findings"]
    return {"bucket": bucket, "quarantine": stack.outputs["QuarantineBucketName"]}


@pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)  # the planted log lines and uploads are of that day
def test_export_bundle_holds_every_part_verifies_and_leaks_nothing(admin, planted) -> None:
    status, bundle = admin("GET", f"/accounts/{ACCOUNT}/export")
    assert status == 200
    assert export.verify(bundle) == []
    manifest = bundle["manifest"]
    assert manifest["generated_by"] == OPERATOR_ARN and manifest["account_id"] == ACCOUNT
    assert manifest["generated_at"].startswith("2026-11-27")
    assert [p["name"] for p in manifest["parts"]] == list(export.PARTS)
    recorded = {p["name"]: p["sha256"] for p in manifest["parts"]}
    assert (
        manifest["bundle_sha256"] == hashlib.sha256("\n".join(sorted(recorded.values())).encode()).hexdigest()
    )

    assert bundle["account"]["account_id"] == ACCOUNT and "key_hashes" not in bundle["account"]
    rules = {v["rule_id"] for v in bundle["violations"]}
    assert "W4-known-illegal-hash" in rules and len(rules) >= 3, rules
    assert {v["source"] for v in bundle["violations"]} == {"s3", "log"}
    assert any(a["actor"] == OPERATOR_ARN and a["action"] == "create" for a in bundle["audit"])
    assert any(a["to_status"] == "suspended" for a in bundle["audit"])

    (report,) = bundle["mandatory_reports"]
    sha = hashlib.sha256(ILLEGAL).hexdigest()
    assert report["sha256"] == [sha] and report["account_id"] == [ACCOUNT]
    quarantined = {q["rule_id"]: q for q in bundle["quarantined_objects"]}
    illegal = quarantined["W4-known-illegal-hash"]
    assert (
        illegal["sha256"] == sha
        and illegal["object"] == f"s3://{planted['bucket']}/accounts/{ACCOUNT}/img/pic.png"
    )
    assert (
        illegal["quarantine"]
        == f"s3://{planted['quarantine']}/{planted['bucket']}/accounts/{ACCOUNT}/img/pic.png"
    )

    text = json.dumps(bundle)
    assert not [raw for raw in RAW if raw in text or raw.lower() in text.lower()]
    assert ACCOUNT_KEY not in text and not KEY_SHAPED.findall(text)


@pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)
def test_a_changed_part_or_bundle_hash_fails_verification(admin, planted) -> None:
    _, bundle = admin("GET", f"/accounts/{ACCOUNT}/export")
    changed = copy.deepcopy(bundle)
    changed["violations"][0]["decision"] = "warn" if changed["violations"][0]["decision"] != "warn" else "x"
    assert [p.split(":")[0] for p in export.verify(changed)] == ["violations"]
    dropped = copy.deepcopy(bundle)
    dropped["audit"].pop()
    assert [p.split(":")[0] for p in export.verify(dropped)] == ["audit"]
    forged = copy.deepcopy(bundle)
    forged["manifest"]["bundle_sha256"] = "0" * 64
    assert [p.split(":")[0] for p in export.verify(forged)] == ["bundle_sha256"]
    extra = copy.deepcopy(bundle)
    extra["notes"] = "added later"
    assert export.verify(extra) == ["notes: in the bundle, not in the manifest"]


@pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)
def test_violations_filter_by_rule_clause_and_decision(admin, planted) -> None:
    _, everything = admin("GET", f"/accounts/{ACCOUNT}/violations", query={"limit": "200"})
    items = everything["items"]
    assert len({v["rule_id"] for v in items}) >= 3
    for field, param in (("rule_id", "rule"), ("clause", "clause"), ("decision", "decision")):
        value = items[-1][field]
        status, page = admin("GET", f"/accounts/{ACCOUNT}/violations", query={param: value, "limit": "200"})
        assert status == 200
        expected = [v["violation_id"] for v in items if v[field] == value]
        assert [v["violation_id"] for v in page["items"]] == expected and page["next_token"] is None
    # A one-item page at a time still finds every match, in order, across the unfiltered pages.
    rule = items[0]["rule_id"]
    seen, token = [], None
    for _ in range(len(items) + 1):
        query = {"rule": rule, "limit": "1", **({"next_token": token} if token else {})}
        _, page = admin("GET", f"/accounts/{ACCOUNT}/violations", query=query)
        seen += [v["violation_id"] for v in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == [v["violation_id"] for v in items if v["rule_id"] == rule]
    _, none = admin("GET", f"/accounts/{ACCOUNT}/violations", query={"rule": "no-such-rule"})
    assert none == {"items": [], "next_token": None}


def test_audit_trail_says_who_when_why_from_to(admin) -> None:
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    admin("POST", "/accounts/acme-corp/suspend", {"reason": "abuse report #12"})
    admin("POST", "/accounts/acme-corp/reinstate", {"reason": "appeal granted"})
    status, body = admin("GET", "/accounts/acme-corp/audit")
    assert status == 200
    trail = [(a["action"], a["from_status"], a["to_status"], a["reason"]) for a in body["items"]]
    assert trail == [
        ("create", None, "active", "registered on plan free"),
        ("suspend", "active", "suspended", "abuse report #12"),
        ("reinstate", "suspended", "active", "appeal granted"),
    ]
    assert all(a["actor"] == OPERATOR_ARN and a["at"] for a in body["items"])
    for route in ("audit", "export"):
        status, body = admin("GET", f"/accounts/nobody/{route}")
        assert status == 404 and "nobody" in body["error"]
    status, _ = admin("GET", "/accounts/bad id!/export")
    assert status == 422


def test_openapi_document_lists_the_new_routes(admin) -> None:
    status, doc = admin("GET", "/openapi.json")
    assert status == 200
    paths = doc["paths"]
    assert {"/accounts/{account_id}/audit", "/accounts/{account_id}/export"} <= set(paths)
    names = {p["name"] for p in paths["/accounts/{account_id}/violations"]["get"]["parameters"]}
    assert {"rule", "clause", "decision"} <= names


def test_aupctl_export_verify_exits_1_on_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aupctl.cli import main

    parts = {"account": {"account_id": "a"}, "violations": [{"violation_id": "v1"}], "audit": []}
    hashes = {name: export.part_hash(value) for name, value in parts.items()}
    manifest = {
        "parts": [{"name": n, "sha256": h} for n, h in hashes.items()],
        "bundle_sha256": export.bundle_hash(list(hashes.values())),
    }
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"manifest": manifest, **parts}))
    assert main(["accounts", "export", "--verify", str(good)]) == 0
    assert manifest["bundle_sha256"] in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"manifest": manifest, **parts, "violations": [{"violation_id": "v2"}]}))
    assert main(["accounts", "export", "--verify", str(bad)]) == 1
    assert "violations: SHA-256" in capsys.readouterr().err
    assert main(["accounts", "export"]) == 2  # neither an ID nor --verify


def test_aupctl_admin_client_routes_audit_and_export_through_the_template(admin, lambda_context) -> None:
    """The local commands build their events from the template's routes: the new ones are there."""
    from types import SimpleNamespace

    from aupctl.admin import AdminClient
    from aupctl.stack import TEMPLATE, load_template

    module = load_handler("admin_api")
    events: list[dict[str, Any]] = []

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        events.append(event)
        return SimpleNamespace(result=module.lambda_handler(event, lambda_context))

    local = SimpleNamespace(template=load_template(TEMPLATE), resources={"AdminApi": "adminapi12"})
    client = AdminClient(SimpleNamespace(local=local, invoke=invoke))  # type: ignore[arg-type]
    assert client.create_account("acme-corp", "free").status == 201
    audit = client.audit("acme-corp")
    assert audit.ok and [a["action"] for a in audit.body["items"]] == ["create"]
    bundle = client.export("acme-corp")
    assert bundle.ok and export.verify(bundle.body) == []
    assert bundle.body["manifest"]["generated_by"] == client.user_arn
    assert [e["resource"] for e in events[1:]] == ["/accounts/{id}/audit", "/accounts/{id}/export"]
