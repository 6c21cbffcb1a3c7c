"""The demo's HTML report: one self-contained page (inline CSS, no scripts, no external assets).

Rendered by Jinja2 from ``aupctl/templates/report.html.j2`` with autoescape on, so every value from
the ledger is text, never markup; evidence is shown as the ledger holds it (already redacted: counts,
hashes, last 4 digits, rule names, sample paths).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from aupctl.tables import strikes_count

if TYPE_CHECKING:
    from jinja2 import Template

    from aupctl.demo import DemoResult

TEMPLATE = "report.html.j2"
KNOWN_BADGES = frozenset(
    {"active", "suspended", "Allow", "Deny", "clean", "threat", "quarantined", "violation", "review"}
)


@cache
def template() -> Template:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("aupctl", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE)


def evidence_text(evidence: Any) -> str:
    """The evidence whole, one field a line (a value as compact JSON, never cut: the series that
    caused a suspension is the evidence)."""
    if not isinstance(evidence, dict) or not evidence:
        return ""
    lines = []
    for key, value in evidence.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


def upload_rows(result: DemoResult) -> list[_Row]:
    """Each upload with the rules that matched it (the scanner's tag and the violations recorded for
    the object) and, when it was quarantined, where it lies (the export's record, else the scanner's
    layout ``s3://<quarantine bucket>/<uploads bucket>/<key>``)."""
    rows = []
    for upload in result.uploads:
        key = upload.get("key", "")
        matched = [r for r in str(upload.get("rules") or "").replace(",", " ").split() if r]
        sha256 = None
        for v in result.violations.get(upload.get("account", ""), []):
            ev = v.get("evidence")
            if isinstance(ev, dict) and ev.get("key") == key:
                sha256 = sha256 or ev.get("sha256")
                if v.get("rule_id") and v["rule_id"] not in matched:
                    matched.append(str(v["rule_id"]))
        record = result.quarantined.get(key) or {}
        location = record.get("quarantine")
        if not location and record.get("quarantine_key") and result.quarantine_bucket:
            location = f"s3://{result.quarantine_bucket}/{record['quarantine_key']}"
        if not location and upload.get("verdict") == "quarantined" and result.quarantine_bucket:
            where = f"{upload['bucket']}/{key}" if upload.get("bucket") else key
            location = f"s3://{result.quarantine_bucket}/{where}"
        rows.append(
            _Row(
                {
                    **upload,
                    "matched": matched,
                    "quarantine": location,
                    "sha256": record.get("sha256") or sha256,
                }
            )
        )
    return rows


def console_hint(result: DemoResult) -> dict[str, str]:
    """How to open accounts in the console: a running console's URL, else the command (the demo's
    own stack is gone when the report is read: the command opens the console on a local stack)."""
    return {
        "url": result.console_url.rstrip("/") if result.console_url else "",
        "command": "aupctl console --as operator",
    }


class _Row(dict[str, Any]):
    """A ledger document for the template: a missing field reads as None (shown as a dash)."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def _rows(items: list[dict[str, Any]]) -> list[_Row]:
    return [_Row(i) for i in items]


def render(result: DemoResult) -> str:
    cards = []
    for account in result.accounts:
        suspension = account.get("suspension")
        cards.append(
            {
                "account": _Row({**account, "status": str(account.get("status", "?"))}),
                "story": result.stories.get(account.get("account_id", ""), ""),
                "strikes": strikes_count(account),
                "suspension": _Row(suspension) if isinstance(suspension, dict) else None,
            }
        )
    violations = [
        {
            "account_id": account["account_id"],
            "violation": _Row(v),
            "severity": str(v.get("severity", "")),
            "evidence": evidence_text(v.get("evidence")),
        }
        for account in result.accounts
        for v in result.violations.get(account["account_id"], [])
    ]
    audit = [
        {"account_id": account["account_id"], "entry": _Row(e)}
        for account in result.accounts
        for e in result.audit.get(account["account_id"], [])
    ]
    versions = sorted(
        {str(v["policy_version"]) for vs in result.violations.values() for v in vs if v.get("policy_version")}
    )
    return template().render(
        known_badges=KNOWN_BADGES,
        accounts=result.accounts,
        suspended=sum(1 for a in result.accounts if a.get("status") == "suspended"),
        n_violations=sum(len(v) for v in result.violations.values()),
        endpoint=result.endpoint,
        started_at=result.started_at,
        cards=cards,
        violations=violations,
        authorizer=_rows(result.authorizer),
        uploads=upload_rows(result),
        audit=audit,
        policy_version=result.policy_version,
        policy_versions=versions,
        console=console_hint(result),
        steps=result.steps,
    )
