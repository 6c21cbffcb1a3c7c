"""The access-log rules, one function per rule id: window totals + plan + thresholds -> Finding | None.

Pure: totals are the ledger counters after this batch was added (so a flood spread over many
payloads is judged as one), time is the events' own (``at``). Each finding's ``source_event_id``
names the (account or source, counter window), so the same window never strikes twice, whichever
batch crosses the threshold and however often it is redelivered.

A rule reads its window's typed totals (``aup.detectors.logs.totals``) by name and its thresholds from
``aup.policy.sections.logs``, and nothing else: the analyzer runs every rule of a window's kind on every
window a batch touched, so a new rule is this function, its entry in the kind's tuple below, and its
thresholds in its section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic

from aup.detectors.logs.counters import shares_blocks, walk_steps
from aup.detectors.logs.totals import DayTotals, HourTotals, RateTotals, SourceTotals, T
from aup.domain.models import Finding, Source
from aup.policy.document import Plan
from aup.policy.sections.logs import LogAnalysis


@dataclass(slots=True)
class Window(Generic[T]):
    """One counter window of one account (or source) as the rules see it."""

    scope: str  # account id, or source:<hash>
    name: str  # identifies the window (the counter item's name, or the rate slot's)
    seconds: int
    totals: T
    at_ms: int  # the latest event time seen in this window in this batch
    samples: dict[str, list[str]] = field(default_factory=dict)
    start_ms: int = 0  # the window's start
    peak_per_s: float | None = None  # an hour window: its busiest rate slot's requests/s (None: unknown)
    requests: int | None = None  # an hour window: its requests, every rate slot's (None: unknown)
    non_browser: int = 0  # an hour window: its requests from non-browser agents, every rate slot's
    # G1: the account's busiest previous day's (distinct networks, distinct agents); None: no history
    baseline: tuple[int, int] | None = None

    @property
    def elapsed(self) -> float:
        """Seconds of the window seen so far (a window is judged as soon as its count crosses a bar)."""
        return (
            min(float(self.seconds), max(1.0, (self.at_ms - self.start_ms) / 1000))
            if self.start_ms
            else self.seconds
        )

    def within_plan(self, plan: Plan, cfg: LogAnalysis) -> bool:
        """Whether this window's rate (its busiest rate slot's, for an hour) is at or below the plan's
        documented requests/s (x tolerance): a customer using what it bought."""
        if self.peak_per_s is not None:
            rate = self.peak_per_s
        else:
            rate = getattr(self.totals, "requests", 0) / self.elapsed
        return rate <= plan.requests_per_second * cfg.within_plan.rate_tolerance

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC)


def _finding(
    rule_id: str,
    w: Window[Any],
    confidence: float,
    summary: str,
    evidence: dict[str, Any],
    *,
    ip_hash: str | None = None,
) -> Finding:
    clause = rule_id.split("-", 1)[0]
    return Finding(
        rule_id=rule_id,
        clause=clause,
        account_id=None if ip_hash else w.scope,
        source_ip_hash=ip_hash,
        source=Source.log,
        source_event_id=f"{w.scope}/{w.name}",
        detected_at=w.at,
        confidence=round(min(1.0, max(0.0, confidence)), 3),
        summary=summary,
        evidence={
            "window": w.name,
            **evidence,
            **({"sample_paths": w.samples[rule_id]} if w.samples.get(rule_id) else {}),
        },
    )


# --- D5a / D5b: volume against the plan ---------------------------------------------------------


def request_flood(w: Window[RateTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D5a: the window's requests above the plan's sustained rate (x factor), machine evidence raising
    confidence. A burst a person can produce never fills a whole window; an excess made of requests the
    service failed (5xx, retried by the client) is a review at most."""
    c = cfg.request_flood
    t = w.totals
    n = t.requests
    limit = max(c.min_requests, plan.requests_per_second * w.seconds * c.rate_factor)
    if n <= limit:
        return None
    rate = n / w.elapsed
    ratio = rate / plan.requests_per_second
    confidence = c.base_confidence
    gn, gs, gq = t.gaps, t.gap_sum, t.gap_squares
    cv = None
    if gn >= c.min_gaps_for_timing and gs > 0:
        mean = gs / gn
        cv = math.sqrt(max(0.0, gq / gn - mean * mean)) / mean
        if cv < c.regular_cv:
            confidence += 0.15
    nb_share = t.non_browser / n
    if nb_share >= c.non_browser_share:
        confidence += 0.15
    if ratio >= c.far_factor:
        confidence += 0.15
    sustained = ratio >= c.sustained_factor and w.elapsed >= c.sustained_fill * w.seconds
    if sustained:  # far beyond the plan for the whole window: the agent's word does not lower it
        confidence = max(confidence, c.sustained_confidence)
    # Without the requests the service failed (5xx) the window is within the bar: clients retrying the
    # provider's own outage made the excess. A review: an operator sees it, no strike (D3 alarms watch
    # the service's errors themselves).
    outage = t.server_errors > 0 and n - t.server_errors <= limit
    if outage:
        confidence = min(confidence, c.server_error_confidence)
    return _finding(
        "D5a-request-flood",
        w,
        confidence,
        f"{n} requests in {w.elapsed:.0f}s, {ratio:.1f}x the plan's sustained rate",
        {
            "requests": n,
            "seconds": round(w.elapsed),
            "rate_per_s": round(rate, 2),
            "plan_rate_per_s": plan.requests_per_second,
            "ratio": round(ratio, 2),
            "interarrival_cv": None if cv is None else round(cv, 3),
            "non_browser_share": round(nb_share, 2),
            "sustained": sustained,
            "server_errors": t.server_errors,
            "excess_is_server_errors": outage,
        },
    )


def daily_requests(w: Window[DayTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D5b: requests in a UTC day far beyond the plan's documented requests/day."""
    n = w.totals.requests
    limit = plan.requests_per_day * cfg.daily_usage.far_beyond_factor
    if n <= limit:
        return None
    return _finding(
        "D5b-daily-requests",
        w,
        0.9,
        f"{n} requests in a day, plan allows {plan.requests_per_day}",
        {
            "requests": n,
            "plan_requests_per_day": plan.requests_per_day,
            "ratio": round(n / plan.requests_per_day, 2),
        },
    )


def daily_egress(w: Window[DayTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D5b: response bytes in a UTC day far beyond the plan's documented egress/day."""
    b = w.totals.egress_bytes
    limit = int(plan.egress_per_day) * cfg.daily_usage.far_beyond_factor
    if b <= limit:
        return None
    return _finding(
        "D5b-daily-egress",
        w,
        0.9,
        f"{b} bytes out in a day, plan allows {int(plan.egress_per_day)}",
        {
            "egress_bytes": b,
            "plan_egress_per_day": int(plan.egress_per_day),
            "ratio": round(b / int(plan.egress_per_day), 2),
        },
    )


# --- D1: probing --------------------------------------------------------------------------------


def error_burst(w: Window[RateTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: many distinct routes (ids collapsed: ``members.route_shape``) answered 400/403/404/405 in one
    window, most of the account's traffic. One route for many ids is a client calling a removed or
    refused endpoint for its records, not a probe."""
    c = cfg.probing
    t = w.totals
    distinct, errors, n = len(t.error_paths), t.errors, t.requests
    if distinct < c.error_burst_distinct_paths or n == 0 or errors / n < c.error_burst_min_ratio:
        return None
    confidence = 0.7 + (0.1 if distinct >= 2 * c.error_burst_distinct_paths else 0.0)
    return _finding(
        "D1-error-burst",
        w,
        confidence,
        f"{errors} client errors on {distinct} distinct routes",
        {"error_responses": errors, "distinct_error_paths": distinct, "requests": n},
    )


def repeat_capped(confidence: float, distinct: int, minimum: int, cap: float) -> float:
    """``confidence``, capped at ``cap`` (a review) when the evidence covers fewer than ``minimum``
    distinct routes or targets: one client repeating one call, where a probe asks for many."""
    return min(confidence, cap) if distinct < minimum else confidence


def sensitive_path(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: sensitive files, backdoors, admin interfaces, CVE probe URIs, refused or unrouted. Hits on
    fewer than ``sensitive_min_paths`` routes are one client repeating a call (an updater asking for a
    moved installer, a dashboard polling a route its key lacks the scope for): reported for review."""
    c = cfg.probing
    hits, routes = w.totals.sensitive, len(w.totals.sensitive_paths)
    if hits < c.sensitive_min_hits:
        return None
    return _finding(
        "D1-sensitive-path",
        w,
        repeat_capped(0.9, routes, c.sensitive_min_paths, c.repeat_confidence),
        f"{hits} requests for sensitive files or admin interfaces on {routes} route(s)",
        {"hits": hits, "routes": routes},
    )


def attack_payload(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: path traversal, SQL injection or XSS probe strings in the (decoded) path or a header. Those
    only in the query string of requests the customer's route answered (a search box's users typing
    ``union select``), or declined with a validation status (a SQL console's typo, a log search for
    ``<script>``) fewer than ``declined_payload_min_hits`` times an hour, are no evidence alone: reported
    for review at ``served_payload_confidence``."""
    c = cfg.probing
    t = w.totals
    if t.payload >= c.payload_min_hits:
        hits, confidence = t.payload, 0.9
    elif t.declined_payload >= c.declined_payload_min_hits:
        hits, confidence = t.declined_payload, 0.9
    elif t.payload + t.served_payload + t.declined_payload >= c.payload_min_hits:
        hits, confidence = t.payload + t.served_payload + t.declined_payload, c.served_payload_confidence
    else:
        return None
    return _finding(
        "D1-attack-payload",
        w,
        confidence,
        f"{hits} requests carrying traversal/SQLi/XSS probes",
        {"hits": hits, "served_query_hits": t.served_payload, "declined_query_hits": t.declined_payload},
    )


def exploit_signature(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: an unambiguous exploit payload (``${jndi:..}``, shellshock) in any logged field. Basis
    signature in the policy: one request is enough, and suspends alone."""
    hits = w.totals.exploit
    if hits < cfg.probing.exploit_min_hits:
        return None
    return _finding(
        "D1-exploit-signature", w, 0.95, f"{hits} requests carrying an exploit payload", {"hits": hits}
    )


def exploit_probe(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: a request for a published exploit path (a CVE's probe URI, a known web shell). One is
    evidence; basis threshold in the policy, so alone it strikes."""
    hits = w.totals.probe
    if hits < cfg.probing.probe_min_hits:
        return None
    return _finding(
        "D1-exploit-probe", w, 0.9, f"{hits} requests for published exploit paths", {"hits": hits}
    )


def slow_probing(w: Window[DayTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: probes spread thinly over a day (sensitive paths, payloads, exploit paths), each hour
    below the hourly minimum: the day's count judges low-rate probing. A day of hits on fewer than
    ``day_min_targets`` targets is one stale client, not a probe: reported for review."""
    c = cfg.probing
    hits, targets = w.totals.probes, len(w.totals.probe_targets)
    if hits < c.day_min_hits:
        return None
    return _finding(
        "D1-slow-probing",
        w,
        repeat_capped(0.85, targets, c.day_min_targets, c.repeat_confidence),
        f"{hits} probing requests in a day for {targets} target(s)",
        {"hits": hits, "targets": targets},
    )


def scanner_agent(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D1: a vulnerability scanner's user agent."""
    hits = w.totals.scanner
    if hits < cfg.probing.scanner_min_hits:
        return None
    return _finding("D1-scanner-agent", w, 0.95, f"{hits} requests from a scanner user agent", {"hits": hits})


# --- D2: break-in attempts ----------------------------------------------------------------------


def account_auth_failures(w: Window[RateTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D2: an authenticated account whose requests are mostly refused (401/403) by the service, on
    several routes (ids collapsed). Refusals on fewer routes are one client repeating a call it may not
    make (an expired token, an endpoint its plan lacks): reported for review, never a strike."""
    c = cfg.break_in
    t = w.totals
    f, n, routes = t.refused, t.requests, len(t.refused_paths)
    if f < c.account_failures or f / n < c.account_failure_ratio:
        return None
    return _finding(
        "D2-auth-failure-burst",
        w,
        repeat_capped(0.85, routes, c.account_failure_min_routes, c.repeat_confidence),
        f"{f} of {n} requests refused 401/403 on {routes} route(s)",
        {"refused": f, "requests": n, "refused_routes": routes},
    )


def login_brute_force(w: Window[RateTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D2: refused logins (401/403 on login-like routes) piling up in one window, most of its logins:
    password guessing with the account's own key, below the generic refusal burst's bar. A service
    relaying its own users' logins refuses a few in a hundred, whatever its volume."""
    c = cfg.break_in
    f = w.totals.login_refused
    tries = max(w.totals.logins, f)  # a window counted before logins were: every attempt refused
    if f < c.login_failures or f / tries < c.login_failure_ratio:
        return None
    return _finding(
        "D2-login-brute-force",
        w,
        0.85,
        f"{f} of {tries} logins refused in {w.elapsed:.0f}s",
        {"refused_logins": f, "logins": tries, "requests": w.totals.requests},
    )


def source_auth_failures(
    w: Window[SourceTotals], plan: Plan, cfg: LogAnalysis, ip_hash: str
) -> Finding | None:
    """D2 (IP-scoped): one source whose requests are mostly denied; the authorizer then blocks it."""
    c = cfg.break_in
    f, n = w.totals.failures, w.totals.requests
    if f < c.source_failures or f / n < c.source_failure_ratio:
        return None
    return _finding(
        "D2-auth-failure-burst",
        w,
        0.85,
        f"{f} of {n} requests from one source denied",
        {"denied": f, "requests": n, "source": ip_hash},
        ip_hash=ip_hash,
    )


def key_stuffing(w: Window[SourceTotals], plan: Plan, cfg: LogAnalysis, ip_hash: str) -> Finding | None:
    """D2 (IP-scoped): one source presenting several accounts' keys amid many denials."""
    c = cfg.break_in
    t = w.totals
    f, n, ids = t.failures, t.requests, len(t.identities)
    if f < c.stuffing_failures or ids < c.stuffing_distinct_identities or f / n < 0.5:
        return None
    return _finding(
        "D2-key-stuffing",
        w,
        0.9,
        f"one source tried {ids} identities, {f} denials",
        {"denied": f, "requests": n, "identities": ids, "source": ip_hash},
        ip_hash=ip_hash,
    )


def foreign_account_probe(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """D2: an account refused on paths that carry other accounts' ids."""
    c = cfg.break_in
    hits, ids = w.totals.foreign_probes, len(w.totals.foreign_ids)
    if hits < c.foreign_min_hits or ids < c.foreign_min_ids:
        return None
    return _finding(
        "D2-foreign-account-probe",
        w,
        0.85,
        f"{hits} refused requests on {ids} other accounts' paths",
        {"hits": hits, "foreign_accounts": ids},
    )


# --- W5: scraping -------------------------------------------------------------------------------


def id_enumeration(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """W5: numeric ids walked in small steps; misses (403/404) on the walk raise confidence."""
    c = cfg.scraping
    t = w.totals
    # most ids share a block with another (cheap: most hours stop here), most of those a small step apart
    if len(t.walked_ids) < c.enumeration_min_ids or not shares_blocks(t.walked_ids, (w.scope, w.name)):
        return None
    ids, pairs, steps = walk_steps(t.walked_ids, c.enumeration_max_step)
    if steps / pairs < c.enumeration_step_ratio:
        return None
    misses = t.enumeration_misses
    confidence = 0.7 + (0.2 if misses / ids >= c.enumeration_miss_ratio else 0.0)
    within = w.within_plan(plan, cfg)
    if within:  # a walk at the plan's own rate: an operator looks, the ladder does not act
        confidence = min(confidence, cfg.within_plan.max_confidence)
    return _finding(
        "W5-id-enumeration",
        w,
        confidence,
        f"{ids} ids walked sequentially, {misses} misses",
        {"ids": ids, "sequential_steps": steps, "misses": misses, "within_plan_rate": within},
    )


def undocumented_routes(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """W5: many distinct paths that match no public resource."""
    paths = len(w.totals.undocumented_paths)
    if paths < cfg.scraping.undocumented_min_paths:
        return None
    return _finding(
        "W5-undocumented-routes",
        w,
        0.85,
        f"{paths} distinct paths matching no public resource",
        {"distinct_paths": paths, "hits": w.totals.undocumented},
    )


def crawl_ratio(w: Window[RateTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """W5: nearly every request a new path, at a machine rate for the plan."""
    c = cfg.scraping
    t = w.totals
    n, sampled = t.requests, t.sampled_requests
    floor = max(c.crawl_min_requests, plan.requests_per_second * w.seconds * c.crawl_plan_fraction)
    if n < floor or sampled < c.crawl_min_sampled:
        return None
    ratio = len(t.sampled_paths) / sampled  # distinct over the whole window, on the path sample
    if ratio < c.crawl_distinct_ratio:
        return None
    if w.within_plan(plan, cfg) and t.bad_bot / n < cfg.within_plan.scraper_share:
        return None  # new paths at the plan's own rate from a client that is no declared scraper: usage
    confidence = 0.75 + (0.1 if t.non_browser / n >= 0.5 else 0.0)
    return _finding(
        "W5-crawl-ratio",
        w,
        confidence,
        f"about {round(ratio * n)} distinct paths in {n} requests",
        {"requests": n, "distinct_paths_estimate": round(ratio * n), "ratio": round(ratio, 3)},
    )


# --- G1: resale ---------------------------------------------------------------------------------


def key_sharing(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """G1: one account's key from many unrelated networks and agents within the hour."""
    c = cfg.key_sharing
    nets, agents = len(w.totals.networks), len(w.totals.agents)
    needed = max(c.min_networks, math.ceil(plan.seats * c.networks_per_seat))
    if nets < needed or agents < c.min_agents:
        return None
    confidence = 0.8 + (0.1 if nets >= 2 * needed else 0.0)
    if w.baseline is None:  # no history yet: many users may simply be the customer's users
        confidence = min(confidence, c.no_history_confidence)
    elif nets <= c.baseline_factor * w.baseline[0]:
        return None  # the account's usual spread of networks: its users, not resale
    if w.requests and w.non_browser < c.front_end_non_browser_share * w.requests:
        confidence = min(confidence, c.front_end_confidence)  # browsers: a web front-end's audience
    return _finding(
        "G1-key-sharing",
        w,
        confidence,
        f"key used from {nets} networks with {agents} agents",
        {
            "networks": nets,
            "agents": agents,
            "plan_seats": plan.seats,
            "baseline_networks": None if w.baseline is None else w.baseline[0],
            "baseline_agents": None if w.baseline is None else w.baseline[1],
            "non_browser_requests": w.non_browser,
            "hour_requests": w.requests,
        },
    )


# --- W1: spoofing -------------------------------------------------------------------------------


def claimed_account(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    hits = w.totals.claimed
    if hits < cfg.spoofing.claimed_min_hits:
        return None
    return _finding("W1-claimed-account", w, 0.9, f"{hits} requests claiming another account", {"hits": hits})


def forged_forwarded_for(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    hits = w.totals.forged_forwarded
    if hits < cfg.spoofing.forwarded_min_hits:
        return None
    return _finding(
        "W1-forged-forwarded-for",
        w,
        0.9,
        f"{hits} requests with a forged X-Forwarded-For chain",
        {"hits": hits},
    )


def fake_crawler(w: Window[HourTotals], plan: Plan, cfg: LogAnalysis) -> Finding | None:
    """W1: authenticated requests whose agent claims a search-engine crawler (crawlers hold no keys).
    When they are a small share of the hour's requests, the account's server is passing its visitors'
    agents on (server-side rendering while a search engine indexes its site): reported for review. So
    are claims of crawlers whose networks the policy does not list (``spoofing.verified_crawlers``):
    Applebot rendering a site from Apple's network is not told apart from a scraper wearing its name."""
    c = cfg.spoofing
    hits = w.totals.crawler
    if hits < c.crawler_min_hits:
        return None
    confidence = 0.85
    share = hits / w.requests if w.requests else 1.0
    if share < c.crawler_min_share:
        confidence = min(confidence, c.mixed_crawler_confidence)
    unverified = w.totals.crawler_unverified
    if hits - unverified < c.crawler_min_hits:  # mostly crawlers whose own networks nobody listed
        confidence = min(confidence, c.unverified_crawler_confidence)
    return _finding(
        "W1-fake-crawler",
        w,
        confidence,
        f"{hits} authenticated requests posing as a search crawler ({share:.0%} of the hour's)",
        {"hits": hits, "share": round(share, 3), "unverified": unverified},
    )


# Which rules read which window of an account; PLAN_RULES depend on the account's plan.
RATE_RULES = (request_flood, error_burst, account_auth_failures, login_brute_force, crawl_ratio)
HOUR_RULES = (
    sensitive_path,
    attack_payload,
    exploit_signature,
    exploit_probe,
    scanner_agent,
    foreign_account_probe,
    id_enumeration,
    undocumented_routes,
    claimed_account,
    forged_forwarded_for,
    fake_crawler,
)
SHARING_RULES = (key_sharing,)
DAY_RULES = (daily_requests, daily_egress, slow_probing)
SOURCE_RULES = (source_auth_failures, key_stuffing)
PLAN_RULES = frozenset(
    {
        "D5a-request-flood",
        "D5b-daily-requests",
        "D5b-daily-egress",
        "W5-crawl-ratio",
        "W5-id-enumeration",
        "G1-key-sharing",
    }
)
