"""Readable plain-text tables and one-line summaries of accounts, violations and reviews."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def cell(value: Any, width: int = 60) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, separators=(",", ":"))
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], width: int = 60) -> str:
    """``columns`` are (key, heading) pairs; missing keys print as ``-``."""
    if not rows:
        return "(none)"
    cells = [[cell(r.get(key), width) for key, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def suspension_text(account: dict[str, Any]) -> str:
    s = account.get("suspension")
    if not isinstance(s, dict):
        return "-"
    parts = [
        str(s.get("kind", "")),
        f"{s.get('clause') or ''} {s.get('rule_id') or ''}".strip(),
        f"until {s['until']}" if s.get("until") else "",
        str(s.get("reason", "")),
    ]
    return "; ".join(p for p in parts if p)


def strikes_count(account: dict[str, Any]) -> int:
    strikes = account.get("strikes", 0)
    return len(strikes) if isinstance(strikes, list) else int(strikes or 0)


ACCOUNT_COLUMNS = [
    ("account_id", "ACCOUNT"),
    ("plan", "PLAN"),
    ("status", "STATUS"),
    ("strikes", "STRIKES"),
    ("allowlisted", "ALLOWLISTED"),
    ("dry_run", "DRY-RUN"),
    ("suspension", "SUSPENSION"),
]
VIOLATION_COLUMNS = [
    ("detected_at", "DETECTED"),
    ("clause", "CLAUSE"),
    ("rule_id", "RULE"),
    ("severity", "SEVERITY"),
    ("confidence", "CONF"),
    ("source", "SOURCE"),
    ("decision", "DECISION"),
    ("evidence", "EVIDENCE"),
]
REVIEW_COLUMNS = [
    ("review_id", "REVIEW"),
    ("account_id", "ACCOUNT"),
    ("violation_id", "VIOLATION"),
    ("status", "STATUS"),
    ("repeats", "AGAIN"),
    ("reason", "REASON"),
]


def accounts_table(accounts: Sequence[dict[str, Any]]) -> str:
    """With an ``ACTS FOR`` column when an account acts for others (X-Account-Id)."""
    rows = [
        {
            **a,
            "strikes": strikes_count(a),
            "suspension": suspension_text(a),
            "acts_for": ", ".join(map(str, a.get("acts_for") or ())) or None,
        }
        for a in accounts
    ]
    columns = ACCOUNT_COLUMNS + ([("acts_for", "ACTS FOR")] if any(r["acts_for"] for r in rows) else [])
    return table(rows, columns)


def violations_table(violations: Sequence[dict[str, Any]]) -> str:
    return table(violations, VIOLATION_COLUMNS)


def reviews_table(reviews: Sequence[dict[str, Any]]) -> str:
    return table(reviews, REVIEW_COLUMNS)
