"""Issue "Honest customers are never suspended by mistake": the access-log classes, each with the
traffic that was wrongly judged and the abusive twin that must still be caught."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aup.detectors.logs.analyzer import analyze, batch_marker, read_lines, strip_stage
from aup.detectors.logs.counters import (
    ID_SET_LIMIT,
    MAX_FOREIGN_LOOKUPS,
    MAX_WALKED_IDS,
    MemoryCounters,
)
from aup.domain.models import Action, Finding
from aup.policy import load_policy
from aup.usecases.replay import replay, replay_decisions
from tests.unit.logs import traffic as T

POLICY = load_policy("")
pytestmark = pytest.mark.time_machine(T.AT, tick=False)
SCRAPY = "Scrapy/2.11 (+https://scrapy.org)"


def findings(lines: list[T.Line], plans: dict[str, str], chunk_lines: int = 2000) -> set[tuple[str, str]]:
    found = replay([x.text for x in lines], POLICY, plans=plans, chunk_lines=chunk_lines)
    return {(f.rule_id, f.source_event_id) for f in found}


def rules(lines: list[T.Line], plans: dict[str, str], chunk_lines: int = 2000) -> set[str]:
    return {r for r, _ in findings(lines, plans, chunk_lines)}


def sync(
    account: str, rate: float, minutes: int, *, agent: str = "erp-connector/7.1 (+java 21)", seed: int = 3
) -> list[T.Line]:
    """An integration reading distinct orders (ids far apart: not a walk) at ``rate`` req/s."""
    rnd = random.Random(seed)
    gap = 1000 / rate
    oid = 40_000
    out = []
    for i in range(int(rate * minutes * 60)):
        oid += rnd.randrange(5, 40)
        out.append(
            T.line(
                T.T0 + int(i * gap),
                account=account,
                ip="198.51.100.40",
                agent=agent,
                path=f"/orders/{oid}",
                resource="/orders/{id}",
            )
        )
    return out


# --- class 3: a customer using its plan is not abusing it -----------------------------------------


def test_sync_at_60_percent_of_its_business_plan_is_not_a_crawl() -> None:
    lines = sync("erp-sync", rate=30, minutes=6)
    assert rules(lines, {"erp-sync": "business"}) == set()


def test_the_same_sync_above_its_plan_rate_is_a_crawl() -> None:
    """30 req/s on a standard plan (5 req/s): the plan decides, so the rule still bites above it."""
    assert "W5-crawl-ratio" in rules(sync("erp-sync", rate=30, minutes=6), {"erp-sync": "standard"})


def test_a_declared_scraper_within_its_plan_rate_is_still_a_crawl() -> None:
    lines = sync("scrapeco", rate=4, minutes=5, agent=SCRAPY)
    assert "W5-crawl-ratio" in rules(lines, {"scrapeco": "standard"})


def test_an_id_walk_within_the_plan_rate_is_a_review_never_a_strike() -> None:
    lines = [x.text for x in T.id_scraper()]  # 3 req/s on standard (5 req/s)

    def actions(plan: str) -> set[Action]:
        found = [
            f for f in replay(lines, POLICY, plans={"scrapeco": plan}) if f.rule_id == "W5-id-enumeration"
        ]
        outcome = replay_decisions(found, POLICY, T.AT, plans={"scrapeco": plan})["scrapeco"]
        return {d.action for d in outcome.decisions}

    assert actions("standard") == {Action.review}
    assert Action.strike in actions("free")  # 2 req/s: above the plan, the walk strikes


# --- class 4: serving the customer's own files is not probing ------------------------------------

DOWNLOADS = [
    "/downloads/acme-setup-2.4.1.exe",
    "/downloads/acme-setup-2.4.0.exe",
    "/downloads/migrations/2026_11_add_index.sql",
    "/downloads/composer.json",
    "/downloads/backup.zip",
]


def downloads(status: int, resource: str | None) -> list[T.Line]:
    return [
        T.line(
            T.T0 + i * 20_000,
            account="acme-soft",
            ip=f"203.0.113.{10 + i}",
            path=path,
            resource=resource if resource is not None else path,
            status=status,
        )
        for i, path in enumerate(DOWNLOADS * 2)
    ]


def test_successful_downloads_from_the_customers_own_routes_are_not_sensitive_paths() -> None:
    assert "D1-sensitive-path" not in rules(downloads(200, "/downloads/{file+}"), {})


@pytest.mark.parametrize(("status", "resource"), [(404, None), (403, "/downloads/{file+}"), (200, "-")])
def test_the_same_paths_refused_or_unrouted_are_sensitive_paths(status: int, resource: str | None) -> None:
    assert "D1-sensitive-path" in rules(downloads(status, resource), {})


# --- class 2: distinct counts over the window, whatever the batching -----------------------------


def dashboard(payload_lines: int) -> set[str]:
    """50 widgets refreshed every 6 s by a reporting server: 8 req/s, above a free plan's rate."""
    lines = [
        T.line(
            T.T0 + i * 120,
            account="dash-co",
            agent="grafana-agent/0.40",
            path=f"/widgets/w-{i % 50:02d}",
            resource="/widgets/{id}",
        )
        for i in range(2500)
    ]
    return rules(lines, {"dash-co": "free"}, chunk_lines=payload_lines)


@pytest.mark.parametrize("payload_lines", [2500, 50, 7])
def test_a_dashboard_polling_the_same_50_resources_is_no_crawler_in_small_payloads(
    payload_lines: int,
) -> None:
    assert "W5-crawl-ratio" not in dashboard(payload_lines)


@st.composite
def window_traffic(draw: st.DrawFn) -> list[T.Line]:
    """One account's 5-minute window at a steady rate: a poller of a few paths or a crawler of new
    ones, from some networks and agents, with refused probes mixed in evenly (a rule judges a window
    as soon as its count crosses a bar, so the mix must not change along the window)."""
    n = draw(st.integers(700, 1500))  # above a free plan's 2 req/s: the rate rules are live
    pool = draw(st.sampled_from([20, 60, 0]))  # 0: every path new
    networks = draw(st.integers(1, 30))
    agents = draw(st.integers(1, 8))
    errors = draw(st.sampled_from([0, 40]))
    seed = draw(st.integers(0, 2**16))
    rnd = random.Random(seed)
    gap = 300_000 // (n + 1)
    out = []
    for i in range(n):
        slug = f"p-{rnd.getrandbits(40):x}" if pool == 0 else f"p-{rnd.randrange(pool)}"
        status, path = 200, f"/items/{slug}"
        if errors and i % (n // errors) == 0:  # spread evenly: every prefix shows the same mix
            status, path = 404, f"/probe/{slug}"
        out.append(
            T.line(
                T.T0 + i * gap,
                account="prop-co",
                ip=f"198.{51 + rnd.randrange(networks)}.100.{rnd.randrange(1, 250)}",
                agent=f"client/{rnd.randrange(agents)}",
                path=path,
                resource="/items/{slug}" if status == 200 else "-",
                status=status,
            )
        )
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window_traffic(), st.lists(st.integers(1, 400), min_size=1, max_size=6))
def test_the_same_traffic_gives_the_same_findings_in_one_payload_or_many(
    lines: list[T.Line], sizes: list[int]
) -> None:
    whole = findings(lines, {"prop-co": "free"}, chunk_lines=len(lines))
    many = findings(lines, {"prop-co": "free"}, chunk_lines=sizes[0])
    assert many == whole


# --- class 5: another account's id means another account -----------------------------------------


def probes(status: int, ids: list[str], marker: str = "customers") -> list[str]:
    return [
        T.line(
            T.T0 + i * 4_000,
            account="crm-co",
            ip="198.51.100.60",
            agent="HubBridge-CRM/3.4",
            path=f"/{marker}/{ids[i % len(ids)]}",
            resource=f"/{marker}/{{id}}",
            status=status,
        ).text
        for i in range(12)
    ]


def foreign(lines: list[str], existing: set[str] | None) -> list[str]:
    looked_up: list[list[str]] = []

    def accounts_exist(candidates: Sequence[str]) -> set[str]:
        looked_up.append(list(candidates))
        return set(candidates) & (existing or set())

    result = analyze(
        read_lines(lines, POLICY.log_analysis).records,
        marker=batch_marker(["foreign"]),
        store=MemoryCounters(),
        policy=POLICY,
        plan_of=lambda _a: "standard",
        accounts_exist=accounts_exist if existing is not None else None,
    )
    assert all(len(c) <= MAX_FOREIGN_LOOKUPS for c in looked_up)
    return [f.rule_id for f in result.findings if f.rule_id == "D2-foreign-account-probe"]


CUSTOMERS = ["100231", "100877", "204511", "309920", "411002", "587341"]


def test_a_crm_meeting_deleted_customers_is_no_foreign_account_probe() -> None:
    assert foreign(probes(404, CUSTOMERS), existing=set()) == []
    assert foreign(probes(404, CUSTOMERS), existing=None) == []  # a 404 is a missing record


def test_refusals_on_ids_that_are_no_accounts_are_no_foreign_account_probe() -> None:
    assert foreign(probes(403, CUSTOMERS), existing={"acme-corp"}) == []


def test_refusals_on_other_existing_accounts_are_a_foreign_account_probe() -> None:
    real = ["acme-corp", "globex", "initech"]
    assert foreign(probes(403, real, marker="accounts"), existing=set(real)) == ["D2-foreign-account-probe"]


# --- class 7: many users are not resale -----------------------------------------------------------

DAY = 86_400_000


def _people(
    start: int,
    n: int,
    agent_of: Any,
    *,
    first_net: int,
    seed: int,
    requests: tuple[int, int],
    gap_ms: int,
    paths: Any,
) -> list[T.Line]:
    """``n`` people in an hour, each on a network of its own, with ``agent_of(i)``'s agent."""
    rnd = random.Random(seed)
    out = []
    for u in range(n):
        net = first_net + u
        for k in range(rnd.randrange(*requests)):
            path, resource = paths(rnd)
            out.append(
                T.line(
                    start + rnd.randrange(55 * 60_000) + k * gap_ms,
                    account="shop-app",
                    ip=f"198.{net // 250}.{net % 250}.7",
                    agent=agent_of(u),
                    path=path,
                    resource=resource,
                )
            )
    return sorted(out, key=lambda x: x.ts)


def app_users(start: int, users: int, *, first_net: int = 0, seed: int = 9) -> list[T.Line]:
    """A mobile app: ``users`` people in an hour, each on their own network, six app versions."""
    return _people(
        start,
        users,
        lambda u: f"AcmeShop/4.{u % 6}.1 ({'iPhone; iOS 18' if u % 2 else 'Android 14; okhttp/4.12.0'})",
        first_net=first_net,
        seed=seed,
        requests=(5, 15),
        gap_ms=8_000,
        paths=lambda rnd: ("/cart", "/cart"),
    )


def sharing(lines: list[T.Line]) -> list[float]:
    found = replay([x.text for x in lines], POLICY, plans={"shop-app": "standard"}, chunk_lines=500)
    today = [f for f in found if f.detected_at.timestamp() * 1000 >= T.T0]  # not the history's own
    return [f.confidence for f in today if f.rule_id == "G1-key-sharing"]


def test_many_users_with_no_history_are_at_most_a_review() -> None:
    bar = POLICY.rules["G1-key-sharing"].confidence_bar
    confidences = sharing(app_users(T.T0, 40))
    assert confidences and max(confidences) < bar


def test_many_users_like_every_day_are_no_key_sharing() -> None:
    history = [app_users(T.T0 - d * DAY, 30, seed=d) for d in (1, 2, 3)]
    assert sharing(T.merge(*history, app_users(T.T0, 40))) == []


def test_a_sudden_spread_far_beyond_the_accounts_baseline_is_key_sharing() -> None:
    bar = POLICY.rules["G1-key-sharing"].confidence_bar
    history = [app_users(T.T0 - d * DAY, 4, seed=d) for d in (1, 2)]
    confidences = sharing(T.merge(*history, app_users(T.T0, 60, first_net=100)))
    assert confidences and min(confidences) >= bar


def site_visitors(start: int, visitors: int, *, first_net: int = 0, seed: int = 9) -> list[T.Line]:
    """A web front-end's visitors: each on a network of its own, browsers of several versions."""
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0"
    return _people(
        start,
        visitors,
        lambda v: chrome.format(120 + v % 9),
        first_net=first_net,
        seed=seed,
        requests=(4, 10),
        gap_ms=12_000,
        paths=lambda rnd: (f"/notes/{rnd.randrange(1, 300)}", "/notes/{id}"),
    )


def test_a_front_ends_audience_jumping_past_its_baseline_is_at_most_a_review() -> None:
    """A post about the customer's app is shared: 60 visitors in an hour against 4 a day before, all
    browsers. Before, G1 at 0.9: a strike an hour on launch day (three suspend). Resale spreads the
    same way, so it is a review; the app's own agents (``test_a_sudden_spread_...``) still strike."""
    bar = POLICY.rules["G1-key-sharing"].confidence_bar
    history = [site_visitors(T.T0 - d * DAY, 4, seed=d) for d in (1, 2)]
    confidences = sharing(T.merge(*history, site_visitors(T.T0, 60, first_net=100)))
    assert confidences and max(confidences) == POLICY.log_analysis.key_sharing.front_end_confidence < bar


# --- class 1: paths as the API routes them ---------------------------------------------------------


def staged(prefix: str) -> list[T.Line]:
    """A person's routed calls and an admin-interface probe, paths as API Gateway logs them."""
    routed = [
        T.line(
            T.T0 + i * 5_000,
            account="stage-co",
            path=f"{prefix}/items/{100 + i}",
            resource="/items/{id}",
        )
        for i in range(10)
    ]
    probes = [
        T.line(T.T0 + 60_000 + i * 5_000, account="stage-co", path=f"{prefix}{p}", resource="-", status=404)
        for i, p in enumerate(["/phpmyadmin/index.php", "/wp-login.php", "/phpmyadmin/setup.php"])
    ]
    return T.merge(routed, probes)


@pytest.mark.parametrize("prefix", ["", "/prod", "/api-base"])
def test_admin_probes_are_seen_behind_the_stage_prefix(prefix: str) -> None:
    assert "D1-sensitive-path" in rules(staged(prefix), {})


def test_a_configured_stage_is_stripped_without_routed_lines() -> None:
    probes = [x for x in staged("/live") if '"resourcePath":"-"' in x.text]
    assert "D1-sensitive-path" not in rules(probes, {})
    policy = POLICY.model_copy(
        update={"log_analysis": POLICY.log_analysis.model_copy(update={"stage_prefixes": ("/live",)})}
    )
    found = replay([x.text for x in probes], policy)
    assert "D1-sensitive-path" in {f.rule_id for f in found}


def test_a_route_with_a_leading_placeholder_is_not_taken_for_a_stage() -> None:
    assert strip_stage([("1", "ip", "ua", "GET", "/acme/items/7", "/{tenant}/items/{id}")]) == [
        ("1", "ip", "ua", "GET", "/acme/items/7", "/{tenant}/items/{id}")
    ]


def numbered_dashboard() -> list[T.Line]:
    """50 widgets with numeric ids 1..50 refreshed every 6 s: the same 50 ids, never a walk beyond."""
    return [
        T.line(
            T.T0 + i * 120,
            account="dash-co",
            agent="grafana-agent/0.40",
            path=f"/widgets/{1 + i % 50}",
            resource="/widgets/{id}",
        )
        for i in range(2500)
    ]


@pytest.mark.parametrize("payload_lines", [2500, 50, 7])
def test_polling_the_same_50_numbered_resources_is_no_enumeration_in_small_payloads(
    payload_lines: int,
) -> None:
    assert "W5-id-enumeration" not in rules(numbered_dashboard(), {"dash-co": "free"}, payload_lines)


@pytest.mark.parametrize("payload_lines", [2000, 60, 1])
def test_an_id_walk_is_seen_whatever_the_payloads(payload_lines: int) -> None:
    assert "W5-id-enumeration" in rules(T.id_scraper(), {"scrapeco": "free"}, payload_lines)


def test_an_hours_id_set_stays_bounded_under_many_payloads() -> None:
    lines = sync("erp-sync", rate=30, minutes=30)  # 54,000 distinct order ids in one hour
    store = MemoryCounters()
    full: set[tuple[str, str]] = set()
    for n in range(0, len(lines), 300):
        analyze(
            read_lines([x.text for x in lines[n : n + 300]], POLICY.log_analysis).records,
            marker=batch_marker([f"b{n}"]),
            store=store,
            policy=POLICY,
            plan_of=lambda _a: "business",
            full_id_sets=full,
        )
    sizes = [len(item.get("eid", ())) for item in store.items.values()]
    assert max(sizes) >= ID_SET_LIMIT  # it filled ...
    assert max(sizes) <= ID_SET_LIMIT + 2 * MAX_WALKED_IDS  # ... and then stopped growing


def test_the_id_set_stores_no_id() -> None:
    """Ids in paths may be phone numbers or customer numbers: the counters keep digests and positions."""
    lines = [
        T.line(T.T0 + i * 1_000, account="acme-corp", path=f"/users/{4155550100 + i}", resource="/users/{id}")
        for i in range(200)
    ]
    store = MemoryCounters()
    analyze(
        read_lines([x.text for x in lines], POLICY.log_analysis).records,
        marker=batch_marker(["ids"]),
        store=store,
        policy=POLICY,
        plan_of=lambda _a: "free",
    )
    members = [m for item in store.items.values() for m in item.get("eid", ())]
    assert len(members) == 200 and not any("41555" in m for m in members)


# --- class 9: a client's own failures are not an attack ------------------------------------------
# Found by the eval corpus's review (login-relay, stuck-403-retry, expired-token, removed-v1-catch-all,
# docs-search-sql-words): each was suspended by the code before, and its abusive twin is still caught.

SHOP = "shop-front"


def _actions(lines: list[T.Line], rule_id: str, plan: str = "business") -> set[Action]:
    found = [f for f in replay([x.text for x in lines], POLICY, plans={SHOP: plan}) if f.rule_id == rule_id]
    if not found:
        return set()
    outcome = replay_decisions(found, POLICY, T.AT, plans={SHOP: plan})[SHOP]
    return {d.action for d in outcome.decisions}


def relayed_logins(refused_share: float, n: int = 600, seed: int = 21) -> list[T.Line]:
    """A backend relaying ``n`` logins of its own users in 10 minutes, ``refused_share`` of them refused."""
    rnd = random.Random(seed)
    return [
        T.line(
            T.T0 + i * 1000,
            account=SHOP,
            ip="198.51.100.60",
            agent="shopfront-api/4.2",
            method="POST",
            path="/auth/login",
            status=401 if rnd.random() < refused_share else 200,
        )
        for i in range(n)
    ]


def test_relaying_many_honest_logins_is_no_brute_force() -> None:
    lines = relayed_logins(0.05)  # ~15 mistyped passwords per 5-minute window: past login_failures alone
    assert (
        sum(1 for x in lines if '"status":"401"' in x.text) >= 2 * POLICY.log_analysis.break_in.login_failures
    )
    assert "D2-login-brute-force" not in rules(lines, {SHOP: "business"})


def test_logins_refused_most_of_the_time_are_brute_force() -> None:
    assert "D2-login-brute-force" in rules(relayed_logins(0.7), {SHOP: "business"})


def refused(paths: list[str], status: int = 403, every_ms: int = 1000) -> list[T.Line]:
    return [
        T.line(T.T0 + i * every_ms, account=SHOP, agent="acme-etl/1.4", path=p, resource=r, status=status)
        for i, (p, r) in enumerate(paths)
    ]


def test_one_call_retried_against_a_403_is_a_review_never_a_strike() -> None:
    lines = refused([("/reports/2291/export", "/reports/{id}/export")] * 600)
    assert _actions(lines, "D2-auth-failure-burst") == {Action.review}


def test_an_expired_token_walking_its_orders_is_a_review_never_a_strike() -> None:
    lines = refused([(f"/orders/{40_000 + 7 * i}", "/orders/{id}") for i in range(300)], status=401)
    assert _actions(lines, "D2-auth-failure-burst") == {Action.review}


def test_refusals_across_many_routes_still_strike() -> None:
    routes = ["/admin/users", "/internal/config", "/billing/accounts", "/audit/export"]
    lines = refused([(f"{routes[i % 4]}/{i}", routes[i % 4] + "/{id}") for i in range(300)])
    assert Action.strike in _actions(lines, "D2-auth-failure-burst")


def test_a_removed_version_answering_404_for_each_record_is_no_error_burst() -> None:
    lines = refused([(f"/v1/orders/{10_000 + 13 * i}", "/{proxy+}") for i in range(300)], status=404)
    assert "D1-error-burst" not in rules(lines, {SHOP: "standard"})


def test_404s_on_many_routes_are_an_error_burst() -> None:
    lines = refused([(f"/probe-{i}/index", "/{proxy+}") for i in range(300)], status=404)
    assert "D1-error-burst" in rules(lines, {SHOP: "standard"})


def searches(query: str, *, status: int = 200, resource: str | None = "/search") -> list[T.Line]:
    from urllib.parse import quote

    return [
        T.line(
            T.T0 + i * 30_000,
            account=SHOP,
            path="/search?q=" + quote(query),
            resource=resource,
            status=status,
        )
        for i in range(4)
    ]


def test_sql_words_searched_on_a_live_route_are_a_review_never_a_strike() -> None:
    assert _actions(searches("union select syntax"), "D1-attack-payload") == {Action.review}


@pytest.mark.parametrize(("status", "resource"), [(404, "/search"), (200, "-")])
def test_the_same_payload_refused_or_unrouted_strikes(status: int, resource: str) -> None:
    actions = _actions(searches("union select syntax", status=status, resource=resource), "D1-attack-payload")
    assert actions & {Action.strike, Action.suspend_temporary}


def test_a_payload_in_the_path_itself_strikes_even_when_answered() -> None:
    lines = [T.line(T.T0, account=SHOP, path="/files/../../etc/passwd", resource="/files/{proxy+}")]
    assert _actions(lines, "D1-attack-payload") & {Action.strike, Action.suspend_temporary}


# Found by probing (eval sql-console-queries, log-search-for-probes): a SQL console's typo with a UNION
# in it, or a security team's log search for the ``<script>`` its servers saw, answered 400 by the
# customer's own route, struck D1-attack-payload and suspended the account.


@pytest.mark.parametrize("status", [400, 422])
def test_a_payload_a_route_declined_as_invalid_is_a_review_never_a_strike(status: int) -> None:
    for query in ["SELECT id FROM users UNION SELECT user_id FROM sessions", "<script>alert(1)</script>"]:
        actions = _actions(searches(query, status=status), "D1-attack-payload")
        assert actions == {Action.review}, query


@pytest.mark.parametrize("resource", ["/{proxy+}", "-"])
def test_the_same_payload_declined_through_a_greedy_resource_or_unrouted_strikes(resource: str) -> None:
    actions = _actions(searches("union select syntax", status=400, resource=resource), "D1-attack-payload")
    assert actions & {Action.strike, Action.suspend_temporary}


def test_a_burst_of_injections_a_route_declined_strikes() -> None:
    from urllib.parse import quote

    inj = ["1' OR '1'='1", "1 AND SLEEP(5)", "1) UNION ALL SELECT NULL,NULL--", "1';DROP TABLE users--"]
    lines = [
        T.line(
            T.T0 + i * 2_000,
            account=SHOP,
            path="/items?id=" + quote(inj[i % 4]),
            resource="/items",
            status=400,
            agent="python-requests/2.31.0",
        )
        for i in range(POLICY.log_analysis.probing.declined_payload_min_hits)
    ]
    assert _actions(lines, "D1-attack-payload") & {Action.strike, Action.suspend_temporary}
    assert _actions(lines[:-1], "D1-attack-payload") == {Action.review}


# Found by the eval corpus's review (stale-updater-link, admin-scope-poll): one client repeating one
# sensitive-looking call for hours was suspended by D1-sensitive-path and D1-slow-probing; a probe asks
# for many routes, and still strikes.

HOUR = 3_600_000


def repeated(path: str, resource: str, status: int, *, every_ms: int, hours: int) -> list[T.Line]:
    return [
        T.line(
            T.DAY0 + t,
            account=SHOP,
            agent="AcmeAgent-Updater/3.2",
            path=path,
            resource=resource,
            status=status,
        )
        for t in range(0, hours * HOUR, every_ms)
    ]


def test_an_updater_asking_for_a_moved_installer_is_a_review_never_a_strike() -> None:
    lines = repeated("/downloads/acme-agent-setup.exe", "/{proxy+}", 404, every_ms=180_000, hours=8)
    assert _actions(lines, "D1-sensitive-path") == {Action.review}
    assert _actions(lines, "D1-slow-probing") == {Action.review}


def test_a_dashboard_polling_an_admin_route_without_the_scope_is_never_a_strike() -> None:
    lines = repeated("/admin/usage", "/admin/usage", 403, every_ms=300_000, hours=8)
    assert _actions(lines, "D1-sensitive-path") == set()  # the API's own route declining a scope: D2's
    assert _actions(lines, "D1-slow-probing") == set()
    assert not _actions(lines, "D2-auth-failure-burst") & {Action.strike, Action.suspend_temporary}


def test_a_stale_call_below_the_hourly_minimum_is_no_slow_probe() -> None:
    lines = repeated("/.env", "-", 404, every_ms=HOUR // 2, hours=10)  # 2 an hour, 20 in the day
    assert _actions(lines, "D1-slow-probing") == {Action.review}


def test_refused_sensitive_paths_on_three_routes_in_an_hour_strike() -> None:
    paths = ["/.env", "/.git/config", "/backup.sql"] * 2
    lines = [
        T.line(T.T0 + i * 60_000, account=SHOP, path=p, resource="-", status=404) for i, p in enumerate(paths)
    ]
    assert _actions(lines, "D1-sensitive-path") & {Action.strike, Action.suspend_temporary}


def test_probes_of_many_targets_spread_over_a_day_strike() -> None:
    paths = ["/.env", "/.git/config", "/backup.sql", "/wp-login.php", "/.aws/credentials", "/config.json"]
    lines = [
        T.line(T.DAY0 + i * HOUR // 2, account=SHOP, path=paths[i % len(paths)], resource="-", status=404)
        for i in range(20)  # 2 an hour: under the hourly minimum, every hour; 10 hours of one UTC day
    ]
    assert _actions(lines, "D1-sensitive-path") == set()
    assert _actions(lines, "D1-slow-probing") & {Action.strike, Action.suspend_temporary}


# Found by the eval corpus's review (ssr-forwarded-agents): a shop's server-side rendering passes its
# visitors' agents on, so a search engine indexing the shop made W1-fake-crawler strike the shop.

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def rendered_pages(crawler_share: float, n: int = 400, seed: int = 31) -> list[T.Line]:
    rnd = random.Random(seed)
    return [
        T.line(
            T.T0 + i * 8_000,
            account=SHOP,
            ip="198.51.100.70",
            agent=GOOGLEBOT if rnd.random() < crawler_share else T.CHROME,
            path=f"/products/{rnd.randrange(1, 3000)}",
            resource="/products/{id}",
        )
        for i in range(n)
    ]


def test_a_server_passing_its_visitors_agents_on_is_a_review_never_a_strike() -> None:
    lines = rendered_pages(0.06)
    assert sum(GOOGLEBOT in x.text for x in lines) >= 3 * POLICY.log_analysis.spoofing.crawler_min_hits
    assert _actions(lines, "W1-fake-crawler") == {Action.review}


def test_an_account_sending_most_requests_as_a_crawler_is_impersonation() -> None:
    assert _actions(rendered_pages(0.9), "W1-fake-crawler") & {Action.strike, Action.suspend_temporary}


# Found by the eval corpus (spa-rendered-by-googlebot): a site's single-page front-end calls the API with
# its publishable key, and Googlebot renders its pages running that script, from Google's own network: in
# a quiet hour most of the site's requests, so W1-fake-crawler struck the site for "posing" as Googlebot.


def rendered_by(ip: str, n: int = 120) -> list[T.Line]:
    return [
        T.line(T.T0 + i * 25_000, account=SHOP, ip=ip, agent=GOOGLEBOT, path=f"/recipes/{i}", resource="/recipes/{id}")
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("ip", ["66.249.66.17", "66.249.79.200", "2001:4860:4801:2a::9"])
def test_googlebot_from_its_published_network_rendering_a_front_end_is_no_impersonation(ip: str) -> None:
    assert _actions(rendered_by(ip), "W1-fake-crawler") == set()


@pytest.mark.parametrize("ip", ["198.51.100.70", "66.249.96.1", "34.100.182.200", "2001:4860:4802::9"])
def test_the_same_agent_from_any_other_network_is_still_impersonation(ip: str) -> None:
    assert _actions(rendered_by(ip), "W1-fake-crawler") & {Action.strike, Action.suspend_temporary}


def test_the_crawler_networks_are_the_policys_and_a_bad_one_is_refused() -> None:
    from pydantic import ValidationError

    from aup.policy.sections.logs import Spoofing

    doc = POLICY.model_copy(
        update={
            "log_analysis": POLICY.log_analysis.model_copy(
                update={"spoofing": POLICY.log_analysis.spoofing.model_copy(update={"crawler_networks": ()})}
            )
        }
    )
    found = replay([x.text for x in rendered_by("66.249.66.17")], doc, plans={SHOP: "business"})
    assert "W1-fake-crawler" in {f.rule_id for f in found}  # without the list, only the agent is judged
    with pytest.raises(ValidationError, match=r"66\.249\.300\.0/19. is not a network"):
        Spoofing(crawler_networks=("66.249.300.0/19",))


# Found by probing (eval admin-widgets-without-scope): a dashboard's three admin widgets on the API's
# own /admin routes, refreshed with a key lacking the admin scope (403), struck D1-sensitive-path every
# hour ("three admin interfaces") and suspended the account; one load of the page was already a strike.

WIDGETS = ["/admin/usage", "/admin/users", "/admin/audit-log"]


def admin_calls(
    hours: int, *, routed: bool = True, status: int = 403, paths: list[str] = WIDGETS, via: str | None = None
) -> list[T.Line]:
    return [
        T.line(
            T.DAY0 + h * HOUR + k * 150,
            account=SHOP,
            path=p,
            resource=via or (p if routed else "-"),
            status=status,
        )
        for h in range(hours)
        for k, p in enumerate(paths)
    ]


@pytest.mark.parametrize("hours", [1, 8])
def test_admin_routes_of_the_api_declining_a_keys_scope_are_no_admin_interface_probe(hours: int) -> None:
    lines = admin_calls(hours)
    assert _actions(lines, "D1-sensitive-path", "standard") == set()
    assert _actions(lines, "D1-slow-probing", "standard") == set()


@pytest.mark.parametrize(
    ("routed", "status", "via"),
    [
        (False, 404, None),
        (False, 403, None),
        (True, 404, None),
        (True, 403, "/{proxy+}"),
        (True, 403, "/v1/{p+}"),
    ],
)
def test_the_same_admin_paths_unrouted_or_not_found_are_still_a_probe(
    routed: bool, status: int, via: str | None
) -> None:  # a greedy resource routes every path to a backend that may answer 403 for whatever it lacks
    lines = admin_calls(1, routed=routed, status=status, via=via)
    assert _actions(lines, "D1-sensitive-path", "standard") & {Action.strike, Action.suspend_temporary}


def test_a_secret_file_under_an_admin_route_refused_is_still_a_sensitive_path() -> None:
    lines = admin_calls(1, paths=["/admin/.env", "/admin/.git/config", "/admin/backup.sql"])
    assert _actions(lines, "D1-sensitive-path", "standard") & {Action.strike, Action.suspend_temporary}


def test_a_key_refused_on_admin_route_after_admin_route_at_machine_rate_is_still_struck() -> None:
    routes = ["/admin/users", "/admin/keys", "/admin/plans", "/admin/billing", "/admin/audit", "/admin/roles"]
    lines = [
        T.line(T.T0 + i * 2_000, account=SHOP, path=f"{routes[i % 6]}/{i}", resource=routes[i % 6] + "/{id}",
               status=403, agent="python-requests/2.31.0")
        for i in range(120)
    ]  # fmt: skip
    assert _actions(lines, "D2-auth-failure-burst", "standard") & {Action.strike, Action.suspend_temporary}


# Found by probing (eval blob-existence-checks): a registry client pushing an image asks for each layer by
# its digest (HEAD .../blobs/sha256:<hex>, 404 for those the registry lacks) and an image cache for its
# <hash>.webp renditions: every digest was a route of its own, and D1-error-burst suspended the account.


@pytest.mark.parametrize("shape", ["/v2/acme/app/blobs/sha256:{h}", "/v1/renditions/{h}.webp"])
def test_a_client_asking_which_blobs_a_store_holds_is_no_error_burst(shape: str) -> None:
    rnd = random.Random(5)
    lines = [
        T.line(T.T0 + i * 250, account=SHOP, method="HEAD", agent="docker/27.3.1 go/go1.22.7",
               path=shape.format(h=f"{rnd.getrandbits(256):064x}"), resource="/blobs/{digest}",
               status=200 if i % 3 == 0 else 404)
        for i in range(400)
    ]  # fmt: skip
    assert _actions(lines, "D1-error-burst", "standard") == set()


def test_files_of_many_names_refused_at_machine_rate_are_still_an_error_burst() -> None:
    names = [f"/{w}{ext}" for w in ("backup", "db", "dump", "site", "old", "www", "data", "prod", "test")
             for ext in (".sql", ".zip", ".tar.gz", ".bak")]  # fmt: skip
    lines = [
        T.line(T.T0 + i * 250, account=SHOP, path=p, resource="-", status=404) for i, p in enumerate(names)
    ]
    assert _actions(lines, "D1-error-burst", "standard") & {Action.strike, Action.suspend_temporary}


# Found by probing other crawlers (eval spa-rendered-by-other-crawlers): the same site indexed by Applebot
# from Apple's network, YandexBot from Yandex's, or Bingbot from a block of bingbot.json beyond the three
# the policy listed, was struck for posing as them: only Google's and Microsoft's networks are listed.

APPLEBOT = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
YANDEXBOT = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"


def rendered_as(agent: str, ip: str, n: int = 120) -> list[T.Line]:
    return [
        T.line(T.T0 + i * 25_000, account=SHOP, ip=ip, agent=agent, path=f"/recipes/{i}", resource="/recipes/{id}")
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("agent", "ip"), [(APPLEBOT, "17.241.75.3"), (YANDEXBOT, "5.255.231.7"), (APPLEBOT, "198.51.100.70")]
)
def test_a_crawler_whose_networks_the_policy_does_not_list_is_at_most_a_review(agent: str, ip: str) -> None:
    assert _actions(rendered_as(agent, ip), "W1-fake-crawler") == {Action.review}


@pytest.mark.parametrize("ip", ["40.77.189.20", "52.167.144.9", "199.30.25.1", "20.15.133.170"])
def test_bingbot_from_any_block_microsoft_publishes_for_it_is_no_impersonation(ip: str) -> None:
    assert _actions(rendered_as(BINGBOT, ip), "W1-fake-crawler") == set()


def test_a_verified_crawlers_name_from_elsewhere_still_strikes_even_beside_an_unverified_one() -> None:
    both = rendered_as(BINGBOT, "198.51.100.70") + rendered_as(APPLEBOT, "198.51.100.71")
    assert _actions(both, "W1-fake-crawler") & {Action.strike, Action.suspend_temporary}


def test_naming_a_crawler_verified_judges_its_impersonators_and_a_bad_name_is_refused() -> None:
    from pydantic import ValidationError

    from aup.policy.sections.logs import Spoofing

    spoofing = POLICY.log_analysis.spoofing
    listed = spoofing.model_copy(
        update={
            "verified_crawlers": (*spoofing.verified_crawlers, "applebot"),
            "crawler_networks": (*spoofing.crawler_networks, "17.0.0.0/8"),
        }
    )
    doc = POLICY.model_copy(
        update={"log_analysis": POLICY.log_analysis.model_copy(update={"spoofing": listed})}
    )
    rules = {
        f.rule_id: f
        for f in replay([x.text for x in rendered_as(APPLEBOT, "17.241.75.3")], doc, plans={SHOP: "business"})
    }
    assert "W1-fake-crawler" not in rules  # from its own network, now listed: the crawler itself
    fake = replay([x.text for x in rendered_as(APPLEBOT, "198.51.100.70")], doc, plans={SHOP: "business"})
    (finding,) = [f for f in fake if f.rule_id == "W1-fake-crawler"]
    assert finding.confidence == 0.85 and finding.evidence["unverified"] == 0
    assert Spoofing(verified_crawlers=(" AppleBot ",)).verified_crawlers == ("applebot",)
    with pytest.raises(ValidationError, match="verified_crawlers"):
        Spoofing(verified_crawlers=("apple bot",))


# Found by running the eval corpus just after midnight UTC (mobile-40-users): the minutes of the app's
# hour that fell before midnight were the previous day, taken as the account's whole history, and the
# rest of its hour was "3x its baseline": a strike. One day of history is no baseline.


def test_an_apps_hour_cut_by_midnight_is_at_most_a_review() -> None:
    bar = POLICY.rules["G1-key-sharing"].confidence_bar
    midnight = (T.T0 // DAY + 1) * DAY
    hour = app_users(midnight, 40)
    sliver = [  # its first three users, in the minute before midnight
        T.line(midnight - 60_000 + k * 15_000, account="shop-app", ip=x.text.split('"ip":"')[1].split('"')[0],
               agent="AcmeShop/4.1.1 (iPhone; iOS 18)", path="/cart")
        for k, x in enumerate(hour[:3])
    ]  # fmt: skip
    lines = sliver + hour
    found = replay([x.text for x in lines], POLICY, plans={"shop-app": "standard"}, chunk_lines=500)
    confidences = [f.confidence for f in found if f.rule_id == "G1-key-sharing"]
    assert confidences and max(confidences) < bar


# --- class 10: a platform acting for its connected accounts is no impersonator ---------------------

CONNECTED = ["shop-alpha", "shop-bravo", "shop-charlie"]


def _delegated(lines: list[T.Line], acts_for: dict[str, list[str]]) -> list[Finding]:
    return replay([x.text for x in lines], POLICY, plans={"market-platform": "business"}, acts_for=acts_for)


def test_naming_the_accounts_it_acts_for_is_no_claimed_account_finding() -> None:
    lines = T.on_behalf("market-platform", CONNECTED)
    assert "W1-claimed-account" in {f.rule_id for f in _delegated(lines, {})}  # undeclared: the finding
    assert _delegated(lines, {"market-platform": CONNECTED}) == []
    assert _delegated(lines, {"market-platform": ["*"]}) == []
    assert "W1-claimed-account" in {f.rule_id for f in _delegated(lines, {"someone-else": CONNECTED})}


def test_claiming_an_account_beyond_the_declared_ones_is_still_a_finding_with_samples() -> None:
    lines = T.on_behalf(
        "market-platform", [*CONNECTED, "victim-co"]
    )  # a quarter of the requests name an undeclared account
    found = [
        f for f in _delegated(lines, {"market-platform": CONNECTED}) if f.rule_id == "W1-claimed-account"
    ]
    assert len(found) == 1
    f = found[0]
    assert f.evidence["hits"] == len(lines[3::4])  # every fourth request names victim-co
    assert f.evidence["sample_paths"] == ["victim-co"]  # the undeclared account, not the declared ones


def test_refusals_on_a_client_it_acts_for_are_no_foreign_account_probe() -> None:
    lines = [x.text for x in T.on_behalf("market-platform", CONNECTED, status=403)]

    def result(acts_for: list[str]) -> list[str]:
        a = analyze(
            read_lines(lines, POLICY.log_analysis).records,
            marker=batch_marker(["delegated-403"]),
            store=MemoryCounters(),
            policy=POLICY,
            plan_of=lambda _a: "business",
            accounts_exist=lambda ids: set(ids) & set(CONNECTED),
            acts_for=lambda account: frozenset(acts_for) if account == "market-platform" else frozenset(),
        )
        return sorted({f.rule_id for f in a.findings})

    assert "D2-foreign-account-probe" in result([])
    assert "D2-foreign-account-probe" not in result(CONNECTED)
    assert "D2-foreign-account-probe" not in result(["*"])
    assert "W1-claimed-account" not in result(CONNECTED)


# Found by the eval corpus (odata-connector): a filter language quotes its values and joins them with
# and/or (OData's `$filter=Status eq 'Open' and Amount gt 100`), which read as the quote-boolean SQL
# fragments `' and ` / `' or `; one refused (400) filter was a D1-attack-payload strike. Those fragments
# are a payload when the quote breaks out of a string the value did not open (an odd quote of it).

FILTERS = [
    "$filter=Status eq 'Open' and Amount gt 100",
    "$filter=Region eq 'EMEA' or Region eq 'APAC'",
    "$filter=Customer eq 'O''Neill Ltd' and Year eq 2026",
    "q=name:'union station' or city:'Denver'",
]
BREAKOUTS = ["id=5' or 1=1", "name=admin' or '1'='1", "user=x' and 1=2", "q=a' or b", "k=1' and sleep(5)#"]


@pytest.mark.parametrize("query", FILTERS)
def test_a_quoted_filter_joined_by_and_or_is_no_payload(query: str) -> None:
    from urllib.parse import quote

    from aup.detectors.logs.signatures import PAYLOAD, signatures

    assert not signatures().path("/odata/Orders?" + quote(query, safe="$&=")).flags & PAYLOAD


@pytest.mark.parametrize("query", BREAKOUTS)
def test_a_quote_breaking_out_before_and_or_is_a_payload(query: str) -> None:
    from urllib.parse import quote

    from aup.detectors.logs.signatures import PAYLOAD, signatures

    sig = signatures()
    assert sig.path("/v1/users?" + quote(query, safe="&=")).flags & PAYLOAD
    assert sig.path("/v1/users/" + quote(query.partition("=")[2])).flags & PAYLOAD  # in a path segment too


def test_a_refused_odata_filter_is_not_struck_and_refused_injections_are_reviewed_until_a_burst() -> None:
    from urllib.parse import quote

    def refused(query: str, n: int = 3, resource: str = "/odata/Orders") -> list[T.Line]:
        q = quote(query, safe="$&=")
        return [
            T.line(T.T0 + i * 20_000, account=SHOP, path=f"/odata/Orders?{q}", resource=resource, status=400)
            for i in range(n)
        ]

    assert _actions(refused(FILTERS[0].replace("Status", "Stauts")), "D1-attack-payload") == set()
    # A few injections the route's validation declined are a review (the route refused them: no harm was
    # done, and an operator sees them); a burst of them, or the same refused by no route of the API's, strikes.
    injection = "$filter=Id eq 5' or 1=1--"
    assert _actions(refused(injection), "D1-attack-payload") == {Action.review}
    burst = refused(injection, POLICY.log_analysis.probing.declined_payload_min_hits)
    assert _actions(burst, "D1-attack-payload") & {Action.strike, Action.suspend_temporary}
    assert _actions(refused(injection, resource="-"), "D1-attack-payload") & {
        Action.strike,
        Action.suspend_temporary,
    }
