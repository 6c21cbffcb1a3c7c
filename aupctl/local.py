"""``aupctl local up|down|status``: the detached server process and its lifecycle."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aupctl import state
from aupctl.errors import CliError
from aupctl.stack import DEFAULT_STACK, ROOT, TEMPLATE

START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0


def up(
    port: int,
    dispatcher: bool = True,
    template: Path = TEMPLATE,
    stack: str = DEFAULT_STACK,
    timeout: float = START_TIMEOUT,
    policy: Path | None = None,
    shadow_policy: Path | None = None,
) -> tuple[state.ServerState, bool]:
    """Start the server on ``port`` and wait until its stack is deployed.

    ``policy``: a policy document for the stack's functions. It is validated here (CliError naming
    every bad field: nothing starts); the server puts it into the local SSM parameter
    ``/aup/policy`` and deploys with ``PolicyParameterName`` naming it. ``shadow_policy``: a shadow
    candidate, validated the same way, put into ``/aup/shadow-policy`` and named by
    ``ShadowPolicyParameterName`` (shadow mode: ``aupctl policy shadow-report``, ``promote``). A stack
    already running keeps the policies it was started with.

    Returns (its state, True when it was started now / False when it was already running).
    Raises CliError when the port is taken by something else or the server fails to start.
    """
    if policy is not None:
        from aupctl.policy import require_valid

        require_valid(policy)
    if shadow_policy is not None:
        from aupctl.policy import require_valid

        require_valid(shadow_policy, "shadow policy")
    existing = state.load_state(port)
    if existing is not None and state.pid_alive(existing.pid):
        if existing.status == "starting":
            return _wait_ready(port, None, timeout), False
        if existing.status == "ready" and state.endpoint_answers(port):
            return existing, False
    if existing is not None:  # stale: the process is gone or failed
        state.state_file(port).unlink(missing_ok=True)
    if not state.port_free(port):
        raise CliError(f"port {port} is in use by another process; choose another with --port")
    cmd = [
        sys.executable,
        "-m",
        "aupctl.server",
        "--port",
        str(port),
        "--template",
        str(Path(template).resolve()),
        "--stack",
        stack,
    ]
    if not dispatcher:
        cmd.append("--no-dispatcher")
    if policy is not None:
        cmd += ["--policy", str(Path(policy).resolve())]
    if shadow_policy is not None:
        cmd += ["--shadow-policy", str(Path(shadow_policy).resolve())]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    logfile = state.log_file(port)
    with logfile.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # detached: outlives this command
    return _wait_ready(port, proc, timeout), True


def _wait_ready(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> state.ServerState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = state.load_state(port)
        if current is not None and current.status == "ready":
            return current
        exited = (
            proc.poll() is not None
            if proc is not None
            else (current is not None and not state.pid_alive(current.pid))
        )
        if (current is not None and current.status == "failed") or exited:
            if proc is not None:
                proc.wait(timeout=STOP_TIMEOUT)
            reason = current.error if current is not None and current.error else _log_tail(port)
            state.state_file(port).unlink(missing_ok=True)
            raise CliError(
                f"the local stack on port {port} failed to start: {reason} (log: {state.log_file(port)})"
            )
        time.sleep(0.1)
    if proc is not None:
        _stop_pid(proc.pid)
        proc.wait(timeout=STOP_TIMEOUT)
    raise CliError(
        f"the local stack on port {port} did not start within {timeout:.0f} s (log: {state.log_file(port)})"
    )


def _log_tail(port: int) -> str:
    try:
        lines = [ln for ln in state.log_file(port).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            if not state.pid_alive(pid):
                return
            time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect the exit status when the server is this process's child (``up`` then ``down`` in one run)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def down(port: int) -> bool:
    """Stop the server on ``port``; True when one was running. Leaves no process behind."""
    current = state.load_state(port)
    if current is None:
        return False
    running = state.pid_alive(current.pid)
    if running:
        _stop_pid(current.pid)
    state.state_file(port).unlink(missing_ok=True)
    return running


def status(port: int | None) -> list[tuple[int, str]]:
    """(port, description) of each recorded stack (or of ``port``); description starts with its status."""
    states = [s for s in state.all_states() if port is None or s.port == port]
    out = []
    for s in states:
        if not state.pid_alive(s.pid):
            out.append(
                (
                    s.port,
                    f"stopped (stale record of pid {s.pid}; `aupctl local down --port {s.port}` clears it)",
                )
            )
            continue
        dispatcher = "dispatcher on" if s.dispatcher else "no dispatcher"
        out.append(
            (
                s.port,
                f"{s.status}: {s.endpoint}, pid {s.pid}, stack {s.stack}, {dispatcher}, since {s.started_at}",
            )
        )
    return out
