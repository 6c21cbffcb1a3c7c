"""usecases/accounts.py's transactions on the in-memory store: create, transition, reviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aup.domain import engine
from aup.domain.models import AccountState, Finding, ReviewStatus, Source, Status, hash_api_key
from aup.domain.ports import AccountExists, AccountNotFound, ReviewClosed, ReviewNotFound
from aup.policy import load_default_policy
from aup.usecases import accounts
from tests.fakes.ledger import MemoryStore, memory_ledger

POLICY = load_default_policy()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def review_only(event: str = "c1") -> Finding:
    return Finding(
        rule_id="C1-bulk-recipients",
        clause="C1",
        account_id="acme-corp",
        source=Source.s3,
        source_event_id=event,
        detected_at=NOW,
        evidence={"recipients": 5000},
    )


def create(store: MemoryStore, key: str = "k1", account: str = "acme-corp") -> AccountState:
    return accounts.create_account(
        store, AccountState(account_id=account, plan="standard"), hash_api_key(key), NOW, "op"
    )


def test_create_registers_the_account_its_key_and_one_audit_entry() -> None:
    store = MemoryStore()
    state = create(store)
    assert state.registered and state.version == 1
    key = store.get_key(hash_api_key("k1"))
    assert key is not None and key.account_id == "acme-corp" and key.status is Status.active
    assert [a.action for a in store.list_audit("acme-corp")] == ["create"]


def test_create_refuses_a_registered_account_and_a_taken_key() -> None:
    store = MemoryStore()
    create(store)
    with pytest.raises(AccountExists, match="acme-corp exists"):
        create(store, key="k2")
    with pytest.raises(AccountExists, match="that api key is already registered"):
        create(store, key="k1", account="other-co")
    assert "other-co" not in store.accounts


def test_create_adopts_an_account_first_seen_through_findings() -> None:
    store = MemoryStore()
    memory_ledger(POLICY, store).apply_findings(
        [review_only().model_copy(update={"rule_id": "D1-error-burst", "clause": "D1"})], NOW
    )
    seen = store.get_account("acme-corp")
    assert seen is not None and not seen.registered and len(seen.strikes) == 1
    state = create(store)
    assert state.registered and len(state.strikes) == 1 and state.version == seen.version + 1


def test_a_transition_retries_a_version_conflict() -> None:
    store = MemoryStore()
    create(store)
    ledger = memory_ledger(POLICY, store)
    store.before_commit = lambda _: ledger.transition(
        "acme-corp", lambda s: engine.set_allowlisted(s, allowlisted=True, actor="op-2", now=NOW)
    )
    outcome = accounts.transition(
        store, "acme-corp", lambda s: engine.suspend(s, reason="x", until=None, actor="op-1", now=NOW)
    )
    assert outcome is not None and len(store.cancelled) == 1
    state = store.get_account("acme-corp")
    assert state is not None and state.allowlisted and state.status is Status.suspended
    assert [a.actor for a in store.list_audit("acme-corp")].count("op-1") == 1
    assert store.get_key(hash_api_key("k1")).status is Status.suspended  # type: ignore[union-attr]


def test_a_transition_of_an_unknown_account_is_not_found() -> None:
    with pytest.raises(AccountNotFound):
        accounts.transition(MemoryStore(), "nobody-here", lambda s: None)


def enforced(store: MemoryStore) -> list[str]:
    """The decisions of the account's violations other than "review" (the finding's own record)."""
    return [v.decision for v in store.list_violations("acme-corp").items if v.decision != "review"]


def pending_review(store: MemoryStore) -> str:
    create(store)
    memory_ledger(POLICY, store).apply_findings([review_only()], NOW)
    (review,) = store.list_reviews().items
    return str(review.review_id)


def test_confirming_a_review_applies_the_ladder_as_an_operator_decision() -> None:
    store = MemoryStore()
    review_id = pending_review(store)
    assert enforced(store) == []
    closed = memory_ledger(POLICY, store).decide_review(
        review_id, confirm=True, reason="checked", actor="op", now=NOW + timedelta(minutes=5)
    )
    assert closed.status is ReviewStatus.confirmed and closed.decided_by == "op"
    assert store.reviews[review_id].status is ReviewStatus.confirmed
    assert enforced(store) == ["strike"]
    assert store.list_audit("acme-corp")[-1].actor == "op"
    assert store.list_reviews().items == []


def test_dismissing_a_review_audits_it_and_changes_no_state() -> None:
    """Nothing of the account's standing changes; only its pointer to the review goes."""
    store = MemoryStore()
    review_id = pending_review(store)
    before = store.get_account("acme-corp")
    assert before is not None and before.open_reviews == {"C1-bulk-recipients": review_id}
    closed = accounts.close_review(
        store, POLICY, review_id, confirm=False, reason="false positive", actor="op", now=NOW
    )
    assert closed.status is ReviewStatus.dismissed
    after = store.get_account("acme-corp")
    assert after is not None and after.open_reviews == {}
    standing = {"status", "suspension", "strikes", "incidents", "temporary_suspensions", "plan"}
    assert after.model_dump(include=standing) == before.model_dump(include=standing)
    assert store.list_audit("acme-corp")[-1].action == "dismiss_review"
    assert enforced(store) == []
    with pytest.raises(ReviewClosed, match="already dismissed"):
        accounts.close_review(store, POLICY, review_id, confirm=True, reason="", actor="op", now=NOW)


def test_two_reviews_of_one_account_dismissed_in_the_same_instant_are_both_audited() -> None:
    """A dismissal changes no version, so its audit key came from the time and version alone: the
    second dismissal in the same instant collided with the first and failed as too many conflicts."""
    store = MemoryStore()
    create(store)
    unsure = review_only("d1").model_copy(
        update={"rule_id": "D1-error-burst", "clause": "D1", "confidence": 0.2}
    )
    memory_ledger(POLICY, store).apply_findings([review_only("c1"), unsure], NOW)
    reviews = [r.review_id for r in store.list_reviews().items]
    assert len(reviews) == 2
    for review_id in reviews:
        accounts.close_review(store, POLICY, review_id, confirm=False, reason="ok", actor="op", now=NOW)
    dismissed = [e for e in store.list_audit("acme-corp") if e.action == "dismiss_review"]
    assert sorted(str(e.violation_id) for e in dismissed) == sorted(
        str(store.reviews[r].violation_id) for r in reviews
    )


def test_a_review_closed_meanwhile_is_not_decided_twice() -> None:
    store = MemoryStore()
    review_id = pending_review(store)

    def other_operator(_: object) -> None:
        accounts.close_review(store, POLICY, review_id, confirm=False, reason="first", actor="op-2", now=NOW)

    store.before_commit = other_operator
    with pytest.raises(ReviewClosed):
        accounts.close_review(store, POLICY, review_id, confirm=True, reason="second", actor="op-1", now=NOW)
    assert store.cancelled[-1].review_closed
    assert store.reviews[review_id].decided_by == "op-2"
    assert enforced(store) == []


def test_an_unknown_review_is_not_found() -> None:
    with pytest.raises(ReviewNotFound):
        accounts.close_review(MemoryStore(), POLICY, "nope", confirm=True, reason="", actor="op", now=NOW)


# --- one pending review per account and rule ----------------------------------------------------------


def test_the_same_rule_again_is_folded_into_the_pending_review() -> None:
    """A stale client that trips one rule every hour: one review that counts the repeats, not one a
    batch. Each repeat is still a violation of its own (the evidence), decided "review"."""
    store = MemoryStore()
    review_id = pending_review(store)
    ledger = memory_ledger(POLICY, store)
    for hour in (1, 2, 3):
        ledger.apply_findings([review_only(f"c1-{hour}")], NOW + timedelta(hours=hour))
    (review,) = store.list_reviews().items
    assert (review.review_id, review.repeats) == (review_id, 3)
    assert review.last_seen_at == NOW + timedelta(hours=3)
    assert review.last_violation_id == review_only("c1-3").violation_id
    decisions = [v.decision for v in store.list_violations("acme-corp").items]
    assert decisions == ["review"] * 4 and enforced(store) == []


def test_two_findings_of_one_rule_in_one_batch_open_one_review() -> None:
    store = MemoryStore()
    create(store)
    memory_ledger(POLICY, store).apply_findings([review_only("c1"), review_only("c2")], NOW)
    (review,) = store.list_reviews().items
    assert review.repeats == 1


def test_other_rules_and_other_accounts_have_reviews_of_their_own() -> None:
    store = MemoryStore()
    review_id = pending_review(store)
    create(store, key="k2", account="other-co")
    unsure = review_only("d1").model_copy(
        update={"rule_id": "D1-error-burst", "clause": "D1", "confidence": 0.2}
    )
    theirs = review_only("c1-b").model_copy(update={"account_id": "other-co"})
    memory_ledger(POLICY, store).apply_findings([unsure, theirs], NOW + timedelta(hours=1))
    reviews = {(r.account_id, r.finding.rule_id): r.repeats for r in store.list_reviews().items}
    assert reviews == {
        ("acme-corp", "C1-bulk-recipients"): 0,
        ("acme-corp", "D1-error-burst"): 0,
        ("other-co", "C1-bulk-recipients"): 0,
    }
    assert store.reviews[review_id].repeats == 0


@pytest.mark.parametrize("confirm", [False, True])
def test_after_a_decision_the_rule_opens_a_new_review(confirm: bool) -> None:
    store = MemoryStore()
    review_id = pending_review(store)
    ledger = memory_ledger(POLICY, store)
    ledger.apply_findings([review_only("c1-1")], NOW + timedelta(hours=1))
    ledger.decide_review(review_id, confirm=confirm, reason="seen", actor="op", now=NOW + timedelta(hours=2))
    state = store.get_account("acme-corp")
    assert state is not None and state.open_reviews == {}
    ledger.apply_findings([review_only("c1-2")], NOW + timedelta(hours=3))
    (fresh,) = store.list_reviews().items
    assert fresh.review_id != review_id and fresh.repeats == 0
    assert store.reviews[review_id].repeats == 1  # what it had when it was decided


def test_a_repeat_racing_a_decision_opens_a_new_review() -> None:
    """The operator decides the review while a batch folds a finding into it: the batch's commit is
    cancelled (the review is no longer pending, the account's version moved) and its retry opens a new
    review, so the finding is never folded into a closed one."""
    store = MemoryStore()
    review_id = pending_review(store)

    def operator(_: object) -> None:
        accounts.close_review(store, POLICY, review_id, confirm=False, reason="ok", actor="op", now=NOW)

    store.before_commit = operator
    memory_ledger(POLICY, store).apply_findings([review_only("c1-1")], NOW + timedelta(hours=1))
    assert store.cancelled[-1].version
    (fresh,) = store.list_reviews().items
    assert fresh.review_id != review_id
    assert store.reviews[review_id].repeats == 0


def test_a_pointer_to_a_review_that_is_gone_is_replaced_not_retried_forever() -> None:
    """The state points at a review the table no longer holds as pending (removed by hand, restored
    from an older backup): the repeat's condition fails, and the retry opens a new review instead of
    conflicting until the batch fails."""
    store = MemoryStore()
    review_id = pending_review(store)
    del store.reviews[review_id]
    memory_ledger(POLICY, store).apply_findings([review_only("c1-1")], NOW + timedelta(hours=1))
    assert store.cancelled[-1].closed_reviews == {review_id}
    (fresh,) = store.list_reviews().items
    assert fresh.review_id != review_id
    state = store.get_account("acme-corp")
    assert state is not None and state.open_reviews == {"C1-bulk-recipients": fresh.review_id}
