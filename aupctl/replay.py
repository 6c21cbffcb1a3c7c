"""``aupctl replay``: backtest the log analyzer on a file of access-log lines (wired when it lands)."""

from __future__ import annotations

import argparse

from aupctl.errors import CliError


def run(args: argparse.Namespace) -> int:
    raise CliError("replay needs the log analyzer (aup.logs), which is not implemented yet")
