"""``aupctl replay``: backtest the log analyzer on a file of access-log lines.

The analyzer's own code path (``aup.usecases.replay``: lines fed in invocation-sized chunks, counters in
memory), then the ladder. With ``--dry-run`` nothing is written anywhere: decisions are computed
against the local stack's current account states when a stack is running (else fresh accounts), at
the time of the last finding, so last week's logs decide as they would have then. Without it the
findings are applied to the local stack's ledger (flags change, as the deployed analyzer would).
``--policy FILE`` detects and decides under that document (validated first) instead of the stack's.
``--logs s3://bucket/prefix`` reads every object under the prefix in key order; with ``--stack NAME
[--region R] [--profile P]`` through that deployed stack's session (only the reading: the decisions are
made as above).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aupctl import state, tables
from aupctl.errors import CliError
from aupctl.runner import FunctionRunner, LocalStack, function_environment

FUNCTION = "ApiLogAnalyzerFunction"


def s3_uri(source: Path | str) -> tuple[str, str] | None:
    """(bucket, prefix) of an ``s3://bucket/prefix`` source (a click ``Path`` keeps one slash), else None."""
    text = str(source)
    if not text.startswith("s3:/"):
        return None
    bucket, _, prefix = text[len("s3:") :].lstrip("/").partition("/")
    if not bucket:
        raise CliError(f"{text}: expected s3://bucket/prefix")
    return bucket, prefix


def read_log_lines(source: Path, s3: Callable[[], Any] | None = None) -> list[str]:
    """The access-log lines of ``source``: a file (``.gz``, or any gzip by its magic: the Firehose
    archive's objects, newline-separated or concatenated JSON lines), ``-`` for standard input, or
    ``s3://bucket/prefix``: every object under the prefix in key order (``s3``: the S3 client to use,
    default the local stack's when one runs, else AWS's default credentials and region)."""
    if str(source) == "-":
        return sys.stdin.read().splitlines()
    uri = s3_uri(source)
    if uri is not None:
        return _s3_lines(*uri, client=(s3 or _default_s3)())
    if not source.is_file():
        raise CliError(f"log file {source} does not exist")
    with source.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if gzipped or source.suffix == ".gz":
        return _archive_lines(source.read_bytes(), str(source))
    with source.open(encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\n") for line in fh]


def _archive_lines(data: bytes, name: str) -> list[str]:
    from aup.usecases.ingest_archive import split_lines  # the analyzer's own reading of an object

    try:
        return split_lines(data)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise CliError(f"{name}: not a readable gzip archive ({err})") from err


def _s3_lines(bucket: str, prefix: str, *, client: Any) -> list[str]:
    from botocore.exceptions import BotoCoreError, ClientError

    lines: list[str] = []
    try:
        keys = [
            obj["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        ]
        for key in sorted(keys):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            lines += _archive_lines(body, f"s3://{bucket}/{key}")
    except (ClientError, BotoCoreError) as err:
        raise CliError(f"s3://{bucket}/{prefix}: {err}") from err
    if not keys:
        raise CliError(f"no objects under s3://{bucket}/{prefix}")
    return lines


def archive_client(
    port: int, stack: str | None = None, region: str | None = None, profile: str | None = None
) -> Callable[[], Any]:
    """The S3 client factory for an ``s3://`` source: the deployed stack's session with ``stack``
    (``--stack NAME [--region R] [--profile P]``), else the local stack's (or AWS's default chain)."""
    if stack:
        from aupctl import remote

        return lambda: remote.archive_s3(stack, region, profile)
    return lambda: _default_s3(port)


def _default_s3(port: int | None = None) -> Any:
    """The local stack's S3 when one answers on ``port`` (default port), else AWS's (default chain)."""
    port = state.DEFAULT_PORT if port is None else port
    if state.endpoint_answers(port):
        return LocalStack.connect(port).client("s3")
    import boto3

    return boto3.session.Session().client("s3")


def detect_format(lines: list[str]) -> str:
    first = next((line.strip() for line in lines if line.strip()), "")
    return "json" if first.startswith("{") else "clf"


@contextmanager
def _domain(local: LocalStack | None) -> Iterator[tuple[Any, Any]]:
    """(policy, ledger or None): the analyzer's own, in its environment, when a stack is running."""
    from aup import bootstrap

    if local is None:
        from aup.policy import load_policy

        yield load_policy(""), None
        return
    env = FunctionRunner(local).environment(FUNCTION)
    with function_environment(env):
        bootstrap.reset()
        try:
            yield bootstrap.policy(), bootstrap.ledger()
        finally:
            bootstrap.reset()


def _accounts(ledger: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    token = None
    while True:
        page = ledger.list_accounts(200, token)
        out.update({s.account_id: s for s in page.items})
        token = page.next_token
        if not token:
            return out


def run(args: argparse.Namespace) -> int:
    override = None
    if getattr(args, "policy", None) is not None:
        from aupctl.policy import require_valid

        override, _ = require_valid(args.policy)
    local = LocalStack.connect(args.port) if state.endpoint_answers(args.port) else None
    s3 = archive_client(
        args.port, getattr(args, "stack", None), getattr(args, "region", None), getattr(args, "profile", None)
    )
    lines = read_log_lines(args.logs, s3=s3)
    fmt = detect_format(lines) if args.format == "auto" else args.format
    if local is None and not args.dry_run:
        raise CliError(
            f"replay applies its decisions to the local stack's ledger and none runs on port "
            f"{args.port}: start one with `aupctl local up`, or pass --dry-run"
        )
    try:
        from aup.detectors.logs.analyzer import ReadResult
        from aup.usecases.replay import replay, replay_decisions
    except ImportError as err:  # the analyzer is not in this checkout
        raise CliError(f"the log analyzer is not available: {err}") from err

    with _domain(local) as (stack_policy, stack_ledger):
        policy, ledger = stack_policy, stack_ledger
        if override is not None:
            from aup.bootstrap import EnforcementLedger

            policy = override
            ledger = EnforcementLedger(ledger.store, override) if ledger is not None else None
        known = _accounts(ledger) if ledger is not None else {}
        plans = {account_id: s.plan for account_id, s in known.items()}
        stats = ReadResult()
        acts_for = {account_id: s.acts_for for account_id, s in known.items() if s.acts_for}
        findings = replay(lines, policy, fmt=fmt, plans=plans, stats=stats, acts_for=acts_for)
        if args.dry_run:
            when = max((f.detected_at for f in findings), default=datetime.now(UTC))
            outcomes = list(replay_decisions(findings, policy, when, plans=plans, states=known).values())
        else:
            outcomes = ledger.apply_findings(findings, datetime.now(UTC))
    report = _report(
        lines,
        fmt=fmt,
        stats=stats,
        findings=findings,
        outcomes=outcomes,
        before=known,
        applied=not args.dry_run,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    return 0


def _report(
    lines: list[str],
    *,
    fmt: str,
    stats: Any,
    findings: list[Any],
    outcomes: list[Any],
    before: dict[str, Any],
    applied: bool,
) -> dict[str, Any]:
    accounts: dict[str, dict[str, Any]] = {}
    by_account: dict[str, list[Any]] = defaultdict(list)
    for f in findings:
        if f.account_id:
            by_account[f.account_id].append(f)
    for outcome in outcomes:
        s = outcome.state
        entry = accounts.setdefault(
            s.account_id,
            {
                "account_id": s.account_id,
                "plan": s.plan,
                "status_before": before[s.account_id].status.value if s.account_id in before else "new",
                "decisions": [],
                "findings": [],
            },
        )
        entry["status_after"] = s.status.value
        entry["suspension"] = s.suspension.model_dump(mode="json") if s.suspension else None
        entry["strikes"] = len(s.strikes)
        entry["decisions"] += [d.model_dump(mode="json") for d in outcome.decisions]
        entry["reviews"] = entry.get("reviews", 0) + len(outcome.reviews)
    for account_id, group in by_account.items():
        if account_id in accounts:
            accounts[account_id]["findings"] = [_finding(f) for f in group]
    sources = [_finding(f) for f in findings if not f.account_id]
    return {
        "lines": len(lines),
        "format": fmt,
        "unparseable": stats.unparseable,
        "oversized": stats.oversized,
        "applied": applied,
        "findings": len(findings),
        "accounts": list(accounts.values()),
        "source_blocks": sources,
    }


def _finding(f: Any) -> dict[str, Any]:
    return {
        "detected_at": f.detected_at.isoformat(),
        "clause": f.clause,
        "rule_id": f.rule_id,
        "severity": f.severity.value if f.severity else None,
        "confidence": f.confidence,
        "summary": f.summary,
        "evidence": f.evidence,
        "source_ip_hash": f.source_ip_hash,
    }


def _print(report: dict[str, Any]) -> None:
    mode = "applied to the local ledger" if report["applied"] else "dry run: nothing written"
    print(
        f"{report['lines']} lines ({report['format']}), {report['unparseable']} unparseable, "
        f"{report['oversized']} oversized; {report['findings']} finding(s); {mode}"
    )
    verb = "" if report["applied"] else "would be "
    for a in report["accounts"]:
        change = f"{a['status_before']} -> {a['status_after']}"
        print(f"\naccount {a['account_id']} (plan {a['plan']}): {change}, strikes {a['strikes']}")
        if a.get("suspension"):
            print(f"  {verb}suspended: {tables.suspension_text(a)}")
        for d in a["decisions"]:
            until = f" until {d['until']}" if d.get("until") else ""
            print(
                f"  {d['clause']:4} {d['rule_id']:28} {d['severity']:8} -> {verb}{d['action']}{until}: "
                f"{d['reason']}"
            )
        for f in a["findings"]:
            print(
                f"      why: {f['detected_at']} {f['rule_id']}: "
                f"{f['summary'] or tables.cell(f['evidence'], 90)}"
            )
    if report["source_blocks"]:
        print(f"\nsources {verb}blocked (IP-scoped, D2):")
        for f in report["source_blocks"]:
            print(f"  {f['detected_at']} {f['rule_id']} source {f['source_ip_hash']}: {f['summary']}")
    if not report["accounts"] and not report["source_blocks"]:
        print("nothing would have been decided")
