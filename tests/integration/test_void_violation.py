"""Voiding a wrongful violation through the admin API: the strike goes, the suspension it caused is
lifted, it stops counting toward the doubling, and the audit says who and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aup import bootstrap
from aup.domain.models import Finding, Source
from tests.conftest import load_handler
from tests.eventlib import OPERATOR_ARN, admin_event


@pytest.fixture
def admin(stack, lambda_context):
    module = load_handler("admin_api")

    def call(method, path, body=None, **kw):
        resp = module.lambda_handler(admin_event(method, path, body, **kw), lambda_context)
        return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None

    return call


def scanner_finding(event: str, at: datetime) -> Finding:
    """A signature finding (a scanner's own user agent): it suspends on its own."""
    return Finding(
        rule_id="D1-scanner-agent",
        clause="D1",
        account_id="acme-corp",
        source=Source.log,
        source_event_id=event,
        detected_at=at,
        confidence=0.99,
    )


def test_voiding_the_violation_behind_a_suspension_lifts_it_and_resets_the_ladder(admin):
    # Times are built from the present: the admin API reads the clock as it does in production.
    now = datetime.now(UTC).replace(microsecond=0)
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    bootstrap.ledger().apply_findings([scanner_finding("wrong", now - timedelta(minutes=5))], now)
    status, body = admin("GET", "/accounts/acme-corp")
    assert body["status"] == "suspended"
    _, page = admin("GET", "/accounts/acme-corp/violations")
    vid = page["items"][0]["violation_id"]
    assert page["items"][0]["voided"] is False

    status, body = admin(
        "POST", f"/accounts/acme-corp/violations/{vid}/void", {"reason": "the customer's own pentest"}
    )
    assert status == 200 and body["status"] == "active" and body["strikes"] == 0
    _, page = admin("GET", "/accounts/acme-corp/violations")
    assert page["items"][0]["voided"] is True
    voids = [a for a in bootstrap.ledger().list_audit("acme-corp") if a.action == "void"]
    assert [(a.violation_id, a.actor, a.reason) for a in voids] == [
        (vid, OPERATOR_ARN, "the customer's own pentest")
    ]
    state = bootstrap.ledger().get_account("acme-corp")
    assert state is not None and state.temporary_suspensions == 0

    # Voiding again changes nothing; the next real breach starts the ladder at 24 h again.
    status, again = admin("POST", f"/accounts/acme-corp/violations/{vid}/void", {"reason": "twice"})
    assert status == 200 and again["version"] == body["version"]
    later = now + timedelta(seconds=1)
    bootstrap.ledger().apply_findings([scanner_finding("real", later)], later)
    _, body = admin("GET", "/accounts/acme-corp")
    until = datetime.fromisoformat(body["suspension"]["until"].replace("Z", "+00:00"))
    assert until - later == timedelta(hours=24)


def test_void_needs_a_reason_and_a_violation_of_that_account(admin):
    admin("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"})
    status, _ = admin("POST", "/accounts/acme-corp/violations/" + "0" * 32 + "/void", {"reason": "x"})
    assert status == 404
    status, _ = admin("POST", "/accounts/acme-corp/violations/" + "0" * 32 + "/void", {})
    assert status == 422
    status, _ = admin("POST", "/accounts/acme-corp/violations/not-a-violation-id/void", {"reason": "x"})
    assert status == 422
