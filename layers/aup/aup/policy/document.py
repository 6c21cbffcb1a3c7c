"""Pydantic model of the policy document. Loading it validates everything: a bad policy never runs."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from aup.domain.models import Action, Severity
from aup.policy.sections import LogAnalysis, UploadScanning, UsageMonitoring

CLAUSE_RE = re.compile(r"^(G1|D[1-7][ab]?|W[1-6]|C[1-4]|I[1-3]|E[1-3])$")


class PolicyError(ValueError):
    """The policy document is missing, unreadable or invalid. Raised at cold start, never mid-stream."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plan(_Doc):
    """A plan's documented use parameters (clause D5b; docs/architecture.md#plans)."""

    requests_per_second: float = Field(gt=0)  # sustained over 5 minutes
    requests_per_day: int = Field(gt=0)
    egress_per_day: ByteSize
    cpu_seconds_per_hour: float = Field(gt=0)
    memory_peak: ByteSize
    storage: ByteSize
    media_allowance: ByteSize
    seats: int = Field(default=5, gt=0)  # people expected to share one key (G1)


Basis = Literal["signature", "sustained", "threshold"]


class Rule(_Doc):
    clause: str
    title: str
    severity: Severity
    # What a finding of this rule rests on. ``signature``: an unambiguous marker (a malware signature,
    # a banked hash, a scanner's own user agent). ``sustained``: the detector itself required the breach
    # over several windows. ``threshold``: one window crossed one threshold; on its own it never
    # suspends (see ``ladder.corroboration``).
    basis: Basis = "threshold"
    confidence_bar: float = Field(default=0.8, ge=0.0, le=1.0)
    review_only: bool = False
    dry_run: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _known_clause(self) -> Rule:
        if not CLAUSE_RE.fullmatch(self.clause):
            raise ValueError(f"unknown clause {self.clause!r}")
        return self


class TemporarySuspension(_Doc):
    base_hours: float = Field(default=24, gt=0)
    factor: float = Field(default=2, ge=1)
    max_days: float = Field(default=30, gt=0)


class Corroboration(_Doc):
    """No suspension on one ambiguous signal: a ``threshold`` finding that the ladder would suspend
    for needs another violation of the account (another rule, or the same rule in another window)
    within ``within_hours`` of it; otherwise it gets ``uncorroborated`` (a strike, or a review)."""

    required: bool = True
    within_hours: float = Field(default=24, gt=0)
    uncorroborated: Literal["strike", "review"] = "strike"


class Ladder(_Doc):
    """The enforcement ladder (docs/architecture.md#ladder), as numbers."""

    strike_window_days: int = Field(default=30, gt=0)
    strikes_to_suspend: int = Field(default=3, gt=0)
    actions: dict[Severity, Action] = Field(
        default_factory=lambda: {
            Severity.low: Action.warn,
            Severity.medium: Action.strike,
            Severity.high: Action.suspend_temporary,
            Severity.critical: Action.suspend_indefinite,
        }
    )
    temporary_suspension: TemporarySuspension = TemporarySuspension()
    source_block_hours: float = Field(default=1, gt=0)  # IP-scoped findings (D2)
    corroboration: Corroboration = Corroboration()
    # A finding dated up to this long before a temporary suspension began belongs to that incident
    # (the same burst delivered late or out of order): recorded, never a second suspension.
    incident_lookback_hours: float = Field(default=24, ge=0)
    incidents_kept: int = Field(default=20, ge=1)
    recent_violation_ids: int = Field(default=200, ge=10)

    @model_validator(mode="after")
    def _every_severity(self) -> Ladder:
        missing = set(Severity) - set(self.actions)
        if missing:
            raise ValueError(f"ladder.actions lacks {sorted(m.value for m in missing)}")
        allowed = {
            Action.warn,
            Action.strike,
            Action.suspend_temporary,
            Action.suspend_indefinite,
            Action.review,
        }
        bad = {a for a in self.actions.values() if a not in allowed}
        if bad:
            raise ValueError(f"ladder.actions cannot use {sorted(b.value for b in bad)}")
        return self


class HashList(_Doc):
    """Operator-supplied SHA-256 list: one hex digest a line at ``uri`` (s3://bucket/key or a layer path)."""

    rule_id: str
    uri: str | None = None


class Policy(_Doc):
    policy_version: Annotated[str, Field(min_length=1, max_length=64)]
    default_plan: str = "free"
    dry_run: bool = False
    allowlist: frozenset[str] = frozenset()
    protected_trademarks: tuple[str, ...] = ("CIMCON",)
    hash_lists: dict[str, HashList] = Field(default_factory=dict)
    plans: dict[str, Plan]
    ladder: Ladder = Ladder()
    rules: dict[str, Rule]
    log_analysis: LogAnalysis = LogAnalysis()
    upload_scanning: UploadScanning = UploadScanning()
    usage_monitoring: UsageMonitoring = UsageMonitoring()

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not a plan")
        for name, hash_list in self.hash_lists.items():
            if hash_list.rule_id not in self.rules:
                raise ValueError(f"hash_lists.{name}.rule_id {hash_list.rule_id!r} is not a rule")
        for rule_id, rule in self.rules.items():
            if not rule_id.startswith(rule.clause + "-"):
                raise ValueError(f"rule {rule_id!r} must be named after its clause ({rule.clause}-...)")
        return self

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise PolicyError(f"no rule {rule_id!r} in policy {self.policy_version}") from None

    def plan(self, name: str) -> Plan:
        """The plan's limits; an unknown plan name falls back to the default plan."""
        return self.plans.get(name) or self.plans[self.default_plan]
