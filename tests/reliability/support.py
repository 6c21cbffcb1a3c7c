"""What the reliability suite shares: ledger snapshots, a moto server stack, fault injection, figures.

Faults are injected at botocore's ``before-send`` hook: the client believes AWS answered with the
error, so botocore's own retry policy (``aup.adapters.aws``'s config) runs exactly as it would on AWS.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
# The samples in events/ are dated 2026-11-27 (the log deliveries end at 16:09:48; the expiry sweep's
# own time is the next day). A test that delivers them sets its clock just after, so that they are
# judged as on their day, on any date: ``pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)``.
SAMPLES_CLOCK = datetime(2026, 11, 27, 16, 15, tzinfo=UTC)
FIGURES_DIR = Path(os.environ.get("RELIABILITY_FIGURES_DIR", ROOT / ".pytest_cache" / "reliability"))

# Item fields that legitimately differ between two deliveries of the same event.
VOLATILE = {
    "MARK#": {"expires_at"},  # applied-once markers: their TTL
    "IDEMPOTENCY#": {"expiration", "in_progress_expiration"},  # powertools idempotency records
}


# ------------------------------------------------------------------------------------------ snapshots


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot(ddb: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the ledger by key, without the fields a redelivery may legitimately refresh."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for item in scan(ddb, table):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        drop = next((fields for prefix, fields in VOLATILE.items() if pk.startswith(prefix)), set())
        out[(pk, sk)] = {k: v for k, v in item.items() if k not in drop}
    return out


def kinds(snap: dict[tuple[str, str], dict[str, Any]]) -> Counter[str]:
    """Counts by item kind (violations, audit entries, counters, states, markers, ...) plus strikes."""
    c: Counter[str] = Counter()
    for (pk, sk), item in snap.items():
        kind = sk.split("#", 1)[0] if pk.startswith("ACCOUNT#") else pk.split("#", 1)[0]
        c[kind.lower()] += 1
        if sk == "STATE" and "doc" in item:
            doc = json.loads(item["doc"]["S"]) if "S" in item["doc"] else {}
            c["strikes"] += len(doc.get("strikes") or [])
    return c


def diff(a: dict[tuple[str, str], Any], b: dict[tuple[str, str], Any]) -> list[str]:
    """Human-readable differences between two snapshots (for assertion messages)."""
    lines = [f"added {k}" for k in sorted(set(b) - set(a))]
    lines += [f"removed {k}" for k in sorted(set(a) - set(b))]
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            changed = sorted(f for f in set(a[k]) | set(b[k]) if a[k].get(f) != b[k].get(f))
            lines.append(f"changed {k}: {changed}")
    return lines


# ------------------------------------------------------------------------------------------ samples


def sample_paths() -> list[Path]:
    return sorted(EVENTS.glob("*/*.json"))


def load_sample(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ faults


@dataclass
class Fault:
    """An error answered instead of AWS for ``operation`` (botocore's name, e.g. ``TransactWriteItems``).

    ``times``: how many calls fail before the real service answers again (None: all of them).
    """

    service: str
    operation: str
    code: str
    status: int = 400
    message: str = "injected by the reliability suite"
    times: int | None = 1
    injected: int = 0
    passed: int = 0
    extra: dict[str, Any] | None = None

    def active(self) -> bool:
        return self.times is None or self.injected < self.times


def _cbor_text(s: str) -> bytes:
    raw = s.encode()
    if len(raw) < 24:
        return bytes([0x60 + len(raw)]) + raw
    if len(raw) < 256:
        return bytes([0x78, len(raw)]) + raw
    return bytes([0x79]) + len(raw).to_bytes(2, "big") + raw


def _error_body(protocol: str, fault: Fault) -> tuple[dict[str, str], bytes]:
    if protocol == "json":
        doc = {
            "__type": f"com.amazonaws.injected#{fault.code}",
            "message": fault.message,
            **(fault.extra or {}),
        }
        return {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(doc).encode()
    if protocol == "smithy-rpc-v2-cbor":
        pairs = [("__type", fault.code), ("message", fault.message)]
        body = bytes([0xA0 + len(pairs)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in pairs)
        return {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body
    if protocol == "rest-xml":
        xml = f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message></Error>"
        return {"Content-Type": "application/xml"}, xml.encode()
    xml = (  # query
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
        f"<Message>{fault.message}</Message></Error></ErrorResponse>"
    )
    return {"Content-Type": "text/xml"}, xml.encode()


@contextmanager
def inject(client: Any, *faults: Fault) -> Iterator[list[Fault]]:
    """Answer ``faults`` from ``client``'s ``before-send`` hook while the block runs."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    model = client.meta.service_model
    protocol = getattr(model, "resolved_protocol", None) or model.protocol  # what botocore really speaks

    class _Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self.body

    def hook(request: Any, **kwargs: Any) -> Any:
        op = _operation(request, kwargs)
        for fault in faults:
            if fault.operation == op:
                if not fault.active():
                    fault.passed += 1
                    return None
                fault.injected += 1
                headers, body = _error_body(protocol, fault)
                answer = AWSResponse(request.url, fault.status, HTTPHeaders.from_dict(headers), _Raw(body))
                # botocore still calls the other before-send handlers (moto's in-process mock among
                # them) and takes the first answer: point the request nowhere so none of them acts.
                request.url = "http://fault-injected.invalid/"
                return answer
        return None

    client.meta.events.register_first("before-send", hook)
    try:
        yield list(faults)
    finally:
        client.meta.events.unregister("before-send", hook)


def _operation(request: Any, kwargs: dict[str, Any]) -> str:
    event_name = str(kwargs.get("event_name") or "")  # before-send.<service>.<Operation>
    if event_name.count(".") >= 2:
        return event_name.rsplit(".", 1)[-1]
    ctx = getattr(request, "context", None) or {}
    name = (ctx.get("operation_name") if isinstance(ctx, dict) else None) or ""
    if name:
        return str(name)
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    if target:
        return target.rsplit(".", 1)[-1]
    m = re.search(r"/operation/(\w+)$", request.url)
    return m.group(1) if m else ""


# ------------------------------------------------------------------------------------------ figures


def record_figures(section: str, **counts: int) -> None:
    """Add ``counts`` to this run's figures (one file per section and worker; summed by ``figures``)."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = FIGURES_DIR / f"{section}.{os.getpid()}.json"
    current: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    for k, v in counts.items():
        current[k] = current.get(k, 0) + int(v)
    path.write_text(json.dumps(current, sort_keys=True))


def run_figures() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for path in sorted(FIGURES_DIR.glob("*.json")):
        section = path.name.split(".", 1)[0]
        for k, v in json.loads(path.read_text()).items():
            out.setdefault(section, {})[k] = out.setdefault(section, {}).get(k, 0) + v
    return out


def clear_figures() -> None:
    for path in FIGURES_DIR.glob("*.json"):
        path.unlink(missing_ok=True)


Check = Callable[[Any], None]
