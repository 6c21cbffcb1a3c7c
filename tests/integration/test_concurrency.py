"""Concurrent conflicting writers on one account, against a moto server: no lost update, a true audit."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine

from aup.bootstrap import EnforcementLedger, ledger_on
from aup.domain.models import AccountState, Finding, Source, Status, hash_api_key
from aup.policy import load_default_policy
from aup.usecases import accounts
from aupctl.stack import deploy
from aupctl.state import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _clock_on_the_fixed_dates():
    """The clock set to NOW for the whole module, the moto server's thread included (ticking: moto,
    botocore and the handlers see time pass), so nothing here depends on the day the suite runs."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(scope="module")
def server_stack():
    from aupctl.server import _serve

    port = free_port()
    server = _serve(port)  # the local stack's server: DynamoDB requests atomic, as on AWS
    endpoint = f"http://127.0.0.1:{port}"
    from tests.conftest import reset_moto

    reset_moto(endpoint)
    try:
        stack = deploy(boto3.session.Session(region_name="us-east-1"), endpoint_url=endpoint)
        yield endpoint, stack
    finally:
        server.shutdown()


def ledger_for(endpoint: str, table: str) -> EnforcementLedger:
    from botocore.config import Config

    client = boto3.session.Session(region_name="us-east-1").client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 10}, max_pool_connections=60),
    )
    return ledger_on(table, load_default_policy(), client)


def test_fifty_concurrent_conflicting_writers_leave_a_state_the_audit_explains(server_stack):
    endpoint, stack = server_stack
    table = stack.outputs["LedgerTableName"]
    setup = ledger_for(endpoint, table)
    setup.create_account(
        AccountState(account_id="storm-target", plan="standard"), hash_api_key("storm-key-xx"), NOW, "setup"
    )
    shared = Finding(
        rule_id="D1-error-burst",
        clause="D1",
        account_id="storm-target",
        source=Source.log,
        source_event_id="shared-event",
        detected_at=NOW,
        confidence=0.95,
    )
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def writer(i: int) -> None:
        ledger = ledger_for(endpoint, table)
        rnd = random.Random(i)
        try:
            barrier.wait()
            if i % 10 == 0:
                accounts.suspend(
                    ledger,
                    account_id="storm-target",
                    reason=f"op {i}",
                    until=None,
                    now=NOW + timedelta(seconds=i),
                    actor=f"operator-{i}",
                )
            elif i % 10 == 5:
                accounts.reinstate(
                    ledger,
                    account_id="storm-target",
                    reason=f"op {i}",
                    now=NOW + timedelta(seconds=i),
                    actor=f"operator-{i}",
                )
            else:
                own = shared.model_copy(
                    update={
                        "source_event_id": f"event-{i}",
                        "detected_at": NOW + timedelta(seconds=rnd.randint(0, 60)),
                    }
                )
                ledger.apply_findings([own, shared], NOW + timedelta(minutes=2))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]

    state = setup.get_account("storm-target")
    assert state is not None
    violations = []
    token = None
    while True:
        page = setup.list_violations("storm-target", 100, token)
        violations.extend(page.items)
        token = page.next_token
        if not token:
            break
    # 40 finding writers with their own event, plus the one shared event applied by all 40: 41 violations.
    assert len(violations) == 41
    assert len({v.violation_id for v in violations}) == 41
    # Every violation that struck is in the state; none twice.
    struck = {
        v.violation_id
        for v in violations
        if v.decision in ("strike", "suspend_temporary", "record", "suspend_temporary_elapsed")
    }
    assert {s.violation_id for s in state.strikes} == struck
    # The audit trail explains the final flag: its last entry (by version) ends where the state is.
    audit = sorted(setup.list_audit("storm-target"), key=lambda a: (a.version, a.at))
    assert audit[-1].version == max(a.version for a in audit) <= state.version
    assert audit[-1].to_status == state.effective_status(
        NOW + timedelta(minutes=2)
    ) or state.status is Status(audit[-1].to_status)
    operator_entries = [a for a in audit if a.actor.startswith("operator-")]
    assert len(operator_entries) == 10  # every operator action landed, none lost to a conflict
    versions = [a.version for a in audit if a.actor.startswith("operator-")]
    assert len(set(versions)) == len(versions)  # each one a distinct state version
