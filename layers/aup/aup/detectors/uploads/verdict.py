"""An object's verdict and the tags that carry it (within S3's 10-tag limit, keeping the uploader's).

Tags written by the scanner (all start with ``aup-``; the uploads bucket policy forbids anyone else
to set them):

=================  =====================================================================================
``aup-verdict``    ``clean`` (a complete scan, nothing that blocks), ``threat`` (malware, exploit, bomb,
                   hash-list match: moved to quarantine), ``violation`` (a policy breach in the content:
                   bulk personal data, hidden trademarks, phishing), ``review`` (a detector was unsure:
                   held for an operator), ``not-scanned`` (the scan could not finish). Only ``clean`` is
                   readable through the bucket policy.
``aup-scan``       ``complete``, ``too-large``, ``encrypted``, ``timeout``, ``unsupported``, ``failed``
``aup-rules``      the rule ids found, space-separated (may include review-only and D6 rules that do
                   not block the object)
``aup-sha256``     the object's SHA-256 (absent when it was not read to the end)
``aup-account``    the account id, or ``unattributed`` for keys outside ``accounts/<id>/``
=================  =====================================================================================

``aup-verdict`` and ``aup-scan`` are always written; the other three only as room allows next to the
uploader's own tags (S3 allows 10). When the uploader already uses 9 or 10, the last of theirs give
way to the two mandatory tags (a logged, counted event).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from aup.detectors.uploads.detectors import THREAT_RULES
from aup.detectors.uploads.scanner import ScanStatus
from aup.domain.models import Finding
from aup.policy import Policy

TAG_PREFIX = "aup-"
MAX_TAGS = 10


class Verdict(StrEnum):
    clean = "clean"
    threat = "threat"
    violation = "violation"
    review = "review"
    not_scanned = "not-scanned"


# Findings about the account rather than this object's content: they never block the object.
_NON_BLOCKING = frozenset({"D6-media-hoarding"})


def verdict(status: ScanStatus, findings: Sequence[Finding], policy: Policy) -> Verdict:
    """Threat beats violation beats review; an unfinished scan is never clean."""
    confident = [f for f in findings if f.confidence >= policy.rule(f.rule_id).confidence_bar]
    if any(f.rule_id in THREAT_RULES for f in confident):
        return Verdict.threat
    blocking = [
        f for f in confident if f.rule_id not in _NON_BLOCKING and not policy.rule(f.rule_id).review_only
    ]
    if blocking:
        return Verdict.violation
    unsure = [f for f in findings if f not in confident and not policy.rule(f.rule_id).review_only]
    if unsure:
        return Verdict.review
    if status is not ScanStatus.complete:
        return Verdict.not_scanned
    return Verdict.clean


def merge_tags(
    existing: Sequence[dict[str, str]],
    ours: dict[str, str],
    mandatory: Sequence[str] = ("aup-verdict", "aup-scan"),
) -> tuple[list[dict[str, str]], int]:
    """The uploader's tags (without any ``aup-`` ones) plus ours, at most 10.

    Returns the tag set and how many of the uploader's tags had to be dropped.
    """
    theirs = [t for t in existing if not t["Key"].startswith(TAG_PREFIX)]
    required = {k: v for k, v in ours.items() if k in mandatory}
    optional = {k: v for k, v in ours.items() if k not in mandatory and v}
    room_for_theirs = MAX_TAGS - len(required)
    dropped = max(0, len(theirs) - room_for_theirs)
    kept = theirs[:room_for_theirs]
    tags = kept + [{"Key": k, "Value": v} for k, v in required.items()]
    for k, v in optional.items():
        if len(tags) >= MAX_TAGS:
            break
        tags.append({"Key": k, "Value": v})
    return tags, dropped


def rules_tag(findings: Sequence[Finding]) -> str:
    value = " ".join(sorted({f.rule_id for f in findings}))
    return value[:256]
