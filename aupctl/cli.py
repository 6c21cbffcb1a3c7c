"""``aupctl``: the local stack, in-process invocation, operators' commands, backtest and demo.

Every failure the user can act on (bad usage, no stack, port in use, unknown function) is one line
on standard error and a non-zero exit; ``invoke`` prints exactly the handler's result on standard
output. Heavy imports (boto3, moto, samtranslator) happen inside the commands that need them.

The command line is click's: ``--help`` on every command (with examples), ``--version``, and shell
completion (``aupctl completion bash|zsh|fish``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aupctl.errors import CliError
from aupctl.state import DEFAULT_PORT

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aup-enforcer")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def port_option(default: int | None = DEFAULT_PORT) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    text = f"local stack port (default {DEFAULT_PORT})" if default else "only this port"
    return click.option("--port", type=int, default=default, show_default=False, help=text)


json_option = click.option("--json", "as_json", is_flag=True, help="print the admin API's JSON")

# --stack/--region/--profile of the admin commands: the deployed stack they talk to (aupctl/remote.py).
_remote: dict[str, str | None] = {}


def remote_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--stack NAME [--region R] [--profile P]``: the deployed stack's admin API (its ``AdminApiUrl``
    output, SigV4-signed requests) instead of the local stack's function."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, stack: str | None, region: str | None, profile: str | None, **kw: Any) -> Any:
        _remote.clear()
        if stack:
            _remote.update(stack=stack, region=region, profile=profile)
        elif region or profile:
            raise click.UsageError("--region and --profile go with --stack")
        return command(*args, **kw)

    for option in (
        click.option("--profile", default=None, help="AWS profile for --stack (default: the usual chain)"),
        click.option("--region", default=None, help="AWS region of --stack (default: the profile's)"),
        click.option("--stack", default=None, help="a deployed stack's name: its admin API, SigV4-signed"),
    ):
        wrapper = option(wrapper)
    return wrapper


def archive_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--stack NAME [--region R] [--profile P]`` of ``replay`` and ``policy diff``: an ``s3://`` ``--logs``
    archive is read with that deployed stack's session (aupctl/remote.py ``archive_s3``)."""
    for option in (
        click.option("--profile", default=None, help="AWS profile for --stack (default: the usual chain)"),
        click.option("--region", default=None, help="AWS region of --stack (default: the profile's)"),
        click.option(
            "--stack", default=None, help="a deployed stack's name: read an s3:// --logs with its session"
        ),
    ):
        command = option(command)
    return command


def _archive_remote(
    logs: Path | None, stack: str | None, region: str | None, profile: str | None
) -> dict[str, str | None]:
    """The checked ``--stack/--region/--profile`` of an archive-reading command, as keyword arguments."""
    from aupctl.replay import s3_uri

    if not stack:
        if region or profile:
            raise click.UsageError("--region and --profile go with --stack")
        return {}
    if logs is None or s3_uri(logs) is None:
        raise click.UsageError("--stack reads an s3:// --logs archive: pass --logs s3://bucket/prefix")
    return {"stack": stack, "region": region, "profile": profile}


def _function_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Completion of a LogicalId: the functions of the template."""
    try:
        from aupctl.runner import function_specs
        from aupctl.stack import TEMPLATE, load_template

        return sorted(n for n in function_specs(load_template(TEMPLATE)) if n.startswith(incomplete))
    except Exception:
        return []


@click.group(
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl local up
  aupctl accounts create acme-corp --plan standard
  aupctl invoke AuthorizerFunction --event events/AuthorizerFunction/known-key.json
  aupctl replay --logs access.log --dry-run
  aupctl demo --html demo-report.html""",
)
@click.version_option(_version(), "--version", "-V", prog_name="aupctl")
def cli() -> None:
    """aup-enforcer on a local embedded AWS (moto)."""


# ---------------------------------------------------------------------------------------- local (click)


@cli.group(context_settings=CONTEXT)
def local() -> None:
    """Start, stop or inspect the local stack."""


@local.command(
    "up",
    epilog="""\b
Examples:
  aupctl local up
  aupctl local up --port 4570 --no-dispatcher
  aupctl local up --policy my-policy.yaml
  aupctl local up --policy live.yaml --shadow-policy candidate.yaml""",
)
@port_option()
@click.option("--no-dispatcher", is_flag=True, help="do not run the scanner on uploads")
@click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="a policy document for the stack's functions (validated first; put into the local SSM "
    "parameter /aup/policy)",
)
@click.option(
    "--shadow-policy",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="a shadow candidate, decided beside the live policy and never enforced (validated first; "
    "put into /aup/shadow-policy, the stack's ShadowPolicyParameterName)",
)
@click.option("--template", type=click.Path(path_type=Path), default=None, hidden=True)  # tests: a double
def local_up(
    port: int, no_dispatcher: bool, policy: Path | None, shadow_policy: Path | None, template: Path | None
) -> int:
    """Start moto on 127.0.0.1 in the background and deploy template.yaml."""
    return _local(
        argparse.Namespace(
            action="up",
            port=port,
            no_dispatcher=no_dispatcher,
            policy=policy,
            shadow_policy=shadow_policy,
            template=template,
        )
    )


@local.command("down")
@port_option()
def local_down(port: int) -> int:
    """Stop the local stack."""
    return _local(argparse.Namespace(action="down", port=port))


@local.command("status")
@port_option(default=None)
def local_status(port: int | None) -> int:
    """Show the local stack(s); exit 3 when none is ready."""
    return _local(argparse.Namespace(action="status", port=port))


# --------------------------------------------------------------------------------------- invoke (click)


@cli.command(
    "invoke",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl invoke AuthorizerFunction --event events/AuthorizerFunction/known-key.json
  aupctl invoke ApiLogAnalyzerFunction -e events/ApiLogAnalyzerFunction/subscription-scanner.json --at now
  echo '{}' | aupctl invoke SuspensionExpiryFunction --event -""",
)
@click.argument("function", metavar="LogicalId", shell_complete=_function_names)
@click.option("--event", "-e", required=True, help="event JSON file, or - for standard input")
@click.option(
    "--at",
    default=None,
    metavar="now|ISO",
    help="move the event's times so that its latest is this instant (offsets kept): a dated sample "
    "then decides as on the day it was written",
)
@port_option()
def invoke(function: str, event: str, at: str | None, port: int) -> int:
    """Run one function's handler in-process (as `sam local invoke -e`), against the local stack."""
    return _invoke(argparse.Namespace(function=function, event=event, at=at, port=port))


# ------------------------------------------------------------------------------------- accounts (click)


@cli.group(
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl accounts create acme-corp --plan standard
  aupctl accounts show acme-corp
  aupctl accounts suspend acme-corp --reason "abuse report #12" --until 2026-12-31T00:00:00Z
  aupctl accounts list --json""",
)
def accounts() -> None:
    """Accounts, through the admin API function."""


def _accounts_command(action: str, **params: Any) -> int:
    defaults: dict[str, Any] = dict(
        account_id=None,
        plan=None,
        api_key=None,
        reason=None,
        until=None,
        off=False,
        violation_id=None,
        clients=[],
    )
    return _accounts(argparse.Namespace(action=action, **{**defaults, **params}))


@accounts.command(
    "list",
    epilog="""\b
Examples:
  aupctl accounts list --status suspended --plan free
  aupctl accounts list --pending-reviews --search acme
  aupctl accounts list --allowlisted --stack aup-enforcer --json""",
)
@click.option("--status", type=click.Choice(["active", "suspended"]), default=None, help="only this status")
@click.option("--plan", default=None, help="only this plan")
@click.option(
    "--allowlisted/--not-allowlisted", default=None, help="only (not) allowlisted accounts (default: both)"
)
@click.option(
    "--pending-reviews/--no-pending-reviews",
    default=None,
    help="only accounts with (without) pending reviews (default: both)",
)
@click.option("--search", "q", default=None, metavar="Q", help="only account ids containing Q")
@json_option
@port_option()
@remote_options
def accounts_list(
    status: str | None,
    plan: str | None,
    allowlisted: bool | None,
    pending_reviews: bool | None,
    q: str | None,
    as_json: bool,
    port: int,
) -> int:
    """List accounts (every page), filtered as the admin API's GET /accounts filters."""
    filters = dict(status=status, plan=plan, allowlisted=allowlisted, pending_reviews=pending_reviews, q=q)
    return _accounts_command("list", json=as_json, port=port, filters=filters)


@accounts.command("show")
@click.argument("account_id", metavar="ID")
@json_option
@port_option()
@remote_options
def accounts_show(account_id: str, as_json: bool, port: int) -> int:
    """One account and its violations."""
    return _accounts_command("show", account_id=account_id, json=as_json, port=port)


@accounts.command("create")
@click.argument("account_id", metavar="ID")
@click.option("--plan", required=True, help="free, standard, business or enterprise (the policy's plans)")
@click.option("--api-key", default=None, help="the key to register (default: one is generated, shown once)")
@json_option
@port_option()
@remote_options
def accounts_create(account_id: str, plan: str, api_key: str | None, as_json: bool, port: int) -> int:
    """Register an account."""
    return _accounts_command(
        "create", account_id=account_id, plan=plan, api_key=api_key, json=as_json, port=port
    )


@accounts.command("suspend")
@click.argument("account_id", metavar="ID")
@click.option("--reason", required=True)
@click.option("--until", default=None, help="ISO-8601 end of a temporary suspension, with a time zone")
@json_option
@port_option()
@remote_options
def accounts_suspend(account_id: str, reason: str, until: str | None, as_json: bool, port: int) -> int:
    """Suspend an account (indefinitely, or --until a time)."""
    return _accounts_command(
        "suspend", account_id=account_id, reason=reason, until=until, json=as_json, port=port
    )


@accounts.command("reinstate")
@click.argument("account_id", metavar="ID")
@click.option("--reason", required=True)
@json_option
@port_option()
@remote_options
def accounts_reinstate(account_id: str, reason: str, as_json: bool, port: int) -> int:
    """Lift a suspension."""
    return _accounts_command("reinstate", account_id=account_id, reason=reason, json=as_json, port=port)


@accounts.command("violations")
@click.argument("account_id", metavar="ID")
@click.option("--rule", default=None, help="only this rule id")
@click.option("--clause", default=None, help="only this clause")
@click.option("--decision", default=None, help="only this decision (warn, strike, would_strike, ...)")
@json_option
@port_option()
@remote_options
def accounts_violations(
    account_id: str, rule: str | None, clause: str | None, decision: str | None, as_json: bool, port: int
) -> int:
    """An account's violations, newest first."""
    from aupctl import tables
    from aupctl.admin import items_of

    response = _admin(port).violations(account_id, rule=rule, clause=clause, decision=decision)
    return _answer(response, as_json, lambda b: tables.violations_table(items_of(b)))


@accounts.command("audit")
@click.argument("account_id", metavar="ID")
@json_option
@port_option()
@remote_options
def accounts_audit(account_id: str, as_json: bool, port: int) -> int:
    """The account's audit trail, oldest first: when, who, what, from -> to, why, policy version."""
    from aupctl.admin import items_of

    def render(body: Any) -> str:
        rows = [
            f"{a.get('at')}  {a.get('actor')}  {a.get('action')}  "
            f"{a.get('from_status') or '-'} -> {a.get('to_status') or '-'}  "
            f"policy {a.get('policy_version') or '-'}  {a.get('reason')}"
            for a in items_of(body)
        ]
        return "\n".join(rows) or "no audit entries"

    return _answer(_admin(port).audit(account_id), as_json, render)


@accounts.command(
    "export",
    epilog="""\b
Examples:
  aupctl accounts export acme-corp --out acme-corp.evidence.json
  aupctl accounts export acme-corp --stack aup-enforcer --region eu-west-1 --out acme-corp.json
  aupctl accounts export --verify acme-corp.evidence.json    # exit 1 when a hash does not match""",
)
@click.argument("account_id", metavar="ID", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write it here")
@click.option(
    "--verify",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="check a bundle's manifest instead (exit 1 on a mismatch)",
)
@port_option()
@remote_options
def accounts_export(account_id: str | None, out: Path | None, verify: Path | None, port: int) -> int:
    """The account's evidence bundle for the authorities (one JSON document with a SHA-256 manifest)."""
    from aup.usecases.export import verify as verify_bundle

    if verify is not None:
        if account_id or out:
            raise click.UsageError("--verify FILE takes no ID and no --out")
        try:
            bundle = json.loads(verify.read_bytes())
        except (OSError, ValueError) as exc:
            raise CliError(f"{verify}: not a JSON bundle ({exc})") from exc
        problems = verify_bundle(bundle)
        for p in problems:
            print(f"{verify}: {p}", file=sys.stderr)
        if problems:
            return 1
        manifest = bundle["manifest"]
        print(f"{verify}: OK, {len(manifest['parts'])} parts, bundle sha256 {manifest['bundle_sha256']}")
        return 0
    if not account_id:
        raise click.UsageError("an account ID (or --verify FILE) is needed")
    response = _admin(port).export(account_id)
    if not response.ok:
        raise CliError(f"admin API answered {response.status}: {response.error_message()}")
    problems = verify_bundle(response.body)
    if problems:
        raise CliError("the bundle received does not match its own manifest: " + "; ".join(problems))
    text = json.dumps(response.body, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: bundle sha256 {response.body['manifest']['bundle_sha256']}", file=sys.stderr)
    return 0


@accounts.command("void")
@click.argument("account_id", metavar="ID")
@click.argument("violation_id", metavar="VIOLATION_ID")
@click.option("--reason", required=True, help="why the violation was wrong (audited)")
@json_option
@port_option()
@remote_options
def accounts_void(account_id: str, violation_id: str, reason: str, as_json: bool, port: int) -> int:
    """Void a wrongful violation: its strike goes, it stops counting toward the doubling, and a
    suspension resting on it is lifted."""
    return _accounts_command(
        "void", account_id=account_id, violation_id=violation_id, reason=reason, json=as_json, port=port
    )


@accounts.command("allowlist")
@click.argument("account_id", metavar="ID")
@click.option("--off", is_flag=True, help="take the account off the allowlist")
@json_option
@port_option()
@remote_options
def accounts_allowlist(account_id: str, off: bool, as_json: bool, port: int) -> int:
    """Allowlist an account (or --off)."""
    return _accounts_command("allowlist", account_id=account_id, off=off, json=as_json, port=port)


@accounts.command(
    "acts-for",
    epilog="""\b
Examples:
  aupctl accounts acts-for agency-7 client-1 client-2 --reason "agency contract 2026-114"
  aupctl accounts acts-for partner-platform --any --reason "Connect platform"
  aupctl accounts acts-for agency-7 --none""",
)
@click.argument("account_id", metavar="ID")
@click.argument("clients", nargs=-1, metavar="[ACCOUNT]...")
@click.option("--any", "any_account", is_flag=True, help="it may act for any account (a platform)")
@click.option("--none", "no_account", is_flag=True, help="it acts for no other account")
@click.option("--reason", default=None, help="recorded in the audit trail")
@json_option
@port_option()
@remote_options
def accounts_acts_for(
    account_id: str,
    clients: tuple[str, ...],
    any_account: bool,
    no_account: bool,
    reason: str | None,
    as_json: bool,
    port: int,
) -> int:
    """Set the accounts ID may name in X-Account-Id (replacing the list): a platform for its connected
    accounts, an agency for its clients. Claiming them is then not W1-claimed-account."""
    if sum((bool(clients), any_account, no_account)) != 1:
        raise click.UsageError("give the accounts it acts for, or --any, or --none")
    accounts_list = ["*"] if any_account else list(clients)
    return _accounts_command(
        "acts-for", account_id=account_id, clients=accounts_list, reason=reason, json=as_json, port=port
    )


# -------------------------------------------------------------------------------------- reviews (click)


@cli.group(
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl reviews list
  aupctl reviews confirm <review-id> --reason 'checked the logs'
  aupctl reviews dismiss <review-id> --reason 'a false positive'""",
)
def reviews() -> None:
    """Pending reviews, through the admin API function."""


@reviews.command("list")
@json_option
@port_option()
@remote_options
def reviews_list(as_json: bool, port: int) -> int:
    """List pending reviews."""
    return _reviews(argparse.Namespace(action="list", json=as_json, port=port))


@reviews.command("confirm")
@click.argument("review_id", metavar="ID")
@click.option("--reason", required=True)
@json_option
@port_option()
@remote_options
def reviews_confirm(review_id: str, reason: str, as_json: bool, port: int) -> int:
    """Confirm a review: the ladder then applies."""
    return _reviews(
        argparse.Namespace(action="confirm", review_id=review_id, reason=reason, json=as_json, port=port)
    )


@reviews.command("dismiss")
@click.argument("review_id", metavar="ID")
@click.option("--reason", required=True)
@json_option
@port_option()
@remote_options
def reviews_dismiss(review_id: str, reason: str, as_json: bool, port: int) -> int:
    """Dismiss a review: nothing is enforced."""
    return _reviews(
        argparse.Namespace(action="dismiss", review_id=review_id, reason=reason, json=as_json, port=port)
    )


# ------------------------------------------------------------------------------------- console (click)


@cli.command(
    "console",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl console --as operator
  aupctl console --port 4570 --listen 8080 --no-open
  aupctl console --stack aup-prod   # prints the deployed console's URL""",
)
@port_option()
@click.option("--listen", type=int, default=None, help="the console's loopback port (default: a free one)")
@click.option(
    "--as",
    "role",
    type=click.Choice(["viewer", "operator", "admin"]),
    default=None,
    help="sign in as the local user local-ROLE, no password (local stack only)",
)
@click.option("--no-open", is_flag=True, help="do not open a browser")
@remote_options
def console_command(port: int, listen: int | None, role: str | None, no_open: bool) -> int:
    """The operators' console against the local stack, on a loopback port, until Ctrl-C."""
    if _remote.get("stack"):
        if role:
            raise CliError(
                "--as signs in without a password: local stack only, never with --stack", exit_code=2
            )
        from aupctl import console, remote

        boto_session = remote.session(_remote.get("region"), _remote.get("profile"))
        url = console.stack_console_url(boto_session, str(_remote["stack"]))
        print(f"the console of stack {_remote['stack']}: {url} (sign in with your user pool account)")
        return 0
    from aupctl import console

    return console.run(port, listen, role, not no_open, lambda line: print(line, flush=True))


# -------------------------------------------------------------------------------- replay, demo (click)


@cli.command(
    "replay",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl replay --logs access.log --dry-run
  aupctl replay --logs - --format clf --json < access.log
  aupctl replay --logs access.log --dry-run --policy candidate.yaml
  aupctl replay --logs s3://ARCHIVE/access-logs/2026/11/27/ --dry-run --stack aup-enforcer""",
)
@click.option(
    "--logs",
    required=True,
    type=click.Path(path_type=Path, allow_dash=True),
    help="access-log file (.gz too), - for standard input, or s3://bucket/prefix (its objects in key order)",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", "json", "clf"]), default="auto", show_default=True
)
@click.option("--dry-run", is_flag=True, help="decide against an empty ledger; change no flag")
@click.option("--json", "as_json", is_flag=True, help="print the decisions as JSON")
@click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="detect and decide under this policy document instead of the stack's (validated first)",
)
@port_option()
@archive_options
def replay(
    logs: Path,
    fmt: str,
    dry_run: bool,
    as_json: bool,
    policy: Path | None,
    port: int,
    stack: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Backtest the log analyzer on a file of access-log lines."""
    remote = _archive_remote(logs, stack, region, profile)
    return _replay(
        argparse.Namespace(
            logs=logs, format=fmt, dry_run=dry_run, json=as_json, policy=policy, port=port, **remote
        )
    )


# --------------------------------------------------------------------------------------- policy (click)


@cli.group(
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl policy validate candidate.yaml
  aupctl policy diff --candidate candidate.yaml --since 30d
  aupctl policy diff --candidate candidate.yaml --logs access.log --json --html diff.html
  aupctl policy diff --candidate candidate.yaml --logs s3://ARCHIVE/access-logs/ --stack aup-enforcer
  aupctl policy diff --candidate candidate.yaml --corpus all   # honest customers it would wrong
  aupctl policy encode candidate.yaml   # the SSM value (compressed when over 4,096 characters)
  aupctl policy shadow-report --since 7d
  aupctl policy promote            # the shadow candidate becomes live
  aupctl policy promote --rollback""",
)
def policy() -> None:
    """Check a policy document and see what it would change before it is live."""


@policy.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print {valid, errors} as JSON")
def policy_validate(file: Path, as_json: bool) -> int:
    """Validate FILE: the schema, then every rule a detector emits and every plan in full.
    Exit 0 valid, 1 invalid (each bad field named), 2 unreadable."""
    from aupctl.policy import validate

    return validate(file, as_json)


@policy.command(
    "encode",
    epilog="""\b
Examples:
  aws ssm put-parameter --name /aup/policy --type String --overwrite --tier Advanced \\
      --value "$(aupctl policy encode policy.yaml)"
  aupctl policy encode policy.yaml > /dev/null    # the tier it needs, on stderr""",
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def policy_encode(file: Path) -> int:
    """Print the value to put into the policy's SSM parameter (as written when it fits 4,096
    characters, else gzip+base64, read back by the functions as is); its size and tier on stderr.
    Refused (exit 1) when the document does not validate or would not fit even compressed."""
    from aupctl.policy import encode_command

    return encode_command(file)


@policy.command("diff")
@click.option(
    "--candidate", required=True, type=click.Path(path_type=Path, dir_okay=False), help="the policy to try"
)
@click.option("--since", default="30d", show_default=True, help="recorded violations this recent (30d, 12h)")
@click.option(
    "--logs",
    type=click.Path(path_type=Path, allow_dash=True),
    default=None,
    help="archived access logs to replay under both policies too (as `aupctl replay`: a file, .gz, -, "
    "or s3://bucket/prefix)",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", "json", "clf"]), default="auto", show_default=True
)
@click.option(
    "--corpus",
    type=click.Choice(["fast", "all"]),
    default=None,
    help="also run make eval's honest corpus under the candidate (a private local stack) and list "
    "every honest scenario it would suspend, strike or deny; exit 1 when any",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="with --corpus: these honest scenarios only (python -m tests.eval --list)",
)
@click.option("--json", "as_json", is_flag=True, help="print the diff as JSON")
@click.option("--html", type=click.Path(path_type=Path), default=None, help="write an HTML report here")
@port_option()
@archive_options
def policy_diff(
    candidate: Path,
    since: str,
    logs: Path | None,
    fmt: str,
    corpus: str | None,
    scenarios: tuple[str, ...],
    as_json: bool,
    html: Path | None,
    port: int,
    stack: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Replay the recorded findings under the live policy and the candidate; print what would change.
    With --corpus, check the candidate against the honest corpus too (no stack needed for that)."""
    from aupctl.policy import diff
    from aupctl.replay import archive_client

    remote = _archive_remote(logs, stack, region, profile)

    return diff(
        candidate,
        since=since,
        logs=logs,
        fmt=fmt,
        as_json=as_json,
        html=html,
        port=port,
        corpus=corpus,
        scenarios=scenarios,
        s3=archive_client(port, **remote) if remote else None,
    )


@policy.command("shadow-report")
@click.option("--since", default="7d", show_default=True, help="shadow decisions this recent (7d, 12h)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@port_option()
def policy_shadow_report(since: str, as_json: bool, port: int) -> int:
    """Per account, where the live policy and the shadow candidate (ShadowPolicyParameterName) decided
    differently on the findings the stack met."""
    from aupctl.policy import shadow_report_command

    return shadow_report_command(since=since, as_json=as_json, port=port)


@policy.command("promote")
@click.option("--rollback", is_flag=True, help="put the live parameter's previous version back instead")
@click.option(
    "--candidate-parameter",
    default=None,
    help="the SSM parameter to promote (default: the stack's ShadowPolicyParameterName)",
)
@click.option("--actor", default=None, help="who, for the audit item (default: the caller's identity)")
@click.option("--json", "as_json", is_flag=True, help="print the change as JSON")
@port_option()
def policy_promote(
    rollback: bool, candidate_parameter: str | None, actor: str | None, as_json: bool, port: int
) -> int:
    """Make the candidate policy live: a new version of the live SSM parameter (validated first), the
    previous version kept for --rollback, and an audit item (who, when, from -> to version)."""
    from aupctl.policy import promote_command

    return promote_command(
        rollback=rollback, candidate_parameter=candidate_parameter, actor=actor, as_json=as_json, port=port
    )


# ------------------------------------------------------------------------------- hash, banks (click)


@cli.command(
    "hash",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl hash photo.jpg scan.png
  aupctl hash --json *.jpg""",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print a JSON list")
def hash_cmd(files: tuple[Path, ...], as_json: bool) -> int:
    """Print FILE pdq=<64 hex> quality=<0-100> md5=<hex> sha256=<hex> per file (the scanner's code)."""
    from aupctl.banks import hash_files

    return hash_files(files, as_json)


banks_uri = click.option(
    "--uri", default=None, help="s3://bucket/prefix/ of the banks (default $AUP_BANKS_URI)"
)
banks_port = click.option("--port", type=int, default=None, help="the local stack's port (default: real AWS)")


@cli.group(
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl banks import known-illegal list.csv --kind pdq --clause W4 --source lantern --list-version 2026-11
  aupctl banks import infringing-acme md5s.txt --kind md5 --clause I1
  aupctl banks add known-illegal <64 hex> --reason 'ticket 123'
  aupctl banks list
  aupctl banks show known-illegal
  aupctl banks match upload.jpg
  aupctl banks remove infringing-acme --reason 'licence granted'""",
)
def banks() -> None:
    """Hash banks (PDQ, MD5, SHA-256) of clauses I2, W4 and I1, on S3: import, list, show, match."""


@banks.command("import")
@click.argument("bank")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=False))
@click.option(
    "--kind", type=click.Choice(["pdq", "md5", "sha256"]), default=None, help="needed for a new bank"
)
@click.option("--clause", type=click.Choice(["I2", "W4", "I1"]), default=None, help="needed for a new bank")
@click.option("--source", default="", help="who published the list (default: the file's name)")
@click.option("--list-version", default="", help="the list's version or date")
@click.option("--threshold", type=int, default=None, help="PDQ match distance in bits (default 31)")
@click.option("--merge", is_flag=True, help="add to the bank instead of replacing its content")
@click.option("--json", "as_json", is_flag=True)
@banks_uri
@banks_port
def banks_import(
    bank: str,
    file: Path,
    kind: str | None,
    clause: str | None,
    source: str,
    list_version: str,
    threshold: int | None,
    merge: bool,
    as_json: bool,
    uri: str | None,
    port: int | None,
) -> int:
    """Import FILE (one hash per line, or CSV with a hash column and metadata) into BANK: audited."""
    from aupctl import banks as b

    return int(
        b.import_file(
            bank,
            file,
            uri=uri,
            port=port,
            kind=kind,
            clause=clause,
            source=source,
            list_version=list_version,
            threshold=threshold,
            merge=merge,
            as_json=as_json,
        )
    )


@banks.command("list")
@click.option("--json", "as_json", is_flag=True)
@banks_uri
@banks_port
def banks_list(as_json: bool, uri: str | None, port: int | None) -> int:
    """List the banks: kind, clause, threshold, size, provenance."""
    from aupctl import banks as b

    return int(b.list_all(uri=uri, port=port, as_json=as_json))


@banks.command("show")
@click.argument("bank")
@click.option("--limit", type=int, default=20, show_default=True, help="hashes to print")
@click.option("--json", "as_json", is_flag=True)
@banks_uri
@banks_port
def banks_show(bank: str, limit: int, as_json: bool, uri: str | None, port: int | None) -> int:
    """One bank's metadata and its first hashes."""
    from aupctl import banks as b

    return int(b.show(bank, uri=uri, port=port, limit=limit, as_json=as_json))


@banks.command("remove")
@click.argument("bank")
@click.option("--reason", required=True, help="why (audited)")
@banks_uri
@banks_port
def banks_remove(bank: str, reason: str, uri: str | None, port: int | None) -> int:
    """Remove BANK from the index and delete its hashes. Audited."""
    from aupctl import banks as b

    return int(b.remove(bank, uri=uri, port=port, reason=reason))


@banks.command("add")
@click.argument("bank")
@click.argument("value", metavar="HASH")
@click.option("--reason", required=True, help="why (audited)")
@click.option("--note", default="", help="kept with the hash")
@banks_uri
@banks_port
def banks_add(bank: str, value: str, reason: str, note: str, uri: str | None, port: int | None) -> int:
    """Add one HASH to an existing BANK. Audited (operator, reason)."""
    from aupctl import banks as b

    return int(b.add(bank, value, uri=uri, port=port, reason=reason, note=note))


@banks.command("match")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--min-quality", type=int, default=50, show_default=True, help="PDQ quality below: no match")
@click.option("--json", "as_json", is_flag=True)
@banks_uri
@banks_port
def banks_match(
    files: tuple[Path, ...], min_quality: int, as_json: bool, uri: str | None, port: int | None
) -> int:
    """Match FILEs against every bank (the scanner's hashing code). Exit 1 when any matches."""
    from aupctl import banks as b

    return int(b.match(files, uri=uri, port=port, min_quality=min_quality, as_json=as_json))


@cli.command(
    "demo",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  aupctl demo
  aupctl demo --html demo-report.html""",
)
@click.option("--html", type=click.Path(path_type=Path), default=None, help="write an HTML report here")
@click.option("--port", type=int, default=None, help="port for the demo stack (default: a free one)")
def demo(html: Path | None, port: int | None) -> int:
    """A fresh stack, a scenario through every signal, a report."""
    return _demo(argparse.Namespace(html=html, port=port))


@cli.command(
    "completion",
    context_settings=CONTEXT,
    epilog="""\b
Examples:
  eval "$(aupctl completion bash)"     # in ~/.bashrc
  aupctl completion fish > ~/.config/fish/completions/aupctl.fish""",
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the shell completion script for SHELL."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "aupctl", "_AUPCTL_COMPLETE").source())
    return 0


def main(argv: list[str] | None = None) -> int:
    """The console script: the exit code of the command (never raises for what the user can act on)."""
    try:
        from aupctl.clock import shift_from_environment

        shift_from_environment()  # AUP_CLOCK_SHIFT_DAYS (the test suite's clock-shift guard)
        result = cli.main(args=argv, prog_name="aupctl", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Abort:
        print("aupctl: interrupted", file=sys.stderr)
        return 130
    except click.ClickException as err:
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (see `{err.ctx.command_path} --help`)"
        print(f"aupctl: {err.format_message()}{hint}", file=sys.stderr)
        return err.exit_code
    except CliError as err:
        print(f"aupctl: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("aupctl: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------------------- local


def _local(args: argparse.Namespace) -> int:
    from aupctl import local

    if args.action == "up":
        from aupctl.stack import TEMPLATE

        st, started = local.up(
            args.port,
            dispatcher=not args.no_dispatcher,
            template=args.template or TEMPLATE,
            policy=args.policy,
            shadow_policy=getattr(args, "shadow_policy", None),
        )
        if not started:
            print(
                f"already running on port {st.port} (pid {st.pid}); "
                f"`aupctl local down --port {st.port}` stops it"
            )
            return 0
        from aupctl.runner import LocalStack

        print(
            f"local stack {st.stack} up on {st.endpoint} (pid {st.pid}; dispatcher "
            f"{'on' if st.dispatcher else 'off'})"
        )
        for key, value in sorted(LocalStack(st.port, st.stack).outputs().items()):
            print(f"  {key:24} {value}")
        print(
            f"  use: AWS_ENDPOINT_URL={st.endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            "AWS_DEFAULT_REGION=us-east-1"
        )
        return 0
    if args.action == "down":
        if local.down(args.port):
            print(f"stopped the local stack on port {args.port}")
        else:
            print(f"no local stack on port {args.port}")
        return 0
    found = local.status(args.port)
    if not found:
        print("no local stack" + (f" on port {args.port}" if args.port else ""))
        return 3
    for port, text in found:
        print(f"port {port}: {text}")
    return 0 if any(text.startswith("ready") for _, text in found) else 3


# --------------------------------------------------------------------------------------------- invoke


def read_event(source: str) -> Any:
    if source == "-":
        text = sys.stdin.read()
        where = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise CliError(f"event file {source} does not exist")
        text = path.read_text(encoding="utf-8")
        where = source
    try:
        return json.loads(text)
    except ValueError as err:
        raise CliError(f"event in {where} is not valid JSON: {err}") from err


def _rebased(event: Any, at_text: str) -> Any:
    """``--at``: the event with its times moved (a note on stderr; standard output stays the result)."""
    from aupctl.clock import parse_instant
    from aupctl.rebase import rebase

    at = parse_instant(at_text)
    moved = rebase(event, at)
    if moved.shift is None or moved.latest is None:
        print("aupctl: --at: the event names no time that happened; invoked as it is", file=sys.stderr)
        return event
    print(
        f"aupctl: --at: {moved.times} time(s) moved by {_signed(moved.shift)}: the event's latest, "
        f"{moved.latest.isoformat()}, is now {at.isoformat()}",
        file=sys.stderr,
    )
    return moved.event


def _signed(delta: Any) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else "+"
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{sign}{int(days)}d {int(hours):02d}:{int(rest // 60):02d}:{rest % 60:06.3f}"


def _template_for(port: int) -> tuple[Path, str]:
    from aupctl import state
    from aupctl.stack import DEFAULT_STACK, TEMPLATE

    recorded = state.load_state(port)
    return (Path(recorded.template), recorded.stack) if recorded else (TEMPLATE, DEFAULT_STACK)


def _invoke(args: argparse.Namespace) -> int:
    from aupctl.runner import FunctionRunner, LocalStack

    template, stack_name = _template_for(args.port)
    offline = LocalStack(args.port, stack_name, template)
    FunctionRunner(offline).spec(args.function)  # unknown function: an error before anything else
    event = read_event(args.event)
    if args.at is not None:
        event = _rebased(event, args.at)
    runner = FunctionRunner(LocalStack.connect(args.port))
    real_stdout = sys.stdout
    try:
        outcome = runner.invoke(args.function, event)
    except CliError:
        raise
    except Exception as err:
        import traceback

        traceback.print_exc(file=sys.stderr)
        first = str(err).splitlines()[0] if str(err) else ""
        print(
            f"aupctl: {args.function} raised {type(err).__name__}{': ' + first if first else ''}",
            file=sys.stderr,
        )
        return 1
    try:
        text = json.dumps(outcome.result)
    except (TypeError, ValueError) as err:
        raise CliError(f"{args.function} returned a result that is not JSON: {err}") from err
    if outcome.metrics_published:
        print(
            f"aupctl: published {outcome.metrics_published} metric value(s) to the local CloudWatch",
            file=sys.stderr,
        )
    real_stdout.write(text + "\n")
    real_stdout.flush()
    return 0


# ------------------------------------------------------------------------------------- admin commands


def _admin(port: int) -> Any:
    from aupctl.admin import FUNCTION, AdminClient
    from aupctl.runner import FunctionRunner, LocalStack

    if _remote.get("stack"):
        from aupctl import remote

        return remote.client(str(_remote["stack"]), _remote.get("region"), _remote.get("profile"))
    runner = FunctionRunner(LocalStack.connect(port))
    if runner.spec(FUNCTION).is_placeholder:
        raise CliError(f"{FUNCTION} is not implemented yet (functions/admin_api/app.py is a placeholder)")
    return AdminClient(runner)


def _answer(response: Any, as_json: bool, render: Any) -> int:
    if as_json:
        print(json.dumps(response.body, indent=2, default=str))
        return 0 if response.ok else 1
    if not response.ok:
        raise CliError(f"admin API answered {response.status}: {response.error_message()}")
    print(render(response.body))
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from aupctl import tables
    from aupctl.admin import items_of

    client = _admin(args.port)

    def one(body: Any) -> str:
        text = tables.accounts_table([body] if isinstance(body, dict) else [])
        if isinstance(body, dict) and body.get("api_key"):
            text += f"\napi key (shown once, store it now): {body['api_key']}"
        return text

    action = args.action
    if action == "list":
        listed = client.all_accounts(**getattr(args, "filters", {}))
        return _answer(listed, args.json, lambda b: tables.accounts_table(items_of(b)))
    if action == "create":
        return _answer(client.create_account(args.account_id, args.plan, args.api_key), args.json, one)
    if action == "suspend":
        return _answer(client.suspend(args.account_id, args.reason, args.until), args.json, one)
    if action == "reinstate":
        return _answer(client.reinstate(args.account_id, args.reason), args.json, one)
    if action == "allowlist":
        return _answer(client.allowlist(args.account_id, not args.off), args.json, one)
    if action == "acts-for":
        return _answer(client.acts_for(args.account_id, args.clients, args.reason), args.json, one)
    if action == "void":
        return _answer(client.void(args.account_id, args.violation_id, args.reason), args.json, one)
    if action == "violations":
        return _answer(
            client.violations(args.account_id), args.json, lambda b: tables.violations_table(items_of(b))
        )
    # show: the account, then its violations
    account = client.get_account(args.account_id)
    if args.json or not account.ok:
        return _answer(account, args.json, one)
    violations = client.violations(args.account_id)
    print(one(account.body))
    print("\nviolations (newest first):")
    print(
        tables.violations_table(items_of(violations.body))
        if violations.ok
        else f"  could not list: {violations.status} {violations.error_message()}"
    )
    return 0


def _reviews(args: argparse.Namespace) -> int:
    from aupctl import tables
    from aupctl.admin import items_of

    client = _admin(args.port)
    if args.action == "list":
        return _answer(client.list_reviews(), args.json, lambda b: tables.reviews_table(items_of(b)))
    response = client.decide_review(args.review_id, args.action, args.reason)
    return _answer(response, args.json, lambda b: tables.reviews_table([b] if isinstance(b, dict) else []))


# ------------------------------------------------------------------------------------- replay and demo


def _replay(args: argparse.Namespace) -> int:
    from aupctl.replay import run

    return run(args)


def _demo(args: argparse.Namespace) -> int:
    from aupctl.demo import run

    return run(html=args.html, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
