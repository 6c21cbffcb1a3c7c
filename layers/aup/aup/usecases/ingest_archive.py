"""One invocation of ApiLogAnalyzerFunction on the archive path (``LogIngestion=firehose``).

API Gateway writes each access-log line to an Amazon Data Firehose stream (``amazon-apigateway-…``),
which delivers batched, GZIP-compressed objects to the archive bucket; each ``ObjectCreated``
notification goes through SQS to the analyzer. An object holds the contract's access-log lines,
newline-delimited or (Firehose adds no delimiter of its own) concatenated JSON objects.

Each object is read once, decompressed, split into lines and analysed by the same code as the other
two paths (``read_lines`` + ``analyze`` + ``apply_findings``), in parts of at most
``ARCHIVE_PART_LINES`` lines. A part's counter marker is derived from the object's bucket, key, ETag
and the part's index, so a redelivered notification (SQS is at-least-once) adds nothing to the
counters, and findings are idempotent by their ``violation_id`` as on every path. A message whose
object cannot be read or analysed is reported in ``batchItemFailures`` alone (retried, then the
queue's dead-letter queue keeps it); the other messages of the batch are done.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from aup.detectors.logs.analyzer import analyze, read_lines
from aup.domain.ports import Ledger
from aup.policy import Policy
from aup.usecases.analyze_logs import (
    InvocationResult,
    WrittenCounters,
    accounts_lookup,
    acts_for_lookup,
    newest_hour,
    plan_lookup,
    remembered,
)

ARCHIVE_PART_LINES = 320_000  # a whole 128 MiB object (~300k lines) in one analysis: one counter write set
ReadObject = Callable[[str, str], bytes]  # (bucket, key) -> the object's bytes


@dataclass(frozen=True)
class ArchivedObject:
    bucket: str
    key: str
    etag: str
    size: int

    def marker(self, part: int) -> str:
        ident = f"{self.bucket}/{self.key}#{self.etag}:{part}".encode("utf-8", "surrogatepass")
        return "archive:" + hashlib.sha256(ident).hexdigest()[:40]


def is_archive_event(event: dict[str, Any]) -> bool:
    """An SQS batch (of S3 notifications) or an S3 notification delivered to the function directly."""
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") in ("aws:sqs", "aws:s3") for r in records)
    )


def _s3_records(doc: Any) -> list[ArchivedObject]:
    """The created objects of one S3 notification document (a test event has none)."""
    if not isinstance(doc, dict) or doc.get("Event") == "s3:TestEvent":
        return []
    out = []
    for r in doc.get("Records") or []:
        if not str(r.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = r["s3"]
        obj = s3["object"]
        out.append(
            ArchivedObject(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                etag=str(obj.get("eTag", "")).strip('"'),
                size=int(obj.get("size", 0)),
            )
        )
    return out


def split_lines(data: bytes) -> list[str]:
    """An archived object's bytes -> access-log lines (gzip by magic; members concatenated are fine).

    Lines are split on newlines; a line holding several JSON objects back to back (Firehose adds no
    delimiter) is split where a JSON decoder says each object ends, so a ``}{`` inside a string value
    (an attacker's path) never starts a forged line."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8", "replace")
    out: list[str] = []
    decoder = json.JSONDecoder()
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if "}{" not in line:
            out.append(line)
            continue
        out.extend(_objects(line, decoder))
    return out


def _objects(line: str, decoder: json.JSONDecoder) -> Iterator[str]:
    pos, end = 0, len(line)
    while pos < end:
        try:
            _, stop = decoder.raw_decode(line, pos)
        except ValueError:
            yield line[pos:]  # not JSON from here on: counted as unparseable by read_lines
            return
        yield line[pos:stop]
        pos = stop
        while pos < end and line[pos] in " \t\r":
            pos += 1


def _parts(lines: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(lines), size):
        yield lines[i : i + size]


def process_object(
    obj: ArchivedObject,
    data: bytes,
    *,
    ledger: Ledger,
    policy: Policy,
    now: datetime,
    result: InvocationResult,
    part_lines: int = ARCHIVE_PART_LINES,
) -> None:
    """Analyse one archived object's lines into ``result`` and apply the findings."""
    lines = split_lines(data)
    result.events += len(lines)
    plan_of = plan_lookup(ledger)
    acts_for = acts_for_lookup(ledger)
    memory = remembered(ledger)
    for n, part in enumerate(_parts(lines, part_lines)):
        read = read_lines(part, policy.log_analysis)
        result.records += len(read.records)
        result.unparseable += read.unparseable
        result.oversized += read.oversized
        result.sample = result.sample or read.sample
        if not read.records:
            continue
        analysis = analyze(
            read.records,
            marker=obj.marker(n),
            store=WrittenCounters(ledger),
            policy=policy,
            plan_of=plan_of,
            accounts_exist=accounts_lookup(plan_of),
            full_id_sets=memory.full_id_sets,
            known_sets=memory.known_sets,
            acts_for=acts_for,
        )
        memory.forget_beyond_limits(newest_hour(analysis))
        result.counters_written += analysis.counters_written
        result.counters_applied = result.counters_applied or analysis.applied
        for account, (requests, egress, last) in analysis.summary.usage().items():
            r0, e0, l0 = result.usage.get(account, (0, 0, 0))
            result.usage[account] = (r0 + requests, e0 + egress, max(l0, last))
        result.findings += len(analysis.findings)
        if analysis.findings:
            result.outcomes.extend(ledger.apply_findings(analysis.findings, now))


def process_archive_event(
    event: dict[str, Any],
    *,
    ledger: Ledger,
    policy: Policy,
    now: datetime,
    read_object: ReadObject,
    on_error: Callable[[str, Exception], None] | None = None,
) -> InvocationResult:
    """Every object named by an SQS batch of S3 notifications (or one S3 notification), analysed.

    A message that fails (object unreadable, ledger failing) is put in ``malformed_records`` by its
    message id, which ``InvocationResult.response(True)`` reports as a batch item failure."""
    result = InvocationResult()
    for record in event["Records"]:
        ident = str(record.get("messageId") or record.get("eventID") or "")
        try:
            doc = (
                json.loads(record["body"])
                if record.get("eventSource") == "aws:sqs"
                else {"Records": [record]}
            )
            for obj in _s3_records(doc):
                process_object(
                    obj,
                    read_object(obj.bucket, obj.key),
                    ledger=ledger,
                    policy=policy,
                    now=now,
                    result=result,
                )
        except Exception as exc:  # bad notification, object unreadable, ledger failing: retried alone
            _failed(result, ident, exc, on_error)
    return result


def _failed(
    result: InvocationResult, ident: str, exc: Exception, on_error: Callable[[str, Exception], None] | None
) -> None:
    result.malformed_records.append(ident)
    if on_error is not None:
        on_error(ident, exc)
