"""usecases/enforce.py on the in-memory store: load -> decide -> commit, conflicts, redeliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aup.domain import engine
from aup.domain.models import AccountState, Finding, Outcome, Source, Status, SuspensionKind, hash_api_key
from aup.domain.ports import LedgerError
from aup.policy import load_default_policy
from aup.usecases import enforce
from aup.usecases.enforce import RETRY, RETRY_NOW, full_jitter, with_retries
from tests.fakes.ledger import MemoryStore, memory_ledger

POLICY = load_default_policy()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def finding(
    rule_id: str = "D1-error-burst", event: str = "e1", account: str | None = "acme-corp", **kw
) -> Finding:
    return Finding(
        rule_id=rule_id,
        clause=rule_id.split("-", 1)[0],
        account_id=account,
        source=Source.log,
        source_event_id=event,
        detected_at=kw.pop("at", NOW),
        **kw,
    )


def registered(store: MemoryStore, account: str = "acme-corp") -> None:
    memory_ledger(POLICY, store).create_account(
        AccountState(account_id=account, plan="standard"), hash_api_key(f"key-{account}"), NOW, "seed"
    )


def test_a_finding_is_recorded_with_its_strike_in_one_commit() -> None:
    store = MemoryStore()
    registered(store)
    before = store.commits
    (outcome,) = enforce.apply_findings(store, POLICY, [finding()], NOW)
    assert [d.rule_id for d in outcome.decisions] == ["D1-error-burst"]
    assert store.commits == before + 1
    state = store.get_account("acme-corp")
    assert state is not None and len(state.strikes) == 1 and state.version == 2
    assert len(store.list_violations("acme-corp").items) == 1


def test_a_version_conflict_reloads_and_decides_on_top_of_the_other_change() -> None:
    """An operator suspends between the use case's read and its commit: the commit is cancelled, the
    use case reloads, decides again on the suspended state, and both changes land."""
    store = MemoryStore()
    registered(store)
    ledger = memory_ledger(POLICY, store)

    def operator(_: object) -> None:
        ledger.transition(
            "acme-corp", lambda s: engine.suspend(s, reason="ops", until=None, actor="operator-1", now=NOW)
        )

    store.before_commit = operator
    (outcome,) = ledger.apply_findings([finding()], NOW)
    assert len(store.cancelled) == 1 and store.cancelled[0].version
    state = store.get_account("acme-corp")
    assert state is not None and state.status is Status.suspended
    assert state.suspension is not None and state.suspension.kind is SuspensionKind.indefinite
    assert [a.actor for a in store.list_audit("acme-corp")].count("operator-1") == 1
    assert len(store.list_violations("acme-corp").items) == 1
    assert outcome.state.version == state.version


def test_a_redelivered_violation_is_dropped_even_when_the_state_forgot_it() -> None:
    store = MemoryStore()
    registered(store)
    f = finding(event="old-event")
    enforce.apply_findings(store, POLICY, [f], NOW)
    forgotten = store.accounts["acme-corp"].model_copy(update={"recent_violation_ids": []})
    store.accounts["acme-corp"] = forgotten  # the engine no longer recognises the finding
    (outcome,) = enforce.apply_findings(store, POLICY, [f], NOW + timedelta(minutes=1))
    assert outcome.decisions == []
    assert store.cancelled and store.cancelled[-1].duplicates == {f.violation_id}
    assert len(store.list_violations("acme-corp").items) == 1
    assert len(store.accounts["acme-corp"].strikes) == 1


def test_only_the_redelivered_finding_is_dropped_from_a_batch() -> None:
    store = MemoryStore()
    registered(store)
    old, new = finding(event="old"), finding(event="new")
    enforce.apply_findings(store, POLICY, [old], NOW)
    store.accounts["acme-corp"] = store.accounts["acme-corp"].model_copy(update={"recent_violation_ids": []})
    (outcome,) = enforce.apply_findings(store, POLICY, [old, new], NOW + timedelta(minutes=1))
    assert [d.violation_id for d in outcome.decisions] == [new.violation_id]
    assert len(store.list_violations("acme-corp").items) == 2


def test_evidence_is_scrubbed_before_it_is_committed() -> None:
    store = MemoryStore()
    f = finding(summary="sent by jane.doe@example.com", evidence={"who": "jane.doe@example.com", "n": 3})
    enforce.apply_findings(store, POLICY, [f], NOW)
    (v,) = store.list_violations("acme-corp").items
    assert "jane.doe@example.com" not in v.model_dump_json()
    assert v.evidence["n"] == 3


def test_an_ip_scoped_finding_blocks_its_source_and_a_redelivery_keeps_the_end() -> None:
    store = MemoryStore()
    f = finding("D2-key-stuffing", account=None, source_ip_hash="abc123")
    enforce.apply_findings(store, POLICY, [f], NOW)
    until = store.blocks["abc123"].until
    assert until == NOW + timedelta(hours=POLICY.ladder.source_block_hours)
    enforce.apply_findings(store, POLICY, [f], NOW + timedelta(hours=2))
    assert store.blocks["abc123"].until == until and store.accounts == {}


def test_findings_are_committed_in_chunks_of_the_transaction_size() -> None:
    store = MemoryStore()
    n = enforce.FINDINGS_PER_TRANSACTION + 3
    findings = [finding("D1-error-burst", f"e{i}", confidence=0.99) for i in range(n)]
    outcomes = enforce.apply_findings(store, POLICY, findings, NOW)
    assert len(outcomes) == 2 and store.commits == 2
    assert len(store.list_violations("acme-corp", limit=100).items) == n


def test_with_retries_backs_off_with_full_jitter_and_gives_up_after_25_attempts() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def attempt(n: int) -> Outcome:
        calls.append(n)
        return RETRY  # type: ignore[return-value]

    with pytest.raises(LedgerError, match="could not apply things: too many concurrent changes"):
        with_retries("apply things", attempt, sleep=slept.append)
    assert calls == list(range(25)) and len(slept) == 25
    assert all(0 <= s < min(1.0, 0.02 * 2**n) for n, s in enumerate(slept))


def test_with_retries_retries_at_once_after_progress_and_returns_the_answer() -> None:
    slept: list[float] = []
    answers = iter([RETRY_NOW, RETRY, "done"])
    assert with_retries("x", lambda n: next(answers), sleep=slept.append) == "done"
    assert len(slept) == 1


def test_full_jitter_is_capped_at_one_second() -> None:
    assert all(0 <= full_jitter(n) < 1.0 for n in range(40))


def test_the_dynamodb_adapter_never_imports_the_engine_a_use_case_the_policy_or_bootstrap() -> None:
    """One direction of dependencies: adapters implement the domain's ports, nothing above them
    (every import statement, including imports inside functions)."""
    import ast
    from pathlib import Path

    import aup.adapters.dynamodb as package

    forbidden = ("aup.domain.engine", "aup.usecases", "aup.bootstrap", "aup.policy")
    found = []
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            found += [f"{path.name}: {n}" for n in names if n.startswith(forbidden)]
    assert found == []
