"""The dated samples of ``events/`` invoked after their day, as the README describes: what they decide,
and what ``aupctl invoke --at now`` (``aupctl.rebase``) changes. The clock is set a week after the
samples' day (2026-11-27), so the outcome is the same on any date."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aupctl.clock import parse_instant
from aupctl.rebase import rebase
from tests.conftest import ROOT, load_handler
from tests.eventlib import authorizer_event

LATER = datetime(2026, 12, 4, 16, 15, tzinfo=UTC)  # a week after the samples' day
pytestmark = pytest.mark.time_machine(LATER, tick=True)  # ticking: moto and the handlers see time pass


def sample(function: str, case: str) -> Any:
    return json.loads((ROOT / "events" / function / f"{case}.json").read_text())


@pytest.fixture
def accounts(stack: Any) -> Any:
    from aup import bootstrap
    from aup.domain.models import AccountState, hash_api_key

    ledger = bootstrap.ledger()
    for account in ("acme-hog", "scanco"):
        ledger.create_account(
            AccountState(account_id=account, plan="free"),
            hash_api_key(f"key-{account}-0000000000"),
            datetime(2026, 11, 1, tzinfo=UTC),
            "test",
        )
    return ledger


def effect(lambda_context: Any, account: str) -> str:
    event = authorizer_event(f"key-{account}-0000000000")
    answer = load_handler("authorizer").lambda_handler(event, lambda_context)
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def test_a_dated_alarm_decides_at_its_own_time_so_its_suspension_is_already_over(accounts, lambda_context):
    result = load_handler("usage_monitor").lambda_handler(
        sample("UsageMonitorFunction", "alarm-state-change-alarm"), lambda_context
    )
    assert result["decisions"] == {"suspend_temporary": 1}
    s = accounts.get_account("acme-hog")
    assert s.suspension.since == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    assert s.suspension.until == datetime(2026, 11, 28, 12, 15, tzinfo=UTC)  # over a week ago
    assert effect(lambda_context, "acme-hog") == "Allow"  # the authorizer never enforces an ended one


def test_rebased_to_now_the_alarm_suspends_from_now_and_the_key_is_denied(accounts, lambda_context):
    now = parse_instant("now")  # what ``aupctl invoke --at now`` moves the event to
    event = rebase(sample("UsageMonitorFunction", "alarm-state-change-alarm"), now).event
    result = load_handler("usage_monitor").lambda_handler(event, lambda_context)
    assert result["decisions"] == {"suspend_temporary": 1}
    s = accounts.get_account("acme-hog")
    assert now - timedelta(minutes=5) <= s.suspension.since <= now  # the end of the alarm's judged period
    assert s.suspension.until - s.suspension.since == timedelta(hours=24)
    assert effect(lambda_context, "acme-hog") == "Deny"


def test_rebased_to_now_the_scanner_log_suspends_once_for_the_burst(accounts, lambda_context):
    now = parse_instant("now")  # what ``aupctl invoke --at now`` moves the event to
    event = rebase(sample("ApiLogAnalyzerFunction", "subscription-scanner"), now).event
    result = load_handler("api_log_analyzer").lambda_handler(event, lambda_context)
    assert result["records"] == 60
    # One suspension for the burst; the other findings are recorded (and the error burst may strike: the
    # sample's 23 s of scanning can straddle a 5-minute counter window, depending on the instant).
    assert result["decisions"].count("suspend_temporary") == 1
    assert set(result["decisions"]) <= {"suspend_temporary", "record", "strike"}
    s = accounts.get_account("scanco")
    assert s.status.value == "suspended" and s.suspension.until - s.suspension.since == timedelta(hours=24)
    assert s.suspension.since <= now < s.suspension.until
    assert effect(lambda_context, "scanco") == "Deny"
