"""``python -m tests.eval [--fast] [--strict] [--json FILE] [--port N] [--only NAME ...]`` (``make eval``).

Without ``--port`` a fresh local stack is started (``aupctl local up`` without its dispatcher: the eval
drains the uploads queue itself) and stopped at the end. ``--policy FILE`` starts it with that policy
document live (``aupctl local up --policy``; ``make eval POLICY=FILE``): the corpus judged under a
candidate, as ``aupctl policy diff --corpus`` runs it with ``--honest``. Exit status: 1 when an honest scenario not
marked known is suspended, struck or denied (with ``--strict``: any honest scenario), 2 on a harness
error; missed attacks are printed, they do not fail the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.eval.corpus import SCENARIOS
from tests.eval.model import Scenario


def select(fast: bool, only: list[str] | None, label: str | None = None) -> list[tuple[int, Scenario]]:
    chosen = []
    for i, sc in enumerate(SCENARIOS):
        if only and sc.name not in only:
            continue
        if label is not None and sc.label != label:
            continue
        if fast and not only and not sc.fast:
            continue
        chosen.append((i, sc))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the CI subset (a handful of each half)")
    parser.add_argument("--strict", action="store_true", help="fail on any honest failure, known ones too")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--port", type=int, help="use the local stack already running on this port")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these scenarios only")
    parser.add_argument("--no-matrix", action="store_true", help="skip the scanner matrix")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument(
        "--policy", type=Path, help="start the stack with this policy document live (not with --port)"
    )
    parser.add_argument("--honest", action="store_true", help="the honest half only")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)

    if args.list:
        for sc in SCENARIOS:
            flags = " ".join(
                f for f in ("fast" if sc.fast else "", f"known:{sc.known}" if sc.known else "") if f
            )
            print(f"{sc.label:6} {sc.plan:10} {sc.name:30} {sc.story} {flags}")
        return 0
    unknown = set(args.only or []) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    from aupctl import local, state
    from aupctl.errors import CliError
    from aupctl.runner import FunctionRunner, LocalStack
    from tests.eval.harness import Harness
    from tests.eval.report import exit_status, print_report, write_json

    if args.policy is not None and args.port is not None:
        parser.error("--policy starts a stack of its own: it cannot be used with --port")
    scenarios = select(args.fast, args.only, "honest" if args.honest else None)
    started = time.monotonic()
    port = args.port
    fresh = port is None
    if fresh:
        port = state.free_port()
        under = f" under {args.policy}" if args.policy is not None else ""
        print(f"eval: starting a local stack on port {port}{under} ...", flush=True)
        try:
            local.up(port, dispatcher=False, policy=args.policy)
        except CliError as err:  # a policy that does not validate (or fit SSM): its fields named
            print(f"eval: {err}", file=sys.stderr)
            return 2
    assert port is not None
    log_path = state.state_dir() / f"eval-{port}.log"
    try:
        with log_path.open("a", encoding="utf-8") as log:
            runner = FunctionRunner(LocalStack.connect(port), log_stream=log)
            print(
                f"eval: {len(scenarios)} scenarios on {runner.local.endpoint}; function logs in {log_path}",
                flush=True,
            )
            harness = Harness(runner, seed=args.seed, say=lambda s: print(s, flush=True))
            report = harness.run(scenarios, matrix=not args.fast and not args.only and not args.no_matrix)
            runner.close()
    finally:
        if fresh:
            local.down(port)
    print_report(report)
    print(f"({report.seconds:.0f} s of scenarios, {time.monotonic() - started:.0f} s in all)")
    if args.json:
        write_json(report, args.json)
        print(f"JSON: {args.json}")
    return exit_status(report, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
