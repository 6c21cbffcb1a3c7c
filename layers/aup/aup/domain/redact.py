"""Evidence without a privacy breach: masks personal data and secrets that slipped into evidence.

Detectors build evidence from counts, hashes and last-four digits already; this is the ledger's
safety net, applied to every evidence document before it is written.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
# Other identity numbers in the shapes the upload scanner counts (Brazil's CPF, India's Aadhaar, Canada's
# SIN); masked whether or not their check digits pass: an order reference of that shape loses nothing.
_NATIONAL_ID = re.compile(
    r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{4} \d{4} \d{4}|\d{3}([ -])\d{3}\1\d{3})(?![\d.])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,24}")
_AWS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# An AWS secret access key: 40 characters of base64 mixing cases and digits (hex digests, all one
# case, stay readable).
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
# Secrets by their issuers' prefixes: this service's keys (aup_), Stripe (sk_/rk_/pk_ live/test,
# whsec_ webhook secrets), GitHub, Slack, Google, JWTs.
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:aup_[A-Za-z0-9_-]{16,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9+/=]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_SECRETISH = re.compile(
    r"(?i)\b((?:x-)?api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth|client[_-]?secret|key|passw(?:or)?d|pwd"
    r"|secret|secret[_-]?key|sig|signature|token|webhook[_-]?secret|aws_secret_access_key)(=|:\s?)([^&\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
# Phone numbers: international (+ and 8-15 digits with separators) or the North American layout.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{2,4}"
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w])"
)
_MAX_STRING = 512
_MAX_ITEMS = 50


def email_hash(address: str) -> str:
    """How an e-mail address may appear in evidence: a short hash of its lower-cased form."""
    return "email:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def last4(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return f"****{digits[-4:]}" if digits else "****"


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    # Only numbers that could be cards are masked: ids and timestamps that fail Luhn stay readable.
    return last4(digits) if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _mask_iban(match: re.Match[str]) -> str:
    raw = match.group(0).replace(" ", "")
    return "[iban]" if 15 <= len(raw) <= 34 and iban_valid(raw) else match.group(0)


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check (the country letters and the rest moved behind)."""
    moved = iban[4:] + iban[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
    except ValueError:
        return False


def _mask_phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[phone]" if 8 <= digits <= 15 else match.group(0)


def scrub_text(text: str) -> str:
    """``text`` with secrets (cloud keys, API keys, tokens, credentials in query strings and headers)
    and personal data (e-mail, SSN and other identity numbers, card, IBAN, phone) masked, and bounded in
    length."""
    text = _AWS_KEY.sub("[aws-key]", text)
    text = _TOKEN.sub("[token]", text)
    text = _SECRETISH.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _AWS_SECRET.sub("[aws-secret]", text)
    text = _IBAN.sub(_mask_iban, text)
    text = _EMAIL.sub(lambda m: email_hash(m.group(0)), text)
    text = _SSN.sub("[ssn]", text)
    text = _NATIONAL_ID.sub("[id]", text)
    text = _CARD.sub(_mask_card, text)
    text = _PHONE.sub(_mask_phone, text)
    if len(text) > _MAX_STRING:
        text = text[:_MAX_STRING] + "…"
    return text


def scrub(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with strings masked, lists and mappings bounded, nesting capped."""
    if _depth > 6:
        return "[nested]"
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {scrub_text(str(k))[:64]: scrub(v, _depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out = [scrub(v, _depth + 1) for v in seq[:_MAX_ITEMS]]
        if len(seq) > _MAX_ITEMS:
            out.append(f"… {len(seq) - _MAX_ITEMS} more")
        return out
    return scrub_text(str(value))
