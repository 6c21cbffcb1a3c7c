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
    if not isinstance(evidence, dict) or not evidence:
        return ""
    lines = []
    for key, value in evidence.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
        if len(text) > 240:
            text = text[:239] + "…"
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


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
        uploads=_rows(result.uploads),
        steps=result.steps,
    )
