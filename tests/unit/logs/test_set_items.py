"""An account's distinct members live in set items beside its hour item, written only with new ones.

DynamoDB bills an update on its item's whole size: the hour item, updated by every batch that carries
the account, holds counts only; the hour's sets and each rate window's sets sit in items of their own,
and a warm analyzer (``known_sets``) writes them only with members they do not hold yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aup.detectors.logs.analyzer import analyze, read_lines
from aup.detectors.logs.counters import KnownSets, MemoryCounters, hour_name, hour_sets_name, sets_hour
from aup.domain.ports import CounterUpdate
from aup.policy import load_policy
from aup.usecases.analyze_logs import Remembered, remembered
from tests.unit.logs import traffic as T

POLICY = load_policy("")
HOUR = T.T0 // 3_600_000


class Recording(MemoryCounters):
    """The in-memory counters, keeping each batch's updates."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[CounterUpdate]] = []

    def add_counters_once(
        self, marker: str, updates: Sequence[CounterUpdate], marker_ttl: Any = None
    ) -> bool:
        self.batches.append(list(updates))
        return super().add_counters_once(marker, updates, marker_ttl)


def _orders(first: int, last: int, start_ms: int, account: str = "bizcorp") -> list[str]:
    """An integration reading orders ``first``..``last`` (sparse ids, far apart: no walk)."""
    return [
        T.line(
            start_ms + i * 200,
            account=account,
            path=f"/v1/orders/{10_000_000 + 7919 * n}",
            resource="/v1/orders/{id}",
        ).text
        for i, n in enumerate(range(first, last))
    ]


def _run(store: MemoryCounters, batches: list[list[str]], known: KnownSets | None) -> list[str]:
    found: list[str] = []
    for n, lines in enumerate(batches):
        result = analyze(
            read_lines(lines, POLICY.log_analysis).records,
            marker=f"batch-{n}",
            store=store,
            policy=POLICY,
            plan_of=lambda a: "business",
            known_sets=known,
        )
        found += sorted(f"{f.rule_id} {f.violation_id}" for f in result.findings)
    return found


def _sets_update(updates: list[CounterUpdate]) -> CounterUpdate | None:
    return next((u for u in updates if u.name == hour_sets_name(HOUR)), None)


def test_the_hour_item_holds_counts_and_its_sets_sit_beside_it() -> None:
    store = MemoryCounters()
    _run(store, [_orders(0, 300, T.T0)], known=None)
    hour = store.items[("bizcorp", hour_name(HOUR))]
    assert hour and all(type(v) is int for v in hour.values()), "a set in the hour item"
    sets = store.items[("bizcorp", hour_sets_name(HOUR))]
    assert len(sets["eid"]) == 256  # MAX_WALKED_IDS of the batch's 300 numbered paths
    assert sets["net"] and sets["ua"]
    assert not any(type(v) is int for v in sets.values())


def test_a_warm_analyzer_writes_a_set_item_only_with_the_members_it_lacks() -> None:
    store, known = Recording(), {}
    t1 = T.T0 + 60_000
    _run(store, [_orders(0, 100, T.T0), _orders(0, 100, t1), _orders(50, 130, t1 + 60_000)], known)
    first, same, more = (_sets_update(b) for b in store.batches)
    assert first is not None and len(first.add_sets["eid"]) == 100
    assert same is None, "a batch with nothing new rewrote the hour's set item"
    assert more is not None and len(more.add_sets["eid"]) == 30  # orders 100..129 only
    assert set(more.add_sets) == {"eid"}  # the same network and agent: known
    assert len(store.items[("bizcorp", hour_sets_name(HOUR))]["eid"]) == 130
    assert (
        known[("bizcorp", hour_sets_name(HOUR))]["eid"]
        == store.items[("bizcorp", hour_sets_name(HOUR))]["eid"]
    )


def test_what_is_remembered_finds_what_is_written() -> None:
    """The same id walk spread over batches: the warm analyzer (sets skipped, remembered members read)
    finds exactly what one that writes and reads every set item finds."""
    walk = [x.text for x in T.id_scraper(count=900)]
    batches = [walk[i : i + 150] for i in range(0, len(walk), 150)]
    batches += batches[:2]  # and two batches redelivered under new markers: nothing new to add
    cold = _run(MemoryCounters(), batches, known=None)
    warm_store = Recording()
    warm = _run(warm_store, batches, known={})
    assert cold == warm and any("W5-id-enumeration" in v for v in cold)
    assert sum(_sets_update(b) is None for b in warm_store.batches) >= 2


def test_each_ledger_has_its_own_memory() -> None:
    class Ledger:
        pass

    a, b = Ledger(), Ledger()
    remembered(a).known_sets[("x", "logs:hs:1")] = {"net": frozenset({"n"})}
    assert remembered(a) is remembered(a)
    assert remembered(b).known_sets == {}
    remembered(a).forget()
    assert remembered(a).known_sets == {}


def test_the_set_items_used_longest_ago_are_forgotten_first() -> None:
    """Over its limit, the memory drops the set items least recently written, read or reused, not all of
    them (the next batch would write every account's sets again)."""
    memory, store = Remembered(), MemoryCounters()
    for account in ("acct-a", "acct-b", "acct-c"):
        _run(store, [_orders(0, 20, T.T0, account)], memory.known_sets)
    assert {k[0] for k in memory.known_sets} == {"acct-a", "acct-b", "acct-c"}
    _run(store, [_orders(0, 20, T.T0, "acct-a")], memory.known_sets)  # nothing new: reused
    a_items = [k for k in memory.known_sets if k[0] == "acct-a"]
    memory.forget_beyond_limits(HOUR, known_limit=len(a_items))
    assert list(memory.known_sets) == a_items


def test_when_the_hour_turns_the_hours_before_the_last_are_forgotten() -> None:
    """A warm function can live for many hours and a busy hour's id sets are large: what it remembers of
    the hours before the last goes when the hour turns, whatever the limit."""
    memory, store = Remembered(), MemoryCounters()
    for hours_ago in (3, 1, 0):
        _run(store, [_orders(0, 20, T.T0 - hours_ago * 3_600_000)], memory.known_sets)
    memory.full_id_sets.update({("bizcorp", hour_sets_name(HOUR - 3)), ("bizcorp", hour_sets_name(HOUR))})
    memory.forget_beyond_limits(HOUR)
    hours = {sets_hour(name) for _, name in memory.known_sets}
    assert hours == {HOUR - 1, HOUR}
    assert memory.full_id_sets == {("bizcorp", hour_sets_name(HOUR))}
    memory.forget_beyond_limits(HOUR)  # the same hour again: nothing more goes
    assert {sets_hour(name) for _, name in memory.known_sets} == {HOUR - 1, HOUR}
