"""Browser tests' fixtures: a fresh local stack seeded through the real handlers, the console server
in-process against it (``aupctl.console``), and Debian's headless Chromium driven by playwright.

Chromium: ``AUP_E2E_CHROMIUM`` or ``/usr/bin/chromium``. Missing, the tests skip with a message, except
under ``CI=true``, where a missing browser fails them. Screenshots go to ``AUP_E2E_ARTIFACTS`` (default
``.artifacts/e2e``), printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aupctl import local, state

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AUP_E2E_ARTIFACTS") or ROOT / ".artifacts" / "e2e")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    candidate = os.environ.get("AUP_E2E_CHROMIUM") or "/usr/bin/chromium"
    return candidate if os.access(candidate, os.X_OK) else shutil.which("chromium")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_BROWSER_STARTED: list[bool] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    shots = sorted(ARTIFACTS.glob("*.png")) if _BROWSER_STARTED and ARTIFACTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"e2e screenshots ({len(shots)}): {ARTIFACTS}")


@dataclass
class Console:
    base_url: str
    login_url: Callable[[str], str]  # a signed-in link for a role (the token in the URL fragment)
    secrets: list[str]
    server: Any  # aupctl.console.ConsoleServer


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        message = "Debian's chromium is not installed (apt-get install -y --no-install-recommends chromium)"
        if _in_ci():
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the [dev] extras)")
    return path


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Console]:
    """A fresh local stack (template deployed, uploads dispatcher running), seeded, and the console
    server in this process against it."""
    from aupctl import console as console_server
    from tests.e2e.seed import policy_file, seed

    old_state_dir = os.environ.get("AUPCTL_STATE_DIR")
    os.environ["AUPCTL_STATE_DIR"] = str(tmp_path_factory.mktemp("aupctl-state"))
    port = state.free_port()
    try:
        local.up(port, dispatcher=True, policy=policy_file(tmp_path_factory.mktemp("policy")))
        seeded = seed(port)
        with console_server.serve(port) as server:
            yield Console(
                base_url=server.base_url.rstrip("/"),
                login_url=server.login_url,
                secrets=seeded.secrets(),
                server=server,
            )
    finally:
        local.down(port)
        if old_state_dir is None:
            os.environ.pop("AUPCTL_STATE_DIR", None)
        else:
            os.environ["AUPCTL_STATE_DIR"] = old_state_dir


@pytest.fixture(scope="session")
def browser_context(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium with a fresh user-data dir; each test opens its own page (its own sessionStorage)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _BROWSER_STARTED.append(True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A new tab that records console errors and page errors (a CSP violation is one)."""
    tab = browser_context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    tab.problems = problems
    try:
        yield tab
    finally:
        tab.close()
