"""Cost per million API requests watched, per ingestion path and traffic shape (docs/cost.md).

Measured here, by running the real code: bytes per access-log line (raw, gzip), the handler's lines
per CPU second, the ledger's items / write units / read units per batch by distinct accounts in the
batch (the real ``DynamoLedger`` over a counting client), the archive splitter's speed, EMF bytes per
account, the upload scanner's MB/s, the peak memory and CPU of one 300,000-line archived object.
Priced with ``tests/bench/prices.toml`` (one table, each price with its source and date).
"""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "aup"), str(ROOT)]

from tests.bench import cost as C  # noqa: E402

TARGET = 0.05  # $ per million requests
OBJECT_LINES = 300_000  # a 128 MiB Firehose object of ~430-byte lines
PLAN_RATE, PLAN_ACCOUNTS = 1e6, 10_000
FIREHOSE_STREAM_MIB_S = 5.0  # default per-stream Direct PUT quota (us-east-1)
SQS_WINDOW_S = 5.0
# API Gateway's authorizer cache (ReauthorizeEvery), the bound when the notifier's flush fails; the
# authorizer keeps no in-memory cache by default (AuthorizerCacheSeconds=0).
AUTHORIZER_TTL_S = 60


def _child(path: str) -> None:
    """In a fresh process: one archived object of ``OBJECT_LINES`` lines from 10,000 accounts through
    ``process_object`` on the counting ledger, then the next object of the same accounts and hour (a
    warm function's: the set items it wrote are known); prints peak RSS, and the CPU seconds, items and
    calls of each."""
    from tests.bench import bench_logs as B

    B._setup()
    from aup import bootstrap
    from aup.usecases.analyze_logs import InvocationResult
    from aup.usecases.ingest_archive import ArchivedObject, process_object

    stub = C.CountingDynamo()
    B._use_stub(stub)
    bootstrap.policy()
    data = Path(path).read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = []
    for key in ("access-logs/first", "access-logs/next"):
        stub.reset_counts()
        result = InvocationResult()
        started = time.process_time()
        process_object(
            ArchivedObject("bench", key, "etag", len(data)),
            data,
            ledger=bootstrap.ledger(),
            policy=bootstrap.policy(),
            now=bootstrap.utcnow(),
            result=result,
        )
        cpu = time.process_time() - started
        figures.append(
            {
                "cpu": cpu,
                "records": result.records,
                "items": len(stub.sizes),
                "calls": dict(stub.calls),
                "max_item": stub.max_item,
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures[1], "first": figures[0], "peak_mb": peak / 1024, "before_mb": before / 1024}))


def _archived_object() -> dict[str, Any]:
    path = ROOT / ".aupctl" / "bench-archive-object.gz"
    path.parent.mkdir(exist_ok=True)
    lines = C._batch_lines(PLAN_ACCOUNTS, OBJECT_LINES)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    del lines
    out = (
        subprocess.run(
            [sys.executable, "-c", f"from tests.bench.bench_cost import _child; _child({str(path)!r})"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    path.unlink()
    return json.loads(out)


def _money(x: float) -> str:
    return f"${x:.4f}"


def _worst(rows: list[C.Row]) -> C.Row:
    return max(rows, key=lambda r: r.total)


def _table(model: C.Model) -> None:
    print(f"   {'shape':<22} {'subscription':>13} {'kinesis':>9} {'firehose':>9}   lines/batch (sub/kin/fh)")
    by = {(r.path, r.shape): r for r in model.rows()}
    for s in C.SHAPES:
        sub, kin, fh = (by[(p, s)] for p in ("subscription", "kinesis", "firehose"))
        print(
            f"   {s.label:<22} {_money(sub.total):>13} {_money(kin.total):>9} {_money(fh.total):>9}   "
            f"{sub.lines_per_batch:,.0f} / {kin.lines_per_batch:,.0f} / {fh.lines_per_batch:,.0f}"
        )


def main() -> list[str]:
    missed: list[str] = []
    prices = C.load_prices()
    rows = C.price_rows()
    unverified = [k for k, *_, ok in rows if not ok]
    print(
        f"   prices: {len(rows)} in tests/bench/prices.toml (checked {rows[0][3]}); number not confirmed on a stored page: {', '.join(unverified)}"
    )

    m = C.measure()
    print(
        f"   measured: {m.bytes_per_line:.0f} B/line raw, {m.gzip_bytes_per_line:.1f} B/line gzip "
        f"({m.mix_lines:,}-line mix); handler {m.lines_per_cpu_s:,.0f} lines per CPU s; archive "
        f"gunzip+split {m.split_lines_per_cpu_s:,.0f} lines/s; EMF {m.emf_bytes_per_account:.0f} B per account per batch"
    )
    print(
        f"   botocore's own CPU per DynamoDB call (added to the handler's: the stub above is no client): counter "
        f"UpdateItem {m.client_update_s * 1e6:,.0f} us, TransactWriteItems of 99 {m.client_transact_s * 1e6:,.0f} us, "
        f"BatchGetItem of 100 {m.client_batch_get_s * 1e6:,.0f} us"
    )
    for b in m.batches:
        sizes = sorted(x for _, x in b.sizes)
        calls = ", ".join(f"{k} {v:,}" for k, v in sorted(b.calls.items()))
        print(
            f"   ledger per batch, {b.lines:,} lines from {b.accounts:,} account(s): {b.items:,} counter items "
            f"(median {sizes[len(sizes) // 2]} B, max {sizes[-1]} B without batch ids) + {b.marker_writes} marker "
            f"writes; {b.wru():,.0f} WRU as written now (1 batch id an item) / {b.wru(transactional=True):,.0f} "
            f"transactional before; {b.rru:,.0f} RRU read now / {b.read_back_rru():,.0f} read back before; calls: {calls}"
        )
    print(
        f"   a batch id adds {C.marker_bytes(1) - C.marker_bytes(0) + 0:.0f} B to an item, "
        f"{C.marker_bytes(1):.0f} B for the first (with the two slot sets' names)"
    )

    today = C.Model(m, prices)
    before = today.with_options(transactional_counters=True, read_back=True)
    first = before.with_options(firehose_interval_s=60, firehose_buffer_mib=64, archive_part_lines=100_000)
    for label, model in (("before (transactional counters, read back)", before), ("now", today)):
        print(f"   $ per million requests, {label}; firehose 300 s / 128 MiB buffer:")
        _table(model)

    steps: list[tuple[str, C.Model, str]] = [
        ("subscription, before", before, "subscription"),
        ("kinesis, before", before, "kinesis"),
        ("firehose, 60 s / 64 MiB buffer, 100k-line parts (first version)", first, "firehose"),
        ("firehose, 300 s / 128 MiB, whole object, before", before, "firehose"),
        (
            "  + counters as plain conditional writes",
            before.with_options(transactional_counters=False),
            "firehose",
        ),
        ("  + totals returned by the writes, no read-back (the code now)", today, "firehose"),
        ("subscription, now", today, "subscription"),
        ("kinesis, now", today, "kinesis"),
        (
            "  lever: Firehose buffer 900 s (its maximum)",
            today.with_options(firehose_interval_s=900),
            "firehose",
        ),
        ("  lever: no EMF usage documents", today.with_options(emf_usage=False), "firehose"),
        (
            "  if the records were billed by their bytes (not 5 KB)",
            today.with_options(firehose_record_rounding=False),
            "firehose",
        ),
        (
            "  same, with a 900 s buffer",
            today.with_options(firehose_record_rounding=False, firehose_interval_s=900),
            "firehose",
        ),
        (
            "  (daily totals summed from hour items, no day item: does not pay)",
            today.with_options(day_item=False),
            "firehose",
        ),
    ]
    print("   worst row (of the 9 shapes) per step, and its parts:")
    worst_rows: dict[str, C.Row] = {}
    for label, model, path in steps:
        w = _worst([getattr(model, path)(s) for s in C.SHAPES])
        worst_rows[label] = w
        parts = ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(w.parts.items(), key=lambda kv: -kv[1]) if v >= 0.00005
        )
        print(f"   {label:<66} {_money(w.total)} at {w.shape.label.strip()}  [{parts}]")

    ours = worst_rows["  + totals returned by the writes, no read-back (the code now)"]
    no_ingest = ours.total - ours.parts["ingest"]
    print(
        f"   worst realistic row, all in, now: {_money(ours.total)} (target {_money(TARGET)}) "
        f"{'ok' if ours.total <= TARGET else 'OVER'}: the Firehose fee is {_money(ours.parts['ingest'])} of it "
        f"(5 KB per record); the rest {_money(no_ingest)}"
    )
    # The shapes above carry seven paths per account; an honest integration reading sparse ids fills its
    # hour's W5 id set and crawl samples (their items' sizes are what each of their writes is billed on).
    from tests.bench import bench_logs as B
    from tests.conftest import LambdaContext, load_handler

    requests, by_kind = B.integration_hour(load_handler("api_log_analyzer"), LambdaContext())
    units = sum(sum(v) for v in by_kind.values())
    print(
        f"   an id-heavy honest account (bench_logs' integration, 10 req/s, sparse order ids), its counter "
        f"writes alone: {_money(units * prices['dynamodb_wru'] / requests * 1e6)} per million of its requests "
        f"({units / requests:.2f} write units a request; its hour and day items alone would be "
        f"{_money(2 * prices['dynamodb_wru'] * 3600 / requests * 1e6)})"
    )
    print(
        f"   worst firehose row without the ingestion fee: {_money(no_ingest)} (budget {_money(TARGET)}) "
        f"{'ok' if no_ingest <= TARGET else 'OVER'}"
    )
    if no_ingest > TARGET:
        missed.append(f"firehose path without its ingestion fee {_money(no_ingest)} > {_money(TARGET)}")
    print("   hot account at 200k requests/s: write units per second on its partition (limit 1,000):")
    for label, model in (("before (transactional)", before), ("now (plain writes)", today)):
        figures = "  ".join(
            f"{p} {model.hot_account_wcu_per_s(2e5, p):,.0f}" for p in ("subscription", "kinesis", "firehose")
        )
        print(f"   {label:<14} {figures}")

    sweep = today.usage_sweep_per_account_month()
    print(
        f"   usage sweep per account per month: {_money(sum(sweep.values()))} "
        f"({', '.join(f'{k} {_money(v)}' for k, v in sweep.items())})"
    )
    from tests.bench import bench_uploads as U

    for name, block in (("binary", U.binary_block()), ("text (PII detectors)", U.text_block())):
        mbs, _ = U.throughput(64 * U.MB, block, "bench.bin" if name == "binary" else "bench.txt")
        for obj_mb in (1, 100):
            per = today.scan_per_gb(mbs, obj_mb)
            print(
                f"   upload scanner per GB, {name}, {obj_mb} MB objects: {_money(sum(per.values()))} "
                f"({mbs:,.0f} MB/s per core; {', '.join(f'{k} {_money(v)}' for k, v in per.items())})"
            )

    obj = _archived_object()

    def client_s(calls: dict[str, int]) -> float:
        return (
            (calls.get("update_item", 0) + calls.get("put_item", 0)) * m.client_update_s
            + calls.get("transact_write_items", 0) * m.client_transact_s
            + calls.get("batch_get_item", 0) * m.client_batch_get_s
        )

    for label, o in (
        ("a first object: every counter plain, every set item written", obj["first"]),
        ("the next object of the same accounts: their set items known", obj),
    ):
        print(
            f"   one archived object, {o['records']:,.0f} lines from {PLAN_ACCOUNTS:,} accounts ({label}): "
            f"{o['cpu']:.2f} CPU s + {client_s(o['calls']):.2f} s botocore's for these calls, {o['items']:,} counter "
            f"items (largest {o['max_item']:,} B), calls: {', '.join(f'{k} {v:,}' for k, v in sorted(o['calls'].items()))}"
        )
    print(f"   peak RSS {obj['peak_mb']:.0f} MB over both objects (function: {C.ANALYZER_MB:,} MB)")

    # the 1M requests/s plan (docs/cost.md)
    shape = C.Shape(PLAN_ACCOUNTS, PLAN_RATE)
    fh = today.firehose(shape)
    mib_s = PLAN_RATE * m.bytes_per_line / C.MIB
    streams = int(-(-mib_s // FIREHOSE_STREAM_MIB_S))
    per_stream_lines = today.firehose_lines(C.Shape(PLAN_ACCOUNTS, PLAN_RATE / streams))
    objects_s = PLAN_RATE / per_stream_lines
    d = C.distinct(PLAN_ACCOUNTS, per_stream_lines)
    plan_shape = C.Shape(PLAN_ACCOUNTS, PLAN_RATE)
    ids = today.ids(plan_shape, per_stream_lines)
    _, plain_wru, _, ledger_wait = m.ledger(d, ids)
    get_wait = per_stream_lines * m.gzip_bytes_per_line / C.MIB * C.WAIT_S3_GET_PER_MIB_S
    # botocore's CPU for the object's ledger calls at this shape (its counters hot: transactions of 99);
    # the handler's own CPU is the next object's (a warm function's)
    plan_client = m.client_cpu(d, ids)
    local = obj["cpu"] * per_stream_lines / obj["records"] + plan_client
    duration = local / C.VCPU_SHARE + ledger_wait + get_wait
    _, wru, *_ = m.ledger(d, ids, transactional=True)
    per_account = objects_s * (d / PLAN_ACCOUNTS) * today.account_wru_per_batch(plan_shape, per_stream_lines)
    buffer_s = per_stream_lines * streams / PLAN_RATE
    print(
        f"   plan, 1M req/s over {PLAN_ACCOUNTS:,} accounts: {mib_s:,.0f} MiB/s of lines -> {streams} Firehose "
        f"streams at the {FIREHOSE_STREAM_MIB_S:g} MiB/s default (or fewer, raised); an object every {buffer_s:.0f} s "
        f"per stream, {objects_s:.1f} objects/s; Lambda concurrency ~{objects_s * duration:.0f}; ledger "
        f"{objects_s * plain_wru:,.0f} WRU/s (transactional before: {objects_s * wru:,.0f}); per account partition "
        f"{per_account:,.1f} WRU/s (every object holds every account); ${fh.total * PLAN_RATE * C.MONTH_S / 1e6:,.0f}/month"
    )
    print(
        f"   delay from request to enforcement, firehose: buffer <= {buffer_s:.0f} s + SQS window {SQS_WINDOW_S:g} s + "
        f"analysis {duration:.1f} s (CPU {local:.1f} s an object: {obj['cpu']:.1f} s measured + {plan_client:.1f} s botocore's) "
        f"+ the authorizer "
        f"cache flush (<= {AUTHORIZER_TTL_S} s if it fails); subscription/kinesis: seconds of delivery + <= 5 s window + analysis + the same caches"
    )
    return missed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
