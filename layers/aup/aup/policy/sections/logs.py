"""Policy section ``log_analysis``: thresholds of the access-log rules (D1 D2 D5a D5b G1 W1 W5).

Rate thresholds are per plan (``Policy.plan(...)``); the numbers here are factors and floors. The
defaults equal the values in ``default_policy.yaml``.
"""

from __future__ import annotations

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


class DailyUsage(_Section):
    """D5b: requests and egress per UTC day beyond the plan's documented limits by ``far_beyond_factor``."""

    far_beyond_factor: float = Field(default=3.0, ge=1.0)


class Probing(_Section):
    """D1: error bursts over distinct paths; sensitive paths, attack payloads, scanner agents."""

    error_statuses: frozenset[int] = frozenset({400, 403, 404, 405})
    error_burst_distinct_paths: int = Field(default=25, ge=2)
    error_burst_min_ratio: float = Field(default=0.6, ge=0, le=1)
    sensitive_min_hits: int = Field(default=3, ge=1)  # per account and hour
    payload_min_hits: int = Field(default=2, ge=1)
    scanner_min_hits: int = Field(default=3, ge=1)


class BreakIn(_Section):
    """D2: auth-failure bursts, one source trying many keys, probing other accounts' resources."""

    failure_statuses: frozenset[int] = frozenset({401, 403})
    account_failures: int = Field(default=50, ge=1)  # backend 401/403 per account and window
    account_failure_ratio: float = Field(default=0.8, ge=0, le=1)
    source_failures: int = Field(default=30, ge=1)  # per source address and window
    source_failure_ratio: float = Field(default=0.8, ge=0, le=1)
    stuffing_failures: int = Field(default=20, ge=1)
    stuffing_distinct_identities: int = Field(default=3, ge=2)  # principals/keys seen from the source
    account_path_markers: tuple[str, ...] = ("accounts", "tenants", "orgs", "customers")
    foreign_denied_statuses: frozenset[int] = frozenset({401, 403, 404})
    foreign_min_ids: int = Field(default=3, ge=1)  # distinct foreign account ids per hour
    foreign_min_hits: int = Field(default=5, ge=1)


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


class KeySharing(_Section):
    """G1: one key used from many unrelated networks (/24, /48) and agents within an hour."""

    min_networks: int = Field(default=12, ge=2)
    networks_per_seat: float = Field(default=2.0, gt=0)
    min_agents: int = Field(default=5, ge=1)


class Spoofing(_Section):
    """W1: claimed account header, forged X-Forwarded-For chains, crawler impersonation."""

    claimed_min_hits: int = Field(default=3, ge=1)  # per account and hour
    forwarded_min_hits: int = Field(default=3, ge=1)
    forwarded_max_hops: int = Field(default=6, ge=1)
    forwarded_ends_with_source: bool = True  # API Gateway appends the caller's address to the chain
    crawler_min_hits: int = Field(default=3, ge=1)


class LogAnalysis(_Section):
    max_line_bytes: int = Field(default=16384, ge=256)  # longer lines are counted and skipped
    windows: Windows = Windows()
    request_flood: RequestFlood = RequestFlood()
    daily_usage: DailyUsage = DailyUsage()
    probing: Probing = Probing()
    break_in: BreakIn = BreakIn()
    scraping: Scraping = Scraping()
    key_sharing: KeySharing = KeySharing()
    spoofing: Spoofing = Spoofing()
