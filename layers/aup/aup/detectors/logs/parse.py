"""Access-log input: CloudWatch Logs subscription payloads and the lines they carry.

Three line formats are read: the contract's JSON (docs/architecture.md#access-log-format, key
``requestTimeEpoch``), the JSON example of the API Gateway documentation (key ``requestTime``), and
the documentation's CLF line (for replays of exported logs). ``parse_line`` returns None for a line it
cannot read: never raises.
"""

from __future__ import annotations

import binascii
import re
import zlib
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from aup.domain.models import is_account_id


class MalformedPayload(ValueError):
    """A subscription payload that is not base64 gzip JSON of the CloudWatch Logs shape."""


class LogEvent(NamedTuple):
    id: str
    timestamp: int  # ms, CloudWatch's ingestion-side event time
    message: str


class AccessRecord(NamedTuple):
    """One access-log line. Absent values (``-`` in the log) are empty strings, numbers 0."""

    ts: int  # requestTimeEpoch, ms
    account: str  # principalId: the authenticated account, "" when none
    ip: str
    agent: str
    method: str
    path: str
    resource: str  # resourcePath: the API resource API Gateway matched, "" when none
    status: int
    length: int  # responseLength, bytes
    auth_error: str
    forwarded: str  # X-Forwarded-For chain as the authorizer saw it
    claimed: str  # X-Account-Id header as the authorizer saw it
    key_id: str  # apiKeyId


# The fast path: a line in the contract's exact key order (template.yaml's access-log format), no
# escapes in any value. One regex match yields every field as text, already validated (digits where
# numbers belong); any other line goes through orjson. Field order of the resulting ``RawRecord``:
RAW_FIELDS = (
    "ts",
    "ip",
    "agent",
    "method",
    "path",
    "resource",
    "status",
    "length",
    "account",
    "key_id",
    "auth_error",
    "forwarded",
    "claimed",
)
RawRecord = tuple[str, ...]  # values as logged: "-" for absent
_V = r'"([^"\\]*)"'
_SKIP = r'"[^"\\]*"'
_CONTRACT = (
    r'\{"requestId":' + _SKIP + r',"extendedRequestId":' + _SKIP + r',"requestTimeEpoch":"(\d{1,15})"'
    r',"ip":'
    + _V
    + r',"userAgent":'
    + _V
    + r',"httpMethod":'
    + _V
    + r',"path":'
    + _V
    + r',"resourcePath":'
    + _V
    + r',"status":"(\d{1,3}|-)","responseLength":"(\d{1,15}|-)","principalId":'
    + _V
    + r',"apiKeyId":'
    + _V
    + r',"authorizerError":'
    + _V
    + r',"forwardedFor":'
    + _V
    + r',"claimedAccount":'
    + _V
    + r"\}"
)
CONTRACT_LINE = re.compile(r"\s*" + _CONTRACT + r"\s*").fullmatch

# The same layout for a whole batch with no backslash and no line break inside a line: the lines
# joined by newlines, one ``findall`` (1.3 us a line against 2.2 for a match per line: ~13% of the
# handler's time). A value excludes only the quote (the regex engine's fastest scan), so it may run on
# over a newline, but a match starts at a line start and ends at a line end: one that spans lines leaves
# fewer rows than lines, and the batch is read line by line. With one row per line every row lies within
# its line, where ``[^"]`` (no backslash in the batch) is ``CONTRACT_LINE``'s ``[^"\\]``.
CONTRACT_LINES = re.compile(
    "^[ \t]*" + _CONTRACT.replace(r'[^"\\]*', r'[^"]*+') + "[ \t]*$", re.MULTILINE
).findall


def raw_from_record(r: AccessRecord) -> RawRecord:
    """The fast path's shape for a record read the slow way (other formats, escaped values)."""
    return (
        str(r.ts),
        r.ip or "-",
        r.agent or "-",
        r.method or "-",
        r.path or "-",
        r.resource or "-",
        str(r.status) if r.status else "-",
        str(r.length),
        r.account or "-",
        r.key_id or "-",
        r.auth_error or "-",
        r.forwarded or "-",
        r.claimed or "-",
    )


# --- payloads ---------------------------------------------------------------------------------


def decode_payload(data: str | bytes) -> dict[str, Any]:
    """Decode one ``awslogs.data`` / Kinesis ``data`` value (the same base64 gzip JSON) with powertools'
    data class, orjson as its JSON decoder. Raises MalformedPayload."""
    # At first use: the data classes package adds ~20 ms of imports to a cold start.
    from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent

    try:
        event = CloudWatchLogsEvent({"awslogs": {"data": data}}, json_deserializer=orjson.loads)
        payload = event.parse_logs_data().raw_event
    except (binascii.Error, ValueError, TypeError, zlib.error, orjson.JSONDecodeError) as exc:
        raise MalformedPayload(f"not a base64 gzip JSON payload: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("messageType"), str):
        raise MalformedPayload("payload has no messageType")
    if payload["messageType"] == "DATA_MESSAGE" and not isinstance(payload.get("logEvents"), list):
        raise MalformedPayload("DATA_MESSAGE without logEvents")
    return payload


def log_events(payload: dict[str, Any]) -> list[LogEvent]:
    """The events of a DATA_MESSAGE; none for CONTROL_MESSAGE (CloudWatch's reachability check)."""
    if payload.get("messageType") != "DATA_MESSAGE":
        return []
    out: list[LogEvent] = []
    for e in payload.get("logEvents") or ():
        if isinstance(e, dict) and isinstance(e.get("message"), str):
            ts = e.get("timestamp")
            out.append(LogEvent(str(e.get("id", "")), ts if type(ts) is int else 0, e["message"]))
    return out


def event_messages(payload: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(event ids, messages) of a DATA_MESSAGE; none for CONTROL_MESSAGE. Read from the decoded
    document, not through ``CloudWatchLogsDecodedData.log_events``: a wrapper per event costs 3.3 ms per
    5,000-line payload (decoding 7.2 -> 10.5 ms, ~10% of the handler's time)."""
    if payload.get("messageType") != "DATA_MESSAGE":
        return [], []
    events = payload.get("logEvents") or []
    try:
        messages = [e["message"] for e in events]
        ids = [e["id"] for e in events]
        if set(map(type, messages)) <= {str} and set(map(type, ids)) <= {str}:
            return ids, messages
    except (KeyError, TypeError):
        pass
    good = log_events(payload)  # odd events: the checked way, dropping what is not an event
    return [e.id for e in good], [e.message for e in good]


def encode_payload(
    messages: list[str],
    *,
    log_group: str = "/aws/apigateway/access",
    first_id: int = 0,
    timestamps: list[int] | None = None,
    message_type: str = "DATA_MESSAGE",
) -> str:
    """Build an ``awslogs.data`` value (tests, replays, benchmarks): base64 of gzip of the JSON."""
    import base64
    import gzip

    events = [
        {"id": f"{first_id + i:056d}", "timestamp": (timestamps[i] if timestamps else 0), "message": m}
        for i, m in enumerate(messages)
    ]
    doc = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": "stream",
        "subscriptionFilters": ["access-logs"],
        "logEvents": events,
    }
    return base64.b64encode(gzip.compress(orjson.dumps(doc), compresslevel=6)).decode()


# --- lines ------------------------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CLF = re.compile(
    r'^(?P<ip>\S+) (?P<caller>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)'
    r'(?: (?P<proto>[^"]*))?" (?P<status>\d{3}|-) (?P<length>\d+|-)(?: (?P<rid>\S+))?'
)


@lru_cache(maxsize=10_000)  # one second's lines share their time: strptime once per second
def clf_time_ms(text: str) -> int:
    """``01/Mar/2024:12:00:00 +0000`` -> epoch ms. Raises ValueError."""
    day, mon, rest = text.split("/", 2)
    dt = datetime.strptime(f"{day}/{_MONTHS[mon]:02d}/{rest}", "%d/%m/%Y:%H:%M:%S %z")
    return int(dt.timestamp() * 1000)


def _s(value: Any) -> str:
    """A log value as text: ``-``/None are absent (""), anything else its string form."""
    if type(value) is str:
        return "" if value == "-" else value
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit() and value.isascii():
        return int(value)
    return 0


def record_from_json(d: dict[str, Any]) -> AccessRecord | None:
    """An access record from a decoded JSON line of either JSON format; None when it has no time."""
    raw_ts = d.get("requestTimeEpoch")
    if raw_ts is not None:
        ts = _int(raw_ts)
    else:
        rt = d.get("requestTime")
        if type(rt) is not str:
            return None
        try:
            ts = clf_time_ms(rt)
        except (ValueError, KeyError, OverflowError):
            return None
    if ts <= 0:
        return None
    g = d.get
    path = _s(g("path")) or _s(g("resourcePath"))
    account = _s(g("principalId"))
    return AccessRecord._make(
        (
            ts,
            account,
            _s(g("ip")),
            _s(g("userAgent")),
            _s(g("httpMethod")),
            path,
            _s(g("resourcePath")),
            _int(g("status")),
            _int(g("responseLength")),
            _s(g("authorizerError")),
            _s(g("forwardedFor")),
            _s(g("claimedAccount")),
            _s(g("apiKeyId")),
        ),
    )


def record_from_clf(line: str) -> AccessRecord | None:
    """The documentation's CLF line. The ``user`` field is taken as the account when it is an account id."""
    m = _CLF.match(line)
    if m is None:
        return None
    try:
        ts = clf_time_ms(m["time"])
    except (ValueError, KeyError, OverflowError):
        return None
    user = m["user"]
    return AccessRecord._make(
        (
            ts,
            user if is_account_id(user) else "",
            m["ip"],
            "",
            m["method"],
            m["path"],
            "",
            _int(m["status"]),
            _int(m["length"]),
            "",
            "",
            "",
            "",
        ),
    )


HARD_MAX_BYTES = 262_144  # CloudWatch Logs' largest event: nothing longer reaches the analyzer
CLIPPED_CHARS = 2048  # an oversized line's long values keep their head and tail, this many chars in all


def clip(value: str, limit: int = CLIPPED_CHARS) -> str:
    """A value cut to ``limit`` characters, keeping its head and its tail (padding hides a payload on
    either side of it; what lies in the middle of a padded field is not read)."""
    if len(value) <= limit:
        return value
    half = limit // 2
    return value[:half] + "…" + value[-half:]


def parse_oversized(line: str, *, fmt: str = "json") -> AccessRecord | None:
    """A line over the analyzer's ``max_line_bytes``: parsed whole (up to ``HARD_MAX_BYTES``), its
    string values clipped (``clip``), so a padded user agent cannot hide a scanner or a payload. None
    when it cannot be read (counted as unparseable by the caller)."""
    if len(line) > HARD_MAX_BYTES:
        return None
    rec = record_from_clf(line.strip()) if fmt == "clf" else None
    if fmt != "clf":
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if type(d) is not dict:
            return None
        rec = record_from_json({k: clip(v) if type(v) is str else v for k, v in d.items()})
    if rec is None:
        return None
    return rec._replace(path=clip(rec.path), agent=clip(rec.agent), forwarded=clip(rec.forwarded))


def parse_line(line: str | bytes, *, fmt: str = "auto", max_bytes: int = 16384) -> AccessRecord | None:
    """One access-log line of the given format (``json``, ``clf`` or ``auto``); None when unreadable."""
    if len(line) > max_bytes:
        return None
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    text = line.strip()
    if fmt == "clf" or (fmt == "auto" and not text.startswith("{")):
        return record_from_clf(text)
    try:
        d = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return record_from_json(d) if type(d) is dict else None
