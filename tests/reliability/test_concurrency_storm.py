"""A storm on the same accounts at once, against a moto server (DynamoDB requests atomic, as on AWS):
detectors (``apply_findings`` and the analyzer handler, the same payload delivered twice at once), the
expiry job, and operators suspending and reinstating. Afterwards the states are what the audit trail
says happened: versions unique, each entry starting where the previous one ended, the last one ending
at the state's status, every finding recorded exactly once, every strike a recorded violation.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.conftest import load_handler
from tests.reliability.support import EVENTS, SAMPLES_CLOCK, load_sample, record_figures

pytestmark = [pytest.mark.slow, pytest.mark.server]

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNTS = [f"storm-{i}" for i in range(4)]
DETECTORS, OPERATORS, EXPIRY_SWEEPS, ANALYZERS = 16, 8, 6, 2


@pytest.fixture(scope="module", autouse=True)
def _clock_on_the_fixed_dates():
    """The clock set to the scanner sample's day (the storm's T0 is of it) for the whole module, the moto
    server's thread included (ticking: moto, botocore and the handlers see time pass): nothing here
    depends on the day the suite runs."""
    with time_machine.travel(SAMPLES_CLOCK, tick=True):
        yield


def ledger_for(endpoint: str, table: str) -> Any:
    import boto3
    from botocore.config import Config

    from aup.bootstrap import ledger_on
    from aup.policy import load_default_policy

    client = boto3.session.Session(region_name="us-east-1").client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 10}, max_pool_connections=50),
    )
    return ledger_on(table, load_default_policy(), client)


def analyzer_payload(account: str) -> dict[str, Any]:
    """The scanner sample's traffic, as ``account``'s."""
    event = load_sample(EVENTS / "ApiLogAnalyzerFunction" / "subscription-scanner.json")
    payload = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    for e in payload["logEvents"]:
        e["message"] = e["message"].replace('"principalId":"scanco"', f'"principalId":"{account}"')
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def test_detectors_expiry_and_operators_at_once_leave_states_the_audit_explains(
    server_stack: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
):
    from aup import bootstrap
    from aup.domain.models import AccountState, Finding, Source, Status, hash_api_key
    from aup.usecases import accounts

    endpoint, table = server_stack.endpoint, server_stack.table
    setup = ledger_for(endpoint, table)
    for a in ACCOUNTS:
        setup.create_account(
            AccountState(account_id=a, plan="free"), hash_api_key(f"storm-key-{a}"), T0, "setup"
        )

    # The analyzer handler in this process talks to the server (its clients are built after this).
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("LEDGER_TABLE", table)
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "")
    bootstrap.reset()
    analyzer = load_handler("api_log_analyzer")
    payload = analyzer_payload(ACCOUNTS[0])

    sent: dict[str, set[str]] = {a: set() for a in ACCOUNTS}
    sent_lock = threading.Lock()
    errors: list[BaseException] = []
    analyzer_results: list[Any] = []
    barrier = threading.Barrier(DETECTORS + OPERATORS + EXPIRY_SWEEPS + ANALYZERS)

    def detector(i: int) -> None:
        ledger = ledger_for(endpoint, table)
        rnd = random.Random(i)
        barrier.wait()
        for n in range(4):
            account = rnd.choice(ACCOUNTS)
            shared = f"shared-{account}-{n}"  # the same event, seen by several detectors (redelivery race)
            own = f"det-{i}-{n}"
            findings = [
                Finding(
                    rule_id="D1-error-burst",
                    clause="D1",
                    account_id=account,
                    source=Source.log,
                    source_event_id=eid,
                    detected_at=T0 + timedelta(seconds=rnd.randint(0, 600)) if eid == own else T0,
                    confidence=0.95,
                )
                for eid in (own, shared)
            ]
            with sent_lock:
                sent[account].update(f.violation_id for f in findings)
            ledger.apply_findings(findings, T0 + timedelta(minutes=15))

    def operator(i: int) -> None:
        ledger = ledger_for(endpoint, table)
        rnd = random.Random(1000 + i)
        barrier.wait()
        for n in range(3):
            account = rnd.choice(ACCOUNTS)
            now = T0 + timedelta(minutes=20, seconds=i * 10 + n)
            if rnd.random() < 0.5:
                until = now + timedelta(minutes=rnd.choice([1, 30]))
                accounts.suspend(
                    ledger, account_id=account, reason="storm", until=until, now=now, actor=f"op-{i}"
                )
            else:
                accounts.reinstate(ledger, account_id=account, reason="storm", now=now, actor=f"op-{i}")

    def expiry(i: int) -> None:
        ledger = ledger_for(endpoint, table)
        barrier.wait()
        for n in range(3):
            accounts.expire_suspensions(ledger, T0 + timedelta(minutes=25 + i * 5 + n))

    def analyzer_run(i: int) -> None:
        barrier.wait()
        analyzer_results.append(analyzer.lambda_handler(json.loads(json.dumps(payload)), lambda_context))

    def guarded(target: Any, i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(fn, i))
        for fn, n in (
            (detector, DETECTORS),
            (operator, OPERATORS),
            (expiry, EXPIRY_SWEEPS),
            (analyzer_run, ANALYZERS),
        )
        for i in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    bootstrap.reset()
    assert not errors, errors[:3]
    assert len(analyzer_results) == ANALYZERS and analyzer_results[0]["findings"] > 0

    audits = violations = 0
    for account in ACCOUNTS:
        state = setup.get_account(account)
        assert state is not None
        recorded = []
        token = None
        while True:
            page = setup.list_violations(account, 100, token)
            recorded += page.items
            token = page.next_token
            if not token:
                break
        ids = [v.violation_id for v in recorded]
        assert len(ids) == len(set(ids)), f"{account}: a violation recorded twice"
        assert sent[account] <= set(ids), f"{account}: findings lost"
        from_analyzer = [v for v in recorded if v.violation_id not in sent[account]]
        if account == ACCOUNTS[0]:  # two deliveries of one payload at once: recorded once (no dupes above)
            assert len(from_analyzer) == analyzer_results[0]["findings"], "the analyzer's findings, once each"
        else:
            assert not from_analyzer, f"{account}: violations nobody sent"
        assert {s.violation_id for s in state.strikes} <= set(ids), f"{account}: a strike without a violation"

        audit = sorted(setup.list_audit(account), key=lambda a: (a.version, a.at))
        # One transaction per version: entries sharing a version share their instant and actor (a batch
        # of findings may add several); a version without an entry recorded findings only (no flag moved).
        by_version: dict[int, set[tuple[Any, str]]] = {}
        for a in audit:
            by_version.setdefault(a.version, set()).add((a.at, a.actor))
        assert all(len(v) == 1 for v in by_version.values()), f"{account}: two changes claim one version"
        assert max(by_version) <= state.version
        status_changes = [a for a in audit if a.to_status is not None]
        for prev, nxt in itertools.pairwise(status_changes):
            # Time may end a temporary suspension between two entries (suspended -> active); nothing
            # may suspend an account without an entry saying who and why (active -> suspended).
            silent_suspension = prev.to_status is Status.active and nxt.from_status is Status.suspended
            assert not silent_suspension, f"{account}: suspended between v{prev.version} and v{nxt.version}"
        assert status_changes[-1].to_status == state.status, (
            f"{account}: the flag is not where the audit ends"
        )
        audits += len(audit)
        violations += len(recorded)
    record_figures(
        "concurrency",
        threads=len(threads),
        accounts=len(ACCOUNTS),
        audit_entries_checked=audits,
        violations_checked=violations,
    )
