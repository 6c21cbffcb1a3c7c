"""The eval's output: a table per half, the scanner's matrix, the summary lines, JSON, the exit status."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.eval.corpus import MATRIX_CONTAINERS, MATRIX_PAYLOADS
from tests.eval.harness import Report, Row


def _violations(row: Row) -> str:
    if not row.violations:
        return "-"
    counts: dict[str, int] = defaultdict(int)
    for v in row.violations:
        counts[v] += 1
    return ", ".join(f"{k}" + (f" x{n}" if n > 1 else "") for k, n in sorted(counts.items()))


def _uploads(row: Row) -> str:
    """Verdicts of the scenario's objects (``clean x4``; anything else named)."""
    if not row.uploads:
        return "-"
    counts: dict[str, int] = defaultdict(int)
    for u in row.uploads:
        v = (
            u["verdict"]
            if u["verdict"] == "clean"
            else f"{u['verdict']} ({u['scan']}{' ' + u['rules'] if u['rules'] else ''})"
        )
        counts[v] += 1
    return ", ".join(k + (f" x{n}" if n > 1 else "") for k, n in sorted(counts.items()))


def honest_rows(report: Report) -> list[dict[str, str]]:
    return [
        {
            "scenario": r.name,
            "plan": r.plan,
            "violations": _violations(r) if not r.error else f"error: {r.error}",
            "strikes": str(r.strikes),
            "reviews": str(r.reviews),
            "status": r.status + (f" ({r.suspension})" if r.suspended else ""),
            "authorizer": r.authorizer,
            "uploads": _uploads(r),
            "outcome": r.outcome + (f" [{r.known}]" if r.known else ""),
        }
        for r in report.rows
        if r.label == "honest"
    ]


def attack_rows(report: Report) -> list[dict[str, str]]:
    out = []
    for r in report.rows:
        if r.label != "attack":
            continue
        uploads = "; ".join(f"{u['verdict']}" + (f" {u['rules']}" if u["rules"] else "") for u in r.uploads)
        out.append(
            {
                "clause": "/".join(r.clauses),
                "scenario": r.name,
                "plan": r.plan,
                "violations": (_violations(r) if not r.error else f"error: {r.error}")
                + (f" | upload: {uploads}" if uploads else ""),
                "strikes": str(r.strikes),
                "reviews": str(r.reviews),
                "status": r.status,
                "authorizer": r.authorizer,
                "outcome": r.outcome,
            }
        )
    return out


def summary_lines(report: Report) -> list[str]:
    honest = [r for r in report.rows if r.label == "honest"]
    attacks = [r for r in report.rows if r.label == "attack"]
    caught = sum(r.caught for r in attacks)
    return [
        f"honest: {len(honest)} scenarios, {sum(r.suspended for r in honest)} suspended, "
        f"{sum(r.strikes > 0 for r in honest)} struck, {sum(r.reviews > 0 for r in honest)} reviewed, "
        f"{sum(r.denied for r in honest)} denied",
        f"attacks: {len(attacks)} scenarios, {caught} caught, {len(attacks) - caught} missed",
    ]


def per_clause(report: Report) -> list[str]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in report.rows:
        if r.label == "attack":
            by[r.clauses[0]].append(r)
    lines = []
    for clause in sorted(by):
        rows = by[clause]
        misses = [r.name for r in rows if not r.caught]
        lines.append(
            f"{clause:4} {sum(r.caught for r in rows)} / {len(rows)}"
            + (f"   missed: {', '.join(misses)}" if misses else "")
        )
    return lines


def exit_status(report: Report, *, strict: bool) -> int:
    """1 when an honest scenario not marked known is wronged (any honest one with ``strict``), else 0.
    Missed attacks never fail the run (yet)."""
    wronged = [r for r in report.rows if r.label == "honest" and r.wronged]
    return 1 if any(strict or not r.known for r in wronged) else 0


def _print_table(title: str, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        from aupctl.tables import table

        print(f"\n{title}")
        print(table(rows, [(c, c.upper()) for c in columns], width=90))
        return
    t = Table(title=title, show_lines=False, title_justify="left")
    for c in columns:
        t.add_column(c.upper(), overflow="fold")
    for r in rows:
        style = "red" if r.get("outcome", "").startswith(("WRONG", "MISSED")) else None
        style = "yellow" if r.get("outcome", "").startswith("KNOWN") else style
        t.add_row(*(r[c] for c in columns), style=style)
    Console(width=200).print(t)


def matrix_rows(report: Report) -> list[dict[str, str]]:
    return [
        {"container": c, **{p: report.matrix.get(c, {}).get(p, "n/a") for p in MATRIX_PAYLOADS}}
        for c in MATRIX_CONTAINERS
        if c in report.matrix
    ]


def print_report(report: Report) -> None:
    _print_table("Honest scenarios", honest_rows(report))
    _print_table("Attack scenarios", attack_rows(report))
    print("\nAttacks caught per clause")
    for line in per_clause(report):
        print("  " + line)
    if report.matrix:
        _print_table("Scanner matrix (container x payload -> verdict)", matrix_rows(report))
    known = [r for r in report.rows if r.label == "honest" and r.known]
    if known:
        print("\nKnown wrongful classes (honest scenarios marked known):")
        for r in known:
            print(
                f"  {r.known:30} {r.name:28} {'still wrong' if r.wronged else 'passes now: remove the mark'}"
            )
    print()
    for line in summary_lines(report):
        print(line)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "base": report.base,
        "run_id": report.run_id,
        "seconds": round(report.seconds, 1),
        "summary": summary_lines(report),
        "per_clause": per_clause(report),
        "scenarios": [r.as_json() for r in report.rows],
        "matrix": report.matrix,
        "sweep": report.sweep,
    }


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(report), indent=2, default=str) + "\n", encoding="utf-8")
