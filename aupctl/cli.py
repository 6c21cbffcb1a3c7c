"""``aupctl``: the local stack, in-process invocation, operators' commands, backtest and demo.

Every failure the user can act on (bad usage, no stack, port in use, unknown function) is one line
on standard error and a non-zero exit; ``invoke`` prints exactly the handler's result on standard
output. Heavy imports (boto3, moto, samtranslator) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aupctl.errors import CliError
from aupctl.state import DEFAULT_PORT


def _port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"local stack port (default {DEFAULT_PORT})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aupctl", description="aup-enforcer on a local embedded AWS (moto)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="start, stop or inspect the local stack")
    local_cmds = local.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = local_cmds.add_parser(
        "up", help="start moto on 127.0.0.1 in the background and deploy template.yaml"
    )
    _port(up)
    up.add_argument("--no-dispatcher", action="store_true", help="do not run the scanner on uploads")
    up.add_argument("--template", type=Path, default=None, help=argparse.SUPPRESS)  # tests: a test double
    down = local_cmds.add_parser("down", help="stop the local stack")
    _port(down)
    status = local_cmds.add_parser("status", help="show the local stack(s)")
    status.add_argument("--port", type=int, default=None, help="only this port")

    invoke = commands.add_parser(
        "invoke", help="run one function's handler in-process against the local stack"
    )
    invoke.add_argument("function", metavar="LogicalId")
    invoke.add_argument("--event", "-e", required=True, help="event JSON file, or - for standard input")
    _port(invoke)

    accounts = commands.add_parser("accounts", help="accounts, through the admin API function")
    acc = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, helptext in (
        ("list", "list accounts"),
        ("show", "one account and its violations"),
        ("create", "register an account"),
        ("suspend", "suspend an account"),
        ("reinstate", "lift a suspension"),
        ("violations", "an account's violations"),
        ("allowlist", "allowlist an account (or --off)"),
    ):
        p = acc.add_parser(name, help=helptext)
        if name != "list":
            p.add_argument("account_id", metavar="ID")
        if name == "create":
            p.add_argument("--plan", required=True)
            p.add_argument("--api-key", default=None)
        if name in ("suspend", "reinstate"):
            p.add_argument("--reason", required=True)
        if name == "suspend":
            p.add_argument("--until", default=None, help="ISO-8601 end of a temporary suspension")
        if name == "allowlist":
            p.add_argument("--off", action="store_true")
        p.add_argument("--json", action="store_true", help="print the API's JSON")
        _port(p)

    reviews = commands.add_parser("reviews", help="pending reviews, through the admin API function")
    rev = reviews.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name in ("list", "confirm", "dismiss"):
        p = rev.add_parser(name, help=f"{name} review(s)")
        if name != "list":
            p.add_argument("review_id", metavar="ID")
            p.add_argument("--reason", required=True)
        p.add_argument("--json", action="store_true", help="print the API's JSON")
        _port(p)

    replay = commands.add_parser("replay", help="backtest the log analyzer on a file of access-log lines")
    replay.add_argument("--logs", required=True, type=Path, help="access-log file (- for standard input)")
    replay.add_argument("--format", choices=("auto", "json", "clf"), default="auto")
    replay.add_argument(
        "--dry-run", action="store_true", help="decide against an empty ledger; change no flag"
    )
    replay.add_argument("--json", action="store_true", help="print the decisions as JSON")
    _port(replay)

    demo = commands.add_parser("demo", help="a fresh local stack, a scenario through every signal, a report")
    demo.add_argument("--html", type=Path, default=None, help="write an HTML report here")
    demo.add_argument("--port", type=int, default=None, help="port for the demo stack (default: a free one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler = {
            "local": _local,
            "invoke": _invoke,
            "accounts": _accounts,
            "reviews": _reviews,
            "replay": _replay,
            "demo": _demo,
        }[args.command]
        return handler(args)
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
            args.port, dispatcher=not args.no_dispatcher, template=args.template or TEMPLATE
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
        return _answer(client.list_accounts(), args.json, lambda b: tables.accounts_table(items_of(b)))
    if action == "create":
        return _answer(client.create_account(args.account_id, args.plan, args.api_key), args.json, one)
    if action == "suspend":
        return _answer(client.suspend(args.account_id, args.reason, args.until), args.json, one)
    if action == "reinstate":
        return _answer(client.reinstate(args.account_id, args.reason), args.json, one)
    if action == "allowlist":
        return _answer(client.allowlist(args.account_id, not args.off), args.json, one)
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
