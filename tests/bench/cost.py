"""Cost per million API requests watched: measured quantities x the price table (``prices.toml``).

``measure()`` runs the real analyzer (``functions/api_log_analyzer/app.py`` over the real
``DynamoLedger`` on a counting stub client) and the real archive splitter, and returns what the model
needs: bytes per line (raw and gzip), lines per CPU second, ledger items / write units / read units
per batch as a function of the distinct accounts in the batch, EMF bytes per account. ``Model`` turns
those into dollars per million requests per ingestion path and traffic shape; docs/cost.md explains
every assumption (the ``Path`` constants below are the ones it names).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import math
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

# Lambda at 1,024 MB (the analyzer's MemorySize) gets 1024/1769 of a vCPU.
ANALYZER_GB = 1.0
VCPU_SHARE = 1024 / 1769
# I/O waits per ledger call (not measured here: moto is in-process; typical same-region latencies).
WAIT_TRANSACT_S = 0.020
WAIT_BATCH_GET_S = 0.008
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
    if t == "B":
        return len(x)
    if t == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(val) for k, val in x.items())
    if t == "L":
        return 3 + sum(_value_bytes(val) for val in x)
    return 1


class CountingDynamo(StubDynamo):
    """The DynamoDB calls the ledger's counter path makes, applied in memory, with their capacity.

    Transactional writes cost 2 WRU per started KB of the item (after the write); a plain write 1 WRU
    per KB: ``plain_wru`` is what the same counter writes would cost as plain ``UpdateItem``s (and the
    marker as one conditional ``PutItem``), the recommended change (docs/cost.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.wru = 0
        self.plain_wru = 0
        self.rru = 0.0
        self.max_item = 0

    def written(self, item: dict[str, Any]) -> None:
        size = item_bytes(item)
        kb = max(1, math.ceil(size / 1024))
        self.max_item = max(self.max_item, size)
        self.wru += 2 * kb
        self.plain_wru += kb

    def read(self, items: list[dict[str, Any]], *, batch: bool) -> None:
        if batch:  # ConsistentRead: one unit per started 4 KB of each item
            self.rru += sum(max(1, math.ceil(item_bytes(i) / 4096)) for i in items)
        else:
            self.rru += 1


@dataclass(frozen=True)
class BatchLedger:
    """One analyzer batch's ledger traffic, with ``accounts`` distinct accounts in it."""

    accounts: int
    lines: int
    items: int
    wru: int
    plain_wru: int
    rru: float
    transacts: int
    batch_gets: int
    cpu_s: float


@dataclass
class Measured:
    bytes_per_line: float
    gzip_bytes_per_line: float
    lines_per_cpu_s: float  # the handler, subscription payloads of 5,000 lines, one core
    split_lines_per_cpu_s: float  # gunzip + split of an archived object (the Firehose path's extra)
    emf_bytes_per_account: float
    batches: list[BatchLedger] = field(default_factory=list)  # by accounts, ascending
    mix_lines: int = 0

    def ledger(self, accounts: float) -> tuple[float, float, float, float, float, float]:
        """(items, wru, plain_wru, rru, transacts, batch_gets) for a batch with ``accounts`` distinct
        accounts: linear between the measured points (the writes are per (account, window) pair)."""
        pts = self.batches
        a = max(1.0, accounts)
        lo = pts[0]
        hi = pts[-1]
        for p, q in itertools.pairwise(pts):
            if p.accounts <= a <= q.accounts:
                lo, hi = p, q
                break
        else:
            lo, hi = (pts[-2], pts[-1]) if a > pts[-1].accounts else (pts[0], pts[1])
        f = (a - lo.accounts) / (hi.accounts - lo.accounts)

        def at(x: float, y: float) -> float:
            return max(0.0, x + (y - x) * f)

        return (
            at(lo.items, hi.items),
            at(lo.wru, hi.wru),
            at(lo.plain_wru, hi.plain_wru),
            at(lo.rru, hi.rru),
            at(lo.transacts, hi.transacts),
            at(lo.batch_gets, hi.batch_gets),
        )


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
        event = {"awslogs": {"data": encode_payload(lines, first_id=9_000_000 + n * 100_000)}}
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.process_time()
            handler.lambda_handler(event, ctx)
            cpu = time.process_time() - started
        batches.append(
            BatchLedger(
                accounts=accounts,
                lines=len(lines),
                items=stub.write_items,
                wru=stub.wru,
                plain_wru=stub.plain_wru,
                rru=stub.rru,
                transacts=stub.calls.get("transact_write_items", 0),
                batch_gets=stub.calls.get("batch_get_item", 0),
                cpu_s=cpu,
            )
        )
    return Measured(
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

    transactional_counters: bool = True  # False: counters as plain UpdateItem, marker as a conditional Put
    firehose_interval_s: float = 300.0  # BufferingHints.IntervalInSeconds (LogArchiveBufferSeconds)
    firehose_buffer_mib: float = 128.0  # BufferingHints.SizeInMBs (before compression)
    archive_part_lines: int | None = None  # None: ingest_archive.ARCHIVE_PART_LINES
    read_back: bool = True  # False: the totals come back from the writes (UpdateItem ReturnValues=ALL_NEW)
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

    # one batch of the analyzer: compute, ledger and EMF, per million requests
    def _analyzer(self, shape: Shape, lines: float, extra_cpu_per_line: float = 0.0) -> dict[str, float]:
        p, m, o = self.p, self.m, self.o
        batches = 1e6 / lines
        d = distinct(shape.accounts, lines)
        _items, wru, plain_wru, rru, transacts, gets = m.ledger(d)
        w = wru if o.transactional_counters else plain_wru
        if not o.day_item:  # each account's day item (< 1 KB: 2 WRU in a transaction, 1 plain) goes
            w -= d * (2 if o.transactional_counters else 1)
            rru += 23 * d  # ... and the day's other hour items are read instead (1 RRU each, < 4 KB)
        if not o.read_back:
            rru = 0.0
        cpu = lines * (1.0 / m.lines_per_cpu_s + extra_cpu_per_line)
        duration = cpu / VCPU_SHARE + transacts * WAIT_TRANSACT_S + gets * WAIT_BATCH_GET_S
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
        duration = 1024 / mb_per_cpu_s / VCPU_SHARE
        return {
            "lambda": duration * ANALYZER_GB * p["lambda_arm_gb_second"] + objects / 10 * p["lambda_request"],
            "s3": objects * (p["s3_get"] + p["s3_put"]),
            "sqs": objects * 3 * p["sqs_request"],
        }

    def hot_account_wcu_per_s(self, rate: float, path: str) -> float:
        """Write units per second on one account's partition (its hour and day items) when that one
        account sends ``rate`` requests per second: batches per second x one account's writes in a batch
        (measured as the marginal writes of one more account; markers live on keys of their own)."""
        m, o = self.m, self.o
        lo, hi = m.batches[-2], m.batches[-1]  # the marginal writes of one more account in a batch
        w = (hi.wru - lo.wru) if o.transactional_counters else (hi.plain_wru - lo.plain_wru)
        per_batch = w / (hi.accounts - lo.accounts)
        if not o.day_item:
            per_batch /= 2
        shape = Shape(1, rate)
        if path == "firehose":
            lines = self.firehose_lines(shape)
        elif path == "kinesis":
            lines = self.kinesis(shape).lines_per_batch
        else:
            lines = self.subscription(shape).lines_per_batch
        if path == "firehose":
            lines = min(lines, self.part_lines())
        return rate / lines * per_batch
