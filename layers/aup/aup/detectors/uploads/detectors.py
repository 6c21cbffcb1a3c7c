"""Upload rules, one function per rule: a scan result in, findings out. Pure: no AWS, no clock.

Each finding's ``source_event_id`` names the object version (bucket, key, version id or eTag), so a
redelivered event never adds a second violation. Evidence holds counts, rule names, hashes, member
paths and last-four digits, never content.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aup.detectors.uploads import links, onenote, shortcut, vba
from aup.detectors.uploads.filetype import extension
from aup.detectors.uploads.markup import COOKIE_KEPT, COOKIE_OWN, HIDDEN_RUN
from aup.detectors.uploads.scanner import SMUGGLED_EXECUTABLE, ContentReport, ScanResult
from aup.detectors.uploads.text import AWS_KEY_ID_ONLY, NATIONAL_ID_KINDS, PRIVATE_KEY
from aup.domain.models import Finding, Source
from aup.policy import Policy
from aup.policy.sections.uploads import UploadScanning

MANDATORY_REPORT_RULES = frozenset({"W4-known-illegal-hash", "I2-abuse-material-hash"})
THREAT_RULES = frozenset(
    {
        "I3-malware-signature",
        "I3-disguised-executable",
        "I3-script-in-document",
        "I3-archive-bomb",
        "W4-known-illegal-hash",
        "I2-abuse-material-hash",
        "I1-infringing-hash",
    }
)
_MAX_SAMPLES = 10


@dataclass(frozen=True)
class UploadedObject:
    """One version of one uploaded object, as the event named it."""

    bucket: str
    key: str
    version: str | None  # version id, or None on an unversioned bucket
    etag: str | None
    size: int
    account_id: str | None
    uploaded_at: datetime
    content_type: str | None = None  # as stored (HeadObject): what a browser is told the object is

    @property
    def source_event_id(self) -> str:
        sid = f"s3://{self.bucket}/{self.key}#{self.version or self.etag or 'null'}"
        return sid if len(sid) <= 1024 else "s3:sha256:" + hashlib.sha256(sid.encode()).hexdigest()


def _finding(
    obj: UploadedObject,
    rule_id: str,
    policy: Policy,
    confidence: float,
    summary: str,
    evidence: dict[str, Any],
    source_event_id: str | None = None,
) -> Finding:
    return Finding(
        rule_id=rule_id,
        clause=policy.rule(rule_id).clause,
        account_id=obj.account_id,
        source=Source.s3,
        source_event_id=source_event_id or obj.source_event_id,
        detected_at=obj.uploaded_at,
        confidence=confidence,
        summary=summary,
        evidence={"bucket": obj.bucket, "key": obj.key, "version": obj.version, "size": obj.size, **evidence},
    )


def _where(reports: Iterable[ContentReport]) -> list[str]:
    return [r.path or "(object)" for r in reports][:_MAX_SAMPLES]


def _sha(result: ScanResult) -> str | None:
    return result.top.sha256 if result.top else None


# --- I3 -------------------------------------------------------------------------------------------


def malware_signature(obj: UploadedObject, result: ScanResult, policy: Policy) -> list[Finding]:
    hits = [r for r in result.reports if r.signatures]
    if not hits:
        return []
    names = sorted({n for r in hits for n in r.signatures})
    # The surest rule decides (a rule's meta confidence below the bar sends the object to review).
    confidence = max(r.signature_confidence.get(n, 1.0) for r in hits for n in r.signatures)
    return [
        _finding(
            obj,
            "I3-malware-signature",
            policy,
            confidence,
            f"YARA rules matched: {', '.join(names)}",
            {"sha256": _sha(result), "rules": names, "where": _where(hits)},
        )
    ]


def disguised_executable(
    obj: UploadedObject, result: ScanResult, policy: Policy, settings: UploadScanning
) -> list[Finding]:
    disguises = settings.executables.disguise_extensions
    hits = []
    for r in result.reports:
        name = obj.key if not r.path else r.path.rsplit("!/", 1)[-1]
        if r.type.kind == "executable" and extension(name) in disguises:
            hits.append((r, extension(name)))
    if not hits:
        return []
    return [
        _finding(
            obj,
            "I3-disguised-executable",
            policy,
            0.95,
            f"{hits[0][0].type.label} executable named .{hits[0][1]}",
            {
                "sha256": _sha(result),
                "formats": sorted({r.type.label for r, _ in hits}),
                "extensions": sorted({e for _, e in hits}),
                "where": _where(r for r, _ in hits),
            },
        )
    ]


# Active content that runs as the document opens: a PDF's launch action, an Equation Editor object that
# updates itself, a link to an exploit's page or scheme that Word follows by itself, a page that carries
# an executable in base64 for the browser to save (HTML smuggling), a shortcut running a download, macros
# that download and run code as the document opens, a OneNote section embedding code to run
LAUNCHES = (
    "launch",
    "equation-editor-auto-update",
    links.EXPLOIT_LINK,
    SMUGGLED_EXECUTABLE,
    shortcut.SHORTCUT_EXPLOIT,
    vba.VBA_DOWNLOAD_ON_OPEN,
    onenote.ONENOTE_EMBEDDED_CODE,
)
_SECRETS = frozenset({"document.cookie"})  # what a page's script steals ...
_OBFUSCATION = frozenset({"eval", "atob", HIDDEN_RUN})  # ... or how it hides what it runs: eval(atob("..."))


def _stealing(markers: Counter[str]) -> bool:
    """Markers of a script that sends the session away (the cookies handed on to another host, and a
    request, a redirect or a beacon made) or runs a hidden payload (what ``atob`` decoded, handed to
    ``eval``). A page that fetches its own data, redirects, keeps its settings in localStorage, parses
    and writes its cookies (a consent banner), or uses ``atob`` and ``eval`` apart shows sinks alone:
    that is a web page."""
    found = set(markers)
    sinks = found - _SECRETS - _OBFUSCATION - {"localstorage", "sessionstorage", COOKIE_KEPT, COOKIE_OWN}
    return bool(found & _SECRETS and sinks) or HIDDEN_RUN in found


def script_in_document(
    obj: UploadedObject, result: ScanResult, policy: Policy, settings: UploadScanning
) -> list[Finding]:
    """Scripts in HTML/SVG (and markup found in text), PDF actions and scripts, Office macros."""
    s = settings.scripts
    handlers: Counter[str] = Counter()
    interaction: Counter[str] = Counter()
    page: Counter[str] = Counter()  # self-running, but only calling the page's functions (a review)
    exfil: Counter[str] = Counter()
    active: Counter[str] = Counter()
    tags = js_urls = 0
    where = []
    for r in result.reports:
        m = r.markup
        has_markup = m is not None and bool(
            m.script_tags
            or m.event_handlers
            or m.interaction_handlers
            or m.page_handlers
            or m.javascript_urls
        )
        if not has_markup and not r.active:
            continue
        if m is not None and has_markup:
            handlers.update(m.event_handlers)
            interaction.update(m.interaction_handlers)
            page.update(m.page_handlers)
            exfil.update(m.exfiltration_markers)
            tags += m.script_tags
            js_urls += m.javascript_urls
        active.update(r.active)
        where.append(r)
    if not where:
        return []
    if _stealing(exfil) and (handlers or interaction or page or js_urls or tags):
        confidence = s.exfiltration_confidence
    elif handlers or js_urls or any(active[what] for what in LAUNCHES):
        confidence = s.handler_confidence
    elif active:
        # Scripts in a PDF, macros in an Office file: common in honest documents too; an operator looks.
        confidence = s.active_content_confidence
    else:
        confidence = s.script_tag_confidence
    summary = (
        f"{tags} script tags, {sum(handlers.values())} event handlers that run by themselves, "
        f"{sum(page.values())} that only call the page's functions or set their element's properties, "
        f"{sum(interaction.values())} on the page's controls, {js_urls} javascript: URLs"
    )
    if active:
        summary += ", active content: " + ", ".join(sorted(active))
    return [
        _finding(
            obj,
            "I3-script-in-document",
            policy,
            confidence,
            summary,
            {
                "sha256": _sha(result),
                "script_tags": tags,
                "event_handlers": dict(handlers),
                "interaction_handlers": dict(interaction),
                "page_handlers": dict(page),
                "javascript_urls": js_urls,
                "exfiltration_markers": dict(exfil),
                "active_content": dict(active),
                "where": _where(where),
            },
        )
    ]


def archive_bomb(obj: UploadedObject, result: ScanResult, policy: Policy) -> list[Finding]:
    if result.bomb is None:
        return []
    b = result.bomb
    a = policy.upload_scanning.archives
    # Overlapping members are crafted; so is expansion at layer after layer. One expanding layer (or two)
    # is also what an empty disk image or a preallocated file compressed looks like: a review.
    crafted = b.reason != "ratio" or b.detail.get("expanding_layers", 0) >= a.bomb_min_layers
    return [
        _finding(
            obj,
            "I3-archive-bomb",
            policy,
            0.95 if crafted else a.shallow_bomb_confidence,
            f"archive bomb: {b.reason}",
            {"sha256": _sha(result), "reason": b.reason, "member": b.member, **b.detail},
        )
    ]


# --- W1 W6 -----------------------------------------------------------------------------------------


PHISHING_CONFIDENCE = 0.85
SECRET_FORM_CONFIDENCE = 0.6  # a brand's key or secret asked for on a settings page: an operator looks


def phishing_page(obj: UploadedObject, result: ScanResult, policy: Policy) -> list[Finding]:
    """W1: a page asking for a password under a brand's name (its title, a heading, a form label). A
    page that names a brand only in passing ("Continue with Google", "We accept PayPal") is a
    customer's own login page. A page whose only masked fields ask for a service's key or secret (an
    integrations page: "PayPal client secret", "Amazon S3 secret access key") is a review."""
    pages = [r for r in result.reports if r.markup and r.markup.brands_claimed and r.markup.password_forms]
    secrets_only = not pages
    if secrets_only:
        pages = [r for r in result.reports if r.markup and r.markup.brands_claimed and r.markup.secret_forms]
    if not pages:
        return []
    brands = sorted({b for r in pages for b in r.markup.brands_claimed})  # type: ignore[union-attr]
    asked = "a key or secret field" if secrets_only else "login form"
    return [
        _finding(
            obj,
            "W1-phishing-page",
            policy,
            SECRET_FORM_CONFIDENCE if secrets_only else PHISHING_CONFIDENCE,
            f"{asked} carrying {', '.join(brands)}",
            {
                "sha256": _sha(result),
                "brands": brands,
                "secret_fields_only": secrets_only,
                "where": _where(pages),
            },
        )
    ]


REVEALABLE_MARK_CONFIDENCE = 0.6  # hidden text the page itself shows (an FAQ's answer): an operator looks


def hidden_trademark(obj: UploadedObject, result: ScanResult, policy: Policy) -> list[Finding]:
    """W6: protected marks in meta tags or in text hidden from visitors. Hidden text the page shows
    itself (a collapsed FAQ answer its stylesheet opens, a mobile menu, a duplicate of visible text) is
    no hidden text in the clause's sense: alone, it is a review."""
    meta: Counter[str] = Counter()
    hidden: Counter[str] = Counter()
    revealable: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    pages = []
    for r in result.reports:
        m = r.markup
        if m and (m.marks_in_meta or m.marks_hidden or m.marks_revealable):
            meta.update(m.marks_in_meta)
            hidden.update(m.marks_hidden)
            revealable.update(m.marks_revealable)
            methods.update(m.hiding_methods)
            pages.append(r)
    if not pages:
        return []
    marks = sorted(set(meta) | set(hidden) | set(revealable))
    shown_only = not meta and not hidden
    summary = f"protected marks {', '.join(marks)} in " + (
        "hidden text the page itself shows" if shown_only else "meta tags or hidden text"
    )
    return [
        _finding(
            obj,
            "W6-hidden-trademark",
            policy,
            REVEALABLE_MARK_CONFIDENCE if shown_only else 0.9,
            summary,
            {
                "sha256": _sha(result),
                "marks": marks,
                "in_meta": dict(meta),
                "in_hidden_text": dict(hidden),
                "in_text_the_page_shows": dict(revealable),
                "hiding_methods": dict(methods),
                "where": _where(pages),
            },
        )
    ]


# --- W2 W3 C1 --------------------------------------------------------------------------------------


def _text_totals(
    result: ScanResult,
) -> tuple[dict[str, int], Counter[str], Counter[str], Counter[str], list[str], list[ContentReport]]:
    totals: Counter[str] = Counter()
    issuers: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    threats: Counter[str] = Counter()
    last4: list[str] = []
    seen: dict[str, set[int]] = {}  # distinct values over every file of the upload (TextCounts.seen)
    reports = []
    for r in result.reports:
        t = r.text
        if t is None:
            continue
        reports.append(r)
        for name in (
            "cards",
            "card_like",
            "ssns",
            "ssn_like",
            "ibans",
            "emails",
            "email_bytes",
            "distinct_emails",
            "phones",
            "distinct_phones",
            "text_bytes",
            "card_candidates",
            "card_context",
            "ssn_context",
            "test_cards",
        ):
            totals[name] += getattr(t, name)
        for kind, digests in t.seen.items():
            seen.setdefault(kind, set()).update(digests)
        issuers.update(t.card_issuers)
        keys.update(t.cloud_keys)
        threats.update(t.threat_phrases)
        last4.extend(t.card_last4)
    for kind in ("cards", "card_candidates", "ssns", "ibans"):
        totals["distinct_" + kind] = len(seen.get(kind, ()))
    # Other countries' identity numbers count where the upload names their kind (text.national_id)
    named = {kind for r in reports if r.text is not None for kind in r.text.id_context}
    ids = {kind: len(seen.get("id:" + kind, ())) for kind in NATIONAL_ID_KINDS}
    for kind, distinct in ids.items():
        totals["distinct_" + kind] = distinct if kind in named else 0
    totals["distinct_national_ids"] = sum(n for kind, n in ids.items() if kind in named)
    totals["unnamed_national_ids"] = sum(n for kind, n in ids.items() if kind not in named)
    return dict(totals), issuers, keys, threats, last4[:5], reports


def chance_p_value(passes: int, candidates: int, p: float = 0.1) -> float:
    """P(at least ``passes`` of ``candidates`` random numbers pass a 1-in-10 checksum)."""
    if passes <= 0:
        return 1.0
    if passes > candidates:
        return 0.0
    if candidates > 1000:  # normal approximation, continuity-corrected
        mean, sd = candidates * p, math.sqrt(candidates * p * (1 - p))
        return 0.5 * math.erfc((passes - 0.5 - mean) / sd / math.sqrt(2))
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(candidates + 1)

    def term(k: int) -> float:
        ways = base - math.lgamma(k + 1) - math.lgamma(candidates - k + 1)
        return math.exp(ways + k * log_p + (candidates - k) * log_q)

    return min(1.0, sum(term(k) for k in range(passes, candidates + 1)))


def real_cards(cards: int, candidates: int, context: bool, settings: UploadScanning) -> int:
    """How many of the Luhn-valid numbers are cards rather than identifiers that pass by chance.

    Judged over the whole stream: random 16-digit ids with an issuer's prefix pass Luhn 1 time in
    10, so a column of order ids "holds" valid cards at that rate. Cards count only when that many
    passes would be improbable by chance (a lower bar when card words such as "card", "cvv" or
    "expiry" are near them, as Macie and Presidio use context), and then only those beyond the
    chance rate."""
    s = settings.personal_data
    alpha = s.card_chance_alpha_with_context if context else s.card_chance_alpha
    if cards == 0 or chance_p_value(cards, candidates) >= alpha:
        return 0
    # Passes P = C cards + 1 in 10 of the other (candidates - C) numbers, so C = (P - n/10) / 0.9.
    return max(0, min(cards, round((cards - 0.1 * candidates) / 0.9)))


def personal_data(
    obj: UploadedObject, result: ScanResult, policy: Policy, settings: UploadScanning
) -> list[Finding]:
    s = settings.personal_data
    t, issuers, _, _, last4, reports = _text_totals(result)
    if not reports:
        return []
    # People, not mentions: a value repeated (the firm's IBAN on each invoice) counts once, and so does a
    # candidate repeated to drown the cards among chance passes.
    cards = real_cards(t["distinct_cards"], t["distinct_card_candidates"], t["card_context"] > 0, settings)
    ssns = t["distinct_ssns"]
    named_ssns = ssns if t["ssn_context"] else 0  # (an SSN has no check digit: its name makes it one)
    ids = t["distinct_national_ids"]  # named, and their check digits pass: as sure as named SSNs
    validated = cards + ssns + t["distinct_ibans"] + ids
    contacts = max(t["distinct_emails"], t["distinct_phones"])
    evidence = {
        "sha256": _sha(result),
        "cards": t["cards"],
        "cards_beyond_chance": cards,
        "card_candidates": t["card_candidates"],
        "published_test_cards": t["test_cards"],
        "card_issuers": dict(issuers),
        "card_last4": last4 if cards else [],
        "distinct_cards": t["distinct_cards"],
        "ssns": t["ssns"],
        "distinct_ssns": t["distinct_ssns"],
        "ssns_named": bool(t["ssn_context"]),
        "ibans": t["ibans"],
        "distinct_ibans": t["distinct_ibans"],
        "national_ids": {k: t["distinct_" + k] for k in NATIONAL_ID_KINDS if t["distinct_" + k]},
        "unnamed_national_ids": t["unnamed_national_ids"],
        "distinct_emails": t["distinct_emails"],
        "distinct_phones": t["distinct_phones"],
        "near_misses": t["card_like"] + t["ssn_like"],
        "where": _where(r for r in reports if r.text and (r.text.validated or r.text.distinct_emails)),
    }
    if validated >= s.bulk_min or contacts >= s.contacts_bulk_min:
        if cards + named_ssns + ids >= s.bulk_min:
            confidence = 0.95
        elif validated >= s.bulk_min and ssns - named_ssns > t["distinct_ibans"]:
            # numbers of the SSN's shape that nothing names as SSNs make the bulk: a parts list, references
            confidence = s.unnamed_ssns_confidence
        elif validated >= s.bulk_min:  # the IBANs make the bulk: a statement, a payroll, a supplier list
            confidence = s.ibans_confidence
        else:
            confidence = s.contacts_confidence
        summary = (
            f"{cards} cards, {t['distinct_ssns']} SSNs, {t['distinct_ibans']} IBANs, {contacts} contacts"
        ) + (f", {ids} national identity numbers" if ids else "")
        return [_finding(obj, "W2-bulk-personal-data", policy, confidence, summary, evidence)]
    if validated >= s.review_min:
        return [
            _finding(
                obj, "W2-personal-data", policy, 0.9, f"{validated} validated personal identifiers", evidence
            )
        ]
    return []


def cloud_credentials(
    obj: UploadedObject, result: ScanResult, policy: Policy, settings: UploadScanning
) -> list[Finding]:
    _, _, keys, _, _, reports = _text_totals(result)
    if sum(keys.values()) < settings.personal_data.cloud_keys_min:
        return []
    pd = settings.personal_data
    # the kinds that are no cloud credential alone: a key id without its secret (a name), a private key
    # (its owner's own: TLS test fixtures, ~/.ssh); with nothing stronger beside them, a review
    weak = {AWS_KEY_ID_ONLY: pd.key_ids_only_confidence, PRIVATE_KEY: pd.private_keys_confidence}
    ids_only = set(keys) == {AWS_KEY_ID_ONLY}  # no secret beside them: a name, not yet a credential
    weak_only = set(keys) <= weak.keys()
    if ids_only:
        what = "cloud access key ids without their secret"
    elif weak_only:
        what = "private keys" if set(keys) == {PRIVATE_KEY} else "private keys and access key ids"
    else:
        what = "cloud credentials"
    return [
        _finding(
            obj,
            "W2-cloud-credentials",
            policy,
            max(weak[k] for k in keys) if weak_only else 0.9,
            f"{sum(keys.values())} {what}",
            {
                "sha256": _sha(result),
                "kinds": dict(keys),
                "key_ids_only": ids_only,
                "private_keys_only": set(keys) == {PRIVATE_KEY},
                "where": _where(r for r in reports if r.text and r.text.cloud_keys),
            },
        )
    ]


def threat_phrases(obj: UploadedObject, result: ScanResult, policy: Policy) -> list[Finding]:
    _, _, _, threats, _, _ = _text_totals(result)
    if not threats:
        return []
    return [
        _finding(
            obj,
            "W3-threat-phrases",
            policy,
            0.9,
            f"{sum(threats.values())} threat phrases",
            {"sha256": _sha(result), "phrases": sorted(threats), "count": sum(threats.values())},
        )
    ]


def bulk_recipients(
    obj: UploadedObject, result: ScanResult, policy: Policy, settings: UploadScanning
) -> list[Finding]:
    t, _, _, _, _, reports = _text_totals(result)
    if not reports:
        return []
    r = settings.recipients
    share = t["email_bytes"] / max(t["text_bytes"], 1)
    if t["distinct_emails"] < r.min_addresses or share < r.min_share:
        return []
    return [
        _finding(
            obj,
            "C1-bulk-recipients",
            policy,
            0.9,
            f"{t['distinct_emails']} distinct addresses",
            {
                "sha256": _sha(result),
                "distinct_emails": t["distinct_emails"],
                "address_share": round(share, 2),
            },
        )
    ]


# --- W4 I2 I1 --------------------------------------------------------------------------------------


def hash_list_matches(
    obj: UploadedObject, result: ScanResult, policy: Policy, lists: Mapping[str, frozenset[str]]
) -> list[Finding]:
    """``lists``: hash-list name -> SHA-256 hex digests. One finding per rule whose list holds a digest."""
    findings = []
    for name, digests in lists.items():
        if not digests:
            continue
        rule_id = policy.hash_lists[name].rule_id
        hits = [r for r in result.reports if r.sha256 and r.sha256 in digests]
        if not hits:
            continue
        mandatory = rule_id in MANDATORY_REPORT_RULES
        findings.append(
            _finding(
                obj,
                rule_id,
                policy,
                1.0,
                f"SHA-256 on the {name} list",
                {
                    "sha256": _sha(result),
                    "list": name,
                    "matched": [r.sha256 for r in hits][:5],
                    "where": _where(hits),
                    "mandatory_report": mandatory,
                },
            )
        )
    return findings


class BankHit(Protocol):
    """One match of a stream in a hash bank (aup.usecases.banks.BankMatch): what a finding needs of it."""

    @property
    def bank(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def distance(self) -> int: ...
    @property
    def provenance(self) -> dict[str, Any]: ...
    def evidence(self) -> dict[str, Any]: ...


def bank_matches(
    obj: UploadedObject, result: ScanResult, policy: Policy, hits: Sequence[tuple[ContentReport, BankHit]]
) -> list[Finding]:
    """One finding per rule whose banks hold a stream of the object (PDQ within the bank's threshold,
    MD5 or SHA-256 exactly). Evidence: the banks, the matched hashes with their provenance, distance
    and quality, and where; never the image."""
    by_rule: dict[str, list[tuple[ContentReport, BankHit]]] = {}
    for report, m in hits:
        by_rule.setdefault(m.rule_id, []).append((report, m))
    findings = []
    for rule_id, matched in by_rule.items():
        # The closest match leads (an exact digest is distance 0).
        matched.sort(key=lambda rm: (rm[1].distance, rm[1].bank))
        first = matched[0][1]
        prov = first.provenance
        findings.append(
            _finding(
                obj,
                rule_id,
                policy,
                round(1.0 - first.distance / 256, 3),
                f"{first.kind} match in bank {first.bank} (distance {first.distance})",
                {
                    "sha256": _sha(result),
                    "bank": first.bank,
                    "list_version": str(prov.get("list_version") or ""),
                    "banks": sorted({m.bank for _, m in matched}),
                    "matches": [{**m.evidence(), "where": r.path or "(object)"} for r, m in matched][:5],
                    "where": _where(r for r, _ in matched),
                    "mandatory_report": rule_id in MANDATORY_REPORT_RULES,
                },
            )
        )
    return findings


# --- D6 --------------------------------------------------------------------------------------------


def media_hoarding(
    obj: UploadedObject, media_label: str, media_bytes: int, allowance: int, plan: str, policy: Policy
) -> list[Finding]:
    """The account's media bytes beyond its plan's allowance. One finding per account and day of uploads:
    a burst of uploads is one strike, not one per file."""
    if obj.account_id is None or media_bytes <= allowance:
        return []
    day = obj.uploaded_at.date().isoformat()
    ratio = media_bytes / max(allowance, 1)
    return [
        _finding(
            obj,
            "D6-media-hoarding",
            policy,
            0.9 if ratio >= 1.2 else 0.8,
            f"{media_bytes} media bytes, allowance {allowance} ({plan})",
            {
                "media_bytes": media_bytes,
                "allowance": allowance,
                "plan": plan,
                "format": media_label,
                "ratio": round(ratio, 2),
            },
            source_event_id=f"s3-media:{obj.account_id}:{day}",
        )
    ]


ContentRule = Callable[[UploadedObject, ScanResult, Policy, UploadScanning], list[Finding]]


def _hash_findings(
    obj: UploadedObject,
    result: ScanResult,
    policy: Policy,
    lists: Mapping[str, frozenset[str]],
    bank_hits: Sequence[tuple[ContentReport, BankHit]],
) -> list[Finding]:
    """Hash-list and bank matches, one finding per rule (one violation per object version and rule):
    a rule matched both ways carries both evidences."""
    findings = {f.rule_id: f for f in hash_list_matches(obj, result, policy, lists)}
    for f in bank_matches(obj, result, policy, bank_hits):
        listed = findings.get(f.rule_id)
        if listed is None:
            findings[f.rule_id] = f
        else:
            extra = {k: f.evidence[k] for k in ("bank", "list_version", "banks", "matches")}
            findings[f.rule_id] = listed.model_copy(update={"evidence": {**listed.evidence, **extra}})
    return list(findings.values())


def content_findings(
    obj: UploadedObject,
    result: ScanResult,
    policy: Policy,
    lists: Mapping[str, frozenset[str]],
    bank_hits: Sequence[tuple[ContentReport, BankHit]] = (),
) -> list[Finding]:
    """Every content rule (all but D6, which needs the account's totals) over one scan."""
    s = policy.upload_scanning
    findings = [
        *_hash_findings(obj, result, policy, lists, bank_hits),
        *malware_signature(obj, result, policy),
        *disguised_executable(obj, result, policy, s),
        *script_in_document(obj, result, policy, s),
        *archive_bomb(obj, result, policy),
        *phishing_page(obj, result, policy),
        *hidden_trademark(obj, result, policy),
        *personal_data(obj, result, policy, s),
        *cloud_credentials(obj, result, policy, s),
        *threat_phrases(obj, result, policy),
        *bulk_recipients(obj, result, policy, s),
    ]
    return [f for f in findings if policy.rule(f.rule_id).enabled]
