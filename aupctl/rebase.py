"""``aupctl invoke --at now|ISO``: an event's times moved so that it happens at that instant.

The samples in ``events/`` carry fixed dates (they are documentation). Some functions judge an event
at its own time (the usage monitor, the expiry sweep), others against the clock (the log analyzer and
the scanner: a finding whose temporary suspension would already be over is recorded, not enforced), so
a dated sample invoked weeks after it was written decides differently than on its day. Rebasing moves
every time in the event by one offset, so that the latest moment something happened in it is the given
instant; the offsets between its times stay as they were.

Times found, wherever they are nested:

- ISO-8601 date-times in any string, whole or embedded (``eventTime``, EventBridge ``time``, alarm
  state timestamps, SNS ``Timestamp``, a ledger sort key ``VIOLATION#<time>#<id>``), written back in
  their own format (fraction digits, ``Z`` / ``+0000`` / ``+00:00``);
- access-log times (``27/Nov/2026:16:00:00 +0000``) and the datapoint stamps of an alarm's reason
  (``(27/11/26 12:05:00)``);
- epoch numbers (seconds or milliseconds, number or digit string) under a key that names a time
  (``timestamp``, ``SentTimestamp``, ``approximateArrivalTimestamp``, ``ApproximateCreationDateTime``,
  ``requestTimeEpoch``), also as DynamoDB's typed ``{"N": ...}``;
- inside JSON carried in a string (an SQS body, an SNS message, a log line, a stream image's document)
  and inside base64 gzip payloads (CloudWatch Logs subscription ``awslogs.data``, Kinesis ``data``).

Ends (``until``, ``expires…``, ``deadline``) move with the rest but never choose the offset, so an event
that only names an end (an operator's ``suspend … until``) is left as it is. So are ids: a rebased log
payload keeps its log event ids, and invoking it twice is a redelivery the analyzer counts once.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?(?![\d:])"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CLF = re.compile(
    r"(?P<d>\d{2})/(?P<mon>" + "|".join(_MONTHS) + r")/(?P<y>\d{4}):(?P<t>\d{2}:\d{2}:\d{2}) "
    r"(?P<zone>[+-]\d{4})"
)
_ALARM_STAMP = re.compile(r"\((?P<d>\d{2})/(?P<m>\d{2})/(?P<y>\d{2}) (?P<t>\d{2}:\d{2}:\d{2})\)")
_TIME_KEY = re.compile(r"time|timestamp|epoch|date", re.IGNORECASE)
_END_KEY = re.compile(r"until|expir|deadline|^end|_end$|ends_at", re.IGNORECASE)
_DYNAMO_TYPES = frozenset({"N", "S"})
# Epoch values are recognised only within these bounds (2001-09-09 .. 2286-11-20): a duration or a
# count under a key such as "timeout" never passes for a time.
_SECONDS = (1e9, 1e10)
_MILLIS = (1e12, 1e13)


@dataclass
class Rebased:
    event: Any
    shift: timedelta | None  # None: the event names no time that happened
    latest: datetime | None  # the latest time found (before the shift)
    times: int = 0  # values moved


@dataclass
class _Walk:
    """One pass over an event: ``move`` maps each time found; ``seen`` collects (time, is_anchor)."""

    move: Callable[[datetime], datetime]
    seen: list[tuple[datetime, bool]] = field(default_factory=list)

    def time(self, at: datetime, key: str) -> datetime:
        self.seen.append((at, not _END_KEY.search(key)))
        return self.move(at)

    # --- nodes -------------------------------------------------------------------------------------

    def node(self, value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: self.node(v, key if k in _DYNAMO_TYPES else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.node(v, key) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return self.epoch_number(value, key)
        if isinstance(value, str):
            return self.string(value, key)
        return value

    def epoch_number(self, value: float, key: str) -> Any:
        unit = _epoch_unit(value, key)
        if unit is None:
            return value
        moved = self.time(datetime.fromtimestamp(value / unit, UTC), key).timestamp() * unit
        if isinstance(value, int):
            return round(moved)
        # A float keeps at least millisecond precision (a value that ended in zeros printed shorter).
        written = len(repr(value).partition(".")[2]) if "e" not in repr(value) else 0
        return round(moved, max(written, 3 if unit == 1 else 0))

    def string(self, value: str, key: str) -> str:
        stripped = value.strip()
        if stripped[:1] in "{[" and stripped[-1:] in "}]":
            try:
                inner = json.loads(value)
            except ValueError:
                pass
            else:
                moved = self.node(inner, key)
                return value if moved == inner else _dumps_like(moved, value)
        if key == "data":
            payload = self.payload(value, key)
            if payload is not None:
                return payload
        if re.fullmatch(r"\d{10}(\.\d+)?|\d{13}", value):
            unit = _epoch_unit(float(value), key)
            if unit is not None:
                moved = self.time(datetime.fromtimestamp(float(value) / unit, UTC), key).timestamp() * unit
                if "." in value:
                    return f"{moved:.{len(value.partition('.')[2])}f}"
                return str(round(moved))
            return value
        text = _ISO.sub(lambda m: self.iso(m, key), value)
        text = _CLF.sub(lambda m: self.clf(m, key), text)
        return _ALARM_STAMP.sub(lambda m: self.alarm_stamp(m, key), text)

    def payload(self, value: str, key: str) -> str | None:
        """A base64 payload holding (gzip'd) JSON: CloudWatch Logs' ``awslogs.data``, a Kinesis ``data``."""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        zipped = raw[:2] == b"\x1f\x8b"
        try:
            text = gzip.decompress(raw) if zipped else raw
            inner = json.loads(text)
        except (OSError, EOFError, ValueError):
            return None
        moved = self.node(inner, key)
        if moved == inner:
            return value
        out = _dumps_like(moved, text.decode("utf-8", "replace")).encode()
        return base64.b64encode(gzip.compress(out) if zipped else out).decode("ascii")

    # --- formats -----------------------------------------------------------------------------------

    def iso(self, m: re.Match[str], key: str) -> str:
        zone = m["zone"]
        frac = m["frac"] or ""
        try:
            at = datetime.fromisoformat(f"{m['date']}T{m['time']}{frac[:7]}")
        except ValueError:
            return m[0]
        tz = UTC if zone in (None, "Z") else _offset(zone)
        digits = max(len(frac) - 1, 0)
        moved = _rounded(self.time(at.replace(tzinfo=tz), key), digits).astimezone(tz)
        out = moved.strftime("%Y-%m-%dT%H:%M:%S")
        if frac:
            out += "." + f"{moved.microsecond:06d}{'0' * 3}"[:digits]
        return out + (zone or "")

    def clf(self, m: re.Match[str], key: str) -> str:
        tz = _offset(m["zone"])
        month = _MONTHS.index(m["mon"]) + 1
        at = datetime.strptime(f"{m['y']}-{month:02d}-{m['d']}T{m['t']}", "%Y-%m-%dT%H:%M:%S")
        moved = _rounded(self.time(at.replace(tzinfo=tz), key), 0).astimezone(tz)
        return f"{moved:%d}/{_MONTHS[moved.month - 1]}/{moved:%Y:%H:%M:%S} {m['zone']}"

    def alarm_stamp(self, m: re.Match[str], key: str) -> str:
        at = datetime.strptime(f"{m['d']}/{m['m']}/{m['y']} {m['t']}", "%d/%m/%y %H:%M:%S")
        moved = _rounded(self.move(at.replace(tzinfo=UTC)), 0)  # a reason's datapoints never choose it
        return f"({moved:%d/%m/%y %H:%M:%S})"


def _rounded(at: datetime, digits: int) -> datetime:
    """``at`` rounded to ``digits`` decimals of a second (the precision its field is written with)."""
    if digits >= 6:
        return at
    step = 10 ** (6 - digits)
    micros = (at.microsecond + step // 2) // step * step
    return at.replace(microsecond=0) + timedelta(microseconds=micros)


def _epoch_unit(value: float, key: str) -> int | None:
    if not _TIME_KEY.search(key):
        return None
    if _SECONDS[0] <= value < _SECONDS[1]:
        return 1
    if _MILLIS[0] <= value < _MILLIS[1]:
        return 1000
    return None


def _offset(zone: str) -> timezone:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _dumps_like(value: Any, original: str) -> str:
    """JSON in the layout of ``original``: compact (log lines, payloads) or with spaces (bodies)."""
    compact = '":' in original and '": ' not in original
    return json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)


def rebase(event: Any, at: datetime) -> Rebased:
    """``event`` with its times moved so that its latest occurrence is ``at`` (aware; UTC if naive)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    survey = _Walk(move=lambda t: t)
    survey.node(event, "")
    anchors = [t for t, anchor in survey.seen if anchor]
    if not anchors:
        return Rebased(event=event, shift=None, latest=None, times=0)
    latest = max(anchors)
    shift = at - latest
    walk = _Walk(move=lambda t: t + shift)
    moved = walk.node(event, "")
    return Rebased(event=moved, shift=shift, latest=latest, times=len(walk.seen))
