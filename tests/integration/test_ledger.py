"""The ledger against the table of the deployed template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aup import bootstrap
from aup.domain.models import AccountState, Finding, Outcome, Source, Status, hash_api_key
from aup.domain.ports import AccountExists, CounterUpdate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# Fixed dates only on a clock set to them (ticking: moto and the handlers see time pass), so nothing here
# depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(NOW, tick=True)


def finding(rule_id: str, clause: str, event: str, account: str = "acme-corp", **kw) -> Finding:
    return Finding(
        rule_id=rule_id,
        clause=clause,
        account_id=account,
        source=Source.log,
        source_event_id=event,
        detected_at=kw.pop("at", NOW),
        **kw,
    )


def test_create_account_and_key_projection(stack):
    ledger = bootstrap.ledger()
    state = ledger.create_account(
        AccountState(account_id="acme-corp", plan="standard"), hash_api_key("k1"), NOW, "operator"
    )
    assert state.registered and state.version == 1
    record = ledger.get_key(hash_api_key("k1"))
    assert record is not None and record.account_id == "acme-corp" and record.status is Status.active
    with pytest.raises(AccountExists):
        ledger.create_account(AccountState(account_id="acme-corp"), hash_api_key("k2"), NOW, "operator")


def test_same_finding_three_times_is_one_violation_and_one_strike(stack):
    ledger = bootstrap.ledger()
    f = finding("D1-error-burst", "D1", "log-event-1")
    for _ in range(3):
        ledger.apply_findings([f], NOW)
    state = ledger.get_account("acme-corp")
    assert state is not None and len(state.strikes) == 1
    assert len(ledger.list_violations("acme-corp").items) == 1
    assert len(ledger.list_audit("acme-corp")) == 1


def test_redelivery_after_violation_ids_are_forgotten_is_still_one(stack):
    """The violation item's attribute_not_exists guard holds even when the state no longer remembers it."""
    ledger = bootstrap.ledger()
    f = finding("D1-error-burst", "D1", "old-event")
    ledger.apply_findings([f], NOW)
    state = ledger.get_account("acme-corp")
    assert state is not None
    forgotten = state.model_copy(update={"recent_violation_ids": []})
    ledger.transition(
        "acme-corp",
        lambda s: Outcome(state=forgotten.model_copy(update={"version": s.version + 1})),
    )
    ledger.apply_findings([f], NOW)
    assert len(ledger.list_violations("acme-corp").items) == 1
    assert len(ledger.get_account("acme-corp").strikes) == 1


def test_high_finding_suspends_and_key_projection_follows(stack):
    ledger = bootstrap.ledger()
    ledger.create_account(
        AccountState(account_id="acme-corp", plan="standard"), hash_api_key("k1"), NOW, "op"
    )
    ledger.apply_findings([finding("D1-scanner-agent", "D1", "e1")], NOW)
    state = ledger.get_account("acme-corp")
    assert state is not None and state.enforced(NOW)
    key = ledger.get_key(hash_api_key("k1"))
    assert key is not None and key.enforced(NOW) and not key.enforced(NOW + timedelta(hours=25))
    assert ledger.expired_suspensions(NOW + timedelta(hours=25)) == ["acme-corp"]
    assert ledger.expired_suspensions(NOW + timedelta(hours=1)) == []


def test_counters_apply_once_per_marker(stack):
    ledger = bootstrap.ledger()
    updates = [
        CounterUpdate(
            scope="acme-corp",
            name=f"D5a#{i}",
            add={"requests": 10},
            add_sets={"nets": ["a", "b"]},
            expires_at=NOW + timedelta(hours=1),
        )
        for i in range(150)
    ]
    assert ledger.add_counters_once("payload-1", updates) is True
    assert ledger.add_counters_once("payload-1", updates) is False
    got = ledger.get_counters([("acme-corp", "D5a#0"), ("acme-corp", "D5a#149"), ("acme-corp", "nope")])
    assert got[("acme-corp", "D5a#0")]["requests"] == 10
    assert got[("acme-corp", "D5a#149")]["nets"] == {"a", "b"}
    assert ("acme-corp", "nope") not in got


def test_ip_scoped_finding_blocks_the_source(stack):
    ledger = bootstrap.ledger()
    f = Finding(
        rule_id="D2-key-stuffing",
        clause="D2",
        source=Source.log,
        source_event_id="x",
        detected_at=NOW,
        source_ip_hash="abc123",
    )
    ledger.apply_findings([f], NOW)
    _, block = ledger.authorizer_lookup(hash_api_key("nokey"), "abc123")
    assert block is not None and block.until > NOW


def test_a_throttled_transaction_is_reported_as_unavailable_naming_the_operation(stack):
    """botocore's ClientError is classified by its code: the failure says which operation and why."""
    import boto3
    from botocore.config import Config

    from aup.domain.ports import LedgerTimeout, LedgerUnavailable
    from tests.reliability.support import Fault, inject

    client = boto3.client("dynamodb", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    ledger = bootstrap.ledger_on(bootstrap.settings().ledger_table, None, client)
    fault = Fault("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", times=None)
    with inject(client, fault), pytest.raises(LedgerUnavailable) as err:
        ledger.create_account(AccountState(account_id="acme-corp"), hash_api_key("k1"), NOW, "operator")
    assert not isinstance(err.value, LedgerTimeout)
    assert err.value.operation == "TransactWriteItems(account)"
    assert "ProvisionedThroughputExceededException" in str(err.value)
    assert ledger.get_account("acme-corp") is None


def test_findings_of_one_rule_fold_into_its_pending_review_on_the_table(stack):
    """The repeat is an ``UpdateItem`` in the batch's transaction (ADD repeats), read back by
    ``get_review`` and ``list_reviews``; once the review is decided, the rule opens a new one."""
    ledger = bootstrap.ledger()
    unsure = {"confidence": 0.2}
    ledger.apply_findings([finding("D1-error-burst", "D1", "e-0", **unsure)], NOW)
    (review,) = ledger.list_reviews().items
    for hour in (1, 2):
        at = NOW + timedelta(hours=hour)
        ledger.apply_findings(
            [finding("D1-error-burst", "D1", f"e-{hour}a", at=at, **unsure),
             finding("D1-error-burst", "D1", f"e-{hour}b", at=at, **unsure)],
            at,
        )  # fmt: skip
    got = ledger.get_review(review.review_id)
    assert got is not None and got.repeats == 4
    assert got.last_violation_id == finding("D1-error-burst", "D1", "e-2b").violation_id
    (listed,) = ledger.list_reviews().items
    assert (listed.review_id, listed.repeats) == (review.review_id, 4)
    assert len(ledger.list_violations("acme-corp").items) == 5

    ledger.decide_review(review.review_id, confirm=False, reason="stale client", actor="op", now=NOW)
    state = ledger.get_account("acme-corp")
    assert state is not None and state.open_reviews == {}
    ledger.apply_findings([finding("D1-error-burst", "D1", "e-3", **unsure)], NOW + timedelta(hours=3))
    (fresh,) = ledger.list_reviews().items
    assert fresh.review_id != review.review_id and fresh.repeats == 0
    closed = ledger.get_review(review.review_id)
    assert closed is not None and (closed.status.value, closed.repeats) == ("dismissed", 4)


def test_a_pointer_to_a_review_the_table_no_longer_holds_opens_a_new_one(stack):
    """The repeat's condition fails on the table (the item was deleted by hand): the ledger names the
    review in the conflict and the retry opens a new review instead of failing the batch."""
    import boto3

    ledger = bootstrap.ledger()
    ledger.apply_findings([finding("D1-error-burst", "D1", "g-0", confidence=0.2)], NOW)
    (review,) = ledger.list_reviews().items
    boto3.client("dynamodb").delete_item(
        TableName=stack.outputs["LedgerTableName"],
        Key={"pk": {"S": f"REVIEW#{review.review_id}"}, "sk": {"S": "REVIEW"}},
    )
    ledger.apply_findings([finding("D1-error-burst", "D1", "g-1", confidence=0.2)], NOW + timedelta(hours=1))
    (fresh,) = ledger.list_reviews().items
    assert fresh.review_id != review.review_id
    state = ledger.get_account("acme-corp")
    assert state is not None and state.open_reviews == {"D1-error-burst": fresh.review_id}
