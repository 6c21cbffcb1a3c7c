"""Personal data, cloud keys, recipient lists and threat phrases in text, counted chunk by chunk.

Nothing here keeps the text: only counts, last-four digits of a few cards, issuer and country names.
Matches are validated (Luhn and issuer prefix for cards, SSA rules for SSNs, mod-97 for IBANs), so a
16-digit order number or a 9-digit id is not personal data.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from aup.policy.sections.uploads import UploadScanning

# Python's regex engine is fast only when a pattern starts with a literal or a plain class, so the text
# is searched with few such patterns (digit runs, "@domain", IBAN shapes, literal key prefixes) and the
# candidates are classified in code: ~4 passes instead of one per identifier.
_DIGIT_RUN = re.compile(rb"[0-9][0-9 ().-]{7,24}[0-9]")
_SEPARATORS = b" ().-"
_CARD_SHAPE = re.compile(rb"\d(?:[ -]?\d){12,18}")
_SSN_SHAPE = re.compile(rb"(\d{3})([- ])(\d{2})\2(\d{4})")
_PHONE_SHAPE = re.compile(rb"(?:\d{1,3}[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}")
# A run starts at a digit, so "(212) 555-1234" is found as "212) 555-1234": without this shape no US
# number written the usual way was counted. (A run that opened at "(" cost a third of the pass's speed.)
_PAREN_AREA_TAIL = re.compile(rb"\d{3}\) ?\d{3}[ .-]\d{4}")
_EMAIL_DOMAIN = re.compile(rb"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
_EMAIL_LOCAL_REVERSED = re.compile(rb"[\w.%+-]{1,64}")  # matched on the reversed bytes before "@"
_IBAN = re.compile(rb"([A-Z]{2})(\d{2})((?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![A-Z0-9])")
# AWS's documentation writes its example key ids ending in EXAMPLE (AKIAIOSFODNN7EXAMPLE): never counted
_AWS_KEY = re.compile(rb"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# A key id is no credential alone (AWS calls it the key's name; CloudTrail writes one into every event, a
# signed request's Credential= names one): the secret access key beside it is, 40 characters of base64
# with both cases (a SHA-1 in hex has one) within AWS_SECRET_REACH bytes of the id. A long-term id
# (AKIA) alone is counted as ``aws-access-key-id`` (its secret may sit in another file: a review); a
# temporary one (ASIA) is useless without its secret and session token, and is not counted alone.
_AWS_SECRET = re.compile(
    rb"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
AWS_SECRET_REACH = 512
AWS_KEY_ID_ONLY = "aws-access-key-id"
# A PEM private key with its body: the header, a line break (or JSON's escaped one), and a line of base64.
# A documentation's placeholder (``-----BEGIN RSA PRIVATE KEY-----`` then ``...``) is no key; a key
# encrypted with a passphrase (``ENCRYPTED PRIVATE KEY``, or a ``Proc-Type: 4,ENCRYPTED`` header) is not
# counted either. Counted as ``private-key``: a review alone (``personal_data.private_keys_confidence``).
_PRIVATE_KEY = re.compile(
    rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----[ \t]*(?:\r?\n|\\r\\n|\\n)[A-Za-z0-9+/]{40}"
)
PRIVATE_KEY = "private-key"
_AZURE_KEY = re.compile(rb"AccountKey=[A-Za-z0-9+/]{86}==")
_GCP_KEY = re.compile(rb'"type"\s*:\s*"service_account"')
_KEY_PATTERNS = (
    ("aws-access-key", (b"AKIA", b"ASIA"), _AWS_KEY),
    (PRIVATE_KEY, (b"PRIVATE KEY-----",), _PRIVATE_KEY),
    ("azure-storage-key", (b"AccountKey=",), _AZURE_KEY),
    ("gcp-service-account", (b"service_account",), _GCP_KEY),
)
_WORDISH = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset(b"0123456789")
# Letters -> "A", digits -> "0", anything else -> " ": IBAN starts ("AA00") are found with bytes.find.
_IBAN_SHAPE = bytes(
    ord("A") if chr(i).isupper() and i < 128 else ord("0") if 48 <= i <= 57 else 32 for i in range(256)
)
_LUHN_DOUBLE = bytes.maketrans(b"0123456789", b"0246813579")
_NON_DIGIT = re.compile(rb"\D")
# Words that say a number is a payment card (Presidio's and Macie's context words), lower case.
_CARD_CONTEXT = (
    b"card",
    b"credit",
    b"debit",
    b"visa",
    b"amex",
    b"american express",
    b"cvv",
    b"cvc",
    b"expir",
)

# Words that say a 3-2-4 number is a social security number (Presidio's US_SSN context words, and
# Excel's "Social Security Number" format code as a workbook's styles keep it). An SSN has no check
# digit: nine in ten numbers of that shape pass the SSA's rules, so a parts list or a column of
# reference numbers written 415-22-9034 is all "valid SSNs". Case-insensitive; not inside a word
# ("classname" holds no SSN).
_SSN_CONTEXT = re.compile(
    rb"(?<![a-z])(?:ssns?|ss#|ssan|social[ _-]?security|soc\.? ?sec)(?![a-z])|000\\?-00\\?-0000", re.I
)
_CONTEXT_SPAN = 262144  # bytes of a window looked at for context words
_HEAD_SPAN = 4096  # bytes of a stream's start kept for the header row that names its columns

# Other countries' identity numbers, in the shape their owners write them, each with its check digits:
# Brazil's CPF (000.000.000-00, two mod-11 digits), Canada's SIN (000 000 000 or 000-000-000, Luhn) and
# India's Aadhaar (0000 0000 0000, Verhoeff). Counted only where the upload names the kind (a header's
# "CPF", "Social Insurance Number", "Aadhaar"): a 3-3-3 Spanish mobile number passes Luhn one time in
# ten, as a 4-4-4 reference passes Verhoeff. (Spanish "sin" is "without": only "SIN" as a column name or
# followed by "no", "number" or "#" names one, so "sin número" does not.)
NATIONAL_ID_KINDS = ("cpf", "sin", "aadhaar")
_CPF_SHAPE = re.compile(rb"\d{3}\.\d{3}\.\d{3}-\d{2}")
_SIN_SHAPE = re.compile(rb"[1-79]\d{2}([ -])\d{3}\1\d{3}")
_AADHAAR_SHAPE = re.compile(rb"[2-9]\d{3} \d{4} \d{4}")
_ID_CONTEXT = {
    "cpf": re.compile(rb"(?<![a-z])cpf(?![a-z])|cadastro de pessoas? f.{1,2}sicas?", re.I),
    "sin": re.compile(
        rb"social[ _-]?insurance|assurance[ _-]sociale|(?<![a-z])sin[ _#.-]?(?:no\.?|number|#)(?![a-z])"
        rb"|(?:^|[,;\t|\"])sin(?=[,;\t|\"\r\n]|$)",
        re.I | re.M,
    ),
    "aadhaar": re.compile(rb"aadhaa?r|uidai|\xe0\xa4\x86\xe0\xa4\xa7\xe0\xa4\xbe\xe0\xa4\xb0", re.I),
}

# The card numbers payment processors publish for testing (Stripe, Braintree/PayPal, Adyen, the card
# networks' sandboxes): they pass Luhn and carry a real issuer prefix, and every shop's test fixtures and
# docs are full of them (4242 4242 4242 4242). They belong to no one, so they are never counted as cards.
_TEST_CARDS = frozenset(
    n.encode()
    for n in (
        "4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222", "5200828282828210",
        "5105105105105100", "378282246310005", "371449635398431", "6011111111111117", "6011000990139424",
        "6011981111111113", "3056930009020004", "36227206271667", "3566002020360505", "6200000000000005",
        "4000002500003155", "4000002760003184", "4000003800000446", "4000000000003220", "4000000000003063",
        "4000000000000002", "4000000000009995", "4000000000000077", "4000000000000093", "4000000000000069",
        "4000000000000127", "4000000000000119", "4000000000000101", "4000000000000341", "4100000000000019",
        "4000008400001629", "4111111111111111", "4005519200000004", "4009348888881881", "4012000033330026",
        "4012000077777777", "4012888888881881", "4217651111111119", "4500600000000061", "2223000048400011",
        "3530111333300000", "6304000000000000", "30569309025904", "38520000023237", "4222222222222",
        "4111111145551142", "5555444433331111", "370000000000002", "5454545454545454", "4988438843884305",
    )
)  # fmt: skip

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
    """Luhn checksum over ASCII digits (translate and sum run in C: no per-digit Python loop)."""
    plain = digits[-1::-2]
    doubled = digits[-2::-2].translate(_LUHN_DOUBLE)
    return (sum(plain) + sum(doubled) - 48 * len(digits)) % 10 == 0


@cache
def _issuer_table() -> dict[bytes, dict[int, str]]:
    """4-digit prefix -> {length: issuer}: one dict lookup per candidate instead of a loop over issuers."""
    table: dict[bytes, dict[int, str]] = {}
    for issuer, lengths, ranges in _ISSUERS:
        for low, high in ranges:
            scale = 10 ** (4 - len(str(low)))
            for p in range(low * scale, (high + 1) * scale):
                slot = table.setdefault(b"%04d" % p, {})
                for n in lengths:
                    slot.setdefault(n, issuer)
    return table


def card_issuer(digits: bytes) -> str | None:
    """The issuer whose prefix and length ``digits`` has, or None (then it is not a card number)."""
    by_length = _issuer_table().get(digits[:4])
    return by_length.get(len(digits)) if by_length else None


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


def cpf_valid(digits: bytes) -> bool:
    """Brazil's CPF: two mod-11 check digits; a number of one repeated digit passes them and is none."""
    if len(digits) != 11 or digits == digits[:1] * 11:
        return False
    d = list(digits)
    for n in (9, 10):
        total = sum((c - 48) * (n + 1 - i) for i, c in enumerate(d[:n]))
        if (total * 10) % 11 % 10 != d[n] - 48:
            return False
    return True


_VERHOEFF_D = tuple(
    tuple(int(c) for c in row)
    for row in (
        "0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
        "5987604321", "6598710432", "7659821043", "8765932104", "9876543210",
    )
)  # fmt: skip
_VERHOEFF_P = tuple(
    tuple(int(c) for c in row)
    for row in (
        "0123456789", "1576283094", "5803796142", "8916043527",
        "9453126870", "4286573901", "2793806415", "7046913258",
    )
)  # fmt: skip


def verhoeff_ok(digits: bytes) -> bool:
    """The Verhoeff check (Aadhaar's last digit): catches every single error and adjacent swap."""
    check = 0
    for i, c in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][c - 48]]
    return check == 0


def national_id(run: bytes, digits: bytes) -> str | None:
    """The kind of identity number ``run`` is written as and validates as (``cpf``, ``sin``, ``aadhaar``)."""
    n = len(digits)
    if n == 11 and _CPF_SHAPE.fullmatch(run):
        return "cpf" if cpf_valid(digits) else None
    if n == 9 and _SIN_SHAPE.fullmatch(run):
        return "sin" if luhn_ok(digits) else None
    if n == 12 and _AADHAAR_SHAPE.fullmatch(run):
        return "aadhaar" if verhoeff_ok(digits) else None
    return None


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
    card_candidates: int = 0  # runs with an issuer's prefix and length, Luhn-valid or not
    card_context: int = 0  # windows holding cards and a card keyword (card, visa, cvv, expiry...)
    test_cards: int = 0  # published test numbers (``_TEST_CARDS``), left out of ``cards``
    ssns: int = 0
    ssn_like: int = 0
    ssn_context: int = 0  # windows holding an SSN context word (ssn, social security; the stream's first too)
    ibans: int = 0
    iban_countries: Counter[str] = field(default_factory=Counter)
    # other countries' identity numbers by kind (``national_id``), and the kinds the text names
    national_ids: Counter[str] = field(default_factory=Counter)
    id_context: set[str] = field(default_factory=set)
    emails: int = 0
    email_bytes: int = 0
    distinct_emails: int = 0
    phones: int = 0
    distinct_phones: int = 0
    cloud_keys: Counter[str] = field(default_factory=Counter)
    threat_phrases: Counter[str] = field(default_factory=Counter)
    truncated: bool = False  # the text went beyond the PII limit: counts cover its beginning
    # Digests (CRC-32) of the distinct values behind ``cards``, ``card_candidates``, ``ssns`` and ``ibans``,
    # so that the detectors count people, not mentions, across every file of an upload: the firm's own
    # IBAN in the footer of 40 invoices is one account. In memory only: never logged or kept.
    seen: dict[str, set[int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def validated(self) -> int:
        return self.cards + self.ssns + self.ibans


class TextScanner:
    """Feed chunks of one stream in order; ``counts`` is complete after ``close()``.

    Text is searched in windows cut after the last newline (else the last space) of what has arrived,
    so no identifier, address or phone number is split between two windows and none is counted
    twice; only a text without any whitespace for a whole chunk may split one token.
    """

    _MAX_DISTINCT = 1_000_000
    _MIN_WINDOW = 64 * 1024

    def __init__(self, settings: UploadScanning, threat_phrases: tuple[bytes, ...] = ()) -> None:
        self.settings = settings
        self.limit = settings.personal_data.text_limit_bytes
        self.threat_phrases = threat_phrases  # lower-case, matched case-insensitively
        self.counts = TextCounts()
        self._buf = b""
        self._emails: set[int] = set()
        self._context_checks = 0
        self._ssn_checks = 0
        self._id_checks: dict[str, int] = {}
        self._head: bytes | None = None  # the stream's first bytes, for a header naming identity numbers
        self._phones: set[int] = set()

    def feed(self, chunk: bytes) -> None:
        if self.counts.truncated:
            return
        if self.counts.text_bytes + len(chunk) > self.limit:
            chunk = chunk[: max(0, self.limit - self.counts.text_bytes)]
            self.counts.truncated = True
        self.counts.text_bytes += len(chunk)
        buf = self._buf + chunk if self._buf else chunk
        if len(buf) < self._MIN_WINDOW:
            self._buf = buf
            return
        cut = buf.rfind(b"\n") + 1 or buf.rfind(b" ") + 1 or len(buf)
        self._scan(buf[:cut] if cut < len(buf) else buf)
        self._buf = buf[cut:]

    def close(self) -> TextCounts:
        if self._buf:
            self._scan(self._buf)
            self._buf = b""
        c = self.counts
        c.distinct_emails = len(self._emails)
        c.distinct_phones = len(self._phones)
        return c

    def _scan(self, text: bytes) -> None:
        c = self.counts
        before, ssns_before, ids_before = c.cards, c.ssns, dict(c.national_ids)
        self._digit_runs(text)
        if c.cards > before and not c.card_context and self._context_checks < 4:
            self._context_checks += 1  # (card words sit in headers and near the numbers: a few windows do)
            lowered = text[:_CONTEXT_SPAN].lower()
            if any(word in lowered for word in _CARD_CONTEXT):
                c.card_context += 1
        # SSN words are looked for in a stream's first window (a header, a workbook's strings and styles,
        # where no SSN is) and in the first few windows holding SSNs; the upload's streams count together.
        if not c.ssn_context and self._ssn_checks < 5 and (self._ssn_checks == 0 or c.ssns > ssns_before):
            self._ssn_checks += 1
            if _SSN_CONTEXT.search(text, 0, _CONTEXT_SPAN):
                c.ssn_context += 1
        # An identity number's kind is named where the numbers appear, or in the stream's head (a header
        # row): looked for only in windows that hold some (three context searches over every stream's
        # first window cost 4 % of the text pass), in the first few of them.
        if self._head is None:
            self._head = text[:_HEAD_SPAN]
        for kind, rx in _ID_CONTEXT.items():
            if c.national_ids[kind] > ids_before.get(kind, 0) and kind not in c.id_context:
                checks = self._id_checks[kind] = self._id_checks.get(kind, 0) + 1
                if checks <= 5 and (rx.search(text, 0, _CONTEXT_SPAN) or rx.search(self._head)):
                    c.id_context.add(kind)
        if b"@" in text:
            self._emails_in(text)
        self._ibans_in(text)
        for name, literals, rx in _KEY_PATTERNS:
            if any(lit in text for lit in literals):
                if rx is _AWS_KEY:
                    self._aws_keys(text)
                else:
                    c.cloud_keys[name] += len(rx.findall(text))
        if self.threat_phrases:
            lowered = text.lower()
            for phrase in self.threat_phrases:
                n = lowered.count(phrase)
                if n:
                    c.threat_phrases[phrase.decode()] += n

    def _aws_keys(self, text: bytes) -> None:
        """AWS key ids with their secret beside them (``aws-access-key``), long-term ids alone
        (``aws-access-key-id``); AWS's documented examples (``...EXAMPLE``, ``...EXAMPLEKEY``) never."""
        keys = self.counts.cloud_keys
        for m in _AWS_KEY.finditer(text):
            if m.group().endswith(b"EXAMPLE"):
                continue
            start, end = max(0, m.start() - AWS_SECRET_REACH), m.end() + AWS_SECRET_REACH
            if any(not k.endswith(b"EXAMPLEKEY") for k in _AWS_SECRET.findall(text, start, end)):
                keys["aws-access-key"] += 1
            elif m.group().startswith(b"AKIA"):
                keys[AWS_KEY_ID_ONLY] += 1

    def _digit_runs(self, text: bytes) -> None:
        """Cards (issuer + Luhn), SSNs (SSA rules) and formatted phone numbers among runs of digits."""
        c = self.counts
        for run in _DIGIT_RUN.findall(text):
            digits = run.translate(None, _SEPARATORS)
            n = len(digits)
            if 13 <= n <= 19:
                if self._card(run, digits):
                    continue
                if b" " in run and any(
                    self._card(sub, sub.translate(None, _SEPARATORS))
                    for sub in _CARD_SHAPE.findall(run)
                    if sub != run
                ):
                    continue
            elif (n > 19 and b" " in run) and any(
                # Numbers side by side ("4111 1111 1111 1111 123456"): look for cards inside the run.
                self._card(sub, sub.translate(None, _SEPARATORS))
                for sub in _CARD_SHAPE.findall(run)
            ):
                continue
            if n == 9 and len(run) == 11:
                sm = _SSN_SHAPE.fullmatch(run)
                if sm:
                    if ssn_valid(sm.group(1), sm.group(3), sm.group(4)):
                        c.ssns += 1
                        self._saw("ssns", digits)
                    else:
                        c.ssn_like += 1
                    continue
            # (a CPF's dot, an Aadhaar's space or a SIN's length before any call: half the runs of business
            # text are 11-digit phone numbers)
            size = len(run)
            if (size == 14 and (run[3] == 0x2E or run[4] == 0x20)) or (size == 11 and n == 9):
                kind = national_id(run, digits)
                if kind:
                    c.national_ids[kind] += 1
                    self._saw("id:" + kind, digits)
                    continue
            if 10 <= n <= 13 and (_PHONE_SHAPE.fullmatch(run) or _PAREN_AREA_TAIL.fullmatch(run)):
                c.phones += 1
                if len(self._phones) < self._MAX_DISTINCT:
                    self._phones.add(hash(digits))

    def _saw(self, kind: str, value: bytes) -> None:
        seen = self.counts.seen.get(kind)
        if seen is None:
            seen = self.counts.seen[kind] = set()
        if len(seen) < self._MAX_DISTINCT:
            seen.add(zlib.crc32(value))

    def _card(self, run: bytes, digits: bytes) -> bool:
        c = self.counts
        if b"(" in run or b")" in run or b"." in run:
            return False
        if digits in _TEST_CARDS:
            c.test_cards += 1
            return True
        issuer = card_issuer(digits)
        if issuer:
            c.card_candidates += 1
            self._saw("card_candidates", digits)
        if issuer and luhn_ok(digits):
            c.cards += 1
            self._saw("cards", digits)
            c.card_issuers[issuer] += 1
            if len(c.card_last4) < 5:
                c.card_last4.append("****" + digits[-4:].decode())
            return True
        c.card_like += 1
        return False

    def _ibans_in(self, text: bytes) -> None:
        c = self.counts
        shape = text.translate(_IBAN_SHAPE)
        pos = shape.find(b"AA00")
        while pos != -1:
            if pos == 0 or shape[pos - 1] == 32:
                m = _IBAN.match(text, pos)
                if m and iban_valid(m.group(1), m.group(2), m.group(3)):
                    c.ibans += 1
                    self._saw("ibans", m.group(0).replace(b" ", b""))
                    c.iban_countries[m.group(1).decode()] += 1
            pos = shape.find(b"AA00", pos + 1)

    def _emails_in(self, text: bytes) -> None:
        c = self.counts
        for m in _EMAIL_DOMAIN.finditer(text):
            at = m.start()
            local = _EMAIL_LOCAL_REVERSED.match(text[max(0, at - 64) : at][::-1])
            if local is None:
                continue
            address = text[at - local.end() : m.end()]
            c.emails += 1
            c.email_bytes += len(address)
            if len(self._emails) < self._MAX_DISTINCT:
                self._emails.add(hash(address.lower()))
