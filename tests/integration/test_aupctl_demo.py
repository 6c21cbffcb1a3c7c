"""``aupctl demo`` (= ``make demo``) end to end: exit 0, a suspended and an honest account, a report
that shows them, no API key in any output, and no process left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aupctl import state
from tests.aupctl_process import aupctl, cli_env

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_suspended_and_honest_accounts_and_writes_a_report(tmp_path):
    env = cli_env(tmp_path / "state")
    report = tmp_path / "report.html"
    port = state.free_port()
    result = aupctl("demo", "--html", str(report), "--port", str(port), env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # the accounts table comes first
        if re.match(r"^(honest-co|bad-actor) ", line):
            rows.setdefault(line.split()[0], line.split())
    assert rows["honest-co"][2] == "active"
    assert rows["bad-actor"][2] == "suspended"
    assert (
        re.search(r"honest-co's API key -> Allow", out) or "AuthorizerFunction is still a placeholder" in out
    )
    assert (
        re.search(r"bad-actor's API key -> Deny", out) or "AuthorizerFunction is still a placeholder" in out
    )
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<script" not in html.split("</style>")[0]
    assert 'class="card suspended"' in html and 'class="card active"' in html
    for account in ("honest-co", "probe-bot", "malware-drop", "cpu-hog", "bad-actor"):
        assert account in html
    # Evidence whole: the CPU series that suspended cpu-hog, every period of it, nothing cut.
    cpu = html.split("<td>cpu-hog</td>", 1)[1].split('<tr class="evrow">', 1)[1].split("</tr>", 1)[0]
    assert "series: [" in cpu and "…" not in html
    assert cpu.count("&#34;period&#34;") >= 5
    # The rules that matched each upload and where the quarantined one lies.
    upload = html.split("accounts/malware-drop/tools/installer.com</td>", 1)[1].split("</tr>", 1)[0]
    assert "I3-malware-signature" in upload and "s3://" in upload and "quarantine" in upload
    assert re.search(r"Policy in force: <b>\d{4}-\d\d-\d\d\.\d+</b>", html)
    audit = html.split("<h2>Audit trail</h2>", 1)[1].split("</table>", 1)[0]
    assert "bad-actor" in audit and "terms breach confirmed by trust &amp; safety" in audit
    assert "<code>aupctl console --as operator</code>" in html  # how to open the console
    # API keys are shown once, to the operator who creates an account: never in the demo's output.
    assert not re.search(r"aup_[A-Za-z0-9]{20,}", out + result.stderr + html)
    assert f"stack on port {port} shut down" in out
    assert state.port_free(port)
    assert not list((tmp_path / "state").glob("local-*.json"))
