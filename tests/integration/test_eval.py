"""``make eval``'s harness: deterministic corpus, exit-status rules, and a small run on a moto server.

The end-to-end test runs four scenarios through the real handlers (aupctl's runner, the admin API, the
authorizer); it asserts that the harness runs and reports, that an honest browser stays untouched and
that a sqlmap scan is caught. Known wrongful classes are reported, not failed (``--strict`` fails them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.eval.corpus import SCENARIOS, by_name, matrix_uploads
from tests.eval.harness import UNSCANNED, Harness, Report, Row, base_instant
from tests.eval.model import Ctx, Traffic, Upload
from tests.eval.report import as_json, exit_status, summary_lines

BASE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def build(name: str, seed: int = 7) -> Any:
    index = [s.name for s in SCENARIOS].index(name)
    sc = SCENARIOS[index]
    connected = {n: f"acct-{index}-{n}" for n in sc.connected}
    return sc.build(Ctx(f"acct-{index}", "key", sc.plan, seed, index, BASE, connected=connected))


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_every_scenario_is_deterministic_and_built_from_the_base_instant(name: str) -> None:
    first, other = build(name), build(name, seed=8)
    # built again a day and a second later on the wall clock: a builder that reads the clock (gzip's
    # header time, a zip member's date) differs, on any machine however fast
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1, seconds=1), tick=False):
        again = build(name)
    assert first == again
    assert first.deliveries or first.uploads or first.metrics, "a scenario must produce some traffic"
    end_ms = int(BASE.timestamp() * 1000)
    for batch in first.deliveries:
        assert all(ln.at_ms <= end_ms for ln in batch), "traffic after the base instant"
        # within a few days: an account's previous UTC days are its G1 baseline (launch-day-spike)
        assert all(end_ms - ln.at_ms <= 3 * 86_400_000 for ln in batch)
    assert all(m.at <= BASE for m in first.metrics)
    if first.lines() > 5:
        assert first != other, "the seed does not reach the generator"


def test_addresses_of_two_scenarios_never_overlap() -> None:
    seen: dict[str, str] = {}
    for sc in SCENARIOS:
        t = build(sc.name)
        for ip in {ln.ip for b in t.deliveries for ln in b}:
            assert seen.setdefault(ip, sc.name) == sc.name, f"{ip} in {seen[ip]} and {sc.name}"


def test_catalogue_covers_every_plan_and_both_halves() -> None:
    assert len(by_name()) == len(SCENARIOS)
    honest = {s.plan for s in SCENARIOS if s.label == "honest"}
    assert honest == {"free", "standard", "business", "enterprise"}
    assert all(s.clauses for s in SCENARIOS if s.label == "attack")
    assert not any(s.known for s in SCENARIOS if s.label == "attack")
    fast = [s for s in SCENARIOS if s.fast]
    assert {s.label for s in fast} == {"honest", "attack"}
    assert len(matrix_uploads(__import__("random").Random(1))) >= 30


def test_base_instant_is_a_settled_five_minute_boundary() -> None:
    assert base_instant(datetime(2026, 11, 30, 12, 1, 30, tzinfo=UTC)) == datetime(
        2026, 11, 30, 11, 55, tzinfo=UTC
    )
    assert base_instant(datetime(2026, 11, 30, 12, 7, tzinfo=UTC)) == datetime(
        2026, 11, 30, 12, 5, tzinfo=UTC
    )


def row(label: str, *, known: str | None = None, **kw: Any) -> Row:
    r = Row(
        "s", label, "free", "a", "story", known=known, clauses=["D1"], authorizer="Allow", status="active"
    )
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_exit_status_fails_on_unknown_honest_harm_and_on_known_only_when_strict() -> None:
    clean = Report("b", "r", [row("honest"), row("attack")])  # a missed attack never fails the run
    assert exit_status(clean, strict=True) == 0
    known = Report("b", "r", [row("honest", known="x", strikes=1)])
    assert exit_status(known, strict=False) == 0 and exit_status(known, strict=True) == 1
    for harm in ({"status": "suspended"}, {"strikes": 1}, {"authorizer": "Deny (source blocked)"}):
        assert exit_status(Report("b", "r", [row("honest", **harm)]), strict=False) == 1, harm
    reviewed = Report("b", "r", [row("honest", reviews=2)])
    assert exit_status(reviewed, strict=True) == 0
    assert summary_lines(reviewed)[0] == "honest: 1 scenarios, 0 suspended, 0 struck, 1 reviewed, 0 denied"


def test_an_attack_is_caught_by_its_clause_or_by_enforcement() -> None:
    assert not row("attack").caught
    assert row("attack", violations=["D1-scanner-agent:strike"]).caught
    assert not row("attack", violations=["W5-crawl-ratio:record"]).caught
    assert row("attack", authorizer="Deny (source blocked until …)").caught
    assert not row("attack", authorizer="?", error="LedgerTimeout", violations=["D1-x:strike"]).caught


def test_an_upload_left_without_a_verdict_is_the_rows_error_not_an_ok() -> None:
    """A scanner that raised (or stalled) tags nothing: an honest row must not read "ok", nor an attack
    "caught" by its other signals."""
    harness = Harness.__new__(Harness)
    harness.outputs = {"AccessLogGroupName": "g"}
    got: list[tuple[str, str]] = [("a.html", "clean"), ("b.html", UNSCANNED)]
    harness.upload = lambda account, uploads, limit: [  # type: ignore[method-assign]
        {"key": k, "verdict": v, "scan": "-", "rules": ""} for k, v in got
    ]
    traffic = Traffic(uploads=[Upload("a.html", b"<p>a"), Upload("b.html", b"<p>b")])
    honest, attack = row("honest"), row("attack", violations=["I3-script-in-document:strike"])
    for r in (honest, attack):
        harness.deliver(r, traffic)
        assert r.error == "1 of 2 uploads not scanned in time: b.html", r.error
    assert (honest.wronged, honest.outcome, attack.outcome) == (True, "WRONG", "ERROR")
    got[1] = ("b.html", "clean")
    scanned = row("honest")
    harness.deliver(scanned, traffic)
    assert (scanned.error, scanned.outcome) == (None, "ok")


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def runner() -> Iterator[Any]:
    import boto3

    from aupctl.runner import FunctionRunner, LocalStack
    from aupctl.server import _serve
    from aupctl.stack import deploy
    from aupctl.state import free_port
    from tests.conftest import reset_moto

    port = free_port()
    server = _serve(port)
    endpoint = f"http://127.0.0.1:{port}"
    # moto's backends live in this process and outlive another module's server on this worker: a stack
    # deployed there (test_concurrency's, the reliability suite's) is still there for this server
    reset_moto(endpoint)
    r = None
    try:
        deploy(boto3.session.Session(region_name="us-east-1"), endpoint_url=endpoint)
        r = FunctionRunner(LocalStack(port))
        yield r
    finally:
        if r is not None:
            r.close()
        server.shutdown()


@pytest.mark.slow
@pytest.mark.server
def test_a_small_eval_runs_through_the_real_handlers_and_reports(runner: Any, tmp_path: Any) -> None:
    names = ["browser-person", "crm-deleted-records", "sqlmap-scan", "pe-named-jpg"]
    chosen = [(i, s) for i, s in enumerate(SCENARIOS) if s.name in names]
    said: list[str] = []
    report = Harness(runner, run_id="t00001", say=said.append).run(chosen)
    rows = {r.name: r for r in report.rows}
    assert set(rows) == set(names) and len(said) == len(names)
    assert all(r.error is None for r in rows.values()), {n: r.error for n, r in rows.items()}
    honest = rows["browser-person"]
    assert (honest.status, honest.strikes, honest.authorizer, honest.outcome) == ("active", 0, "Allow", "ok")
    assert rows["sqlmap-scan"].caught and any(v.startswith("D1-") for v in rows["sqlmap-scan"].violations)
    assert rows["pe-named-jpg"].uploads and rows["pe-named-jpg"].uploads[0]["verdict"] != UNSCANNED
    # A CRM hitting deleted records (404s on /customers/{id}) was once a D2 probe: now plainly honest.
    crm = rows["crm-deleted-records"]
    assert (crm.outcome, crm.strikes, crm.authorizer) == ("ok", 0, "Allow") and not crm.wronged
    assert rows["browser-person"].lines > 50 and rows["sqlmap-scan"].lines > 50
    doc = as_json(report)
    assert re.fullmatch(
        r"honest: 2 scenarios, \d suspended, \d struck, \d reviewed, \d denied", doc["summary"][0]
    )
    assert re.fullmatch(r"attacks: 2 scenarios, \d caught, \d missed", doc["summary"][1])
    json.dumps(doc)
    assert exit_status(report, strict=False) == 0


def test_declared_acts_for_names_only_connected_accounts() -> None:
    declaring = [s for s in SCENARIOS if s.acts_for]
    assert {s.label for s in declaring} == {"honest", "attack"}  # a declared platform, and one going beyond
    for sc in declaring:
        assert set(sc.acts_for) <= set(sc.connected), sc.name
