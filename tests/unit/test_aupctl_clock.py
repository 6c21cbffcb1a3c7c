"""``AUP_CLOCK_SHIFT_DAYS``: the clock of ``aupctl`` and its local server, moved as the guard moves the tests'."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aupctl.clock import ENV, shift_from_environment
from aupctl.errors import CliError

ROOT = Path(__file__).resolve().parents[2]
FROZEN = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

PROBE = """
import time, time_machine
from aupctl.clock import shift_from_environment
days = shift_from_environment()
print(days, (time.time() - time_machine.escape_hatch.time.time()) / 86400)
"""


def test_a_fresh_process_takes_the_shift_from_its_environment():
    env = {**os.environ, ENV: "400", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert float(out[0]) == 400 and float(out[1]) == pytest.approx(400, abs=0.01)


@pytest.mark.time_machine(FROZEN, tick=False)
def test_a_process_that_already_travels_is_shifted_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, "400")
    assert shift_from_environment() == 400  # aupctl.cli.main in-process under the guard: no second shift
    assert datetime.now(UTC) == FROZEN


def test_unset_zero_and_bad_values(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV, raising=False)
    assert shift_from_environment() == 0
    monkeypatch.setenv(ENV, "0")
    assert shift_from_environment() == 0
    monkeypatch.setenv(ENV, "a year")
    with pytest.raises(CliError, match="not a number of days"):
        shift_from_environment()
