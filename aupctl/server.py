"""The local stack's server process (``aupctl local up`` starts it detached).

``python -m aupctl.server --port N [--no-dispatcher] [--template T] [--stack S]``: serves moto on
127.0.0.1:N, deploys the template into it, records itself in the state directory, and runs the
uploads dispatcher until SIGTERM/SIGINT, when it stops the server and removes its state file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aupctl import state
from aupctl.stack import DEFAULT_STACK, TEMPLATE

log = logging.getLogger("aupctl.server")


class DynamoDBOneAtATime:
    """WSGI wrapper: DynamoDB requests are served one at a time, as DynamoDB applies each atomically.

    moto's backends hold no locks, so two concurrent ``TransactWriteItems`` could both pass their
    version conditions and one update would be lost, which real DynamoDB never does. Other services
    stay concurrent (an SQS long poll must not block the ledger).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(("DynamoDB_", "DynamoDBStreams_")):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


# --- bounded moto: what a long local run accumulates ------------------------------------------------
#
# Measured with `make bench`'s soak (tests/bench/bench_soak.py): moto's TransactWriteItems deep-copies
# the whole table, once per item of the transaction, to roll back on failure. The table holds its
# stream shard, and moto keeps every stream record (both images of every write, counters included)
# for ever, so each transaction copied more than the last: latency grew past the clients' read
# timeout within tens of invocations, and the cyclic garbage of the copies took the RSS to gigabytes.
# Then, with those bounded, moto's per-class instance tracking kept every object it had ever dropped.
# ``_serve`` installs these in its process's moto (the server's; a test's that serves in-process):
#   1. tracks moto's model instances weakly: moto appends every instance of every model (each item
#      copy, stream record, datapoint, message) to a per-class list for its dashboard and never lets
#      go of one (this alone grew the server ~0.3 MiB per invocation once the rest was bounded);
#   2. rolls a failed transaction back from copies of the items it touches, not of the table;
#   3. keeps the stream's newest ``stream_records`` records (DynamoDB keeps 24 hours of them; nothing
#      local reads the stream: the notifier is driven by events built from the ledger);
#   4. folds CloudWatch datapoints into per-minute statistic sets (the resolution CloudWatch stores
#      standard metrics at) once there are more than ``metric_points`` of them, and drops those older
#      than 15 days before the newest (CloudWatch's retention of 1-minute data; it refuses older puts).
#      Sum, Average, Minimum, Maximum and SampleCount over whole minutes (the usage monitor reads Sum
#      and Maximum over 5-minute periods) are unchanged by the folding. Nothing is dropped by the wall
#      clock: a replayed sweep for a past instant still finds what was published for it.
# The ledger's own items are never touched (moto runs no TTL; what the product wrote stays).


@dataclass
class MotoBounds:
    stream_records: int = 1_000
    metric_points: int = 5_000
    metric_retention: timedelta = timedelta(days=15)


BOUNDS = MotoBounds()
_bounds_installed = False
_bounds_lock = threading.Lock()


def bound_moto(bounds: MotoBounds | None = None) -> MotoBounds:
    """Install the bounds in this process's moto (idempotent); ``bounds`` replaces the limits in force."""
    global _bounds_installed
    if bounds is not None:
        BOUNDS.__dict__.update(bounds.__dict__)
    with _bounds_lock:
        if not _bounds_installed:
            _bound_model_tracking()
            _bound_transactions()
            _bound_streams()
            _bound_metrics()
            _bounds_installed = True
    return BOUNDS


class WeakInstances:
    """Stands in for a moto model class's ``instances_tracked`` list: weak references, pruned as it grows.

    Iterating it yields the instances still alive (what moto's dashboard and S3's reset read).
    """

    def __init__(self, existing: Any = ()) -> None:
        self._refs: list[weakref.ref[Any]] = []
        self._pruned_at = 0
        for obj in existing:
            self.append(obj)

    def append(self, obj: Any) -> None:
        try:
            self._refs.append(weakref.ref(obj))
        except TypeError:  # not weak-referenceable: not tracked
            return
        if len(self._refs) > 2 * self._pruned_at + 1_000:
            self._refs = [r for r in self._refs if r() is not None]
            self._pruned_at = len(self._refs)

    def __iter__(self) -> Iterator[Any]:
        return (obj for obj in (r() for r in list(self._refs)) if obj is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _bound_model_tracking() -> None:
    from moto.core.common_models import BaseModel

    def tracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        instance: Any = object.__new__(cls)
        tracked = cls.__dict__.get("instances_tracked")
        if not isinstance(tracked, WeakInstances):  # the metaclass's list, or reset_model_data's new one
            tracked = WeakInstances(tracked or ())
            cls.instances_tracked = tracked  # type: ignore[attr-defined]
        tracked.append(instance)
        return instance

    BaseModel.__new__ = staticmethod(tracked_new)  # type: ignore[method-assign]


class _CopyButTables:
    """``copy`` as moto.dynamodb.models sees it: a ``Table`` is not deep-copied (see _bound_transactions)."""

    def __init__(self, real: Any, table_type: type) -> None:
        self._real = real
        self._table_type = table_type

    def deepcopy(self, x: Any, memo: Any = None) -> Any:
        return x if isinstance(x, self._table_type) else self._real.deepcopy(x, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _bound_transactions() -> None:
    import copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend_type = ddb_models.DynamoDBBackend
    original = backend_type.transact_write_items
    # moto's own rollback (put the copied tables back) becomes a no-op; the wrapper below restores.
    ddb_models.copy = _CopyButTables(copy, Table)  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, DynamoType, DynamoType | None, Any]] = []  # table, hash, range, item
        shards: dict[int, tuple[Any, int]] = {}  # id(table) -> (shard, next sequence number)
        for entry in transact_items if isinstance(transact_items, list) else []:
            for op in entry.values() if isinstance(entry, dict) else []:
                table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                if table is None:
                    continue
                key = op.get("Key") or op.get("Item") or {}
                if table.hash_key_attr not in key or (
                    table.range_key_attr and table.range_key_attr not in key
                ):
                    continue  # a malformed key: moto fails that item before it changes anything
                h = DynamoType(key[table.hash_key_attr])
                r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                saved.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
                shard = table.stream_shard
                if shard is not None and id(table) not in shards:
                    shards[id(table)] = (shard, shard.starting_sequence_number + len(shard.items))
        try:
            original(self, transact_items)
        except BaseException:
            for table, h, r, item in reversed(saved):
                if r is None:
                    if item is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = item
                elif item is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = item
            for shard, next_seq in shards.values():  # the failed transaction's records never happened
                added = shard.starting_sequence_number + len(shard.items) - next_seq
                if added > 0:
                    del shard.items[-added:]
            raise

    backend_type.transact_write_items = transact_write_items  # type: ignore[method-assign]


def trim_stream(shard: Any, keep: int) -> int:
    """Drop the oldest records of a moto stream shard beyond ``keep``; returns how many were dropped.

    Sequence numbers stay as they were (the shard's start moves up), as DynamoDB's trim horizon does.
    """
    drop = len(shard.items) - keep
    if drop <= 0:
        return 0
    del shard.items[:drop]
    shard.starting_sequence_number += drop
    return drop


def _bound_streams() -> None:
    from moto.dynamodb.models.table import StreamShard

    add, get = StreamShard.add, StreamShard.get

    def bounded_add(self: Any, old: Any, new: Any) -> None:
        add(self, old, new)
        keep = max(1, BOUNDS.stream_records)
        if len(self.items) > keep + keep // 10:  # in steps of a tenth: a trim is a list shift
            trim_stream(self, keep)

    def bounded_get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        # An iterator from before the trim horizon reads from the oldest record still kept.
        return get(self, max(int(start), self.starting_sequence_number), quantity)

    StreamShard.add = bounded_add  # type: ignore[method-assign]
    StreamShard.get = bounded_get  # type: ignore[method-assign]


def compact_metric_data(data: list[Any], retention: timedelta) -> list[Any]:
    """moto CloudWatch datapoints folded into one statistic set per metric, dimensions, unit and minute.

    Points older than ``retention`` before the newest one are dropped. Order: first seen first.
    """
    from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum

    if not data:
        return []
    newest = max(_utc(md.timestamp) for md in data)
    cutoff = newest - retention
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    for md in data:
        if _utc(md.timestamp) < cutoff:
            continue
        if isinstance(md, MetricDatum):
            low = high = total = float(md.value)
            count = 1.0
        elif isinstance(md, MetricAggregatedDatum):
            low, high, total, count = float(md.min), float(md.max), float(md.sum), float(md.sample_count)
        else:
            continue
        minute = md.timestamp.replace(second=0, microsecond=0)
        dims = [(d.name, d.value) for d in md.dimensions]
        key = (md.namespace, md.name, tuple(sorted(dims)), md.unit, _utc(minute))
        b = buckets.get(key)
        if b is None:
            buckets[key] = [md.namespace, md.name, dims, md.unit, minute, low, high, total, count]
        else:
            b[5], b[6], b[7], b[8] = min(b[5], low), max(b[6], high), b[7] + total, b[8] + count
    return [
        MetricAggregatedDatum(
            namespace=ns,
            name=name,
            min_stat=low,
            max_stat=high,
            sample_count=count,
            sum_stat=total,
            dimensions=[{"Name": n, "Value": v} for n, v in dims],
            timestamp=minute,
            unit=unit,
        )
        for ns, name, dims, unit, minute, low, high, total, count in buckets.values()
    ]


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _bound_metrics() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    put = CloudWatchBackend.put_metric_data
    lock = threading.Lock()  # a put racing a fold would be lost

    def bounded_put(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        with lock:
            put(self, namespace, metric_data)
            limit = max(BOUNDS.metric_points, 2 * getattr(self, "_aupctl_folded", 0))
            if len(self.metric_data) > limit:
                self.metric_data = compact_metric_data(self.metric_data, BOUNDS.metric_retention)
                self._aupctl_folded = len(self.metric_data)  # the next fold when it doubles

    CloudWatchBackend.put_metric_data = bounded_put  # type: ignore[method-assign]


class TransactionTokens:
    """WSGI wrapper: ``TransactWriteItems``' ClientRequestToken honoured as DynamoDB honours it.

    moto ignores the token: a retry of a transaction whose answer was lost is applied again and fails
    its conditions. DynamoDB answers a repeat of the same request with the same token within 10
    minutes with success, applying nothing, and a reuse of the token for a different request with
    IdempotentParameterMismatchException. Tokens of applied transactions are remembered with a
    digest of their request, for 10 minutes and at most ``limit`` of them (oldest forgotten first).
    Runs inside ``DynamoDBOneAtATime``'s lock, so a check and its transaction are one step.
    """

    WINDOW_SECONDS = 600.0

    def __init__(self, app: Any, *, limit: int = 20_000, clock: Any = None) -> None:
        import time
        from collections import OrderedDict

        self.app = app
        self.limit = limit
        self.clock = clock or time.monotonic
        # token -> (remembered at, request digest, status, headers, body)
        self.seen: OrderedDict[str, tuple[float, str, str, list[tuple[str, str]], bytes]] = OrderedDict()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).endswith(".TransactWriteItems"):
            return self.app(environ, start_response)
        import hashlib
        import json

        request = _json_request(environ)
        token = request.pop("ClientRequestToken", None) if request is not None else None
        if request is None or not isinstance(token, str) or not token:
            return self.app(environ, start_response)
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        now = self.clock()
        while self.seen and (
            len(self.seen) > self.limit or next(iter(self.seen.values()))[0] <= now - self.WINDOW_SECONDS
        ):
            self.seen.popitem(last=False)
        known = self.seen.get(token)
        if known is not None:
            _, known_digest, status, headers, answer = known
            if known_digest != digest:
                status, headers, answer = _json_error(
                    "IdempotentParameterMismatchException",
                    "the ClientRequestToken was used for a different request in the last 10 minutes",
                )
            start_response(status, headers)
            return [answer]
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, list(headers)]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = list(self.app(environ, capture))
        if captured and str(captured[0]).startswith("200"):
            self.seen[token] = (now, digest, captured[0], captured[1], b"".join(chunks))
        return chunks


class SsmValueLimits:
    """WSGI wrapper: ``PutParameter`` refused as SSM refuses it when the value is over its tier's limit
    (4,096 characters Standard, 8,192 Advanced; moto stores any size), so a policy document that would
    not fit a real parameter fails locally too (aup.policy.stored)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")) != "AmazonSSM.PutParameter":
            return self.app(environ, start_response)
        import json

        from aup.policy.stored import tier_limit

        request = _json_request(environ)
        if request is None:
            return self.app(environ, start_response)
        value, tier = request.get("Value"), request.get("Tier")
        if isinstance(value, str) and len(value) > tier_limit(tier):
            limit = tier_limit(tier)
            name = "Standard" if limit == 4096 else str(tier)
            message = f"{name} tier parameters support a maximum parameter value of {limit} characters."
            if name == "Standard":  # SSM's own words
                message += (
                    " To create a larger parameter value, upgrade the parameter to use the"
                    " advanced-parameter tier."
                )
            answer = json.dumps({"__type": "ValidationException", "message": message}).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(answer)))],
            )
            return [answer]
        return self.app(environ, start_response)


def _json_request(environ: dict[str, Any]) -> dict[str, Any] | None:
    """The request's JSON object (None when the body is not one), read so that the app behind the
    wrapper reads the same body again."""
    import io
    import json

    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        request = json.loads(body)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


def _json_error(code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    import json

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))]
    return "400 Bad Request", headers, body


def _serve(port: int) -> Any:
    """moto's WSGI app on 127.0.0.1:port in a thread (binding here, so a taken port raises OSError)."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    bound_moto()  # what a long run accumulates, bounded (see bound_moto)
    app = SsmValueLimits(
        DynamoDBOneAtATime(TransactionTokens(DomainDispatcherApplication(create_backend_app)))
    )
    server = make_server(state.HOST, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto-server", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aupctl.server")
    parser.add_argument("--port", type=int, default=state.DEFAULT_PORT)
    parser.add_argument("--no-dispatcher", action="store_true")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--stack", default=DEFAULT_STACK)
    parser.add_argument("--policy", type=Path, default=None, help="policy document (local up --policy)")
    parser.add_argument(
        "--shadow-policy", type=Path, default=None, help="shadow candidate (local up --shadow-policy)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the log
    from aupctl.clock import shift_from_environment

    if days := shift_from_environment():  # inherited from `aupctl local up` under the clock-shift guard
        log.info("clock shifted %+g days (%s)", days, "AUP_CLOCK_SHIFT_DAYS")

    # Whatever the caller's shell holds, this process only ever talks to itself.
    from aupctl.runner import local_environment

    os.environ.update(local_environment(state.endpoint(args.port)))
    os.environ.pop("AWS_PROFILE", None)

    record = state.ServerState(
        pid=os.getpid(),
        port=args.port,
        status="starting",
        stack=args.stack,
        template=str(args.template.resolve()),
        dispatcher=not args.no_dispatcher,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    record.save()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server = None
    dispatcher = None
    try:
        server = _serve(args.port)
        from aupctl.stack import deploy

        parameters: dict[str, str] = {}
        if args.policy is not None:  # validated by `aupctl local up`; the functions read it from SSM
            from aupctl.policy import put_local_policy

            parameters["PolicyParameterName"] = put_local_policy(record.endpoint, args.policy)
        if args.shadow_policy is not None:  # the same, into the parameter shadow mode reads
            from aupctl.policy import LOCAL_SHADOW_PARAMETER, put_local_policy

            parameters["ShadowPolicyParameterName"] = put_local_policy(
                record.endpoint, args.shadow_policy, LOCAL_SHADOW_PARAMETER
            )
        stack = deploy(
            endpoint_url=record.endpoint,
            stack_name=args.stack,
            template_path=args.template,
            parameters=parameters,
        )
        log.info("stack %s deployed on %s: %s", stack.name, record.endpoint, stack.outputs)
        if not args.no_dispatcher:
            from aupctl.dispatcher import UploadsDispatcher
            from aupctl.runner import FunctionRunner, LocalStack

            local = LocalStack(args.port, args.stack, args.template)
            dispatcher = UploadsDispatcher(FunctionRunner(local))
            threading.Thread(target=dispatcher.run, name="dispatcher", daemon=True).start()
        record.status = "ready"
        record.save()
        log.info("ready (pid %d)", record.pid)
        stop.wait()
        return 0
    except Exception as err:
        traceback.print_exc()
        record.status, record.error = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
        record.save()
        return 1
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        if server is not None:
            server.shutdown()
        if record.status != "failed":
            state.state_file(args.port).unlink(missing_ok=True)
        log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
