"""Cost per million API requests watched: measured quantities x the price table (``prices.toml``).

``measure()`` runs the real analyzer (``functions/api_log_analyzer/app.py`` over the real
``DynamoLedger`` on a counting stub client) and the real archive splitter, and returns what the model
needs: bytes per line (raw and gzip), lines per CPU second, ledger items / write units / read units
per batch as a function of the distinct accounts in the batch, EMF bytes per account. ``Model`` turns
those into dollars per million requests per ingestion path and traffic shape; docs/cost.md explains
every assumption (the ``Path`` constants below are the ones it names).
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import itertools
import math
import threading
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.bench.bench_logs import StubDynamo

GIB = float(2**30)
MIB = float(2**20)
MONTH_S = 730 * 3600.0
PRICES = Path(__file__).with_name("prices.toml")


def _memory_mb(logical_id: str) -> int:
    """A function's MemorySize in template.yaml (the model prices what the template deploys)."""
    from aupctl.stack import load_template

    resources = load_template()["Resources"]
    return int(resources[logical_id]["Properties"].get("MemorySize", 512))


# Lambda gets a vCPU share of MemorySize/1769 (one whole vCPU at 1,769 MB).
ANALYZER_MB = _memory_mb("ApiLogAnalyzerFunction")
ANALYZER_GB = ANALYZER_MB / 1024
VCPU_SHARE = min(1.0, ANALYZER_MB / 1769)
SCANNER_MB = _memory_mb("UploadScannerFunction")
SCANNER_GB = SCANNER_MB / 1024
SCANNER_VCPU_SHARE = min(1.0, SCANNER_MB / 1769)
# I/O waits per ledger call (not measured here: moto is in-process; typical same-region latencies).
WAIT_TRANSACT_S = 0.020
WAIT_BATCH_GET_S = 0.008
WAIT_UPDATE_S = 0.006  # one UpdateItem; the ledger runs COUNTER_WRITERS of them at a time
WAIT_S3_GET_PER_MIB_S = 0.012  # ~85 MiB/s from S3 into one Lambda
WCU_PARTITION_LIMIT = 1000  # per partition (and so per item key) per second


def load_prices(path: Path = PRICES) -> dict[str, float]:
    doc = tomllib.loads(path.read_text())
    return {k: float(v["value"]) for k, v in doc.items()}


def price_rows(path: Path = PRICES) -> list[tuple[str, float, str, str, bool]]:
    doc = tomllib.loads(path.read_text())
    return [(k, float(v["value"]), v["source"], v["checked"], bool(v["verified"])) for k, v in doc.items()]


# --------------------------------------------------------------------------------------- measured


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (numbers ~1 byte per 2 digits, + 1)."""
    return sum(len(k.encode()) + _value_bytes(v) for k, v in item.items())


def _value_bytes(v: dict[str, Any]) -> int:
    ((t, x),) = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        return (len(x.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if t in ("SS", "NS"):
        return sum(len(str(s).encode()) for s in x)
    if t == "BS":
        return sum(len(b) for b in x)
    if t == "B":
        return len(x)
    if t == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(val) for k, val in x.items())
    if t == "L":
        return 3 + sum(_value_bytes(val) for val in x)
    return 1


def _kind(sk: str) -> str:
    """A counter item's kind by its name: ``hour``, ``day``, ``rate`` (a source's window), ``sets`` (an
    account's hour or rate window sets) or ``other``."""
    from aup.detectors.logs.counters import is_sets_name

    name = sk.removeprefix("COUNTER#")
    if is_sets_name(name):
        return "sets"
    if name.startswith("logs:h:"):
        return "hour"
    if name.startswith("logs:d:"):
        return "day"
    if name.startswith("logs:r"):
        return "rate"
    return "other"


def marker_bytes(ids: float) -> float:
    """Bytes ``ids`` batch ids add to a counter item: 8 each (``codecs.MARKER_ID_BYTES``, a binary set
    member) and the names of the two slot sets (``m<slot>``), measured with ``item_bytes``."""
    from aup.adapters.dynamodb.codecs import MARKER_ID_BYTES
    from aup.adapters.dynamodb.ledger import MARKER_SLOT_SECONDS

    slot_names = 2 * len(f"m{int(time.time() // MARKER_SLOT_SECONDS)}")
    one = item_bytes({"m": {"BS": [b"\0" * MARKER_ID_BYTES]}}) - 1
    return slot_names + ids * one if ids else 0.0


class CountingDynamo(StubDynamo):
    """The DynamoDB calls the ledger's counter path makes, applied in memory, with the size of every
    counter item as written (its batch ids left out: ``marker_bytes`` adds them per traffic shape, since
    how many an item carries depends on how many batches touch it an hour) and the marker writes."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[str, int]] = []  # (kind, bytes) of each counter write
        self.marker_writes = 0  # PutItem / UpdateItem of MARK# items (1 WRU each: < 1 KB)
        self.rru = 0.0
        self.max_item = 0
        self._lock = threading.Lock()  # the ledger writes a batch's counters from several threads

    def reset_counts(self) -> None:
        """Forget what was counted so far (the items stay)."""
        self.sizes, self.marker_writes, self.rru, self.max_item = [], 0, 0.0, 0
        self.calls, self.write_items = {}, 0

    def written(self, item: dict[str, Any]) -> None:
        sk = item["sk"]["S"]
        if not sk.startswith("COUNTER#"):
            self.marker_writes += sk == "MARK"
            return
        size = item_bytes({k: v for k, v in item.items() if "BS" not in v})
        self.max_item = max(self.max_item, size)
        self.sizes.append((_kind(sk), size))

    def update_item(self, **kw: Any) -> dict[str, Any]:
        with self._lock:
            return super().update_item(**kw)

    def put_item(self, **kw: Any) -> dict[str, Any]:
        with self._lock:
            out = super().put_item(**kw)
            if str(kw.get("Item", {}).get("pk", {}).get("S", "")).startswith("MARK#"):
                self.marker_writes += 1
            return out

    def read(self, items: list[dict[str, Any]], *, batch: bool) -> None:
        if batch:  # ConsistentRead: one unit per started 4 KB of each item
            self.rru += sum(max(1, math.ceil(item_bytes(i) / 4096)) for i in items)
        else:
            self.rru += 1


def _wru(size: float) -> int:
    return max(1, math.ceil(size / 1024))


# counter kind -> (fewest, most) batch ids an item carries over its plain writes, and the share of its
# writes that are transactional (hot: ``ledger.HOT_IDS`` ids in its slot already)
Ids = dict[str, tuple[float, float, float]]


def mean_wru(lo: float, hi: float) -> float:
    """The mean of ``_wru(x)`` for an item size ``x`` spread evenly from ``lo`` to ``hi`` bytes."""
    if hi - lo < 1:
        return float(_wru(hi))
    total, x = 0.0, lo
    while x < hi:
        edge = min(hi, (math.floor(x / 1024) + 1) * 1024)
        total += (edge - x) * _wru(x + 0.5)
        x = edge
    return total / (hi - lo)


@dataclass(frozen=True)
class BatchLedger:
    """One analyzer batch's ledger traffic, with ``accounts`` distinct accounts in it (measured)."""

    accounts: int
    lines: int
    sizes: tuple[tuple[str, int], ...]  # (kind, bytes without batch ids) of each counter item written
    marker_writes: int
    rru: float  # what the code reads now (counters' totals come from the writes)
    calls: dict[str, int]
    cpu_s: float

    @property
    def items(self) -> int:
        return len(self.sizes)

    def wru(self, ids: Ids | None = None, *, transactional: bool = False) -> float:
        """Write units of the batch. Plain (the code now): each counter item's started KB with the batch
        ids it carries (``ids[kind]``: from ``lo`` to ``hi`` over the writes, averaged), and the marker's
        two writes. ``transactional`` (the code before): 2 per started KB of each item without ids, and a
        marker per 99 items."""
        grouped = collections.Counter(self.sizes)
        if transactional:
            return sum(n * 2 * _wru(b) for (_, b), n in grouped.items()) + 2 * math.ceil(self.items / 99)
        total = 0.0
        for (kind, b), n in grouped.items():
            lo, hi, hot = (ids or {}).get(kind, (1.0, 1.0, 0.0))
            plain = mean_wru(b + marker_bytes(lo), b + marker_bytes(hi))
            total += n * ((1 - hot) * plain + hot * (2 * _wru(b) + 2 / 99))
        return total + self.marker_writes

    def hot(self, ids: Ids | None) -> float:
        """How many of the batch's counter items are written transactionally (hot), on average."""
        return sum((ids or {}).get(kind, (1.0, 1.0, 0.0))[2] for kind, _ in self.sizes)

    def hot_rru(self, ids: Ids | None) -> float:
        """The consistent read-back of the counters written transactionally (hot)."""
        return sum(
            (ids or {}).get(kind, (1.0, 1.0, 0.0))[2] * max(1, math.ceil(b / 4096)) for kind, b in self.sizes
        )

    def read_back_rru(self) -> float:
        """The consistent read of every counter written that the code did before (one unit per 4 KB)."""
        return float(sum(max(1, math.ceil(b / 4096)) for _, b in self.sizes))


@dataclass
class Measured:
    bytes_per_line: float
    gzip_bytes_per_line: float
    lines_per_cpu_s: float  # the handler, subscription payloads of 5,000 lines, one core
    split_lines_per_cpu_s: float  # gunzip + split of an archived object (the Firehose path's extra)
    emf_bytes_per_account: float
    batches: list[BatchLedger] = field(default_factory=list)  # by accounts, ascending
    mix_lines: int = 0
    # botocore's own CPU seconds per DynamoDB call (the stub behind ``lines_per_cpu_s`` is no client):
    # a counter UpdateItem as the ledger sends it, a TransactWriteItems of 99 counters, a BatchGetItem of
    # 100 (``bench_logs.botocore_cpu``: a real client, its transport faked)
    client_update_s: float = 0.0
    client_transact_s: float = 0.0
    client_batch_get_s: float = 0.0

    def client_cpu(
        self,
        accounts: float,
        ids: Ids | None = None,
        *,
        transactional: bool = False,
        read_back: bool = False,
    ) -> float:
        """botocore's CPU seconds for a batch's ledger calls (as ``ledger``: linear between the measured
        points): each plain counter and marker write one call (an UpdateItem's cost), the transactional
        ones by 99 and their reads by 100."""
        lo, hi, f = self._between(accounts)

        def seconds(b: BatchLedger) -> float:
            if transactional:
                cpu = math.ceil(b.items / 99) * self.client_transact_s
                return cpu + (math.ceil(b.items / 100) * self.client_batch_get_s if read_back else 0.0)
            hot = b.hot(ids)
            cpu = (b.items - hot + b.marker_writes) * self.client_update_s
            return (
                cpu
                + math.ceil(hot / 99) * self.client_transact_s
                + math.ceil(hot / 100) * self.client_batch_get_s
            )

        x, y = seconds(lo), seconds(hi)
        return max(0.0, x + (y - x) * f)

    def _between(self, accounts: float) -> tuple[BatchLedger, BatchLedger, float]:
        """The measured batches around ``accounts`` and where it falls between them (0..1, or beyond)."""
        pts = self.batches
        a = max(1.0, accounts)
        lo, hi = pts[0], pts[1]
        for p, q in itertools.pairwise(pts):
            if p.accounts <= a <= q.accounts:
                lo, hi = p, q
                break
        else:
            if a > pts[-1].accounts:
                lo, hi = pts[-2], pts[-1]
        return lo, hi, (a - lo.accounts) / (hi.accounts - lo.accounts)

    def ledger(
        self,
        accounts: float,
        ids: Ids | None = None,
        *,
        transactional: bool = False,
        read_back: bool = False,
    ) -> tuple[float, float, float, float]:
        """(items, wru, rru, I/O wait seconds) of a batch with ``accounts`` distinct accounts: linear between the
        measured points (the writes are per (account, window) pair). ``ids``: the batch ids a counter
        item of each kind carries (``Model.ids``); ``transactional`` / ``read_back``: the code before."""
        lo, hi, f = self._between(accounts)

        def figures(b: BatchLedger) -> tuple[float, float, float, float]:
            from aup.adapters.dynamodb.ledger import COUNTER_WRITERS

            rru = b.rru + (b.read_back_rru() if read_back else 0.0 if transactional else b.hot_rru(ids))
            wait = math.ceil(b.items / 100) * WAIT_BATCH_GET_S if read_back else 0.0
            if transactional:
                wait += math.ceil(b.items / 99) * WAIT_TRANSACT_S
            else:  # the plain ones ten at a time; the hot ones in transactions of 99, read back
                hot = b.hot(ids)
                wait += ((b.items - hot) / COUNTER_WRITERS + b.marker_writes) * WAIT_UPDATE_S
                wait += math.ceil(hot / 99) * WAIT_TRANSACT_S + math.ceil(hot / 100) * WAIT_BATCH_GET_S
            return b.items, b.wru(ids, transactional=transactional), rru, wait

        x, y = figures(lo), figures(hi)
        return tuple(max(0.0, u + (v - u) * f) for u, v in zip(x, y, strict=True))  # type: ignore[return-value]


def _client_cpu(handler: Any, ctx: Any, events: list[dict[str, Any]]) -> tuple[float, float, float]:
    """botocore's CPU seconds per call: the counter UpdateItems of the mix's first payloads as the ledger
    sent them (with the answers they got), a TransactWriteItems of 99 of those counters, a consistent
    BatchGetItem of 100 of their items (``bench_logs.botocore_cpu``)."""
    from tests.bench import bench_logs as B

    rec = B.RecordingDynamo()
    B._use_stub(rec, B.PLANS)
    B._run(handler, ctx, events[: B.BOTOCORE_PAYLOADS])
    updates = [c for c in rec.log if c[0] == "update_item" and "Attributes" in c[2]]
    update_s = B.botocore_cpu(updates) / len(updates)
    keep = ("TableName", "Key", "UpdateExpression", "ExpressionAttributeNames", "ExpressionAttributeValues")
    actions = [{"Update": {k: v for k, v in kw.items() if k in keep}} for _, kw, _ in updates[:99]]
    transact: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("transact_write_items", {"TransactItems": actions}, {})
    ] * 10
    table = updates[0][1]["TableName"]
    keys = [kw["Key"] for _, kw, _ in updates[:100]]
    answer = {"Responses": {table: [out["Attributes"] for _, _, out in updates[:100]]}}
    gets = [
        ("batch_get_item", {"RequestItems": {table: {"Keys": keys, "ConsistentRead": True}}}, answer)
    ] * 10
    return update_s, B.botocore_cpu(transact) / 10, B.botocore_cpu(gets) / 10


def _batch_lines(accounts: int, lines: int) -> list[str]:
    """``lines`` contract lines spread evenly over ``accounts`` accounts inside one 60 s span."""
    from tests.unit.logs import traffic as T

    per = max(1, lines // accounts)
    step = max(1, 60_000 // per)
    return [
        T.line(
            T.T0 + 600_000 + i * step + a % step,
            account=f"acct-{a:05d}",
            ip=f"198.51.{a % 250}.{a % 200 + 2}",
            path=f"/v1/projects/{i % 7}",
            resource="/v1/projects/{id}",
        ).text
        for i in range(per)
        for a in range(accounts)
    ]


def measure(account_points: tuple[int, ...] = (1, 10, 100, 1_000, 10_000), repeats: int = 3) -> Measured:
    from tests.bench import bench_logs as B

    handler, ctx = B._setup()
    from aup.detectors.logs.parse import encode_payload
    from aup.usecases.analyze_logs import emit_usage
    from aup.usecases.ingest_archive import split_lines

    mix = B._mix()
    raw = ("\n".join(mix) + "\n").encode()
    bytes_per_line = len(raw) / len(mix)
    gz = gzip.compress(raw, compresslevel=6)
    gzip_per_line = len(gz) / len(mix)

    events = B._payloads(mix, first=1_000_000)
    B._use_stub(B.StubDynamo(), B.PLANS)
    B._run(handler, ctx, events[:2])  # warm
    best = 0.0
    for _ in range(repeats):
        B._use_stub(B.StubDynamo(), B.PLANS)
        _, cpu, _ = B._run_timed(handler, ctx, events)
        best = max(best, len(mix) / cpu)

    split_best = 0.0
    for _ in range(repeats):
        started = time.process_time()
        n = len(split_lines(gz))
        split_best = max(split_best, n / (time.process_time() - started))

    buf = io.StringIO()
    docs = emit_usage(
        {f"acct-{i:05d}": (1234, 5_678_901, 1_700_000_000_000) for i in range(100)}, "AUP/Usage", buf
    )
    emf = len(buf.getvalue().encode()) / docs

    batches = []
    for n, accounts in enumerate(account_points):
        lines = _batch_lines(accounts, max(5_000, 2 * accounts))
        stub = CountingDynamo()
        B._use_stub(stub)
        # A batch as a warm function meets it: an earlier batch of the same accounts in the same hour,
        # whose set items (networks, agents, ids) this one has nothing to add to. The item counts and
        # sizes are of the second batch alone.
        earlier = {"awslogs": {"data": encode_payload(lines, first_id=8_000_000 + n * 100_000)}}
        event = {"awslogs": {"data": encode_payload(lines, first_id=9_000_000 + n * 100_000)}}
        with contextlib.redirect_stdout(io.StringIO()):
            handler.lambda_handler(earlier, ctx)
            stub.reset_counts()
            started = time.process_time()
            handler.lambda_handler(event, ctx)
            cpu = time.process_time() - started
        batches.append(
            BatchLedger(
                accounts=accounts,
                lines=len(lines),
                sizes=tuple(stub.sizes),
                marker_writes=stub.marker_writes,
                rru=stub.rru,
                calls=dict(stub.calls),
                cpu_s=cpu,
            )
        )
    update_s, transact_s, batch_get_s = _client_cpu(handler, ctx, events)
    return Measured(
        client_update_s=update_s,
        client_transact_s=transact_s,
        client_batch_get_s=batch_get_s,
        bytes_per_line=bytes_per_line,
        gzip_bytes_per_line=gzip_per_line,
        lines_per_cpu_s=best,
        split_lines_per_cpu_s=split_best,
        emf_bytes_per_account=emf,
        batches=batches,
        mix_lines=len(mix),
    )


# ------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Shape:
    accounts: int
    rate: float  # requests per second over the whole API

    @property
    def label(self) -> str:
        r = f"{self.rate / 1e6:g}M" if self.rate >= 1e6 else f"{self.rate / 1e3:g}k"
        return f"{self.accounts:>6,} accts {r:>5}/s"


SHAPES = [Shape(a, r) for a in (1, 100, 10_000) for r in (1e3, 1e5, 1e6)]


@dataclass(frozen=True)
class Options:
    """The levers docs/cost.md measures. Defaults: the code and template as they are today."""

    transactional_counters: bool = False  # True: the code before (TransactWriteItems, a marker per 99)
    firehose_interval_s: float = 300.0  # BufferingHints.IntervalInSeconds (LogArchiveBufferSeconds)
    firehose_buffer_mib: float = 128.0  # BufferingHints.SizeInMBs (before compression)
    archive_part_lines: int | None = None  # None: ingest_archive.ARCHIVE_PART_LINES
    read_back: bool = False  # True: the code before (a consistent BatchGetItem of the counters written)
    day_item: bool = True  # False: daily totals summed from the hour items at read time (one item per pair)
    firehose_record_rounding: bool = True  # Direct PUT bills each record rounded up to 5 KB
    subscription_batch_bytes: float = MIB  # a CloudWatch Logs payload holds up to ~1 MiB of events
    kinesis_batch_records: int = 100  # the mapping's BatchSize
    kinesis_window_s: float = 5.0  # MaximumBatchingWindowInSeconds
    emf_usage: bool = True  # one EMF document per account per invocation (function log ingestion)


def distinct(accounts: int, lines: float) -> float:
    """Expected distinct accounts among ``lines`` lines spread uniformly over ``accounts`` (the worst
    realistic case: skewed traffic puts fewer accounts in a batch)."""
    if accounts <= 1:
        return 1.0
    return accounts * (1.0 - math.exp(lines * math.log1p(-1.0 / accounts)))


@dataclass
class Row:
    path: str
    shape: Shape
    lines_per_batch: float
    accounts_per_batch: float
    parts: dict[str, float]  # $ per million requests, by component

    @property
    def total(self) -> float:
        return sum(self.parts.values())


class Model:
    def __init__(self, m: Measured, prices: dict[str, float], opts: Options | None = None) -> None:
        self.m, self.p, self.o = m, prices, opts or Options()

    def with_options(self, **kw: Any) -> Model:
        return Model(self.m, self.p, replace(self.o, **kw))

    def ids(self, shape: Shape, lines: float) -> Ids:
        """The batch ids a counter item carries over its plain writes, and the share written hot, by
        kind. An account is in a batch of ``lines`` with probability distinct/accounts, so ``t`` batches
        an hour (one marker slot) touch its items. An hour item gathers 1..t ids in its hour, a day item
        keeps the previous slot's too, a source's 5-minute window gathers 1..t/12. Past ``HOT_IDS`` ids
        in a slot the process writes the item transactionally for ``HOT_SECONDS``."""
        from aup.adapters.dynamodb.ledger import HOT_IDS, HOT_SECONDS

        d = distinct(shape.accounts, lines)
        t = 3600 * shape.rate / lines * d / shape.accounts
        hot_h = HOT_SECONDS / 3600

        def kind(per_slot: float, lo: float, span: float) -> tuple[float, float, float]:
            if per_slot <= HOT_IDS:
                return lo, max(1.0, lo + per_slot * span - 1), 0.0
            # a cycle: HOT_IDS plain writes, then HOT_SECONDS transactional
            plain = HOT_IDS / (HOT_IDS + per_slot * hot_h)
            return 1.0, float(HOT_IDS), 1.0 - plain

        return {
            "hour": kind(t, 1.0, 1.0),
            "day": kind(t, 1.0 + min(t, HOT_IDS), 1.0),
            "rate": kind(t / 12, 1.0, 1.0),
            "other": (1.0, 1.0, 0.0),
        }

    # one batch of the analyzer: compute, ledger and EMF, per million requests
    def _analyzer(self, shape: Shape, lines: float, extra_cpu_per_line: float = 0.0) -> dict[str, float]:
        p, m, o = self.p, self.m, self.o
        batches = 1e6 / lines
        d = distinct(shape.accounts, lines)
        _items, w, rru, wait = m.ledger(
            d, self.ids(shape, lines), transactional=o.transactional_counters, read_back=o.read_back
        )
        if not o.day_item:  # each account's day item (< 1 KB: 2 WRU in a transaction, 1 plain) goes
            w -= d * (2 if o.transactional_counters else 1)
            rru += 23 * d  # ... and the day's other hour items are read instead (1 RRU each, < 4 KB)
        cpu = lines * (1.0 / m.lines_per_cpu_s + extra_cpu_per_line)
        cpu += m.client_cpu(
            d, self.ids(shape, lines), transactional=o.transactional_counters, read_back=o.read_back
        )
        duration = cpu / VCPU_SHARE + wait
        out = {
            "lambda": batches * (duration * ANALYZER_GB * p["lambda_arm_gb_second"] + p["lambda_request"]),
            "ledger": batches * (w * p["dynamodb_wru"] + rru * p["dynamodb_rru"]),
        }
        if o.emf_usage:
            out["emf logs"] = batches * d * m.emf_bytes_per_account / GIB * p["cloudwatch_logs_ingest_gb"]
        return out

    def subscription(self, shape: Shape) -> Row:
        m, p, o = self.m, self.p, self.o
        lines = max(1.0, min(shape.rate * 1.0, o.subscription_batch_bytes / m.bytes_per_line))
        parts = {
            "ingest": 1e6 * m.bytes_per_line / GIB * p["cloudwatch_logs_ingest_gb"],
            "storage": 1e6 * m.gzip_bytes_per_line / GIB * p["cloudwatch_logs_storage_gb_month"],
            **self._analyzer(shape, lines),
        }
        return Row("subscription", shape, lines, distinct(shape.accounts, lines), parts)

    def kinesis(self, shape: Shape) -> Row:
        m, p, o = self.m, self.p, self.o
        per_record = max(1.0, min(shape.rate * 1.0, o.subscription_batch_bytes / m.bytes_per_line))
        record_kb = math.ceil(per_record * m.gzip_bytes_per_line / 1024)
        records_per_m = 1e6 / per_record
        shards = max(1, math.ceil(shape.rate * m.gzip_bytes_per_line / MIB))
        lines = max(1.0, min(shape.rate / shards * o.kinesis_window_s, o.kinesis_batch_records * per_record))
        gb = records_per_m * record_kb * 1024 / GIB
        parts = {
            "ingest": 1e6 * m.bytes_per_line / GIB * p["cloudwatch_logs_ingest_gb"],
            "storage": 1e6 * m.gzip_bytes_per_line / GIB * p["cloudwatch_logs_storage_gb_month"],
            "kinesis": gb * (p["kinesis_on_demand_gb_in"] + p["kinesis_on_demand_gb_out"])
            + p["kinesis_on_demand_stream_hour"] * 730 / (shape.rate * MONTH_S / 1e6),
            **self._analyzer(shape, lines),
        }
        return Row("kinesis", shape, lines, distinct(shape.accounts, lines), parts)

    def firehose_lines(self, shape: Shape) -> float:
        o = self.o
        return max(
            1.0, min(shape.rate * o.firehose_interval_s, o.firehose_buffer_mib * MIB / self.m.bytes_per_line)
        )

    def firehose(self, shape: Shape) -> Row:
        m, p, o = self.m, self.p, self.o
        lines = self.firehose_lines(shape)
        objects = 1e6 / lines
        billed = p["firehose_record_rounding_bytes"] if o.firehose_record_rounding else m.bytes_per_line
        part = min(lines, self.part_lines())
        analyzer = self._analyzer(shape, part, extra_cpu_per_line=1.0 / m.split_lines_per_cpu_s)
        # the S3 GET's wait, per object
        wait = lines * m.gzip_bytes_per_line / MIB * WAIT_S3_GET_PER_MIB_S
        analyzer["lambda"] += objects * wait * ANALYZER_GB * p["lambda_arm_gb_second"]
        parts = {
            "ingest": 1e6 * billed / GIB * p["firehose_direct_put_gb"],
            "storage": 1e6 * m.gzip_bytes_per_line / GIB * p["s3_storage_gb_month"],  # 30-day lifecycle
            # Firehose's PUT, the analyzer's GET, SQS: S3's send + receive + delete per object
            "s3+sqs": objects * (p["s3_put"] + p["s3_get"] + 3 * p["sqs_request"]),
            **analyzer,
        }
        return Row("firehose", shape, lines, distinct(shape.accounts, part), parts)

    def part_lines(self) -> int:
        from aup.usecases.ingest_archive import ARCHIVE_PART_LINES

        return self.o.archive_part_lines or ARCHIVE_PART_LINES

    def rows(self, shapes: list[Shape] = SHAPES) -> list[Row]:
        return [getattr(self, path)(s) for path in ("subscription", "kinesis", "firehose") for s in shapes]

    # -------------------------------------------------------------- the rest of the system

    def usage_sweep_per_account_month(self) -> dict[str, float]:
        """UsageMonitorFunction every 5 minutes: GetMetricData for 5 metrics per account, the custom
        metrics the detectors publish per account (RequestCount, EgressBytes, StorageBytes)."""
        p = self.p
        sweeps = MONTH_S / 300
        return {
            "GetMetricData": sweeps * 5 * p["cloudwatch_getmetricdata_metric"],
            "custom metrics": 3 * p["cloudwatch_custom_metric_month"],
            "ledger page": sweeps * 0.5 * p["dynamodb_rru"],  # ~0.5 RRU per account listed (GSI1 page)
        }

    def scan_per_gb(self, mb_per_cpu_s: float, object_mb: float) -> dict[str, float]:
        """UploadScannerFunction (1,024 MB) per GB uploaded: compute at the measured throughput, the GET,
        the tagging PUT, SQS (S3's send, receive, delete), one invocation per 10 objects."""
        p = self.p
        objects = 1024 / object_mb
        duration = 1024 / mb_per_cpu_s / SCANNER_VCPU_SHARE
        return {
            "lambda": duration * SCANNER_GB * p["lambda_arm_gb_second"] + objects / 10 * p["lambda_request"],
            "s3": objects * (p["s3_get"] + p["s3_put"]),
            "sqs": objects * 3 * p["sqs_request"],
        }

    def batch_lines(self, shape: Shape, path: str) -> float:
        if path == "firehose":
            return min(self.firehose_lines(shape), self.part_lines())
        if path == "kinesis":
            return self.kinesis(shape).lines_per_batch
        return self.subscription(shape).lines_per_batch

    def account_wru_per_batch(self, shape: Shape, lines: float) -> float:
        """One account's write units in a batch (its hour and day items): the marginal writes of one more
        account between the two largest measured batches, with the shape's batch ids on its items."""
        m, o = self.m, self.o
        lo, hi = m.batches[-2], m.batches[-1]
        ids = self.ids(shape, lines)
        t = o.transactional_counters

        def counters(b: BatchLedger) -> float:
            return b.wru(ids, transactional=t) - (2 * math.ceil(b.items / 99) if t else b.marker_writes)

        per = (counters(hi) - counters(lo)) / (hi.accounts - lo.accounts)
        return per / 2 if not o.day_item else per

    def hot_account_wcu_per_s(self, rate: float, path: str) -> float:
        """Write units per second on one account's partition (its hour and day items) when that one
        account sends ``rate`` requests per second: batches per second x its writes in a batch (markers
        live on keys of their own)."""
        shape = Shape(1, rate)
        lines = self.batch_lines(shape, path)
        return rate / lines * self.account_wru_per_batch(shape, lines)
