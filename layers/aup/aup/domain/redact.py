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
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,24}")
_AWS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRETISH = re.compile(r"(?i)(api[_-]?key|x-api-key|secret|password|token)=([^&\s]+)")
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


def scrub_text(text: str) -> str:
    text = _AWS_KEY.sub("[aws-key]", text)
    text = _SECRETISH.sub(lambda m: f"{m.group(1)}=[redacted]", text)
    text = _EMAIL.sub(lambda m: email_hash(m.group(0)), text)
    text = _SSN.sub("[ssn]", text)
    text = _CARD.sub(_mask_card, text)
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
