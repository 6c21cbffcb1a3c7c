"""Personal data, cloud keys, recipient lists and threat phrases in text, counted chunk by chunk.

Nothing here keeps the text: only counts, last-four digits of a few cards, issuer and country names.
Matches are validated (Luhn and issuer prefix for cards, SSA rules for SSNs, mod-97 for IBANs), so a
16-digit order number or a 9-digit id is not personal data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from aup.uploads.settings import UploadScanning

_CARD = re.compile(rb"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
_SSN = re.compile(rb"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_IBAN = re.compile(rb"(?<![A-Z0-9])([A-Z]{2})(\d{2})((?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![A-Z0-9])")
_EMAIL = re.compile(
    rb"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
)
_PHONE = re.compile(rb"(?<![\w+])(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\d-])")
_AWS_KEY = re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----")
_AZURE_KEY = re.compile(rb"AccountKey=[A-Za-z0-9+/]{86}==")
_GCP_KEY = re.compile(rb'"type"\s*:\s*"service_account"')
_NON_DIGIT = re.compile(rb"\D")

# IBAN lengths by country (the common ones; an unknown country needs only the mod-97 check).
_IBAN_LENGTH = {
    b"AT": 20,
    b"BE": 16,
    b"CH": 21,
    b"CZ": 24,
    b"DE": 22,
    b"DK": 18,
    b"ES": 24,
    b"FI": 18,
    b"FR": 27,
    b"GB": 22,
    b"GR": 27,
    b"HU": 28,
    b"IE": 22,
    b"IT": 27,
    b"LU": 20,
    b"NL": 18,
    b"NO": 15,
    b"PL": 28,
    b"PT": 25,
    b"SE": 24,
    b"SK": 24,
}
_ISSUERS: tuple[tuple[str, tuple[int, ...], tuple[tuple[int, int], ...]], ...] = (
    ("amex", (15,), ((34, 34), (37, 37))),
    ("visa", (13, 16, 19), ((4, 4),)),
    ("mastercard", (16,), ((51, 55), (2221, 2720))),
    ("discover", (16, 19), ((6011, 6011), (644, 649), (65, 65))),
    ("jcb", (16, 19), ((3528, 3589),)),
    ("diners", (14, 16), ((300, 305), (36, 36), (38, 39))),
    ("unionpay", (16, 19), ((62, 62),)),
)


def luhn_ok(digits: bytes) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ch - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer(digits: bytes) -> str | None:
    """The issuer whose prefix and length ``digits`` has, or None (then it is not a card number)."""
    n = len(digits)
    for issuer, lengths, ranges in _ISSUERS:
        if n not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return issuer
    return None


def ssn_valid(area: bytes, group: bytes, serial: bytes) -> bool:
    """SSA rules: no 000/666/9xx area, no 00 group, no 0000 serial; the advertising sample is no SSN."""
    a = int(area)
    if a in {0, 666} or a >= 900 or group == b"00" or serial == b"0000":
        return False
    return (area, group, serial) not in {
        (b"078", b"05", b"1120"),
        (b"219", b"09", b"9999"),
        (b"123", b"45", b"6789"),
    }


def iban_valid(country: bytes, check: bytes, rest: bytes) -> bool:
    bban = rest.replace(b" ", b"")
    expected = _IBAN_LENGTH.get(country)
    if expected is not None and len(bban) + 4 != expected:
        return False
    if len(bban) + 4 < 15:
        return False
    rearranged = (bban + country + check).decode("ascii")
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return int(numeric) % 97 == 1


@dataclass
class TextCounts:
    """What the text of one stream contained (counts only)."""

    text_bytes: int = 0
    cards: int = 0
    card_issuers: Counter[str] = field(default_factory=Counter)
    card_last4: list[str] = field(default_factory=list)  # a few samples for evidence
    card_like: int = 0  # long digit runs that failed Luhn or issuer checks (near misses)
    ssns: int = 0
    ssn_like: int = 0
    ibans: int = 0
    iban_countries: Counter[str] = field(default_factory=Counter)
    emails: int = 0
    email_bytes: int = 0
    distinct_emails: int = 0
    phones: int = 0
    distinct_phones: int = 0
    cloud_keys: Counter[str] = field(default_factory=Counter)
    threat_phrases: Counter[str] = field(default_factory=Counter)
    truncated: bool = False  # the text went beyond the PII limit: counts cover its beginning

    @property
    def validated(self) -> int:
        return self.cards + self.ssns + self.ibans


class TextScanner:
    """Feed chunks of one stream in order; ``counts`` is complete after ``close()``.

    Chunks overlap by ``overlap`` bytes: a match is counted in the window where it starts, and only if
    it starts before the last ``overlap`` bytes (unless the stream ended), so none is lost or counted
    twice; the kept context makes look-behinds see across the boundary.
    """

    _MAX_DISTINCT = 1_000_000

    def __init__(self, settings: UploadScanning, threat_re: re.Pattern[bytes] | None) -> None:
        self.settings = settings
        self.overlap = settings.streaming.overlap_bytes
        self.limit = settings.personal_data.text_limit_bytes
        self.threat_re = threat_re
        self.counts = TextCounts()
        self._buf = b""
        self._ctx = 0  # bytes at the start of _buf that were already searched (context only)
        self._emails: set[int] = set()
        self._phones: set[int] = set()

    def feed(self, chunk: bytes) -> None:
        if self.counts.truncated:
            return
        if self.counts.text_bytes + len(chunk) > self.limit:
            chunk = chunk[: max(0, self.limit - self.counts.text_bytes)]
            self.counts.truncated = True
        self.counts.text_bytes += len(chunk)
        self._buf = self._buf + chunk if self._buf else chunk
        if len(self._buf) - self._ctx > 2 * self.overlap and not self.counts.truncated:
            limit = len(self._buf) - self.overlap
            self._scan(self._buf, self._ctx, limit)
            keep = limit - 64  # context for look-behinds
            self._buf = self._buf[keep:]
            self._ctx = limit - keep
        elif self.counts.truncated:
            self.close()

    def close(self) -> TextCounts:
        if self._buf:
            self._scan(self._buf, self._ctx, len(self._buf))
            self._buf = b""
            self._ctx = 0
        c = self.counts
        c.distinct_emails = len(self._emails)
        c.distinct_phones = len(self._phones)
        return c

    def _scan(self, buf: bytes, start: int, limit: int) -> None:
        c = self.counts
        if b"@" in buf:
            for m in _EMAIL.finditer(buf, start):
                if m.start() >= limit:
                    break
                c.emails += 1
                c.email_bytes += m.end() - m.start()
                if len(self._emails) < self._MAX_DISTINCT:
                    self._emails.add(hash(m.group().lower()))
        for m in _CARD.finditer(buf, start):
            if m.start() >= limit:
                break
            digits = _NON_DIGIT.sub(b"", m.group())
            issuer = card_issuer(digits)
            if issuer and luhn_ok(digits):
                c.cards += 1
                c.card_issuers[issuer] += 1
                if len(c.card_last4) < 5:
                    c.card_last4.append("****" + digits[-4:].decode())
            elif len(digits) >= 13:
                c.card_like += 1
        for m in _SSN.finditer(buf, start):
            if m.start() >= limit:
                break
            if ssn_valid(m.group(1), m.group(3), m.group(4)):
                c.ssns += 1
            else:
                c.ssn_like += 1
        for m in _PHONE.finditer(buf, start):
            if m.start() >= limit:
                break
            c.phones += 1
            if len(self._phones) < self._MAX_DISTINCT:
                self._phones.add(hash(_NON_DIGIT.sub(b"", m.group())))
        for m in _IBAN.finditer(buf, start):
            if m.start() >= limit:
                break
            if iban_valid(m.group(1), m.group(2), m.group(3)):
                c.ibans += 1
                c.iban_countries[m.group(1).decode()] += 1
        for name, rx in (
            ("aws-access-key", _AWS_KEY),
            ("private-key", _PRIVATE_KEY),
            ("azure-storage-key", _AZURE_KEY),
            ("gcp-service-account", _GCP_KEY),
        ):
            for m in rx.finditer(buf, start):
                if m.start() >= limit:
                    break
                c.cloud_keys[name] += 1
        if self.threat_re is not None:
            for m in self.threat_re.finditer(buf, start):
                if m.start() >= limit:
                    break
                c.threat_phrases[m.group().lower().decode("utf-8", "replace")] += 1


def threat_regex(phrases: tuple[str, ...]) -> re.Pattern[bytes] | None:
    if not phrases:
        return None
    alternatives = b"|".join(re.escape(p.encode()).replace(rb"\ ", rb"\s+") for p in phrases)
    return re.compile(rb"(?i)\b(?:" + alternatives + rb")\b")
