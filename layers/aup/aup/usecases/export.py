"""Operators' read models over one account: the audit trail, filtered violations, the evidence export.

The export is one JSON document per account for the authorities: the account record (without its key
hashes), every violation as recorded (evidence already redacted by the detectors), the audit trail, the
account's mandatory reports (``ACCOUNT#report:mandatory``), the quarantined objects' locations and
SHA-256 (from the violations' evidence) and a manifest: each part's SHA-256 over its canonical JSON, and
the bundle's own hash over the sorted part hashes. ``verify`` recomputes the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aup.domain.models import AuditEntry, Violation
from aup.domain.ports import Ledger, Page
from aup.usecases.accounts import get, voided_ids

BUNDLE_FORMAT = "aup-evidence-bundle/1"
PARTS = ("account", "violations", "audit", "mandatory_reports", "quarantined_objects")
FILTER_PAGES = 25  # ledger pages read to fill one filtered page (the rest is behind next_token)
EXPORT_LIMIT = 10_000  # violations in one bundle


def audit(ledger: Ledger, account_id: str) -> list[AuditEntry]:
    """The account's audit trail, oldest first: who, when, why, from -> to, policy version.
    Raises AccountNotFound."""
    get(ledger, account_id)
    return sorted(ledger.list_audit(account_id), key=lambda a: (a.at, a.version))


def _matches(rule: str | None, clause: str | None, decision: str | None) -> Callable[[Violation], bool]:
    def ok(v: Violation) -> bool:
        return (
            (rule is None or v.rule_id == rule)
            and (clause is None or v.clause == clause)
            and (decision is None or v.decision == decision)
        )

    return ok


def filtered_violations(
    ledger: Ledger,
    account_id: str,
    *,
    limit: int,
    next_token: str | None,
    rule: str | None = None,
    clause: str | None = None,
    decision: str | None = None,
) -> Page:
    """One page of the account's violations (newest first, voided ones marked) matching every filter
    given. Reads ledger pages of the size still missing, so no match is skipped between pages; after
    ``FILTER_PAGES`` reads the page may be short, its ``next_token`` going on. Raises AccountNotFound."""
    get(ledger, account_id)
    ok = _matches(rule, clause, decision)
    items: list[Violation] = []
    token = next_token
    for _ in range(FILTER_PAGES):
        page = ledger.list_violations(account_id, limit - len(items), token)
        items.extend(v for v in page.items if ok(v))
        token = page.next_token
        if not token or len(items) >= limit:
            break
    voided = voided_ids(ledger, account_id) if items else set()
    items = [v.model_copy(update={"voided": True}) if v.violation_id in voided else v for v in items]
    return Page(items=items, next_token=token)


def _all_violations(ledger: Ledger, account_id: str) -> list[Violation]:
    out: list[Violation] = []
    token: str | None = None
    while len(out) < EXPORT_LIMIT:
        page = ledger.list_violations(account_id, 200, token)
        out.extend(page.items)
        token = page.next_token
        if not token:
            break
    return out[:EXPORT_LIMIT]


def _jsonable(value: Any) -> Any:
    """Sets (counter items' string sets) as sorted lists, recursively."""
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _quarantined(violations: list[Violation], reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects the scanner moved to quarantine: a hash-list match always, another threat unless it was
    decided in dry-run (``would_…``). The quarantine key is ``<uploads bucket>/<key>``; its full URI is
    known from a mandatory report."""
    from aup.detectors.uploads.detectors import MANDATORY_REPORT_RULES, THREAT_RULES

    by_violation = {r["violation_id"]: r for r in reports}
    out = []
    for v in violations:
        ev = v.evidence
        if v.source.value != "s3" or not ev.get("bucket") or not ev.get("key"):
            continue
        mandatory = v.rule_id in MANDATORY_REPORT_RULES
        if not mandatory and (v.rule_id not in THREAT_RULES or v.decision.startswith("would_")):
            continue
        report = by_violation.get(v.violation_id, {})
        quarantine = report.get("quarantine") or []
        out.append(
            {
                "violation_id": v.violation_id,
                "rule_id": v.rule_id,
                "object": f"s3://{ev['bucket']}/{ev['key']}",
                "version": ev.get("version"),
                "size": ev.get("size"),
                "sha256": ev.get("sha256"),
                "quarantine_key": f"{ev['bucket']}/{ev['key']}",
                "quarantine": quarantine[0] if quarantine else None,
                "detected_at": v.detected_at.isoformat(),
            }
        )
    return out


def canonical(value: Any) -> bytes:
    """The bytes a part's hash is taken over: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def part_hash(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def bundle_hash(part_hashes: list[str]) -> str:
    """The bundle's hash: SHA-256 over the sorted part hashes, one a line."""
    return hashlib.sha256("\n".join(sorted(part_hashes)).encode()).hexdigest()


def build_bundle(ledger: Ledger, account_id: str, *, now: datetime, actor: str) -> dict[str, Any]:
    """The evidence bundle of one account (module docstring). Raises AccountNotFound."""
    # Imported here: the scanner's modules would cost every admin API cold start ~0.1 s.
    from aup.detectors.uploads.detectors import MANDATORY_REPORT_RULES
    from aup.usecases.scan_upload import MANDATORY_REPORT_SCOPE

    state = get(ledger, account_id)
    violations = _all_violations(ledger, account_id)
    voided = voided_ids(ledger, account_id)
    violations = [v.model_copy(update={"voided": v.violation_id in voided}) for v in violations]
    mandatory_ids = [v.violation_id for v in violations if v.rule_id in MANDATORY_REPORT_RULES]
    counters = ledger.get_counters([(MANDATORY_REPORT_SCOPE, vid) for vid in mandatory_ids])
    reports = [
        {"violation_id": vid, **_jsonable(counters[(MANDATORY_REPORT_SCOPE, vid)])}
        for vid in mandatory_ids
        if (MANDATORY_REPORT_SCOPE, vid) in counters
    ]
    parts: dict[str, Any] = {
        "account": state.model_dump(mode="json", exclude={"key_hashes"}),
        "violations": [v.model_dump(mode="json") for v in violations],
        "audit": [a.model_dump(mode="json") for a in audit(ledger, account_id)],
        "mandatory_reports": reports,
        "quarantined_objects": _quarantined(violations, reports),
    }
    hashes = {name: part_hash(parts[name]) for name in PARTS}
    manifest = {
        "format": BUNDLE_FORMAT,
        "account_id": account_id,
        "generated_at": now.isoformat(),
        "generated_by": actor,
        "parts": [
            {
                "name": name,
                "sha256": hashes[name],
                "items": len(parts[name]) if isinstance(parts[name], list) else 1,
            }
            for name in PARTS
        ],
        "bundle_sha256": bundle_hash(list(hashes.values())),
    }
    return {"manifest": manifest, **parts}


def verify(bundle: Any) -> list[str]:
    """What is wrong with a bundle's manifest (empty: every part and the bundle hash match)."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("manifest"), dict):
        return ["no manifest"]
    manifest = bundle["manifest"]
    listed = manifest.get("parts")
    if not isinstance(listed, list):
        return ["manifest.parts: missing"]
    problems: list[str] = []
    hashes: list[str] = []
    names = set()
    for entry in listed:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            problems.append("manifest.parts: an entry without a name")
            continue
        names.add(name)
        recorded = str(entry.get("sha256"))
        hashes.append(recorded)
        if name not in bundle:
            problems.append(f"{name}: listed in the manifest, missing from the bundle")
        elif part_hash(bundle[name]) != recorded:
            problems.append(f"{name}: SHA-256 {part_hash(bundle[name])} != manifest {recorded}")
    for extra in sorted(set(bundle) - names - {"manifest"}):
        problems.append(f"{extra}: in the bundle, not in the manifest")
    if bundle_hash(hashes) != manifest.get("bundle_sha256"):
        problems.append(f"bundle_sha256: {manifest.get('bundle_sha256')} != {bundle_hash(hashes)}")
    return problems
