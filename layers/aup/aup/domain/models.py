"""The domain's vocabulary: accounts, findings, violations, decisions, reviews.

Every object that crosses a boundary (detector -> engine -> ledger -> API) is one of these pydantic
models. Times are timezone-aware UTC datetimes; detectors pass the event's own time, never the clock.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

ACCOUNT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
_ACCOUNT_ID_RE = re.compile(ACCOUNT_ID_PATTERN)


def is_account_id(value: str) -> bool:
    """True when ``value`` is a well-formed account id (docs/architecture.md#identity)."""
    return bool(_ACCOUNT_ID_RE.fullmatch(value))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _Model(BaseModel):
    # Schemas are built on first use, not at import: a handler pays only for the models it touches.
    model_config = ConfigDict(defer_build=True)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]

ANY_ACCOUNT = "*"  # in ``acts_for``: the account may act for any account (a platform)
ACTS_FOR_LIMIT = 1000  # accounts one account may act for by name; beyond it, "*" (an item stays small)


def _acts_for(value: list[str]) -> list[str]:
    """Sorted, without repeats; each a well-formed account id, or ``*`` alone."""
    out = sorted(set(value))
    bad = [v for v in out if v != ANY_ACCOUNT and not is_account_id(v)]
    if bad:
        raise ValueError(f"not an account id: {bad[0]!r} (ids match {ACCOUNT_ID_PATTERN}, or '*' for any)")
    if ANY_ACCOUNT in out and len(out) > 1:
        raise ValueError("'*' (any account) stands alone")
    if len(out) > ACTS_FOR_LIMIT:
        raise ValueError(f"{len(out)} accounts: at most {ACTS_FOR_LIMIT} by name ('*' for any)")
    return out


ActsFor = Annotated[list[str], AfterValidator(_acts_for)]


def hash_api_key(api_key: str) -> str:
    """The only form in which an API key is ever stored or compared: its SHA-256, hex."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def source_scope(ip: str) -> str:
    """The unit a source is counted and blocked by: an IPv6 address's /64 (one subscriber's prefix:
    an attacker rotates freely inside it), an IPv4 address itself; unparseable text as it is."""
    text = ip.strip().lower()
    if ":" not in text:
        return text
    try:
        return str(ipaddress.IPv6Network(f"{text}/64", strict=False))
    except ValueError:
        return text


def hash_source(ip: str) -> str:
    """A source as stored in the ledger (blocks, evidence): a short SHA-256 digest of its scope
    (``source_scope``), so the analyzer's counters and blocks and the authorizer's lookup agree."""
    return hashlib.sha256(source_scope(ip).encode("utf-8")).hexdigest()[:32]


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.low: 0, Severity.medium: 1, Severity.high: 2, Severity.critical: 3}


class Source(StrEnum):
    log = "log"
    s3 = "s3"
    cw = "cw"
    admin = "admin"


class Status(StrEnum):
    active = "active"
    suspended = "suspended"


class SuspensionKind(StrEnum):
    temporary = "temporary"
    indefinite = "indefinite"


class Action(StrEnum):
    """What the ladder did with one finding."""

    duplicate = "duplicate"  # the same source event was applied before: nothing changes
    warn = "warn"
    strike = "strike"
    suspend_temporary = "suspend_temporary"
    suspend_indefinite = "suspend_indefinite"
    review = "review"
    record = "record"  # recorded against an account that is already suspended at least as hard


class Suspension(_Model):
    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: SuspensionKind
    reason: str
    rule_id: str | None = None
    clause: str | None = None
    since: UtcDatetime
    until: UtcDatetime | None = None  # None for indefinite
    decided_by: str
    policy_version: str | None = None
    # The violations this suspension rests on (the finding, its corroboration, the strikes counted):
    # voiding any of them lifts it.
    violation_ids: tuple[str, ...] = ()

    def in_force(self, now: datetime) -> bool:
        """An expired temporary suspension is never enforced, whether or not the sweep lifted it."""
        if self.kind is SuspensionKind.indefinite:
            return True
        return self.until is None or _utc(now) < self.until


class Strike(_Model):
    model_config = ConfigDict(frozen=True, defer_build=True)

    violation_id: str
    rule_id: str
    at: UtcDatetime
    dry_run: bool = False


class Incident(_Model):
    """A temporary suspension the ladder imposed, in event time, whether it was enforced or had
    already elapsed when its findings arrived. Findings dated inside it (or shortly before it: the
    same burst delivered out of order) belong to it and never escalate."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    since: UtcDatetime
    until: UtcDatetime
    enforced: bool
    violation_ids: tuple[str, ...] = ()


class AccountState(_Model):
    """The ``ACCOUNT#<id> / STATE`` item: the suspension flag and everything the ladder needs."""

    account_id: AccountId
    plan: str = "free"
    status: Status = Status.active
    suspension: Suspension | None = None
    strikes: list[Strike] = Field(default_factory=list)
    temporary_suspensions: int = 0  # how many the ladder has imposed: the doubling exponent
    incidents: list[Incident] = Field(default_factory=list)  # recent ones, bounded by the engine
    allowlisted: bool = False
    dry_run: bool = False
    # The accounts it may name in X-Account-Id: a platform acting for its connected accounts, an agency
    # for its clients (``*``: any). Claiming one of them is not W1-claimed-account, nor a refusal on
    # their paths a D2 foreign-account probe. Set by an operator (PUT /accounts/{id}/acts-for).
    acts_for: ActsFor = Field(default_factory=list)
    registered: bool = True  # False when first seen through a finding, not through POST /accounts
    key_hashes: list[str] = Field(default_factory=list)
    recent_violation_ids: list[str] = Field(default_factory=list)  # bounded; the ledger is the authority
    # rule id -> the account's pending review of that rule: a finding of the same rule is folded into it
    # (``ReviewRepeat``) until an operator decides it, so one stale client is one review, not one an hour
    open_reviews: dict[str, str] = Field(default_factory=dict)
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    version: int = 0

    def enforced(self, now: datetime) -> bool:
        """Whether the authorizer must deny this account at ``now``."""
        return (
            self.status is Status.suspended and self.suspension is not None and self.suspension.in_force(now)
        )

    def effective_status(self, now: datetime) -> Status:
        return Status.suspended if self.enforced(now) else Status.active

    def counted_strikes(
        self, now: datetime, window_days: int, *, include_dry_run: bool = False
    ) -> list[Strike]:
        """The strikes in the rolling window that ends at ``now`` (dry-run ones only when asked)."""
        since = _utc(now).timestamp() - window_days * 86400
        return [
            s
            for s in self.strikes
            if s.at.timestamp() > since and s.at <= _utc(now) and (include_dry_run or not s.dry_run)
        ]

    def strike_count(self, now: datetime, window_days: int, *, include_dry_run: bool = False) -> int:
        return len(self.counted_strikes(now, window_days, include_dry_run=include_dry_run))


class Finding(_Model):
    """What a detector saw: one breach of one rule, attributed to an account (or a source address).

    ``source_event_id`` names the event that showed it (log event id, bucket/key/version, metric
    period): the violation id derives from it, so a redelivered event never counts twice.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    rule_id: str
    clause: str
    account_id: AccountId | None = None
    source_ip_hash: str | None = (
        None  # IP-scoped findings (D2 key stuffing): the authorizer blocks the source
    )
    source: Source
    source_event_id: str = Field(min_length=1, max_length=1024)
    detected_at: UtcDatetime
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    severity: Severity | None = None  # None: the rule's severity from the policy
    summary: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def violation_id(self) -> str:
        digest = hashlib.sha256(f"{self.rule_id}\x1f{self.source_event_id}".encode()).hexdigest()
        return digest[:32]


class Decision(_Model):
    """The ladder's verdict on one finding, and the account state it leads to."""

    violation_id: str
    account_id: AccountId
    rule_id: str
    clause: str
    severity: Severity
    action: Action
    enforced: bool  # False in dry-run: "would suspend", no flag changes
    reason: str
    until: UtcDatetime | None = None
    policy_version: str

    @property
    def label(self) -> str:
        return self.action.value if self.enforced else f"would_{self.action.value}"


class Violation(_Model):
    """The ``ACCOUNT#<id> / VIOLATION#<ts>#<violation_id>`` item; evidence is already redacted."""

    violation_id: str
    account_id: AccountId
    rule_id: str
    clause: str
    severity: Severity
    confidence: float
    source: Source
    source_event_id: str
    detected_at: UtcDatetime
    recorded_at: UtcDatetime
    summary: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    decision: str
    policy_version: str
    voided: bool = False  # an operator voided it (the audit trail says who and why)


class ReviewStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    dismissed = "dismissed"


class Review(_Model):
    """A finding that needs a human: below the confidence bar, review-only, or an allowlisted account."""

    review_id: str
    account_id: AccountId
    violation_id: str
    finding: Finding
    reason: str
    status: ReviewStatus = ReviewStatus.pending
    created_at: UtcDatetime
    decided_at: UtcDatetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    # later findings of the same rule on the same account while this review was pending (each is a
    # violation of its own, decided "review"): how many, the latest one and when it was recorded
    repeats: int = 0
    last_violation_id: str | None = None
    last_seen_at: UtcDatetime | None = None

    def repeated(self, count: int, violation_id: str, at: datetime) -> Review:
        """This review with ``count`` more findings folded into it, the latest ``violation_id`` at ``at``."""
        return self.model_copy(
            update={"repeats": self.repeats + count, "last_violation_id": violation_id, "last_seen_at": at}
        )


class ReviewRepeat(_Model):
    """Findings folded into their account's pending review of the same rule (``AccountState.open_reviews``):
    ``count`` of them in one batch, ``violation_id`` the latest."""

    review_id: str
    account_id: AccountId
    violation_id: str
    at: UtcDatetime
    count: int = 1


class AuditEntry(_Model):
    """The ``ACCOUNT#<id> / AUDIT#<ts>#<n>`` item: one state change, who made it and why."""

    account_id: AccountId
    at: UtcDatetime
    actor: str
    action: str
    reason: str
    violation_id: str | None = None
    from_status: Status | None = None
    to_status: Status | None = None
    version: int
    policy_version: str | None = None


class Outcome(_Model):
    """What the engine returns for one account and a batch of findings."""

    state: AccountState
    decisions: list[Decision] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    repeats: list[ReviewRepeat] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.decisions or self.reviews or self.repeats or self.audit)


class SourceBlock(_Model):
    """An IP-scoped block (D2): the authorizer denies this source even with a valid key until ``until``."""

    source_ip_hash: str
    until: UtcDatetime
    rule_id: str
    violation_id: str


class ApiKeyRecord(_Model):
    """The ``KEY#<sha256>`` item: key -> account, with the enforcement projection the authorizer reads."""

    key_hash: str
    account_id: AccountId
    plan: str
    status: Status
    suspension_kind: SuspensionKind | None = None
    suspended_until: UtcDatetime | None = None

    def enforced(self, now: datetime) -> bool:
        if self.status is not Status.suspended:
            return False
        if self.suspension_kind is SuspensionKind.temporary and self.suspended_until is not None:
            return _utc(now) < self.suspended_until
        return True


class AccountView(_Model):
    """The admin API's account document (docs/architecture.md#admin-api)."""

    account_id: str
    plan: str
    status: Literal["active", "suspended"]
    suspension: Suspension | None
    strikes: int
    allowlisted: bool
    dry_run: bool
    version: int
    registered: bool = True
    acts_for: list[str] = Field(default_factory=list)  # accounts it may name in X-Account-Id; "*": any

    @field_validator("status", mode="before")
    @classmethod
    def _status_value(cls, v: Any) -> Any:
        return v.value if isinstance(v, Status) else v
