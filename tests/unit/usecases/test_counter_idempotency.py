"""The in-memory store's counters keep ``DynamoStore.add_counters_once``'s protocol (issue 15): a batch
stopped between two counters and redelivered counts once, a finished batch adds nothing, a resumption
past the markers' horizon adds nothing, an item keeps two slots of batch ids; and the analyzer's use
case takes the totals from the writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aup.adapters.dynamodb.ledger import MARKER_SLOT_SECONDS
from aup.domain.ports import CounterUpdate, LedgerUnavailable
from aup.usecases.analyze_logs import WrittenCounters
from tests.fakes.ledger import MemoryStore, memory_ledger

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.time_machine(AT, tick=False)

UPDATES = [
    CounterUpdate(scope=f"a-{i}", name="h", add={"n": 2}, add_sets={"ip": [f"n{i}"]}) for i in range(30)
]


def _values(store: MemoryStore) -> dict[tuple[str, str], Any]:
    return {k: dict(v) for k, v in store.counters.items()}


@pytest.mark.parametrize("stop_after", [0, 1, 17, 29])
def test_a_batch_stopped_part_way_counts_once_when_redelivered(stop_after: int) -> None:
    once, crashed = MemoryStore(), MemoryStore()
    assert once.add_counters_once("b", UPDATES) is True
    crashed.fail_after_counters = stop_after
    with pytest.raises(LedgerUnavailable):
        crashed.add_counters_once("b", UPDATES)
    assert len(crashed.counters) == stop_after
    assert crashed.add_counters_once("b", UPDATES) is True
    assert crashed.add_counters_once("b", UPDATES) is False
    assert _values(crashed) == _values(once)
    assert crashed.counter_writes == once.counter_writes == 30


def test_a_resumption_past_the_horizon_adds_nothing(time_machine: Any) -> None:
    store = MemoryStore()
    store.fail_after_counters = 5
    with pytest.raises(LedgerUnavailable):
        store.add_counters_once("late", UPDATES)
    before = _values(store)
    time_machine.move_to(AT.timestamp() + 2 * MARKER_SLOT_SECONDS, tick=False)
    assert store.add_counters_once("late", UPDATES) is False
    assert _values(store) == before


def test_an_item_keeps_two_slots_of_batch_ids(time_machine: Any) -> None:
    store = MemoryStore()
    for k in range(5):
        time_machine.move_to(AT.timestamp() + k * MARKER_SLOT_SECONDS, tick=False)
        store.add_counters_once(f"s{k}", UPDATES[:1])
    assert len(store.counter_marks[("a-0", "h")]) == 2
    assert store.counters[("a-0", "h")]["n"] == 10


class _Reads:
    def __init__(self) -> None:
        self.ledger = memory_ledger()
        self.read: list[tuple[str, str]] = []
        real = self.ledger.get_counters

        def get_counters(keys: Any) -> Any:
            self.read.extend(keys)
            return real(keys)

        self.ledger.get_counters = get_counters


def test_written_counters_answer_from_the_writes_and_read_only_the_rest() -> None:
    r = _Reads()
    view = WrittenCounters(r.ledger)
    assert view.add_counters_once("w", UPDATES[:3]) is True
    got = view.get_counters([("a-0", "h"), ("a-2", "h")])
    assert r.read == [] and got[("a-0", "h")]["n"] == 2 and got[("a-2", "h")]["ip"] == {"n2"}
    r.ledger.add_counters_once("other", [CounterUpdate(scope="a-9", name="d", add={"n": 1})])
    assert view.get_counters([("a-1", "h"), ("a-9", "d")])[("a-9", "d")] == {"n": 1}
    assert r.read == [("a-9", "d")]
    # a redelivery wrote nothing: its totals are read
    again = WrittenCounters(r.ledger)
    assert again.add_counters_once("w", UPDATES[:3]) is False
    assert again.get_counters([("a-0", "h")])[("a-0", "h")]["n"] == 2
    assert r.read[-1] == ("a-0", "h")
