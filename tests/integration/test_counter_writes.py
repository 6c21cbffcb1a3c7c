"""The analyzer's counter writes on the deployed table: plain conditional UpdateItems, no transaction,
no read-back, and still counted once however a batch is redelivered (issue 15).

A counting client wraps the moto client the ledger uses: it records every call and can stop a batch
after a number of counter updates, as a crash between two item updates would.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aup import bootstrap
from aup.adapters.dynamodb.ledger import MARKER_SLOT_SECONDS
from aup.bootstrap import ledger_on
from aup.domain.ports import CounterUpdate, LedgerError
from aup.policy import load_default_policy
from aup.usecases.analyze_logs import process_event
from tests.unit.logs import traffic as T

NOW = T.AT
pytestmark = pytest.mark.time_machine(NOW, tick=True)


class Crash(Exception):
    """The function stopped (timeout, out of memory) between two counter updates."""


class CountingClient:
    """The ledger's DynamoDB client, counted: calls by method, and counter reads (keys ``COUNTER#``)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: dict[str, int] = {}
        self.counter_reads = 0
        self.counter_updates = 0
        self.crash_after: int | None = None  # counter updates let through before Crash
        self._lock = threading.Lock()  # the ledger writes a batch's counters from several threads

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)
        if not callable(method) or name == "meta":
            return method

        def call(**kw: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                if name == "update_item" and kw["Key"]["sk"]["S"].startswith("COUNTER#"):
                    if self.crash_after is not None and self.counter_updates >= self.crash_after:
                        raise Crash()
                    self.counter_updates += 1
            if name == "get_item" and kw["Key"]["sk"]["S"].startswith("COUNTER#"):
                self.counter_reads += 1
            if name == "batch_get_item":
                (req,) = kw["RequestItems"].values()
                self.counter_reads += sum(k["sk"]["S"].startswith("COUNTER#") for k in req["Keys"])
            return method(**kw)

        return call


def _ledger(stack: Any) -> tuple[Any, CountingClient]:
    client = CountingClient(bootstrap.ledger().store.ddb)  # type: ignore[attr-defined]
    return ledger_on(stack.outputs["LedgerTableName"], load_default_policy(), client), client


def _event(prefix: str, accounts: int, first_id: int, per: int = 3) -> dict[str, Any]:
    """One subscription payload: ``per`` quiet requests from each of ``accounts`` accounts."""
    from aup.detectors.logs.parse import encode_payload

    lines = [
        T.line(T.T0 + 600_000 + i * 1_000 + a, account=f"{prefix}-{a:03d}", path=f"/v1/items/{i}")
        for i in range(per)
        for a in range(accounts)
    ]
    return {"awslogs": {"data": encode_payload([x.text for x in lines], first_id=first_id)}}


def _counters(client: CountingClient, table: str, prefix: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every counter item of the accounts ``prefix-*`` as stored (markers left out), by (account, name)."""
    out = {}
    for page in client.real.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if pk.startswith(f"ACCOUNT#{prefix}-") and sk.startswith("COUNTER#"):
                kept = {k: v for k, v in item.items() if k not in ("pk", "sk") and "BS" not in v}
                out[(pk.removeprefix(f"ACCOUNT#{prefix}-"), sk)] = kept
    return out


def test_counters_are_plain_updates_whose_answers_are_the_totals(stack: Any) -> None:
    ledger, client = _ledger(stack)
    result = process_event(_event("plain", 40, 1_000_000), ledger=ledger, policy=ledger.policy, now=NOW)
    assert result.records == 120 and result.counters_applied
    assert "transact_write_items" not in client.calls, client.calls
    # an hour, a day and an hour sets item per account; the rate windows' set items (no crawl sample,
    # no error path to add) are read once, as nothing is known of them yet
    assert client.counter_updates == result.counters_written == 120
    assert client.counter_reads == 40
    # the values the writes returned are what a read finds
    hour_no = (T.T0 + 600_000) // 3_600_000
    got = ledger.get_counters([("plain-007", f"logs:h:{hour_no}")])
    (hour,) = got.values()
    assert sum(v for k, v in hour.items() if k.startswith("s") and k.endswith(".n")) == 3
    assert not any(isinstance(v, frozenset) for v in hour.values()), "the hour item carries no set"
    (sets,) = ledger.get_counters([("plain-007", f"logs:hs:{hour_no}")]).values()
    assert sets["net"] and sets["ua"]


def test_a_later_batch_writes_its_sets_only_with_new_members(stack: Any) -> None:
    """The same accounts again, in another batch: their hour and day items are updated, and neither a
    set item (nothing new to add) nor any read is needed (the process knows what they hold)."""
    ledger, client = _ledger(stack)
    process_event(_event("later", 40, 1_500_000), ledger=ledger, policy=ledger.policy, now=NOW)
    updates, reads = client.counter_updates, client.counter_reads
    again = process_event(_event("later", 40, 1_600_000), ledger=ledger, policy=ledger.policy, now=NOW)
    assert again.counters_applied
    assert client.counter_updates - updates == again.counters_written == 80
    assert client.counter_reads == reads


def test_a_redelivered_batch_writes_no_counter(stack: Any) -> None:
    ledger, client = _ledger(stack)
    event = _event("again", 40, 2_000_000)
    process_event(event, ledger=ledger, policy=ledger.policy, now=NOW)
    before = _counters(client, stack.outputs["LedgerTableName"], "again")
    updates = client.counter_updates
    again = process_event(event, ledger=ledger, policy=ledger.policy, now=NOW)
    assert not again.counters_applied
    assert client.counter_updates == updates, "a redelivery of a finished batch updated counters"
    assert _counters(client, stack.outputs["LedgerTableName"], "again") == before


@pytest.mark.parametrize("crash_after", [0, 1, 37, 79, 110])
def test_a_batch_stopped_between_two_counter_updates_counts_once_when_redelivered(
    stack: Any, crash_after: int
) -> None:
    """The same lines for accounts ``once-*`` delivered once, and for ``crash-*`` stopped after
    ``crash_after`` of its 120 counter updates (concurrent writers: any of them) and then redelivered
    (twice): both sets of counters are equal, field by field."""
    table = stack.outputs["LedgerTableName"]
    ledger, client = _ledger(stack)
    process_event(_event("once", 40, 3_000_000), ledger=ledger, policy=ledger.policy, now=NOW)

    event = _event("crash", 40, 4_000_000)
    client.crash_after = client.counter_updates + crash_after
    with pytest.raises(Crash):
        process_event(event, ledger=ledger, policy=ledger.policy, now=NOW)
    partial = _counters(client, table, "crash")
    assert len(partial) <= crash_after
    client.crash_after = None
    resumed = process_event(event, ledger=ledger, policy=ledger.policy, now=NOW)
    assert resumed.counters_applied
    process_event(event, ledger=ledger, policy=ledger.policy, now=NOW)  # and once more, finished
    once = _counters(client, table, "once")
    assert len(once) == 120
    assert _counters(client, table, "crash") == once


def test_a_failed_update_fails_the_batch_and_its_retry_loses_nothing(stack: Any) -> None:
    """A throttled update after botocore's retries: the batch fails (redelivered by the platform), and
    the redelivery applies exactly the counters the first attempt did not."""
    ledger, client = _ledger(stack)
    updates = [CounterUpdate(scope=f"thr-{i:03d}", name="c", add={"n": 1}) for i in range(50)]
    real = client.real.update_item
    calls = {"n": 0}

    def throttled(**kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 20:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "UpdateItem",
            )
        return real(**kw)

    client.real = _Patched(client.real, update_item=throttled)
    with pytest.raises(LedgerError):
        ledger.add_counters_once("throttled-batch", updates)
    client.real = client.real.inner
    assert ledger.add_counters_once("throttled-batch", updates) is True
    assert ledger.add_counters_once("throttled-batch", updates) is False
    got = ledger.get_counters([(f"thr-{i:03d}", "c") for i in range(50)])
    assert len(got) == 50 and {c["n"] for c in got.values()} == {1}
    assert "transact_write_items" not in client.calls


class _Patched:
    def __init__(self, inner: Any, **methods: Any) -> None:
        self.inner, self.methods = inner, methods

    def __getattr__(self, name: str) -> Any:
        return self.methods.get(name) or getattr(self.inner, name)


def test_counter_items_keep_two_slots_of_batch_ids(stack: Any, time_machine: Any) -> None:
    """An item updated by a batch in each of six marker slots carries the ids of the last two slots
    only: its size does not grow with its history."""
    ledger, client = _ledger(stack)
    table = stack.outputs["LedgerTableName"]
    start = time.time()
    for k in range(6):
        time_machine.move_to(start + k * MARKER_SLOT_SECONDS, tick=False)
        for b in range(3):
            ledger.add_counters_once(f"slot-{k}-{b}", [CounterUpdate(scope="hot", name="c", add={"n": 1})])
    item = client.real.get_item(TableName=table, Key={"pk": {"S": "ACCOUNT#hot"}, "sk": {"S": "COUNTER#c"}})
    item = item["Item"]
    marker_sets = {k: v["BS"] for k, v in item.items() if "BS" in v}
    assert len(marker_sets) == 2 and all(len(ids) == 3 for ids in marker_sets.values()), marker_sets
    assert all(len(i) == 8 for ids in marker_sets.values() for i in ids)
    assert item["n"] == {"N": "18"}
    assert "m" not in ledger.get_counters([("hot", "c")])[("hot", "c")]  # readers never see the ids


def test_a_failed_write_leaves_none_of_its_batch_in_flight(stack: Any) -> None:
    """The counter writers' threads outlive a call (one pool per process). When one write fails, the
    call still ends only after every other share of the batch has: nothing of it lands after the error
    (a frozen Lambda would finish such writes during its next invocation)."""
    ledger, client = _ledger(stack)
    failed = threading.Event()
    landed: list[str] = []
    update = client.__getattr__("update_item")

    def held(**kw: Any) -> Any:
        scope = kw["Key"]["pk"]["S"]
        if not kw["Key"]["sk"]["S"].startswith("COUNTER#"):
            return update(**kw)
        if scope == "ACCOUNT#held-000":  # the first share's first write fails ...
            failed.set()
            raise Crash()
        failed.wait(5)  # ... and every other write is still to come when it does
        out = update(**kw)
        landed.append(scope)
        return out

    client.update_item = held  # type: ignore[attr-defined]
    updates = [CounterUpdate(scope=f"held-{i:03d}", name="c", add={"n": 1}) for i in range(40)]
    with pytest.raises(Crash):
        ledger.add_counters_once("held-batch", updates)
    writers = ledger.store.counter_writers  # type: ignore[attr-defined]
    # every share but the failed one's ran to its end before the error came out of the call
    assert sorted(landed) == [f"ACCOUNT#held-{i:03d}" for i in range(40) if i % writers]


def test_a_resumption_after_the_markers_horizon_adds_nothing(stack: Any, time_machine: Any) -> None:
    """Stopped part-way, then redelivered two slots later (beyond every automatic retry): the ids may
    be pruned, so nothing more is applied rather than anything twice."""
    ledger, client = _ledger(stack)
    updates = [CounterUpdate(scope=f"late-{i:03d}", name="c", add={"n": 1}) for i in range(40)]
    client.crash_after = client.counter_updates + 10
    with pytest.raises(Crash):
        ledger.add_counters_once("late-batch", updates)
    client.crash_after = None
    applied = ledger.get_counters([(f"late-{i:03d}", "c") for i in range(40)])
    assert len(applied) <= 10
    time_machine.move_to(time.time() + 2 * MARKER_SLOT_SECONDS + 1, tick=False)
    assert ledger.add_counters_once("late-batch", updates) is False
    assert ledger.get_counters([(f"late-{i:03d}", "c") for i in range(40)]) == applied
    # ... within the horizon it would have resumed: a fresh batch stopped and redelivered an hour later
    client.crash_after = client.counter_updates + 10
    with pytest.raises(Crash):
        ledger.add_counters_once("late-batch-2", updates)
    client.crash_after = None
    time_machine.move_to(time.time() + MARKER_SLOT_SECONDS, tick=False)
    assert ledger.add_counters_once("late-batch-2", updates) is True
    got = ledger.get_counters([(f"late-{i:03d}", "c") for i in range(40)])
    assert all(got[k]["n"] == applied.get(k, {}).get("n", 0) + 1 for k in got) and len(got) == 40


def test_the_marker_ttl_is_kept(stack: Any) -> None:
    ledger, client = _ledger(stack)
    ledger.add_counters_once(
        "ttl-batch", [CounterUpdate(scope="ttl", name="c", add={"n": 1})], timedelta(days=1)
    )
    item = client.real.get_item(
        TableName=stack.outputs["LedgerTableName"], Key={"pk": {"S": "MARK#ttl-batch"}, "sk": {"S": "MARK"}}
    )["Item"]
    assert item["state"] == {"S": "done"}
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 86400)) < 120


def test_a_hot_counter_is_written_in_transactions_and_still_counts_once(stack: Any) -> None:
    """A counter whose slot filled with ``HOT_IDS`` batch ids stops growing: this process writes it in
    a transaction from then on (the batch's marker records which counters, so a redelivery that stopped
    part-way splits the batch the same way and counts each once)."""
    from aup.adapters.dynamodb.ledger import HOT_IDS

    table = stack.outputs["LedgerTableName"]
    ledger, client = _ledger(stack)
    for b in range(HOT_IDS):
        ledger.add_counters_once(f"warm-{b}", [CounterUpdate(scope="busy", name="h", add={"n": 1})])
    assert "transact_write_items" not in client.calls
    raw = client.real.get_item(TableName=table, Key={"pk": {"S": "ACCOUNT#busy"}, "sk": {"S": "COUNTER#h"}})
    ids = sum(len(v["BS"]) for v in raw["Item"].values() if "BS" in v)
    assert ids == HOT_IDS

    updates = [
        CounterUpdate(scope="busy", name="h", add={"n": 1}),
        *(CounterUpdate(scope=f"calm-{i:03d}", name="h", add={"n": 1}) for i in range(40)),
    ]
    client.crash_after = client.counter_updates + 5  # the calm ones go first; the batch stops there
    with pytest.raises(Crash):
        ledger.add_counters_once("mixed", updates)
    client.crash_after = None
    ledger.store._hot.clear()  # the redelivery comes to another process, which knows of nothing hot
    into: dict[tuple[str, str], dict[str, Any]] = {}
    assert ledger.add_counters_once("mixed", updates, into=into) is True
    assert ledger.add_counters_once("mixed", updates) is False
    assert client.calls.get("transact_write_items") == 1, "the hot counter went by its own transaction"
    got = ledger.get_counters([(u.scope, u.name) for u in updates])
    assert got[("busy", "h")]["n"] == HOT_IDS + 1
    assert {got[(f"calm-{i:03d}", "h")]["n"] for i in range(40)} == {1}
    assert into[("busy", "h")]["n"] == HOT_IDS + 1  # its totals read back after the transaction
    raw = client.real.get_item(TableName=table, Key={"pk": {"S": "ACCOUNT#busy"}, "sk": {"S": "COUNTER#h"}})
    assert sum(len(v["BS"]) for v in raw["Item"].values() if "BS" in v) == HOT_IDS  # no id added
