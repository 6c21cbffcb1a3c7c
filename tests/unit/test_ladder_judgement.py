"""The ladder's protections for honest accounts: one incident is one suspension whatever the delivery
timing, no suspension on one ambiguous signal, and an operator can void a wrongful violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.domain import engine
from aup.domain.models import AccountState, Action, Finding, Source, Status, SuspensionKind
from aup.policy import load_default_policy
from tests.unit.test_engine import with_policy

POLICY = load_default_policy()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # every time below is relative to T0; no clock is read
SIGNATURE = ("D1-scanner-agent", "D1")  # high, basis: signature
THRESHOLD = ("D1-sensitive-path", "D1")  # high, basis: threshold
OTHER_THRESHOLD = ("D2-auth-failure-burst", "D2")  # high, basis: threshold, another clause


def account() -> AccountState:
    return AccountState(account_id="acme-corp")


def finding(rule: tuple[str, str], event: str, at: datetime) -> Finding:
    return Finding(
        rule_id=rule[0],
        clause=rule[1],
        account_id="acme-corp",
        source=Source.log,
        source_event_id=event,
        detected_at=at,
        confidence=0.99,
    )


def deliver(batches: list[list[Finding]], times: list[datetime], policy=POLICY) -> tuple[AccountState, list]:
    state, decisions = account(), []
    for batch, now in zip(batches, times, strict=True):
        out = engine.decide(state, batch, policy, now)
        state, decisions = out.state, decisions + out.decisions
    return state, decisions


def projection(state: AccountState, at: datetime) -> tuple:
    """What must not depend on delivery: enforcement at ``at``, the doubling count, strikes, incidents."""
    enforced = state.suspension if state.enforced(at) else None
    return (
        state.effective_status(at),
        (enforced.since, enforced.until) if enforced else None,
        state.temporary_suspensions,
        sorted(s.violation_id for s in state.strikes),
        sorted((i.since, i.until) for i in state.incidents),
    )


# --- one incident, one suspension ----------------------------------------------------------------


def burst(n: int = 3, rule: tuple[str, str] = SIGNATURE) -> list[Finding]:
    return [finding(rule, f"burst-{i}", T0 + timedelta(minutes=5 * i)) for i in range(n)]


def test_a_burst_processed_late_is_one_elapsed_suspension_not_a_doubled_one():
    # The reproduction: a sample burst invoked days later ended in 96 h instead of one 24 h incident.
    late = T0 + timedelta(days=4)
    state, decisions = deliver([burst()], [late])
    assert state.temporary_suspensions == 1
    assert state.effective_status(late) is Status.active
    assert [d.action for d in decisions].count(Action.record) == 2
    assert all(not d.enforced for d in decisions if d.action is Action.suspend_temporary)


def test_a_burst_delivered_in_reverse_on_time_suspends_once_from_its_first_finding():
    now = T0 + timedelta(minutes=11)
    state, decisions = deliver([[f] for f in reversed(burst())], [now, now, now])
    assert state.suspension is not None and state.suspension.kind is SuspensionKind.temporary
    assert (state.suspension.since, state.suspension.until) == (T0, T0 + timedelta(hours=24))
    assert state.temporary_suspensions == 1
    assert [d.action for d in decisions].count(Action.suspend_temporary) == 1


def test_a_breach_after_the_incident_ended_still_escalates():
    first, second = T0, T0 + timedelta(days=2)
    state, decisions = deliver(
        [[finding(SIGNATURE, "a", first)], [finding(SIGNATURE, "b", second)]], [first, second]
    )
    assert decisions[-1].action is Action.suspend_temporary
    assert state.suspension is not None and state.suspension.until == second + timedelta(hours=48)


@st.composite
def deliveries(draw):
    """A burst and a later repeat, cut into batches in any order, each delivered with any delay."""
    findings = [
        *burst(4),
        *[finding(SIGNATURE, f"later-{i}", T0 + timedelta(days=3, minutes=i)) for i in range(2)],
    ]
    order = draw(st.permutations(findings))
    cuts = sorted(draw(st.lists(st.integers(1, len(order) - 1), max_size=4, unique=True)))
    batches = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    latest = max(f.detected_at for f in findings)
    delays = draw(st.lists(st.integers(0, 6 * 24 * 60), min_size=len(batches), max_size=len(batches)))
    times = sorted(latest + timedelta(minutes=d) for d in delays)
    return batches, times


@settings(max_examples=150, deadline=None, derandomize=True)
@given(deliveries())
def test_the_same_findings_in_any_order_batching_and_delay_give_the_same_final_state(case):
    batches, times = case
    end = T0 + timedelta(days=30)
    state, decisions = deliver(batches, times)
    reference, ref_decisions = deliver(
        [sorted((f for b in batches for f in b), key=lambda f: f.detected_at)], [max(times)]
    )
    assert projection(state, end) == projection(reference, end)
    assert state.temporary_suspensions == 2  # the burst is one incident, the later repeat another
    actions = sorted(d.action for d in decisions)
    assert actions == sorted(d.action for d in ref_decisions)


# --- no suspension on one ambiguous signal -------------------------------------------------------


def test_one_threshold_finding_alone_strikes_and_never_suspends():
    state, decisions = deliver([[finding(THRESHOLD, "w1", T0)]], [T0])
    assert [d.action for d in decisions] == [Action.strike]
    assert "uncorroborated" in decisions[0].reason
    assert state.effective_status(T0) is Status.active


def test_a_signature_finding_alone_suspends():
    state, decisions = deliver([[finding(SIGNATURE, "sig", T0)]], [T0])
    assert [d.action for d in decisions] == [Action.suspend_temporary]
    assert state.enforced(T0)


def test_an_independent_rule_within_the_corroboration_window_suspends():
    later = T0 + timedelta(hours=3)
    state, decisions = deliver(
        [[finding(THRESHOLD, "w1", T0)], [finding(OTHER_THRESHOLD, "w2", later)]], [T0, later]
    )
    assert [d.action for d in decisions] == [Action.strike, Action.suspend_temporary]
    assert state.suspension is not None and set(state.suspension.violation_ids) == {
        d.violation_id for d in decisions
    }


def test_the_same_rule_in_another_window_corroborates_but_not_after_the_window():
    close = T0 + timedelta(hours=2)
    _, decisions = deliver([[finding(THRESHOLD, "w1", T0)], [finding(THRESHOLD, "w2", close)]], [T0, close])
    assert decisions[-1].action is Action.suspend_temporary
    far = T0 + timedelta(hours=30)
    _, decisions = deliver([[finding(THRESHOLD, "w1", T0)], [finding(THRESHOLD, "w2", far)]], [T0, far])
    assert [d.action for d in decisions] == [Action.strike, Action.strike]


def test_uncorroborated_findings_can_go_to_review_by_policy():
    policy = with_policy(
        ladder__corroboration={"required": True, "within_hours": 24, "uncorroborated": "review"}
    )
    out = engine.decide(account(), [finding(THRESHOLD, "w1", T0)], policy, T0)
    assert [d.action for d in out.decisions] == [Action.review] and len(out.reviews) == 1
    assert out.state.strikes == []


def test_corroboration_can_be_switched_off_by_policy():
    policy = with_policy(ladder__corroboration={"required": False})
    out = engine.decide(account(), [finding(THRESHOLD, "w1", T0)], policy, T0)
    assert [d.action for d in out.decisions] == [Action.suspend_temporary]


# --- voiding a wrongful violation ----------------------------------------------------------------


def test_voiding_the_violation_behind_a_suspension_lifts_it_and_undoes_the_doubling():
    state, decisions = deliver([[finding(SIGNATURE, "wrong", T0)]], [T0])
    vid = decisions[0].violation_id
    now = T0 + timedelta(hours=1)
    out = engine.void_violation(
        state, violation_id=vid, reason="customer's own scanner", actor="ops", now=now
    )
    assert out.state.effective_status(now) is Status.active and out.state.suspension is None
    assert out.state.strikes == [] and out.state.temporary_suspensions == 0
    assert [(a.action, a.violation_id, a.actor) for a in out.audit] == [("void", vid, "ops")]
    # The next breach starts the ladder again at 24 h, not 48 h.
    nxt = T0 + timedelta(days=3)
    after = engine.decide(out.state, [finding(SIGNATURE, "real", nxt)], POLICY, nxt)
    assert after.state.suspension is not None and after.state.suspension.until == nxt + timedelta(hours=24)


def test_voiding_one_of_the_counted_strikes_lifts_a_third_strike_suspension():
    medium = ("D1-error-burst", "D1")
    batches = [[finding(medium, f"m{i}", T0 + timedelta(days=i))] for i in range(3)]
    state, decisions = deliver(batches, [T0 + timedelta(days=i) for i in range(3)])
    assert decisions[-1].action is Action.suspend_temporary
    now = T0 + timedelta(days=2, hours=1)
    out = engine.void_violation(
        state, violation_id=decisions[0].violation_id, reason="dashboard", actor="ops", now=now
    )
    assert not out.state.enforced(now) and len(out.state.strikes) == 2


def test_voiding_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        engine.void_violation(account(), violation_id="x", reason=" ", actor="ops", now=T0)


@st.composite
def strike_deliveries(draw):
    """Medium findings on three days (the third strike suspends) plus two high ones, any order, any delay."""
    medium = ("D1-error-burst", "D1")
    findings = [finding(medium, f"m{i}", T0 + timedelta(days=i, hours=i)) for i in range(4)]
    findings += [finding(THRESHOLD, f"h{i}", T0 + timedelta(days=9, hours=i)) for i in range(2)]
    order = draw(st.permutations(findings))
    cuts = sorted(draw(st.lists(st.integers(1, len(order) - 1), max_size=4, unique=True)))
    batches = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    latest = max(f.detected_at for f in findings)
    delays = draw(st.lists(st.integers(0, 12 * 24 * 60), min_size=len(batches), max_size=len(batches)))
    return batches, sorted(latest + timedelta(minutes=d) for d in delays)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(strike_deliveries())
def test_strikes_in_any_order_batching_and_delay_reach_the_same_suspensions(case):
    batches, times = case
    end = T0 + timedelta(days=40)
    state, _ = deliver(batches, times)
    reference, _ = deliver(
        [sorted((f for b in batches for f in b), key=lambda f: f.detected_at)], [times[-1]]
    )
    assert projection(state, end) == projection(reference, end)
    # the third strike (day 2) suspends 24 h; the fourth (day 3, after that ended) 48 h; the two
    # high findings of day 9, corroborating each other, a third incident
    assert state.temporary_suspensions == reference.temporary_suspensions == 3
