"""The demo's HTML report: one self-contained page (inline CSS, no scripts, no external assets).

Every value is escaped; evidence is shown as the ledger holds it (already redacted: counts, hashes,
last 4 digits, rule names, sample paths).
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from aupctl.tables import strikes_count

if TYPE_CHECKING:
    from aupctl.demo import DemoResult

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;
color:#1d2330}
header{background:#1d2330;color:#fff;padding:24px 40px}header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:#c4c9d4}main{padding:24px 40px;max-width:1200px}
h2{font-size:18px;margin:28px 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:16px}
.card{background:#fff;border-radius:10px;padding:16px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08);
border-top:4px solid #2f9e44}.card.suspended{border-top-color:#e03131}
.card h3{margin:0 0 6px;font-size:16px;display:flex;justify-content:space-between;align-items:center}
.card p{margin:4px 0;color:#495057;font-size:13.5px}.story{font-style:italic}
.badge{display:inline-block;border-radius:999px;padding:2px 10px;font-size:12px;font-weight:600;
text-transform:uppercase;letter-spacing:.03em}
.badge.active,.badge.Allow,.badge.clean{background:#d3f9d8;color:#2b8a3e}
.badge.suspended,.badge.Deny,.badge.threat,.badge.quarantined,.badge.violation{background:#ffe3e3;color:#c92a2a}
.badge.review,.badge.other{background:#fff3bf;color:#8f6b00}
.sev{font-weight:600}.sev.critical,.sev.high{color:#c92a2a}.sev.medium{color:#d9480f}.sev.low{color:#5c940d}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:10px;overflow:hidden;
box-shadow:0 1px 3px rgba(0,0,0,.08);font-size:13.5px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f8f9fb;font-weight:600;color:#495057}
.ev{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;color:#343a40;white-space:pre-wrap;
word-break:break-word}
ul.steps{background:#fff;border-radius:10px;padding:12px 18px 12px 36px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
ul.steps li{margin:3px 0}.sig{color:#868e96;font-size:12px;text-transform:uppercase;margin-right:6px}
footer{color:#868e96;font-size:12px;padding:20px 40px}
"""


def e(value: Any) -> str:
    if value is None:
        return "&ndash;"
    return html.escape(str(value))


def badge(text: str) -> str:
    known = {"active", "suspended", "Allow", "Deny", "clean", "threat", "quarantined", "violation", "review"}
    return f'<span class="badge {e(text) if text in known else "other"}">{e(text)}</span>'


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


def account_card(account: dict[str, Any], story: str) -> str:
    status = str(account.get("status", "?"))
    suspension = account.get("suspension") if isinstance(account.get("suspension"), dict) else None
    parts = [
        f'<div class="card {e(status)}"><h3>{e(account.get("account_id"))} {badge(status)}</h3>',
        f'<p class="story">{e(story)}</p>' if story else "",
        f"<p>plan <b>{e(account.get('plan'))}</b> &middot; strikes <b>{strikes_count(account)}</b>"
        f"{' &middot; allowlisted' if account.get('allowlisted') else ''}"
        f"{' &middot; dry-run' if account.get('dry_run') else ''}</p>",
    ]
    if suspension:
        until = f", until {e(suspension.get('until'))}" if suspension.get("until") else ""
        parts.append(
            f"<p><b>{e(suspension.get('kind'))}</b> suspension for {e(suspension.get('clause'))} "
            f"({e(suspension.get('rule_id'))}){until}: {e(suspension.get('reason'))}</p>"
        )
        parts.append(f"<p>decided by {e(suspension.get('decided_by'))}</p>")
    parts.append("</div>")
    return "".join(parts)


def violations_table(result: DemoResult) -> str:
    rows = []
    for account in result.accounts:
        for v in result.violations.get(account["account_id"], []):
            severity = str(v.get("severity", ""))
            rows.append(
                "<tr>"
                f"<td>{e(v.get('detected_at'))}</td><td>{e(account['account_id'])}</td>"
                f"<td><b>{e(v.get('clause'))}</b></td><td>{e(v.get('rule_id'))}</td>"
                f'<td class="sev {e(severity)}">{e(severity)}</td><td>{e(v.get("confidence"))}</td>'
                f"<td>{e(v.get('source'))}</td><td>{e(v.get('decision'))}</td>"
                f"<td>{e(v.get('summary'))}</td>"
                f'<td class="ev">{e(evidence_text(v.get("evidence")))}</td>'
                "</tr>"
            )
    if not rows:
        return "<p>No violations recorded.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Detected",
            "Account",
            "Clause",
            "Rule",
            "Severity",
            "Conf.",
            "Source",
            "Decision",
            "Summary",
            "Evidence",
        )
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render(result: DemoResult) -> str:
    suspended = sum(1 for a in result.accounts if a.get("status") == "suspended")
    n_violations = sum(len(v) for v in result.violations.values())
    cards = "".join(account_card(a, result.stories.get(a.get("account_id", ""), "")) for a in result.accounts)
    sections = [
        "<h2>Accounts</h2>",
        f'<div class="cards">{cards}</div>',
        "<h2>Violations</h2>",
        violations_table(result),
    ]
    if result.authorizer:
        rows = "".join(
            f"<tr><td>{e(a['account'])}</td><td>{badge(a['effect'])}</td><td>{e(a['reason'])}</td></tr>"
            for a in result.authorizer
        )
        sections += [
            "<h2>Authorizer: GET /items/42 with each account's API key</h2>",
            f"<table><thead><tr><th>Account</th><th>Answer</th><th>Why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>",
        ]
    if result.uploads:
        rows = "".join(
            f"<tr><td>{e(u['account'])}</td><td>{e(u['key'])}</td><td>{badge(u['verdict'])}</td>"
            f"<td>{e(u['rules'])}</td></tr>"
            for u in result.uploads
        )
        sections += [
            "<h2>Uploads</h2>",
            "<table><thead><tr><th>Account</th><th>Object</th><th>Verdict</th>"
            f"<th>Rules</th></tr></thead><tbody>{rows}</tbody></table>",
        ]
    steps = "".join(f'<li><span class="sig">{e(sig)}</span>{e(text)}</li>' for sig, text in result.steps)
    sections += ["<h2>What happened</h2>", f'<ul class="steps">{steps}</ul>']
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>aup-enforcer demo report</title><style>{CSS}</style></head><body>"
        f"<header><h1>aup-enforcer demo</h1><p>{len(result.accounts)} accounts &middot; "
        f"{suspended} suspended "
        f"&middot; {n_violations} violations &middot; local stack {e(result.endpoint)} &middot; "
        f"{e(result.started_at)}</p></header>"
        f"<main>{''.join(sections)}</main>"
        "<footer>Generated by <code>aupctl demo</code> against moto; evidence is redacted by the ledger "
        "(no raw personal data, keys or file contents).</footer></body></html>\n"
    )
