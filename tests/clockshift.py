"""The clock-shift guard: the whole test session with the wall clock moved ahead (``make test-future``).

``pytest --clock-shift-days 400`` (or ``AUP_CLOCK_SHIFT_DAYS=400 pytest``) starts
``time_machine.travel(now + 400 days, tick=True)`` at configure time, before any test module is
imported, in the controller and in every xdist worker. A test that depends on the wall clock without
saying so (a fixed date in an event that the code judges against the real clock: a time bomb) then
fails the day it is written instead of a week later on everybody's machine.

What the shift reaches, and what a test does about what it does not:

- everything in this process: the code under test, moto under ``mock_aws``, a moto server started in
  a thread of this process (``aupctl.server._serve``);
- processes started from here take the shift through ``AUP_CLOCK_SHIFT_DAYS``, which this plugin
  exports and ``aupctl`` honours (``aupctl.clock``): ``aupctl ...`` and the local stack's server;
- a test that freezes its own clock (``@pytest.mark.time_machine(FIXED, tick=False)``, the way every
  test with a fixed date does) travels from the shifted clock to its date and back: nested travels.

Tests that start servers or subprocesses carry ``@pytest.mark.server`` (the reason is in the marker's
description in pyproject.toml); the guard's make target leaves them out for time, not because the
shift would not reach them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

ENV = "AUP_CLOCK_SHIFT_DAYS"  # the same name aupctl.clock reads
_TRAVEL = pytest.StashKey[Any]()
_DAYS = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-shift-days",
        type=float,
        default=None,
        metavar="DAYS",
        help=f"run the session with the wall clock DAYS ahead (time-machine; default: ${ENV} or 0)",
    )


def shift_days(config: pytest.Config) -> float:
    days = config.getoption("clock_shift_days")
    if days is None:
        raw = os.environ.get(ENV, "").strip()
        days = float(raw) if raw else 0.0
    return float(days)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    days = shift_days(config)
    config.stash[_DAYS] = days
    if not days:
        return
    import time_machine

    travel = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
    travel.start()
    config.stash[_TRAVEL] = travel
    os.environ[ENV] = f"{days:g}"  # xdist workers and every subprocess: the same shift


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_TRAVEL, None)
    if travel is not None:
        travel.stop()
        del config.stash[_TRAVEL]


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.stash.get(_DAYS, 0.0)
    if not days:
        return None
    return f"clock shifted {days:+g} days (time-machine): now is {datetime.now(UTC).isoformat(timespec='seconds')}"
