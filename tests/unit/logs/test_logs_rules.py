"""The access-log rules on generated traffic, through ``replay`` (the handler's code path in memory)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aup.detectors.logs.analyzer import analyze, batch_marker, read_lines, strictest_plan
from aup.detectors.logs.counters import MemoryCounters, forged_forwarded
from aup.detectors.logs.signatures import (
    BAD_BOT,
    CRAWLER,
    NON_BROWSER,
    PAYLOAD,
    SCANNER,
    SENSITIVE,
    signatures,
)
from aup.domain.models import Action
from aup.policy import load_policy
from aup.policy.loader import default_policy_text, parse_policy
from aup.policy.sections.logs import LogAnalysis
from aup.usecases.replay import replay, replay_decisions
from tests.unit.logs import traffic as T

POLICY = load_policy("")
# The clock frozen at the instant the traffic is generated for (its T0 is three hours earlier).
pytestmark = pytest.mark.time_machine(T.AT, tick=False)
PLANS = {
    "bizcorp": "business",
    "botfarm": "standard",
    "scrapeco": "standard",
    "resell-hub": "standard",
    "spoofy": "standard",
}


def rules_of(lines: list[T.Line], **kw: object) -> set[str]:
    return {f.rule_id for f in replay([x.text for x in lines], POLICY, plans=PLANS, chunk_lines=2000, **kw)}


@pytest.mark.parametrize("make", [T.person_browsing, T.business_integration])
def test_honest_traffic_yields_nothing(make: object) -> None:
    assert rules_of(make()) == set()


def test_business_integration_on_a_free_plan_is_a_flood() -> None:
    """The same 20 req/s is far beyond a free plan: the plan decides, not the traffic alone."""
    lines = [x.text for x in T.business_integration()]
    found = replay(lines, POLICY, plans={"bizcorp": "free"})
    assert "D5a-request-flood" in {f.rule_id for f in found}


@pytest.mark.parametrize(
    "make, expected",
    [
        (T.robot, {"D5a-request-flood"}),
        (T.scanner, {"D1-sensitive-path", "D1-attack-payload", "D1-scanner-agent", "D1-error-burst"}),
        # 3 req/s on a standard plan (5 req/s): within its plan, so no crawl ratio and the walk is a
        # review (tests/unit/logs/test_logs_honest.py); above its plan it strikes.
        (T.id_scraper, {"W5-id-enumeration"}),
        (T.resold_key, {"G1-key-sharing"}),
        (T.spoofer, {"W1-claimed-account", "W1-forged-forwarded-for", "W1-fake-crawler"}),
        (T.credential_stuffing, {"D2-key-stuffing", "D2-auth-failure-burst"}),
    ],
)
def test_abuse_yields_its_rules(make: object, expected: set[str]) -> None:
    assert expected <= rules_of(make())


def test_findings_carry_event_time_and_stable_window_ids() -> None:
    found = replay([x.text for x in T.robot()], POLICY, plans=PLANS)
    assert found and all(T.T0 <= f.detected_at.timestamp() * 1000 < T.T0 + 3_600_000 for f in found)
    again = replay([x.text for x in T.robot()], POLICY, plans=PLANS, chunk_lines=777)
    assert {f.violation_id for f in found} == {f.violation_id for f in again}  # however the lines are batched


def test_stuffing_findings_are_ip_scoped() -> None:
    found = replay([x.text for x in T.credential_stuffing(ip="203.0.113.66")], POLICY)
    assert found and all(f.account_id is None and f.source_ip_hash for f in found)
    assert all("203.0.113.66" not in str(f.evidence) for f in found)


def test_a_short_burst_a_person_could_make_is_not_a_flood() -> None:
    burst = [T.line(T.T0 + i * 20, account="alice-studio", path=f"/v1/p/{i % 9}") for i in range(400)]
    assert rules_of(burst) == set()


def test_flood_spread_over_many_batches_is_one_window() -> None:
    store = MemoryCounters()
    lines = [x.text for x in T.robot(minutes=5)]
    found = []
    for n, i in enumerate(range(0, len(lines), 300)):  # no batch alone crosses the bar (2250)
        read = read_lines(lines[i : i + 300], POLICY.log_analysis)
        found += analyze(
            read.records, marker=batch_marker([str(n)]), store=store, policy=POLICY, plan_of=PLANS.get
        ).findings
    assert {f.rule_id for f in found} == {"D5a-request-flood"}
    assert len({f.violation_id for f in found}) == 1


def test_redelivered_batch_adds_nothing() -> None:
    store = MemoryCounters()
    read = read_lines([x.text for x in T.robot(minutes=1)], POLICY.log_analysis)
    first = analyze(read.records, marker="m1", store=store, policy=POLICY, plan_of=PLANS.get)
    snapshot = {k: dict(v) for k, v in store.items.items()}
    second = analyze(read.records, marker="m1", store=store, policy=POLICY, plan_of=PLANS.get)
    assert first.applied and not second.applied
    assert store.items == snapshot


def test_counter_writes_grow_with_accounts_not_lines() -> None:
    def writes(lines: list[str]) -> int:
        store = MemoryCounters()
        analyze(
            read_lines(lines, POLICY.log_analysis).records,
            marker="m",
            store=store,
            policy=POLICY,
            plan_of=lambda a: None,
        )
        return store.writes

    one = [T.line(T.T0 + i * 10, account="acme-co").text for i in range(2000)]
    many = [T.line(T.T0 + i * 10, account=f"acct-{i % 100:03d}").text for i in range(2000)]
    # hour item (with its rate slot's counts) + day item + the hour's sets (networks, agents); these
    # lines carry no crawl sample nor error path, so their rate window's set item has nothing to write
    assert writes(one) == writes(one[:50]) == 3
    assert writes(many) == 300


def test_plan_lookup_only_for_accounts_near_a_plan_bar() -> None:
    asked: list[str] = []
    lines = [x.text for x in T.merge(T.person_browsing(), T.robot(minutes=6))]
    analyze(
        read_lines(lines, POLICY.log_analysis).records,
        marker="m",
        store=MemoryCounters(),
        policy=POLICY,
        plan_of=lambda a: asked.append(a) or PLANS.get(a),
    )
    assert asked == ["botfarm"]


def test_strictest_plan_takes_every_lowest_limit() -> None:
    p = strictest_plan(POLICY)
    assert p.requests_per_second == 2 and p.requests_per_day == 10_000 and p.seats == 3


def test_replay_decisions_apply_the_ladder() -> None:
    found = replay([x.text for x in T.scanner()], POLICY)
    when = max(f.detected_at for f in found) + timedelta(minutes=1)
    outcomes = replay_decisions(found, POLICY, when)
    actions = {d.action for d in outcomes["scanco"].decisions}
    assert Action.suspend_temporary in actions


def test_signatures_classify_paths_and_agents() -> None:
    sig = signatures(("accounts",))
    assert sig.path("/.env").flags & SENSITIVE
    assert sig.path("/wp-login.php").flags & SENSITIVE
    assert sig.path("/v1/x/..%2f..%2fetc%2fpasswd").flags & PAYLOAD
    assert sig.path("/v1/search/%253Cscript%253E").flags & PAYLOAD  # double-encoded
    assert sig.path("/v1/items/1%27%20OR%201=1--").flags & PAYLOAD
    assert sig.path("/v1/users/o%27brien").flags == 0
    assert sig.path("/v1/reports/q3.pdf").flags == 0
    assert sig.path("/administrator-guide").flags == 0
    assert sig.path("/v1/products/1234").number == 1234
    assert sig.path("/accounts/other-co/files").tenant == "other-co"
    assert sig.agent("sqlmap/1.8") & SCANNER
    assert sig.agent(T.GOOGLEBOT) & CRAWLER
    assert sig.agent("python-requests/2.31") & NON_BROWSER
    assert sig.agent(T.CHROME) == 0
    assert sig.agent("Mozilla/5.0 (compatible; MJ12bot/v1.4.8)") & BAD_BOT


@pytest.mark.parametrize(
    "chain, source, forged",
    [
        ("203.0.113.5", "203.0.113.5", False),
        ("10.1.2.3, 203.0.113.5", "203.0.113.5", False),  # an office proxy: private hop, honest
        ("127.0.0.1, 203.0.113.5", "203.0.113.5", True),
        ("' OR 1=1, 203.0.113.5", "203.0.113.5", True),
        ("198.51.100.1", "203.0.113.5", True),  # does not end with the caller
        (", ".join(["198.51.100.1"] * 8) + ", 203.0.113.5", "203.0.113.5", True),
    ],
)
def test_forwarded_for_chains(chain: str, source: str, forged: bool) -> None:
    assert forged_forwarded(chain, source, LogAnalysis()) is forged


def test_default_policy_yaml_equals_the_section_defaults() -> None:
    assert parse_policy(default_policy_text()).log_analysis == LogAnalysis()


def test_rate_window_must_divide_the_hour() -> None:
    with pytest.raises(ValueError, match="divide an hour"):
        LogAnalysis.model_validate({"windows": {"rate_seconds": 420}})


def _through_an_outage(failed_status: int) -> list[T.Line]:
    """A standard-plan integration (5 req/s) at 3 req/s for 20 minutes; for 8 of them every request is
    answered ``failed_status`` and its client library tries it three more times within a second."""
    out = []
    for i in range(3 * 20 * 60):
        at = T.T0 + i * 333
        path = f"/invoices/{10_000 + i}"
        if 6 * 60_000 <= at - T.T0 < 14 * 60_000:
            out += [
                T.line(at + k * 250, account="botfarm", agent="billing-sync/3.2", path=path,
                       resource="/invoices/{id}", status=failed_status, length=60)
                for k in range(4)
            ]  # fmt: skip
        else:
            out.append(
                T.line(at, account="botfarm", agent="billing-sync/3.2", path=path, resource="/invoices/{id}")
            )
    return sorted(out, key=lambda ln: ln.ts)


def test_retries_through_the_services_own_outage_are_a_review_not_a_flood() -> None:
    """12 req/s (2.4x the plan) for 8 minutes, all of the excess requests the service answered 503: the
    provider's outage made the rate. D5a says so, below its bar; the ladder strikes nothing."""
    lines = [x.text for x in _through_an_outage(503)]
    flood = [f for f in replay(lines, POLICY, plans=PLANS) if f.rule_id == "D5a-request-flood"]
    bar = POLICY.rules["D5a-request-flood"].confidence_bar
    assert flood and all(f.confidence < bar and f.evidence["excess_is_server_errors"] for f in flood)
    assert all(f.evidence["server_errors"] > 600 for f in flood)
    when = max(f.detected_at for f in flood) + timedelta(minutes=1)
    outcome = replay_decisions(flood, POLICY, when, plans=PLANS)["botfarm"]
    assert {d.action for d in outcome.decisions} == {Action.review}


def test_the_same_rate_answered_by_the_service_is_still_a_flood() -> None:
    """The same requests answered (429 is the gateway's answer, not a failure): the client's own rate, as
    before; and a flood the service answered beside some 5xx keeps its strike."""
    bar = POLICY.rules["D5a-request-flood"].confidence_bar
    for status in (200, 429):
        flood = [
            f
            for f in replay([x.text for x in _through_an_outage(status)], POLICY, plans=PLANS)
            if f.rule_id == "D5a-request-flood"
        ]
        assert flood and any(f.confidence >= bar for f in flood), status
        assert not any(f.evidence["excess_is_server_errors"] for f in flood)
    robot = T.robot(minutes=6)
    mixed = [
        T.line(x.ts, account="botfarm", agent="billing-sync/3.2", path="/x", status=500) if i % 10 == 0 else x
        for i, x in enumerate(robot)
    ]
    flood = [
        f for f in replay([x.text for x in mixed], POLICY, plans=PLANS) if f.rule_id == "D5a-request-flood"
    ]
    assert any(f.confidence >= bar and f.evidence["server_errors"] > 0 for f in flood)
