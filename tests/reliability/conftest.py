"""Fixtures of the reliability suite: a local stack on a moto server driven through aupctl's runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.reliability.support import clear_figures


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist): a fresh figures set
        clear_figures()


@dataclass
class ServerStack:
    """The template deployed on a moto server on a free port, and aupctl's in-process function runner."""

    endpoint: str
    outputs: dict[str, str]
    resources: dict[str, str]
    runner: Any
    session: Any

    def client(self, service: str) -> Any:
        return self.runner.local.client(service)

    @property
    def table(self) -> str:
        return self.outputs["LedgerTableName"]


@pytest.fixture(scope="module")
def server_stack() -> Iterator[ServerStack]:
    import boto3

    from aupctl.runner import FunctionRunner, LocalStack
    from aupctl.server import _serve
    from aupctl.stack import deploy
    from aupctl.state import free_port
    from tests.conftest import reset_moto

    port = free_port()
    server = _serve(port)  # DynamoDB requests applied one at a time, as DynamoDB does
    endpoint = f"http://127.0.0.1:{port}"
    reset_moto(endpoint)
    runner = None
    try:
        session = boto3.session.Session(region_name="us-east-1")
        deployed = deploy(session, endpoint_url=endpoint)
        runner = FunctionRunner(LocalStack(port))
        yield ServerStack(endpoint, deployed.outputs, deployed.resources, runner, session)
    finally:
        if runner is not None:
            runner.close()
        server.shutdown()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The run's figures (cases tried, faults injected, events redelivered), for RELIABILITY.md."""
    from tests.reliability.support import run_figures

    if hasattr(config, "workerinput"):
        return
    figures = run_figures()
    if not figures:
        return
    terminalreporter.section("reliability figures")
    for section, counts in sorted(figures.items()):
        if section.startswith("redelivery-ledger-"):
            continue
        terminalreporter.write_line(f"{section}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
