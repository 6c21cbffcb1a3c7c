"""Policy section ``log_analysis``: thresholds of the access-log rules (D1 D2 D5a D5b G1 W1 W5).

Rate thresholds are per plan (``Policy.plan(...)``); the numbers here are factors and floors. The
defaults equal the values in ``default_policy.yaml``.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Windows(_Section):
    """Counter windows. Counters live in the ledger until the window ends plus ``retention_hours``."""

    rate_seconds: int = Field(default=300, ge=60, le=3600)  # D5a, D1 error bursts, D2, W5 crawl ratio
    retention_hours: int = Field(default=48, ge=1)

    @field_validator("rate_seconds")
    @classmethod
    def _divides_hour(cls, v: int) -> int:
        if 3600 % v:
            raise ValueError(
                "rate_seconds must divide an hour (rate windows are slots of the hour's counter)"
            )
        return v


class RequestFlood(_Section):
    """D5a: a full window above the plan's sustained rate times ``rate_factor``."""

    rate_factor: float = Field(default=1.5, ge=1.0)
    min_requests: int = Field(default=600, ge=1)  # never below this per window, whatever the plan
    base_confidence: float = Field(default=0.55, ge=0, le=1)
    regular_cv: float = Field(default=0.35, gt=0)  # inter-arrival coefficient of variation below: machine
    min_gaps_for_timing: int = Field(default=30, ge=2)
    non_browser_share: float = Field(default=0.5, ge=0, le=1)
    far_factor: float = Field(default=3.0, ge=1)  # rate this many times the limit raises confidence too
    # A window filled at this many times the plan's rate is enforced whatever the agent claims: a
    # browser's agent or jittered timing cannot pull its confidence under ``sustained_confidence``.
    sustained_factor: float = Field(default=2.5, ge=1)  # rate x the plan that is enforced whatever the agent
    sustained_confidence: float = Field(default=0.8, ge=0, le=1)  # confidence floor of such a window
    sustained_fill: float = Field(default=0.9, gt=0, le=1)  # share of the window the rate must span
    # A window whose excess over the limit is all requests the service answered 5xx (the provider's own
    # outage: client libraries retry what failed, two to four times) is a review at this confidence,
    # whatever the other evidence: the service's failure, not the client, made the rate.
    server_error_confidence: float = Field(default=0.6, ge=0, le=1)


class DailyUsage(_Section):
    """D5b: requests and egress per UTC day beyond the plan's documented limits by ``far_beyond_factor``."""

    far_beyond_factor: float = Field(default=3.0, ge=1.0)


class Probing(_Section):
    """D1: error bursts over distinct routes; sensitive paths, attack payloads, scanner agents."""

    error_statuses: frozenset[int] = frozenset({400, 403, 404, 405})
    error_burst_distinct_paths: int = Field(default=25, ge=2)
    error_burst_min_ratio: float = Field(default=0.6, ge=0, le=1)
    sensitive_min_hits: int = Field(default=3, ge=1)  # per account and hour
    # Sensitive hits on fewer distinct routes (ids collapsed, query left out) in the hour are one stale
    # client repeating one call (a moved installer, a route its key lacks the scope for): a review.
    sensitive_min_paths: int = Field(default=3, ge=1)
    day_min_targets: int = Field(
        default=3, ge=1
    )  # D1-slow-probing: a day's probes on fewer targets, a review
    repeat_confidence: float = Field(default=0.6, ge=0, le=1)  # the cap of those two: under every default bar
    payload_min_hits: int = Field(default=1, ge=1)  # one SQLi/XSS/traversal probe in any field: a strike
    # A payload only in the query string of requests a route answered (not 4xx): a review at this confidence
    served_payload_confidence: float = Field(default=0.6, ge=0, le=1)
    # A payload only in the query string of requests a route of the API's own (not a greedy one) declined
    # with one of these statuses, its validation refusing the value: a review too, up to the next figure
    declined_statuses: frozenset[int] = frozenset({400, 422})
    # Such declined requests per account and hour that are a burst of injections, not users' typos: a strike
    declined_payload_min_hits: int = Field(default=20, ge=1)
    scanner_min_hits: int = Field(default=3, ge=1)
    exploit_min_hits: int = Field(default=1, ge=1)  # ${jndi:..}, shellshock in any field (basis signature)
    probe_min_hits: int = Field(default=1, ge=1)  # one published exploit path: CVE probe URI, web shell
    day_min_hits: int = Field(default=10, ge=1)  # D1-slow-probing: probing requests per account and UTC day


class BreakIn(_Section):
    """D2: auth-failure bursts, one source trying many keys, probing other accounts' resources."""

    failure_statuses: frozenset[int] = frozenset({401, 403})
    account_failures: int = Field(default=50, ge=1)  # backend 401/403 per account and window
    account_failure_ratio: float = Field(default=0.8, ge=0, le=1)
    # A burst refused on fewer distinct routes (ids collapsed) is one client repeating a call it may not
    # make (an expired token, an endpoint its plan lacks): capped at ``repeat_confidence``, a review.
    account_failure_min_routes: int = Field(default=3, ge=1)
    repeat_confidence: float = Field(default=0.6, ge=0, le=1)  # that cap: under every default bar
    source_failures: int = Field(default=30, ge=1)  # per source address and window
    source_failure_ratio: float = Field(default=0.8, ge=0, le=1)
    stuffing_failures: int = Field(default=20, ge=1)
    stuffing_distinct_identities: int = Field(default=3, ge=2)  # principals/keys seen from the source
    account_path_markers: tuple[str, ...] = ("accounts", "tenants", "orgs", "customers")
    # refused on a path naming another *existing* account (a 404 is a deleted record, not a probe)
    foreign_denied_statuses: frozenset[int] = frozenset({401, 403})
    foreign_min_ids: int = Field(default=3, ge=1)  # distinct foreign account ids per hour
    foreign_min_hits: int = Field(default=5, ge=1)
    # Brute force as it looks: a few dozen refused logins in minutes. A person who mistypes a password
    # tries 3-5 times; 12 refusals on login-like routes in one window is past that (D2-login-brute-force).
    login_failures: int = Field(default=12, ge=1)  # 401/403 on login-like routes per account and window
    # The share of the window's logins those refusals must be: a shop relaying its customers' logins
    # refuses a few in a hundred (mistyped passwords) however many it relays; a guesser nearly all.
    login_failure_ratio: float = Field(default=0.5, ge=0, le=1)
    # Path segments (extension left out) that make a route login-like.
    login_routes: tuple[str, ...] = (
        "login", "logon", "signin", "sign-in", "sign_in", "session", "sessions", "auth", "authenticate",
        "token", "oauth", "oauth2", "password", "wp-login", "xmlrpc",
    )  # fmt: skip


class Scraping(_Section):
    """W5: sequential id enumeration, undocumented routes, high distinct-path ratio at machine rate."""

    enumeration_min_ids: int = Field(default=100, ge=10)  # per account and hour
    enumeration_step_ratio: float = Field(default=0.8, ge=0, le=1)  # share of steps of +-1..max_step
    enumeration_max_step: int = Field(default=3, ge=1)
    enumeration_miss_ratio: float = Field(default=0.05, ge=0, le=1)  # 403/404 share that raises confidence
    public_resources: tuple[str, ...] = ()  # empty: any resourcePath API Gateway matched is public
    undocumented_min_paths: int = Field(default=20, ge=1)  # distinct undocumented paths per hour
    crawl_distinct_ratio: float = Field(default=0.9, ge=0, le=1)
    crawl_min_requests: int = Field(default=300, ge=1)  # per window
    crawl_plan_fraction: float = Field(default=0.5, gt=0)  # machine rate: this share of the plan's rate
    crawl_path_sample: int = Field(default=8, ge=1, le=64)  # distinct paths measured on 1 path in N
    crawl_min_sampled: int = Field(default=8, ge=1)  # sampled requests needed to judge the ratio


class WithinPlan(_Section):
    """A customer using its plan is not abusing it: at or below the plan's documented requests/s (x
    ``rate_tolerance``, for a client's jitter and its retried 429s), the rate- and ratio-based rules
    (W5 crawl ratio, W5 id enumeration) never strike. Crawl ratio needs evidence that is not rate or
    timing (a declared scraper agent, ``scraper_share`` of the window) to be reported at all; id
    enumeration is capped at ``max_confidence`` (under every default bar: a review at most)."""

    rate_tolerance: float = Field(default=1.1, ge=1.0)  # x the plan's requests/s still "within the plan"
    max_confidence: float = Field(default=0.6, ge=0, le=1)  # id enumeration's cap within the plan
    scraper_share: float = Field(default=0.5, ge=0, le=1)  # declared-scraper share a crawl needs within it


class KeySharing(_Section):
    """G1: one key used from many unrelated networks (/24, /48) and agents within an hour."""

    min_networks: int = Field(default=12, ge=2)
    networks_per_seat: float = Field(default=2.0, gt=0)
    min_agents: int = Field(default=5, ge=1)
    # Judged against the account's own history: the most distinct networks of any of the
    # ``baseline_days`` UTC days before. A finding needs the hour above ``baseline_factor`` x that; with
    # no history yet, the finding is capped at ``no_history_confidence`` (a review at most).
    baseline_days: int = Field(default=7, ge=1, le=30)  # previous UTC days the baseline looks at
    baseline_factor: float = Field(default=3.0, ge=1.0)  # the hour's networks above this x the baseline
    # Previous days with traffic the baseline needs; fewer is no history yet. One day alone may be a
    # sliver: an account that started late in it, or this very hour's session cut by midnight UTC.
    baseline_min_days: int = Field(default=2, ge=1, le=30)
    no_history_confidence: float = Field(default=0.6, ge=0, le=1)  # cap with no history: a review
    # A key a web front-end calls with is used by whoever visits: an audience that jumps (a launch, a
    # shared post) spreads over networks as resale does. When non-browser agents sent under this share
    # of the hour's requests, the finding is capped at ``front_end_confidence`` (a review).
    front_end_non_browser_share: float = Field(default=0.2, ge=0, le=1)  # non-browser requests' share ...
    front_end_confidence: float = Field(default=0.6, ge=0, le=1)  # ... under which: this cap (a review)


class Spoofing(_Section):
    """W1: claimed account header, forged X-Forwarded-For chains, crawler impersonation."""

    claimed_min_hits: int = Field(default=3, ge=1)  # per account and hour
    forwarded_min_hits: int = Field(default=3, ge=1)
    forwarded_max_hops: int = Field(default=6, ge=1)
    forwarded_ends_with_source: bool = True  # API Gateway appends the caller's address to the chain
    crawler_min_hits: int = Field(default=3, ge=1)
    # Crawler agents on less than this share of the hour's requests are a server passing its visitors'
    # agents on (server-side rendering while a search engine indexes the site): capped at
    # ``mixed_crawler_confidence``, a review. An impersonator sends most of its requests as the crawler.
    crawler_min_share: float = Field(default=0.5, ge=0, le=1)
    mixed_crawler_confidence: float = Field(default=0.6, ge=0, le=1)  # that cap: under every default bar
    # The networks search engines publish for their crawlers (Google's googlebot.json, Microsoft's
    # bingbot.json; refresh them from there): a request from one of them whose agent names that crawler
    # is the crawler itself (it renders a site's pages, running the script that calls the API with the
    # site's key), never counted as impersonation. A TCP source address cannot be forged. The defaults:
    # Googlebot's three blocks, then the prefixes of bingbot.json (all in Microsoft's address space).
    crawler_networks: tuple[str, ...] = (
        "66.249.64.0/19",
        "192.178.4.0/22",
        "2001:4860:4801::/48",
        "157.55.39.0/24",
        "207.46.13.0/24",
        "40.77.167.0/24",
        "13.66.139.0/24",
        "13.66.144.0/24",
        "52.167.144.0/24",
        "13.67.10.16/28",
        "13.69.66.240/28",
        "13.71.172.224/28",
        "139.217.52.0/28",
        "191.233.204.224/28",
        "20.36.108.32/28",
        "20.43.120.16/28",
        "40.79.131.208/28",
        "40.79.186.176/28",
        "52.231.148.0/28",
        "20.79.107.240/28",
        "51.105.67.0/28",
        "20.125.163.80/28",
        "40.77.188.0/22",
        "65.55.210.0/24",
        "199.30.24.0/23",
        "40.77.202.0/24",
        "40.77.139.0/25",
        "20.74.197.0/28",
        "20.15.133.160/27",
        "40.77.177.0/24",
        "40.77.178.0/23",
    )
    # The crawler names (tokens of the agent, lower case) whose operators' networks ``crawler_networks``
    # lists. A claim of any other crawler (Applebot, YandexBot, Baiduspider...) from an address outside
    # those networks may be that crawler itself rendering a site, from networks this policy does not
    # know: it cannot be told from an impersonator, so it is at most ``unverified_crawler_confidence``
    # (a review). Add a crawler's name here with its networks to judge its impersonators as Googlebot's.
    verified_crawlers: tuple[str, ...] = (
        "googlebot",
        "google-inspectiontool",
        "adsbot-google",
        "mediapartners-google",
        "bingbot",
        "bingpreview",
        "msnbot",
    )
    unverified_crawler_confidence: float = Field(default=0.6, ge=0, le=1)  # under every default bar

    @field_validator("crawler_networks")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"crawler_networks: {net!r} is not a network in CIDR notation") from exc
        return v

    @field_validator("verified_crawlers")
    @classmethod
    def _crawler_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(n.strip().lower() for n in v)
        if not all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", n) for n in names):
            raise ValueError("verified_crawlers: a name is a crawler's agent token: letters, digits, . _ -")
        return names


class LogAnalysis(_Section):
    max_line_bytes: int = Field(default=16384, ge=256)  # longer: counted, read with long values clipped
    # Paths are judged as the API routes them: ``$context.path`` on a REST API's default endpoint starts
    # with the stage (``/prod/...``), behind a custom domain with its base path. These prefixes are
    # stripped; besides them, a batch's routed lines whose path is its ``resourcePath`` behind one more
    # leading segment reveal the stage by themselves.
    stage_prefixes: tuple[str, ...] = ()
    windows: Windows = Windows()
    request_flood: RequestFlood = RequestFlood()
    daily_usage: DailyUsage = DailyUsage()
    probing: Probing = Probing()
    break_in: BreakIn = BreakIn()
    scraping: Scraping = Scraping()
    key_sharing: KeySharing = KeySharing()
    spoofing: Spoofing = Spoofing()
    within_plan: WithinPlan = WithinPlan()
