"""The local runner's wall clock, and the instants ``aupctl`` accepts (``--at now|ISO``).

``AUP_CLOCK_SHIFT_DAYS=N`` moves this process's wall clock N days ahead (time-machine, ticking), for
``aupctl`` and for the local stack's server process, which inherits the variable. The test suite's
clock-shift guard (``tests/clockshift.py``, ``make test-future``) shifts its own clock and exports the
variable, so the processes a test starts live on the same clock as the test. time-machine is a
development dependency, as moto is: the variable is for the local stack only, never for a deployment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from aupctl.errors import CliError

ENV = "AUP_CLOCK_SHIFT_DAYS"


def shift_from_environment() -> float:
    """Start the shift ``AUP_CLOCK_SHIFT_DAYS`` asks for; the days shifted (0 when unset).

    A process that already travels (a test calling ``aupctl.cli.main`` in-process under the guard, or a
    test that froze its clock) is left as it is: the shift applies once per process.
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 0.0
    try:
        days = float(raw)
    except ValueError:
        raise CliError(f"{ENV}={raw!r} is not a number of days") from None
    if not days:
        return 0.0
    try:
        import time_machine
    except ImportError:
        raise CliError(f"{ENV} is set but time-machine is not installed (pip install time-machine)") from None
    if time_machine.traveller_stack:
        return days
    time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True).start()
    return days


def parse_instant(text: str) -> datetime:
    """``now`` (this process's clock, to the second: every time an event carries, rounded to its own
    precision, then stays at or before it) or an ISO-8601 date-time (UTC when it names no zone)."""
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(f"--at {text!r}: expected 'now' or an ISO-8601 time (2026-11-27T12:00:00Z)") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
