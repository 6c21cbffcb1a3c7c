"""``aupctl accounts list`` with the admin API's filters (``--status``, ``--plan``,
``--allowlisted/--not-allowlisted``, ``--pending-reviews/--no-pending-reviews``, ``--search``): the
command line's flags become GET /accounts' query parameters and reach AdminApiFunction (moto, the
template deployed, the handler in-process as the local stack invokes it), every page followed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from aup import bootstrap
from aup.domain.models import Finding, Source
from aupctl.admin import AdminClient
from tests.conftest import load_handler

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.time_machine(NOW, tick=True)
ACCOUNTS = {"acme-corp": "free", "acme-labs": "business", "beta-co": "free", "gamma-co": "standard"}


@pytest.fixture
def client(stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> AdminClient:
    """The local commands' AdminClient over the admin function in this process, with four accounts:
    beta-co suspended, acme-labs allowlisted, gamma-co with a pending review."""
    from aupctl import cli
    from aupctl.stack import TEMPLATE, load_template

    module = load_handler("admin_api")
    events: list[dict[str, Any]] = []

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        events.append(event)
        return SimpleNamespace(result=module.lambda_handler(event, lambda_context))

    local = SimpleNamespace(template=load_template(TEMPLATE), resources={"AdminApi": "adminapi12"})
    admin = AdminClient(SimpleNamespace(local=local, invoke=invoke))  # type: ignore[arg-type]
    admin.events = events  # type: ignore[attr-defined]
    for account_id, plan in ACCOUNTS.items():
        assert admin.create_account(account_id, plan).status == 201
    assert admin.suspend("beta-co", "chargebacks").ok
    assert admin.allowlist("acme-labs", True).ok
    finding = Finding(
        rule_id="C1-bulk-recipients",
        clause="C1",
        account_id="gamma-co",
        source=Source.s3,
        source_event_id="s3://uploads/accounts/gamma-co/list.csv#1",
        detected_at=NOW,
        summary="a bulk recipient list",
        evidence={"recipients": 4000},
    )
    bootstrap.ledger().apply_findings([finding], NOW)
    events.clear()
    monkeypatch.setattr(cli, "_admin", lambda port: admin)
    return admin


def listed(capsys: pytest.CaptureFixture[str], *flags: str) -> list[str]:
    from aupctl.cli import main

    capsys.readouterr()
    assert main(["accounts", "list", *flags, "--json"]) == 0
    return sorted(a["account_id"] for a in json.loads(capsys.readouterr().out)["items"])


def test_each_filter_flag_reaches_the_api(client: AdminClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert listed(capsys) == sorted(ACCOUNTS)
    assert listed(capsys, "--status", "suspended") == ["beta-co"]
    assert listed(capsys, "--status", "active") == ["acme-corp", "acme-labs", "gamma-co"]
    assert listed(capsys, "--plan", "free") == ["acme-corp", "beta-co"]
    assert listed(capsys, "--allowlisted") == ["acme-labs"]
    assert listed(capsys, "--not-allowlisted") == ["acme-corp", "beta-co", "gamma-co"]
    assert listed(capsys, "--pending-reviews") == ["gamma-co"]
    assert listed(capsys, "--no-pending-reviews") == ["acme-corp", "acme-labs", "beta-co"]
    assert listed(capsys, "--search", "ACME") == ["acme-corp", "acme-labs"]
    assert listed(capsys, "--search", "acme", "--plan", "free", "--not-allowlisted") == ["acme-corp"]
    assert listed(capsys, "--search", "nobody") == []
    queries = [e["queryStringParameters"] or {} for e in client.events]  # type: ignore[attr-defined]
    assert queries[0] == {} and queries[4] == {"allowlisted": "true"}
    assert queries[6] == {"pending_reviews": "true"} and queries[8] == {"q": "ACME"}
    assert queries[9] == {"q": "acme", "plan": "free", "allowlisted": "false"}


def test_the_table_and_a_bad_value(client: AdminClient, capsys: pytest.CaptureFixture[str]) -> None:
    from aupctl.cli import main

    capsys.readouterr()
    assert main(["accounts", "list", "--status", "suspended"]) == 0
    out = capsys.readouterr().out
    assert "beta-co" in out and "chargebacks" in out and "acme-corp" not in out
    assert main(["accounts", "list", "--status", "gone"]) == 2  # click refuses it: nothing is sent
    assert "'gone' is not one of 'active', 'suspended'" in capsys.readouterr().err
    assert not [e for e in client.events if "gone" in json.dumps(e)]  # type: ignore[attr-defined]


def test_every_page_is_followed(client: AdminClient) -> None:
    one_by_one = client.all_accounts(page_size=1)
    assert one_by_one.ok and sorted(a["account_id"] for a in one_by_one.body["items"]) == sorted(ACCOUNTS)
    assert one_by_one.body["next_token"] is None
    assert len(client.events) >= len(ACCOUNTS)  # type: ignore[attr-defined]  # one account a page
    free = client.all_accounts(page_size=1, plan="free")
    assert [a["account_id"] for a in free.body["items"]] == ["acme-corp", "beta-co"]
    capped = client.all_accounts(max_pages=2, page_size=1)
    assert len(capped.body["items"]) == 2 and capped.body["next_token"]  # where it stopped, said


def test_acts_for_sets_replaces_and_clears_the_list(
    client: AdminClient, capsys: pytest.CaptureFixture[str]
) -> None:
    from aupctl.cli import main

    errors: list[str] = []

    def acts_for(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["accounts", "acts-for", *args])
        captured = capsys.readouterr()
        errors.append(captured.err)
        return code, captured.out

    code, out = acts_for("acme-labs", "gamma-co", "beta-co", "--reason", "agency contract")
    assert code == 0 and "ACTS FOR" in out and "beta-co, gamma-co" in out
    assert bootstrap.ledger().get_account("acme-labs").acts_for == ["beta-co", "gamma-co"]
    assert client.events[-1]["body"] and json.loads(client.events[-1]["body"]) == {  # type: ignore[attr-defined]
        "acts_for": ["gamma-co", "beta-co"],
        "reason": "agency contract",
    }
    code, out = acts_for("acme-labs", "--any", "--json")
    assert code == 0 and json.loads(out)["acts_for"] == ["*"]
    code, out = acts_for("acme-labs", "--none")
    assert code == 0 and "ACTS FOR" not in out
    assert bootstrap.ledger().get_account("acme-labs").acts_for == []
    audit = [a.reason for a in bootstrap.ledger().list_audit("acme-labs") if a.action == "acts-for"]
    assert audit == [
        "acts for beta-co, gamma-co: agency contract",
        "acts for any account",
        "acts for no other account",
    ]
    # neither accounts nor a flag, or both: a usage error, nothing sent
    sent = len(client.events)  # type: ignore[attr-defined]
    for bad in (["acme-labs"], ["acme-labs", "gamma-co", "--any"], ["acme-labs", "--any", "--none"]):
        capsys.readouterr()
        assert main(["accounts", "acts-for", *bad]) == 2, bad
        assert "give the accounts it acts for, or --any, or --none" in capsys.readouterr().err
    assert len(client.events) == sent  # type: ignore[attr-defined]
    code, _ = acts_for("acme-labs", "Bad Id")  # the API's 422, said, and nothing changed
    assert code != 0 and "not an account id" in errors[-1]
    assert bootstrap.ledger().get_account("acme-labs").acts_for == []
