"""SuspensionExpiryFunction reports the review backlog (``ReviewsPending``, ``ReviewsPendingOldestAge``)
in the operations namespace: the real handler on the deployed template, its EMF output parsed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aup import bootstrap
from aup.domain.models import AccountState, Finding, Source, hash_api_key
from aup.domain.ports import LedgerUnavailable
from tests.conftest import load_handler
from tests.eventlib import scheduled_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.time_machine(NOW, tick=True)


def z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def open_reviews(account: str, count: int, at: datetime) -> list[str]:
    """``count`` reviews on ``account`` opened at ``at``: their ids. Each is of a rule of its own (an
    account has one pending review per rule), found with a confidence under every bar."""
    ledger = bootstrap.ledger()
    rules = list(bootstrap.policy().rules.items())[:count]
    assert len(rules) == count
    findings = [
        Finding(
            rule_id=rule_id,
            clause=rule.clause,
            account_id=account,
            source=Source.s3,
            source_event_id=f"{account}-obj-{n}",
            detected_at=at,
            confidence=0.1,
        )
        for n, (rule_id, rule) in enumerate(rules)
    ]
    ledger.apply_findings(findings, at)
    return [r.review_id for r in ledger.list_reviews("pending", limit=500).items if r.account_id == account]


def sweep(module: Any, at: datetime, lambda_context: Any, capsys: Any) -> tuple[dict, dict[str, Any]]:
    """One sweep at ``at``: (its result, the EMF document carrying ReviewsPending)."""
    capsys.readouterr()
    result = module.lambda_handler(scheduled_event(z(at)), lambda_context)
    docs = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith('{"_aws"')]
    (doc,) = [d for d in docs if "ReviewsPending" in d]
    return result, doc


@pytest.fixture
def expiry(stack, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "AUP/Operations")  # the template's Globals
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "suspension-expiry")
    return load_handler("suspension_expiry")


def test_reviews_pending_is_the_number_of_open_reviews(expiry, lambda_context, capsys):
    ledger = bootstrap.ledger()
    for name in ("acme-corp", "globex"):
        ledger.create_account(AccountState(account_id=name), hash_api_key(name * 4), NOW, "t")

    _, doc = sweep(expiry, NOW, lambda_context, capsys)
    assert value(doc, "ReviewsPending") == 0 and value(doc, "ReviewsPendingOldestAge") == 0

    acme = open_reviews("acme-corp", 3, NOW - timedelta(hours=5))
    globex = open_reviews("globex", 2, NOW - timedelta(hours=1))
    assert len(acme) == 3 and len(globex) == 2
    ledger.decide_review(acme[0], confirm=False, reason="a quote", actor="op", now=NOW)
    ledger.decide_review(globex[1], confirm=True, reason="a threat", actor="op", now=NOW)

    result, doc = sweep(expiry, NOW, lambda_context, capsys)
    pending = len(ledger.list_reviews("pending", limit=500).items)
    assert pending == 3
    assert value(doc, "ReviewsPending") == pending == result["reviews_pending"]
    # The oldest still open is one of acme-corp's (5 hours), not the decided one.
    assert value(doc, "ReviewsPendingOldestAge") == pytest.approx(5 * 3600)
    (cwm,) = doc["_aws"]["CloudWatchMetrics"]
    assert cwm["Namespace"] == "AUP/Operations" and cwm["Dimensions"] == [["service"]]
    units = {m["Name"]: m["Unit"] for m in cwm["Metrics"]}
    assert units["ReviewsPending"] == "Count" and units["ReviewsPendingOldestAge"] == "Seconds"
    assert doc["service"] == "suspension-expiry"

    for n, review_id in enumerate(acme[1:], start=1):
        ledger.decide_review(
            review_id, confirm=False, reason="fine", actor="op", now=NOW + timedelta(seconds=n)
        )
    _, doc = sweep(expiry, NOW + timedelta(minutes=1), lambda_context, capsys)
    assert value(doc, "ReviewsPending") == 1  # globex's first, opened an hour before NOW
    assert value(doc, "ReviewsPendingOldestAge") == pytest.approx(3600 + 60)


def test_the_count_follows_every_page(stack, monkeypatch):
    """More reviews than one GSI1 page holds are all counted (a page is cut at ``Limit``/1 MB)."""
    from aup.adapters.dynamodb.ledger import DynamoStore

    bootstrap.ledger().create_account(AccountState(account_id="acme-corp"), hash_api_key("a" * 20), NOW, "t")
    open_reviews("acme-corp", 30, NOW)
    store = DynamoStore(stack.outputs["LedgerTableName"])
    pages: list[int] = []
    real = store._pages

    def small_pages(operation: str, **kwargs: Any) -> Any:
        for page in real(operation, **kwargs, PaginationConfig={"PageSize": 7}):
            pages.append(page["Count"])
            yield page

    monkeypatch.setattr(store, "_pages", small_pages)
    count, oldest = store.review_backlog()
    assert count == 30 and len(pages) >= 5 and oldest == NOW


def test_a_failed_count_never_fails_the_sweep(expiry, lambda_context, capsys, caplog, monkeypatch):
    from aup.adapters.dynamodb.ledger import DynamoStore

    def unavailable(self: DynamoStore, status: str = "pending") -> Any:
        raise LedgerUnavailable("Query(review count)", "ThrottlingException")

    monkeypatch.setattr(DynamoStore, "review_backlog", unavailable)
    capsys.readouterr()
    result = expiry.lambda_handler(scheduled_event(z(NOW)), lambda_context)
    out = capsys.readouterr().out
    assert result["reviews_pending"] is None and result["lifted"] == []
    assert "review backlog not counted" in caplog.messages and '"ReviewsPending"' not in out
    assert '"SuspensionsLifted"' in out  # the sweep's own figure still goes out


def value(doc: dict[str, Any], name: str) -> float:
    raw = doc[name]
    return float(raw[0] if isinstance(raw, list) else raw)
