"""AuthorizerFunction under moto: allow, deny suspended and unknown keys, expiry, source blocks, fail modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aup import bootstrap
from aup.domain.models import AccountState, Finding, Source, hash_api_key, hash_source
from tests.conftest import load_handler
from tests.eventlib import authorizer_event

KEY = "live-key-acme-0123456789"


@pytest.fixture
def authz(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("AUTHORIZER_CACHE_SECONDS", "0")  # every call reads the ledger
    bootstrap.reset()
    bootstrap.ledger().create_account(
        AccountState(account_id="acme-corp", plan="business"), hash_api_key(KEY), datetime.now(UTC), "test"
    )
    module = load_handler("authorizer")

    def call(event):
        return module.lambda_handler(event, lambda_context)

    return call


def effect(resp) -> str:
    (statement,) = resp["policyDocument"]["Statement"]
    return statement["Effect"]


def test_allows_an_active_account_for_the_whole_stage(authz):
    resp = authz(authorizer_event(KEY, forwarded_for="198.51.100.4", claimed_account="acme-corp"))
    assert effect(resp) == "Allow" and resp["principalId"] == "acme-corp"
    (statement,) = resp["policyDocument"]["Statement"]
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:svcapi1234/prod/*/*"]
    ctx = resp["context"]
    assert ctx["accountId"] == "acme-corp" and ctx["plan"] == "business"
    assert ctx["forwardedFor"] == "198.51.100.4" and ctx["claimedAccount"] == "acme-corp"


def test_missing_headers_give_dashes_as_in_the_access_log(authz):
    ctx = authz(authorizer_event(KEY))["context"]
    assert ctx["forwardedFor"] == "-" and ctx["claimedAccount"] == "-"


def test_denies_unknown_and_missing_keys(authz):
    assert effect(authz(authorizer_event("not-a-key"))) == "Deny"
    assert effect(authz(authorizer_event(None))) == "Deny"


def test_suspended_account_is_denied_then_allowed_once_reinstated(authz):
    from aup.usecases import accounts

    now = datetime.now(UTC)
    accounts.suspend(
        bootstrap.ledger(), account_id="acme-corp", reason="abuse", until=None, now=now, actor="op"
    )
    resp = authz(authorizer_event(KEY))
    assert effect(resp) == "Deny" and resp["principalId"] == "acme-corp"
    accounts.reinstate(bootstrap.ledger(), account_id="acme-corp", reason="ok", now=now, actor="op")
    assert effect(authz(authorizer_event(KEY))) == "Allow"


def test_expired_temporary_suspension_is_not_enforced(authz):
    now = datetime.now(UTC)
    past = Finding(
        rule_id="D1-scanner-agent",
        clause="D1",
        account_id="acme-corp",
        source=Source.log,
        source_event_id="old",
        detected_at=now - timedelta(hours=1),
    )
    bootstrap.ledger().apply_findings([past], now - timedelta(minutes=59))
    assert effect(authz(authorizer_event(KEY))) == "Deny"
    # A suspension whose end has passed, not yet lifted by the expiry sweep:
    state = bootstrap.ledger().get_account("acme-corp")
    assert state is not None and state.suspension is not None
    expired = state.suspension.model_copy(update={"until": now - timedelta(seconds=1)})
    from aup.domain.models import Outcome

    bootstrap.ledger().transition(
        "acme-corp",
        lambda s: Outcome(state=s.model_copy(update={"suspension": expired, "version": s.version + 1})),
    )
    assert effect(authz(authorizer_event(KEY))) == "Allow"


def test_blocked_source_denies_unknown_keys_but_allows_a_valid_key_of_an_active_account(authz):
    now = datetime.now(UTC)
    block = Finding(
        rule_id="D2-key-stuffing",
        clause="D2",
        source=Source.log,
        source_event_id="stuff-1",
        detected_at=now,
        source_ip_hash=hash_source("192.0.2.66"),
    )
    bootstrap.ledger().apply_findings([block], now)
    # Carrier NAT: the honest subscriber's valid key is its own identity, whoever shares the address.
    assert effect(authz(authorizer_event(KEY, source_ip="192.0.2.66"))) == "Allow"
    assert effect(authz(authorizer_event(KEY, source_ip="192.0.2.67"))) == "Allow"
    # The stuffer's unknown keys from the blocked source stay denied, the block named in the reason.
    resp = authz(authorizer_event("not-a-real-key-0001", source_ip="192.0.2.66"))
    assert effect(resp) == "Deny" and "source blocked" in resp["context"]["reason"]


@pytest.mark.parametrize("event", [{}, {"methodArn": 7}, {"methodArn": "not-an-arn"}, "junk", None])
def test_malformed_events_are_denied_with_a_reason(authz, event):
    resp = authz(event)
    assert effect(resp) == "Deny" and "malformed" in resp["context"]["reason"]


def test_header_values_are_bounded_and_single_line(authz):
    ctx = authz(authorizer_event(KEY, forwarded_for="1.2.3.4\n" + "x" * 5000))["context"]
    assert "\n" not in ctx["forwardedFor"] and len(ctx["forwardedFor"]) <= 512


@pytest.mark.parametrize(("mode", "expected"), [("closed", "Deny"), ("open", "Allow")])
def test_fail_mode_when_the_ledger_is_unreachable(stack, lambda_context, monkeypatch, mode, expected):
    monkeypatch.setenv("AUTHORIZER_FAIL_MODE", mode)
    bootstrap.reset()
    module = load_handler("authorizer")

    def broken(*_a, **_k):
        raise ConnectionError("ledger unreachable")

    monkeypatch.setattr(bootstrap.ledger(), "authorizer_lookup", broken)
    resp = module.lambda_handler(authorizer_event("never-seen-key-000000"), lambda_context)
    assert effect(resp) == expected
    assert resp["context"].get("unverified", False) is (mode == "open")


def test_stale_answer_served_while_the_ledger_is_down(stack, lambda_context, monkeypatch):
    from aup.usecases.authorize import KeyAuthorizer

    clock = [0.0]
    calls = []

    def lookup(key_hash, source):
        calls.append(key_hash)
        if len(calls) > 1:
            raise ConnectionError("down")
        return bootstrap.ledger().authorizer_lookup(key_hash, source)

    bootstrap.ledger().create_account(
        AccountState(account_id="acme-corp"), hash_api_key(KEY), datetime.now(UTC), "t"
    )
    az = KeyAuthorizer(lookup, cache_seconds=10, stale_seconds=300, monotonic=lambda: clock[0])
    assert az.decide(KEY, "1.1.1.1").allow
    clock[0] = 11  # cache expired, ledger down: the known answer is served
    verdict = az.decide(KEY, "1.1.1.1")
    assert verdict.allow and "stale" in verdict.reason
    clock[0] = 400  # past the stale window: fail-closed
    assert not az.decide(KEY, "1.1.1.1").allow


def test_refused_callers_get_a_principal_that_is_never_an_account_and_never_the_key(authz):
    from aup.domain.models import is_account_id

    unknown = authz(authorizer_event("leaked-key-0000000000001"))["principalId"]
    other = authz(authorizer_event("leaked-key-0000000000002"))["principalId"]
    assert unknown.startswith("unknown-key:") and unknown != other
    assert "leaked-key" not in unknown and not is_account_id(unknown)
    assert not is_account_id(authz(authorizer_event(None))["principalId"])
