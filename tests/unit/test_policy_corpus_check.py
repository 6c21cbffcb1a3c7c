"""``policy diff --corpus``'s judgement of an eval run (aup.usecases.policy_diff.check_corpus): which honest
scenarios a candidate wrongs, the rules that acted, and the candidate's changed fields behind them."""

from __future__ import annotations

import yaml

from aup.policy.loader import default_policy_text, load_default_policy, parse_policy
from aup.usecases.policy_diff import changed_fields, check_corpus, responsible


def candidate(**changes: object) -> object:
    d = yaml.safe_load(default_policy_text())
    d["policy_version"] = "candidate-1"
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = d
        for p in parents:
            node = node[p]
        node[leaf] = value
    return parse_policy(yaml.safe_dump(d))


def row(name: str, plan: str = "standard", **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": name,
        "label": "honest",
        "plan": plan,
        "account_id": f"ev1-{name}",
        "known": None,
        "violations": [],
        "strikes": 0,
        "status": "active",
        "suspension": "-",
        "authorizer": "Allow",
        "error": None,
    }
    return {**base, **kw}


def test_an_identical_candidate_changes_no_field():
    assert changed_fields(load_default_policy(), parse_policy(default_policy_text())) == {}
    # the version alone is not a change
    assert changed_fields(load_default_policy(), candidate()) == {}


def test_a_lowered_threshold_is_named_for_the_rule_it_decides():
    cand = candidate(usage_monitoring__consecutive_periods=1, log_analysis__key_sharing__min_networks=4)
    changes = changed_fields(load_default_policy(), cand)
    assert set(changes) == {"usage_monitoring.consecutive_periods", "log_analysis.key_sharing.min_networks"}
    assert responsible(["D5-cpu"], "standard", changes, cand) == [
        "usage_monitoring.consecutive_periods: 3 -> 1"
    ]
    assert responsible(["G1-key-sharing"], "free", changes, cand) == [
        "log_analysis.key_sharing.min_networks: 12 -> 4"
    ]
    assert responsible(["D1-error-burst"], "free", changes, cand) == []  # neither decides D1


def test_the_plan_the_rule_entry_and_the_ladder_are_responsible_for_every_rule():
    cand = candidate(plans__standard__requests_per_second=1, ladder__strikes_to_suspend=1)
    changes = changed_fields(load_default_policy(), cand)
    assert responsible(["D5a-request-flood"], "standard", changes, cand) == [
        "ladder.strikes_to_suspend: 3 -> 1",
        "plans.standard.requests_per_second: 5.0 -> 1.0",
    ]
    assert responsible(["D5a-request-flood"], "free", changes, cand) == ["ladder.strikes_to_suspend: 3 -> 1"]


def test_the_wronged_scenarios_are_listed_with_their_rules_and_fields():
    cand = candidate(usage_monitoring__consecutive_periods=1)
    rows = [
        row("browser-person", "free"),
        row(
            "cpu-one-spike",
            violations=["D5-cpu:suspend_temporary"],
            strikes=1,
            status="suspended",
            suspension="temporary D5-cpu",
            authorizer="Deny (account suspended)",
        ),
        row("integration", "free", violations=["D5b-requests:strike", "W5-crawl-ratio:review"], strikes=1),
        row("reviewed-only", violations=["W2-personal-data:review"]),  # a review is no wrong
        {**row("an-attack"), "label": "attack", "status": "suspended"},  # not the honest half
    ]
    check = check_corpus(rows, load_default_policy(), cand)
    assert check.scenarios == 4
    assert [w.name for w in check.flagged] == ["cpu-one-spike", "integration"]
    spike, integration = check.wronged
    assert spike.harms == ["suspended (temporary D5-cpu)", "1 strike(s)", "denied (account suspended)"]
    assert spike.rules == ["D5-cpu"] and spike.fields == ["usage_monitoring.consecutive_periods: 3 -> 1"]
    assert integration.rules == ["D5b-requests"]  # the review is not a rule that wronged it
    assert not check.ok
    assert check.summary() == "honest corpus: 4 scenario(s) under candidate-1; 2 wronged"
    body = check.as_dict()
    assert body["flagged"] == ["cpu-one-spike", "integration"] and body["ok"] is False


def test_a_clean_run_passes_known_wrongs_are_listed_not_failed_and_errors_fail():
    clean = check_corpus([row("a"), row("b")], load_default_policy(), candidate())
    assert clean.ok and clean.wronged == []
    known = check_corpus([row("a", strikes=1, known="issue-9")], load_default_policy(), candidate())
    assert known.ok and [w.known for w in known.wronged] == ["issue-9"] and known.flagged == []
    broken = check_corpus([row("a", error="LedgerTimeout")], load_default_policy(), candidate())
    assert not broken.ok and broken.errors == ["a: LedgerTimeout"]
