"""The ladder (docs/architecture.md#ladder), example by example, then its invariants under hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.domain import engine
from aup.domain.models import AccountState, Action, Finding, Severity, Source, Status, SuspensionKind
from aup.policy import PolicyError, load_default_policy, parse_policy
from aup.policy.loader import default_policy_text

POLICY = load_default_policy()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# Fixed dates only on a clock frozen to them: nothing here depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(NOW, tick=False)
RULE_BY_SEVERITY = {
    Severity.medium: ("D1-error-burst", "D1"),
    Severity.high: ("D1-scanner-agent", "D1"),
    Severity.critical: ("I3-malware-signature", "I3"),
}


def account(**kw) -> AccountState:
    return AccountState(account_id="acme-corp", **kw)


def finding(
    severity: Severity = Severity.medium,
    event: str = "e1",
    *,
    at: datetime = NOW,
    confidence: float = 0.99,
    rule: tuple[str, str] | None = None,
) -> Finding:
    rule_id, clause = rule or RULE_BY_SEVERITY[severity]
    return Finding(
        rule_id=rule_id,
        clause=clause,
        account_id="acme-corp",
        source=Source.log,
        source_event_id=event,
        detected_at=at,
        confidence=confidence,
    )


def with_policy(**changes) -> object:
    import yaml

    doc = yaml.safe_load(default_policy_text())
    for path, value in changes.items():
        node = doc
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return parse_policy(yaml.safe_dump(doc))


def test_low_severity_warns_and_changes_no_state():
    out = engine.decide(
        account(), [finding(Severity.medium).model_copy(update={"severity": Severity.low})], POLICY, NOW
    )
    assert [d.action for d in out.decisions] == [Action.warn]
    assert out.state.status is Status.active and out.state.strikes == [] and out.audit == []


def test_medium_strikes_and_third_strike_in_window_suspends_for_24h():
    state = account()
    actions = []
    for i in range(3):
        out = engine.decide(
            state, [finding(event=f"e{i}", at=NOW + timedelta(days=i))], POLICY, NOW + timedelta(days=i)
        )
        state = out.state
        actions.append(out.decisions[0].action)
    assert actions == [Action.strike, Action.strike, Action.suspend_temporary]
    assert state.suspension is not None and state.suspension.kind is SuspensionKind.temporary
    assert state.suspension.until == NOW + timedelta(days=2, hours=24)


def test_strikes_outside_the_rolling_window_do_not_count():
    state = account()
    for i, day in enumerate((0, 31, 62)):
        state = engine.decide(
            state, [finding(event=f"e{i}", at=NOW + timedelta(days=day))], POLICY, NOW + timedelta(days=day)
        ).state
    assert state.status is Status.active and len(state.strikes) == 1


def test_high_suspends_at_once_and_repeats_double_up_to_the_cap():
    state = account()
    durations = []
    t = NOW
    for i in range(8):
        out = engine.decide(state, [finding(Severity.high, f"h{i}", at=t)], POLICY, t)
        state = out.state
        assert state.suspension is not None and state.suspension.until is not None
        durations.append(state.suspension.until - t)
        t = state.suspension.until + timedelta(hours=1)  # next breach after the suspension ended
    hours = [d.total_seconds() / 3600 for d in durations]
    assert hours[:5] == [24, 48, 96, 192, 384]
    assert hours[5:] == [720, 720, 720]  # capped at 30 days


def test_critical_suspends_indefinitely_and_expiry_never_lifts_it():
    out = engine.decide(account(), [finding(Severity.critical)], POLICY, NOW)
    assert out.state.suspension is not None and out.state.suspension.kind is SuspensionKind.indefinite
    assert out.state.enforced(NOW + timedelta(days=10_000))
    assert engine.lift_expired(out.state, now=NOW + timedelta(days=10_000)) is None


def test_below_the_confidence_bar_goes_to_review_without_a_strike():
    out = engine.decide(account(), [finding(Severity.high, confidence=0.5)], POLICY, NOW)
    assert [d.action for d in out.decisions] == [Action.review]
    assert len(out.reviews) == 1 and "confidence" in out.reviews[0].reason
    assert out.state.status is Status.active and out.state.strikes == []


def test_review_only_clause_goes_to_review():
    out = engine.decide(account(), [finding(rule=("W3-threat-phrases", "W3"))], POLICY, NOW)
    assert [d.action for d in out.decisions] == [Action.review]


def test_allowlisted_account_is_never_suspended_automatically():
    out = engine.decide(account(allowlisted=True), [finding(Severity.critical)], POLICY, NOW)
    assert [d.action for d in out.decisions] == [Action.review]
    assert out.state.status is Status.active


def test_confirmed_review_applies_the_ladder_even_when_allowlisted():
    out = engine.decide(account(allowlisted=True), [finding(Severity.critical)], POLICY, NOW, force=True)
    assert out.state.enforced(NOW)


@pytest.mark.parametrize("where", ["global", "rule", "account"])
def test_dry_run_reports_would_suspend_and_changes_no_flag(where):
    policy = POLICY
    state = account()
    if where == "global":
        policy = with_policy(dry_run=True)
    elif where == "rule":
        policy = with_policy(**{"rules__I3-malware-signature__dry_run": True})
    else:
        state = account(dry_run=True)
    out = engine.decide(state, [finding(Severity.critical)], policy, NOW)
    (d,) = out.decisions
    assert d.action is Action.suspend_indefinite and not d.enforced and d.label == "would_suspend_indefinite"
    assert out.state.status is Status.active and not out.state.enforced(NOW)


def test_dry_run_strikes_do_not_count_once_dry_run_is_off():
    state = account(dry_run=True)
    for i in range(2):
        state = engine.decide(state, [finding(event=f"d{i}")], POLICY, NOW).state
    state = state.model_copy(update={"dry_run": False})
    out = engine.decide(state, [finding(event="real")], POLICY, NOW)
    assert out.decisions[0].action is Action.strike and out.state.status is Status.active


def test_replaying_a_finding_changes_nothing():
    first = engine.decide(account(), [finding(Severity.high)], POLICY, NOW)
    again = engine.decide(first.state, [finding(Severity.high)], POLICY, NOW + timedelta(minutes=5))
    assert not again.changed and again.state == first.state


def test_future_dated_finding_is_clamped_to_now():
    out = engine.decide(account(), [finding(Severity.high, at=NOW + timedelta(days=365))], POLICY, NOW)
    assert out.state.suspension is not None and out.state.suspension.until == NOW + timedelta(hours=24)


def test_replayed_old_finding_whose_suspension_is_over_is_recorded_not_enforced():
    out = engine.decide(account(), [finding(Severity.high, at=NOW - timedelta(days=3))], POLICY, NOW)
    (d,) = out.decisions
    assert d.action is Action.suspend_temporary and not d.enforced
    assert not out.state.enforced(NOW)


def test_unknown_rule_and_clause_mismatch_are_errors():
    bad = Finding(
        rule_id="Z9-nothing",
        clause="D1",
        account_id="acme-corp",
        source=Source.log,
        source_event_id="x",
        detected_at=NOW,
    )
    with pytest.raises(PolicyError):
        engine.decide(account(), [bad], POLICY, NOW)
    wrong = bad.model_copy(update={"rule_id": "D1-error-burst", "clause": "D2"})
    with pytest.raises(PolicyError):
        engine.decide(account(), [wrong], POLICY, NOW)


def test_operator_transitions():
    out = engine.suspend(account(), reason="manual", until=None, actor="op", now=NOW)
    assert out.state.enforced(NOW) and out.audit[0].actor == "op"
    back = engine.reinstate(out.state, reason="ok", actor="op", now=NOW)
    assert not back.state.enforced(NOW) and back.state.version == out.state.version + 1
    with pytest.raises(ValueError):
        engine.suspend(account(), reason="x", until=NOW - timedelta(seconds=1), actor="op", now=NOW)


# --- invariants ---------------------------------------------------------------------------------

severities = st.sampled_from([Severity.low, Severity.medium, Severity.high, Severity.critical])
findings_st = st.lists(
    st.tuples(severities, st.integers(0, 50), st.integers(0, 60 * 24 * 60), st.floats(0, 1)),
    min_size=1,
    max_size=25,
)


def build(items) -> list[Finding]:
    out = []
    for sev, event, minutes, conf in items:
        rule = RULE_BY_SEVERITY.get(sev, RULE_BY_SEVERITY[Severity.medium])
        f = finding(
            sev if sev in RULE_BY_SEVERITY else Severity.medium,
            f"e{event}-{sev.value}",
            at=NOW + timedelta(minutes=minutes),
            confidence=conf,
            rule=rule,
        )
        if sev is Severity.low:
            f = f.model_copy(update={"severity": Severity.low})
        out.append(f)
    return out


@settings(max_examples=200, deadline=None)
@given(items=findings_st, allowlisted=st.booleans(), dry=st.booleans())
def test_a_confident_critical_finding_always_ends_suspended_unless_allowlisted_or_dry_run(
    items, allowlisted, dry
):
    later = NOW + timedelta(days=61)
    fs = [*build(items), finding(Severity.critical, "the-critical", at=later, confidence=1.0)]
    out = engine.decide(account(allowlisted=allowlisted, dry_run=dry), fs, POLICY, later)
    assert out.state.enforced(later) is (not allowlisted and not dry)


@settings(max_examples=200, deadline=None)
@given(items=findings_st)
def test_replaying_the_same_findings_changes_nothing(items):
    now = NOW + timedelta(days=61)
    fs = build(items)
    first = engine.decide(account(), fs, POLICY, now)
    second = engine.decide(first.state, fs, POLICY, now)
    assert not second.changed and second.state == first.state


@settings(max_examples=200, deadline=None)
@given(items=findings_st, extra_days=st.integers(31, 400))
def test_an_expired_temporary_suspension_is_never_enforced(items, extra_days):
    now = NOW + timedelta(days=61)
    out = engine.decide(account(), [f for f in build(items) if f.clause != "I3"], POLICY, now)
    s = out.state.suspension
    later = now + timedelta(days=extra_days)
    if s is not None and s.kind is SuspensionKind.temporary:
        assert not out.state.enforced(later)
        lifted = engine.lift_expired(out.state, now=later)
        assert lifted is not None and lifted.state.status is Status.active


@settings(max_examples=200, deadline=None)
@given(items=findings_st)
def test_allowlisted_accounts_are_never_suspended_and_every_finding_is_accounted_for(items):
    now = NOW + timedelta(days=61)
    fs = build(items)
    out = engine.decide(account(allowlisted=True), fs, POLICY, now)
    assert not out.state.enforced(now)
    assert len(out.decisions) == len({f.violation_id for f in fs})
    assert out.state.version == (1 if out.decisions else 0)


def test_findings_during_a_suspension_are_recorded_without_escalating():
    burst = [finding(Severity.high, f"burst-{i}", at=NOW + timedelta(seconds=i)) for i in range(3)]
    out = engine.decide(account(), burst, POLICY, NOW + timedelta(minutes=1))
    assert [d.action for d in out.decisions] == [Action.suspend_temporary, Action.record, Action.record]
    assert out.state.temporary_suspensions == 1
    assert out.state.suspension is not None and out.state.suspension.until == NOW + timedelta(hours=24)


def test_acts_for_is_sorted_once_audited_and_unchanged_is_no_change() -> None:
    state = AccountState(account_id="agency-7", plan="business")
    outcome = engine.set_acts_for(state, acts_for=["client-b", "client-a", "client-b"], actor="op", now=NOW)
    assert outcome is not None
    assert outcome.state.acts_for == ["client-a", "client-b"] and outcome.state.version == state.version + 1
    assert [(a.action, a.reason) for a in outcome.audit] == [("acts-for", "acts for client-a, client-b")]
    assert engine.set_acts_for(outcome.state, acts_for=["client-a", "client-b"], actor="op", now=NOW) is None
    many = engine.set_acts_for(state, acts_for=[f"client-{i:02d}" for i in range(8)], actor="op", now=NOW)
    assert many is not None and many.audit[0].reason.endswith("and 3 more")
    for bad in (["Client A"], ["*", "client-a"], [f"client-{i:04d}" for i in range(1001)]):
        with pytest.raises(ValueError):
            engine.set_acts_for(state, acts_for=bad, actor="op", now=NOW)
    # an item written before the field existed reads as acting for no one
    old = AccountState.model_validate_json(state.model_dump_json(exclude={"acts_for"}))
    assert old.acts_for == []
