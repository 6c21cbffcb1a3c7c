"""The scanner's use case: one S3 event record in, the object scanned, tagged, counted and judged.

Order matters for at-least-once delivery: findings reach the ledger first (idempotent per violation
id), then counters (once per event marker), then the object is quarantined or tagged. A failure at any
step fails the SQS record, and the redelivery repeats only what did not happen.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aup.adapters import s3 as store
from aup.adapters.banks import S3BankStore
from aup.detectors.uploads import detectors
from aup.detectors.uploads.detectors import MANDATORY_REPORT_RULES, BankHit, UploadedObject
from aup.detectors.uploads.filetype import HEAD_BYTES, FileType, sniff
from aup.detectors.uploads.pdq import FileHashes
from aup.detectors.uploads.scanner import ScanEngine, ScanResult, ScanStatus
from aup.detectors.uploads.signatures import RuleSet, load_rules
from aup.detectors.uploads.verdict import Verdict, merge_tags, rules_tag, verdict
from aup.domain.models import Decision, Finding, is_account_id
from aup.domain.ports import CounterUpdate
from aup.policy import Policy
from aup.usecases.banks import BankSet

TOTALS = "totals"  # counter item per account: stored_bytes, media_bytes, objects
MANDATORY_REPORT_SCOPE = "report:mandatory"  # not an account id: cannot collide with one


@dataclass(frozen=True)
class ObjectEvent:
    """One record of an S3 event notification."""

    name: str  # ObjectCreated:Put, ObjectRemoved:Delete, ...
    bucket: str
    key: str  # decoded
    version: str | None
    etag: str | None
    size: int
    time: datetime
    sequencer: str | None = None

    @property
    def created(self) -> bool:
        return self.name.startswith("ObjectCreated")

    @property
    def removed(self) -> bool:
        return self.name.startswith("ObjectRemoved") or self.name.startswith("LifecycleExpiration")


def parse_notification(body: Mapping[str, Any]) -> list[ObjectEvent]:
    """The records of an S3 notification; ``s3:TestEvent`` and non-S3 bodies yield nothing."""
    if body.get("Event") == "s3:TestEvent":
        return []
    events = []
    for rec in body.get("Records") or []:
        if rec.get("eventSource") != "aws:s3":
            continue
        obj = rec["s3"]["object"]
        when = datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00"))
        events.append(
            ObjectEvent(
                name=rec["eventName"].removeprefix("s3:"),
                bucket=rec["s3"]["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version=obj.get("versionId") or None,
                etag=(obj.get("eTag") or "").strip('"') or None,
                size=int(obj.get("size") or 0),
                time=when if when.tzinfo else when.replace(tzinfo=UTC),
                sequencer=obj.get("sequencer"),
            )
        )
    return events


def attribute(key: str, prefix: str = "accounts/") -> str | None:
    """The account of ``accounts/<account_id>/...``; None for any other key."""
    if not key.startswith(prefix):
        return None
    account, sep, rest = key[len(prefix) :].partition("/")
    return account if sep and rest and is_account_id(account) else None


def object_counter(bucket: str, key: str, version: str | None) -> str:
    return "object#" + hashlib.sha256(f"{bucket}/{key}#{version or 'null'}".encode()).hexdigest()[:32]


@dataclass
class ObjectOutcome:
    """What happened to one event: for the handler's logs and metrics."""

    event: ObjectEvent
    action: str  # scanned, removed, gone, superseded, duplicate, ignored
    account_id: str | None = None
    status: ScanStatus | None = None
    verdict: Verdict | None = None
    rules: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    quarantined: str | None = None
    sha256: str | None = None
    stored_bytes: int | None = None  # the account's total after this event
    media_bytes: int | None = None
    tags_dropped: int = 0
    bytes_scanned: int = 0
    hash_notes: list[str] = field(default_factory=list)  # images matched by SHA-256/MD5 only, and why


class UploadScanner:
    """Scans and accounts S3 objects for one execution environment (rules and lists loaded once)."""

    def __init__(
        self,
        policy: Policy,
        ledger: Any,
        *,
        quarantine_bucket: str,
        scan_limit_bytes: int,
        now: Callable[[], datetime],
    ) -> None:
        self.policy = policy
        self.ledger = ledger
        self.quarantine_bucket = quarantine_bucket
        self.scan_limit = scan_limit_bytes
        self.now = now
        s = policy.upload_scanning
        root = store.extra_rule_root(s.extra_rules_uri) if s.extra_rules_uri else None
        self.rule_set: RuleSet = _rule_set(root)  # rejected rule files: the handler logs and counts them
        self.engine = ScanEngine(s, self.rule_set.rules, tuple(policy.protected_trademarks))
        self.hash_lists = {
            name: store.hash_list(h.uri) if h.uri else frozenset() for name, h in policy.hash_lists.items()
        }
        # The hash banks (aupctl banks), loaded once: index.json and one hashes.bin per bank. The
        # engine computes only what a loaded bank can match (MD5, PDQ) beside SHA-256.
        self.banks: BankSet | None = BankSet.load(S3BankStore(s.banks_uri)) if s.banks_uri else None
        if self.banks is not None:
            self.engine.hash_kinds = frozenset(b.kind for b in self.banks.banks) - {"sha256"}

    # -- entry point -------------------------------------------------------------------------------

    def handle(self, event: ObjectEvent, deadline: float | None = None) -> ObjectOutcome:
        """Process one record. ``deadline`` is a time.monotonic() value after which a scan gives up."""
        if event.removed:
            return self._removed(event)
        if not event.created:
            return ObjectOutcome(event, "ignored")
        self.engine.out_of_time = (lambda: time.monotonic() > deadline) if deadline else (lambda: False)
        try:
            return self._created(event)
        except store.ObjectGone:
            return ObjectOutcome(
                event, "gone", attribute(event.key, self.policy.upload_scanning.attribution_prefix)
            )

    # -- created -------------------------------------------------------------------------------------

    def _created(self, event: ObjectEvent) -> ObjectOutcome:
        account = attribute(event.key, self.policy.upload_scanning.attribution_prefix)
        meta = store.head(event.bucket, event.key, event.version, event.etag)
        version = event.version or None
        etag = (meta.get("ETag") or "").strip('"') or event.etag
        size = int(meta.get("ContentLength", event.size))
        obj = UploadedObject(
            event.bucket, event.key, version, etag, size, account, event.time, meta.get("ContentType")
        )
        outcome = ObjectOutcome(event, "scanned", account)
        existing = store.get_tags(event.bucket, event.key, version)
        counter = object_counter(event.bucket, event.key, version)

        if account and self._already_done(existing, account, counter, etag):
            outcome.action = "duplicate"
            return outcome

        result, ftype = self._scan(obj)
        outcome.status, outcome.bytes_scanned = result.status, result.bytes_read
        outcome.sha256 = result.top.sha256 if result.top and result.status is ScanStatus.complete else None
        outcome.hash_notes = list(result.hash_notes)
        findings = (
            detectors.content_findings(obj, result, self.policy, self.hash_lists, self._bank_hits(result))
            if result.reports
            else []
        )

        if account:
            media = self._media_bytes(ftype, size)
            totals = self._count_created(obj, counter, etag, media)
            outcome.stored_bytes, outcome.media_bytes = (
                totals.get("stored_bytes", 0),
                totals.get("media_bytes", 0),
            )
            if media:
                plan = self._plan(account)
                allowance = int(self.policy.plan(plan).media_allowance)
                findings += detectors.media_hoarding(
                    obj, ftype.label, outcome.media_bytes or 0, allowance, plan, self.policy
                )
            findings = [f for f in findings if self.policy.rule(f.rule_id).enabled]
            outcome.decisions = self._record(findings, obj)
        else:
            # No account to act on, but a hash-list match is reported to the authorities all the same.
            for f in findings:
                if f.rule_id in MANDATORY_REPORT_RULES:
                    self._mandatory_report(f, obj)

        outcome.rules = sorted({f.rule_id for f in findings})
        outcome.verdict = verdict(result.status, findings, self.policy)
        ours = {
            "aup-verdict": outcome.verdict.value,
            "aup-scan": result.status.value,
            "aup-rules": rules_tag(findings),
            "aup-sha256": outcome.sha256 or "",
            "aup-account": account or "unattributed",
        }
        tags, outcome.tags_dropped = merge_tags(existing, ours)
        if outcome.verdict is Verdict.threat and self._should_quarantine(findings):
            outcome.quarantined = store.quarantine(
                event.bucket, event.key, version, self.quarantine_bucket, tags
            )
        else:
            store.put_tags(event.bucket, event.key, version, tags)
        return outcome

    def _bank_hits(self, result: ScanResult) -> list[tuple[Any, BankHit]]:
        """Every stream (object and members) against the loaded banks: PDQ of at least the policy's
        quality, MD5 and SHA-256 exactly."""
        if self.banks is None or not len(self.banks):
            return []
        min_quality = self.policy.upload_scanning.pdq_min_quality
        hits: list[tuple[Any, BankHit]] = []
        for r in result.reports:
            if not r.sha256:
                continue
            hashes = FileHashes(pdq=r.pdq, md5=r.md5 or "0" * 32, sha256=r.sha256)
            hits.extend((r, m) for m in self.banks.match(hashes, min_quality=min_quality))
        return hits

    def _already_done(
        self, existing: list[dict[str, str]], account: str, counter: str, etag: str | None
    ) -> bool:
        """A redelivery after a complete run: our tags are on the object and its bytes were counted."""
        tags = {t["Key"]: t["Value"] for t in existing}
        if "aup-verdict" not in tags or tags.get("aup-verdict") == Verdict.threat:
            return False  # never tagged, or the quarantine did not finish
        item = self.ledger.get_counters([(account, counter)]).get((account, counter), {})
        return bool(item.get("scans")) and etag in item.get("etags", set())

    def _limit(self, obj: UploadedObject) -> int:
        """What the account's plan sells: business and enterprise plans have their large files scanned
        (the function has 15 minutes; see ``upload_scanning.plan_scan_limits``)."""
        limits = self.policy.upload_scanning.plan_scan_limits
        if obj.size <= self.scan_limit or obj.account_id is None or not limits:
            return self.scan_limit
        return max(self.scan_limit, limits.get(self._plan(obj.account_id), 0))

    def _scan(self, obj: UploadedObject) -> tuple[ScanResult, FileType]:
        limit = self._limit(obj)
        if obj.size > limit:
            head = (
                store.read_head(obj.bucket, obj.key, obj.version, obj.etag, HEAD_BYTES) if obj.size else b""
            )
            return ScanResult(status=ScanStatus.too_large, note=f"{obj.size} bytes > {limit}"), sniff(
                head, obj.key
            )
        chunk = self.policy.upload_scanning.streaming.chunk_bytes
        with store.open_object(obj.bucket, obj.key, obj.size, obj.version, obj.etag, buffer_size=chunk) as f:
            result = self.engine.scan(f, obj.key, owner=obj.account_id or "", served_as=obj.content_type)
        top = result.top
        return result, top.type if top else FileType("empty", "empty")

    def _media_bytes(self, ftype: FileType, size: int) -> int:
        m = self.policy.upload_scanning.media
        if ftype.kind not in m.kinds or (ftype.kind == "image" and size < m.image_min_bytes):
            return 0
        return size

    def _plan(self, account: str) -> str:
        state = self.ledger.get_account(account)
        return state.plan if state else self.policy.default_plan

    def _count_created(
        self, obj: UploadedObject, counter: str, etag: str | None, media: int
    ) -> dict[str, Any]:
        """Add this version's bytes to the account's totals, once per version (the object item remembers
        them for the removal). An unversioned key's new content replaces the old one's bytes."""
        account = obj.account_id
        assert account is not None
        current = self.ledger.get_counters([(account, counter)]).get((account, counter), {})
        # A redelivery computes the same deltas and the marker stops them; an overwrite of an
        # unversioned key replaces what the previous content had added.
        delta_bytes = obj.size - int(current.get("bytes", 0))
        delta_media = media - int(current.get("media_bytes", 0))
        marker = f"s3-created:{obj.source_event_id}"
        self.ledger.add_counters_once(
            marker,
            [
                CounterUpdate(
                    scope=account,
                    name=TOTALS,
                    add={
                        "stored_bytes": delta_bytes,
                        "media_bytes": delta_media,
                        "objects": 0 if current.get("bytes") else 1,
                    },
                ),
                CounterUpdate(
                    scope=account,
                    name=counter,
                    add={"bytes": delta_bytes, "media_bytes": delta_media, "scans": 1},
                    add_sets={"etags": [etag or "none"]},
                ),
            ],
        )
        return self.ledger.get_counters([(account, TOTALS)]).get((account, TOTALS), {})

    def _record(self, findings: list[Finding], obj: UploadedObject) -> list[str]:
        if not findings:
            return []
        for f in findings:
            if f.rule_id in MANDATORY_REPORT_RULES:
                self._mandatory_report(f, obj)
        outcomes = self.ledger.apply_findings(findings, self.now())
        labels: list[str] = []
        for o in outcomes:
            labels.extend(_label(d) for d in o.decisions)
            labels.extend(f"review:{r.finding.rule_id}" for r in o.reviews)
        return labels

    def _mandatory_report(self, f: Finding, obj: UploadedObject) -> None:
        """The report item for the authorities (I2/W4): ``ACCOUNT#report:mandatory / COUNTER#<violation>``,
        written once; operators list that partition and file each report."""
        self.ledger.add_counters_once(
            f"report:{f.violation_id}",
            [
                CounterUpdate(
                    scope=MANDATORY_REPORT_SCOPE,
                    name=f.violation_id,
                    add={"pending": 1},
                    add_sets={
                        "rule_id": [f.rule_id],
                        "account_id": [obj.account_id or "unattributed"],
                        "sha256": [str(f.evidence.get("sha256"))],
                        "object": [f"s3://{obj.bucket}/{obj.key}"],
                        "version": [obj.version or obj.etag or "null"],
                        "quarantine": [f"s3://{self.quarantine_bucket}/{obj.bucket}/{obj.key}"],
                        "detected_at": [obj.uploaded_at.isoformat()],
                        **(
                            {
                                "bank": [str(f.evidence["bank"])],
                                "list_version": [str(f.evidence.get("list_version") or "unversioned")],
                            }
                            if f.evidence.get("bank")
                            else {}
                        ),
                    },
                )
            ],
        )

    def _should_quarantine(self, findings: list[Finding]) -> bool:
        """Dry-run changes no flag and moves no object, except illegal content, which never stays put."""
        if any(f.rule_id in MANDATORY_REPORT_RULES for f in findings):
            return True
        threats = [f for f in findings if f.rule_id in detectors.THREAT_RULES]
        return not self.policy.dry_run and any(not self.policy.rule(f.rule_id).dry_run for f in threats)

    # -- removed -------------------------------------------------------------------------------------

    def _removed(self, event: ObjectEvent) -> ObjectOutcome:
        account = attribute(event.key, self.policy.upload_scanning.attribution_prefix)
        outcome = ObjectOutcome(event, "removed", account)
        if account is None or event.name.endswith("DeleteMarkerCreated"):
            return outcome  # a delete marker hides the version; S3 still stores (and bills) it
        counter = object_counter(event.bucket, event.key, event.version)
        item = self.ledger.get_counters([(account, counter)]).get((account, counter), {})
        size, media = int(item.get("bytes", 0)), int(item.get("media_bytes", 0))
        if size or media:
            when = event.sequencer or event.time.isoformat()
            marker = f"s3-removed:{event.bucket}/{event.key}#{event.version or 'null'}#{when}"
            self.ledger.add_counters_once(
                marker,
                [
                    CounterUpdate(
                        scope=account,
                        name=TOTALS,
                        add={"stored_bytes": -size, "media_bytes": -media, "objects": -1},
                    ),
                    CounterUpdate(scope=account, name=counter, add={"bytes": -size, "media_bytes": -media}),
                ],
            )
        totals = self.ledger.get_counters([(account, TOTALS)]).get((account, TOTALS), {})
        outcome.stored_bytes, outcome.media_bytes = (
            totals.get("stored_bytes", 0),
            totals.get("media_bytes", 0),
        )
        return outcome


_RULE_SETS: dict[str | None, RuleSet] = {}


def _rule_set(root: str | None) -> RuleSet:
    """Compiled once per execution environment and rules root (a policy reload reuses it)."""
    if root not in _RULE_SETS:
        _RULE_SETS[root] = load_rules(root)
    return _RULE_SETS[root]


def _label(d: Decision) -> str:
    return f"{d.rule_id}:{d.label}"
