"""AdminApiFunction under moto: every route of the contract, validation, errors, the actor in the audit."""

from __future__ import annotations

import json

import pytest

from aup import bootstrap
from aup.domain.models import hash_api_key
from tests.conftest import load_handler
from tests.eventlib import OPERATOR_ARN, admin_event


@pytest.fixture
def admin(stack, lambda_context):
    module = load_handler("admin_api")

    def call(method, path, body=None, **kw):
        resp = module.lambda_handler(admin_event(method, path, body, **kw), lambda_context)
        return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None

    return call


def test_create_returns_key_once_and_show_never_does(admin):
    status, body = admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "standard"})
    assert status == 201
    assert body["api_key"].startswith("aup_") and body["status"] == "active" and body["plan"] == "standard"
    status, shown = admin("GET", "/accounts/acme-corp")
    assert status == 200 and "api_key" not in shown
    assert set(shown) >= {
        "account_id",
        "plan",
        "status",
        "suspension",
        "strikes",
        "allowlisted",
        "dry_run",
        "version",
    }
    status, _ = admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "standard"})
    assert status == 409


def test_suspend_reinstate_and_audit_records_the_iam_caller(admin):
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free", "api_key": "k" * 20})
    status, body = admin("POST", "/accounts/acme-corp/suspend", {"reason": "abuse report #12"})
    assert status == 200 and body["status"] == "suspended" and body["suspension"]["kind"] == "indefinite"
    assert body["suspension"]["decided_by"] == OPERATOR_ARN
    key = bootstrap.ledger().get_key(hash_api_key("k" * 20))
    assert key is not None and key.status.value == "suspended"
    status, body = admin("POST", "/accounts/acme-corp/reinstate", {"reason": "appeal granted"})
    assert status == 200 and body["status"] == "active" and body["suspension"] is None
    audit = bootstrap.ledger().list_audit("acme-corp")
    assert [a.action for a in audit] == ["create", "suspend", "reinstate"]
    assert all(a.actor == OPERATOR_ARN for a in audit)


def test_temporary_suspension_with_until(admin):
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    status, body = admin(
        "POST", "/accounts/acme-corp/suspend", {"reason": "cool off", "until": "2099-01-01T00:00:00Z"}
    )
    assert status == 200 and body["suspension"]["kind"] == "temporary"
    status, body = admin(
        "POST", "/accounts/acme-corp/suspend", {"reason": "x", "until": "2001-01-01T00:00:00Z"}
    )
    assert status == 422


def test_allowlist_is_idempotent(admin):
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    status, body = admin("PUT", "/accounts/acme-corp/allowlist", {"allowlisted": True})
    assert status == 200 and body["allowlisted"] is True
    status, again = admin("PUT", "/accounts/acme-corp/allowlist", {"allowlisted": True})
    assert status == 200 and again == body
    assert [a.action for a in bootstrap.ledger().list_audit("acme-corp")] == ["create", "allowlist"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/accounts", {"account_id": "A!", "plan": "free"}),
        ("POST", "/accounts", {"account_id": "acme-corp"}),
        ("POST", "/accounts", {"account_id": "acme-corp", "plan": "platinum"}),
        ("POST", "/accounts", {"account_id": "acme-corp", "plan": "free", "surprise": 1}),
        ("GET", "/accounts/NOT_VALID", None),
        ("POST", "/reviews/abc", {"decision": "maybe", "reason": "x"}),
    ],
)
def test_bad_bodies_and_ids_are_422_with_field_errors(admin, method, path, body):
    status, payload = admin(method, path, body)
    assert status == 422
    assert payload["error"] == "invalid request" and payload["errors"]


def test_malformed_json_body_is_a_clear_error(stack, lambda_context):
    module = load_handler("admin_api")
    resp = module.lambda_handler(admin_event("POST", "/accounts", raw_body="{not json"), lambda_context)
    assert resp["statusCode"] in (400, 422)
    assert "Traceback" not in resp["body"]


def test_unknown_account_and_route_are_404_json(admin):
    assert admin("GET", "/accounts/nobody-here")[0] == 404
    assert admin("GET", "/accounts/nobody-here/violations")[0] == 404
    assert admin("POST", "/accounts/nobody-here/suspend", {"reason": "x"})[0] == 404
    status, body = admin("GET", "/nowhere")
    assert status == 404 and "error" in body


def test_not_a_proxy_event(stack, lambda_context):
    module = load_handler("admin_api")
    resp = module.lambda_handler({"hello": "world"}, lambda_context)
    assert resp["statusCode"] == 400


@pytest.mark.time_machine("2026-11-02T00:00:00Z", tick=True)  # the day after the findings below
def test_violations_paginated_newest_first(admin):
    from datetime import UTC, datetime, timedelta

    from aup.domain.models import Finding, Source

    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    base = datetime(2026, 11, 1, tzinfo=UTC)
    findings = [
        Finding(
            rule_id="D1-error-burst",
            clause="D1",
            account_id="acme-corp",
            source=Source.log,
            source_event_id=f"e{i}",
            detected_at=base + timedelta(hours=i),
            confidence=0.95,
        )
        for i in range(5)
    ]
    bootstrap.ledger().apply_findings(findings, base + timedelta(days=1))
    status, page = admin("GET", "/accounts/acme-corp/violations", query={"limit": "2"})
    assert status == 200 and len(page["items"]) == 2 and page["next_token"]
    first = page["items"][0]
    assert set(first) >= {
        "violation_id",
        "rule_id",
        "clause",
        "severity",
        "confidence",
        "source",
        "detected_at",
        "evidence",
        "decision",
    }
    assert first["detected_at"] > page["items"][1]["detected_at"]
    status, rest = admin(
        "GET", "/accounts/acme-corp/violations", query={"limit": "10", "next_token": page["next_token"]}
    )
    assert status == 200 and len(rest["items"]) == 3
    status, _ = admin("GET", "/accounts/acme-corp/violations", query={"next_token": "garbage"})
    assert status == 422


def test_reviews_confirm_applies_the_ladder_and_dismiss_does_not(admin):
    from datetime import UTC, datetime

    from aup.domain.models import Finding, Source

    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    now = datetime.now(UTC)
    low = Finding(
        rule_id="D1-scanner-agent",
        clause="D1",
        account_id="acme-corp",
        source=Source.log,
        source_event_id="low-confidence",
        detected_at=now,
        confidence=0.3,
    )
    other = low.model_copy(update={"source_event_id": "another", "rule_id": "D1-error-burst"})
    bootstrap.ledger().apply_findings([low, other], now)
    status, page = admin("GET", "/reviews")
    assert status == 200 and len(page["items"]) == 2
    assert admin("GET", "/accounts/acme-corp")[1]["status"] == "active"
    status, review = admin(
        "POST", f"/reviews/{low.violation_id}", {"decision": "confirm", "reason": "checked logs"}
    )
    assert status == 200 and review["status"] == "confirmed" and review["decided_by"] == OPERATOR_ARN
    assert admin("GET", "/accounts/acme-corp")[1]["status"] == "suspended"
    status, review = admin(
        "POST", f"/reviews/{other.violation_id}", {"decision": "dismiss", "reason": "noise"}
    )
    assert status == 200 and review["status"] == "dismissed"
    assert (
        admin("POST", f"/reviews/{other.violation_id}", {"decision": "dismiss", "reason": "again"})[0] == 409
    )
    assert admin("POST", "/reviews/nope", {"decision": "dismiss", "reason": "x"})[0] == 404
    assert admin("GET", "/reviews")[1]["items"] == []


def test_list_accounts_and_openapi(admin):
    for name in ("acme-corp", "beta-labs", "gamma-inc"):
        admin("POST", "/accounts", {"account_id": name, "plan": "free"})
    status, page = admin("GET", "/accounts", query={"limit": "2"})
    assert status == 200 and len(page["items"]) == 2 and page["next_token"]
    status, doc = admin("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "/accounts/{account_id}/suspend" in doc["paths"]


@pytest.mark.parametrize(
    "raw_body",
    [
        '{"reason": "x", "until": "2099-01-01T00:00:00"}',  # no time zone: whose midnight?
        '{"reason": ' + "[" * 1000 + "]" * 1000 + "}",  # nested: the parser used to hit RecursionError
        '{"reason": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"reason": "x", "until": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    ],
    ids=["naive-until", "nested-1000", "nested-100000", "nested-until"],
)
def test_naive_until_and_deeply_nested_bodies_are_422(admin, raw_body):
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    status, payload = admin("POST", "/accounts/acme-corp/suspend", raw_body=raw_body)
    assert status == 422 and payload["error"] == "invalid request" and payload["errors"]
    assert admin("GET", "/accounts/acme-corp")[1]["status"] == "active"


def test_openapi_is_generated_by_the_resolver_and_swagger_serves_it(admin):
    status, doc = admin("GET", "/openapi.json")
    assert status == 200 and doc["info"]["title"] == "aup-enforcer admin API"
    suspend = doc["paths"]["/accounts/{account_id}/suspend"]["post"]
    assert "422" in suspend["responses"]
    assert "/openapi.json" not in doc["paths"]  # the document does not describe itself
    status, same = admin("GET", "/swagger", query={"format": "json"})
    assert status == 200 and same["paths"] == doc["paths"]


def test_swagger_ui_page(stack, lambda_context):
    module = load_handler("admin_api")
    resp = module.lambda_handler(admin_event("GET", "/swagger"), lambda_context)
    assert resp["statusCode"] == 200
    headers = {k.lower(): v for k, v in (resp.get("multiValueHeaders") or {}).items()}
    assert "text/html" in str(headers.get("content-type")) and "swagger" in resp["body"].lower()
