"""Shared fixtures: fake AWS credentials, and the real template deployed into moto."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aupctl import events

ROOT = Path(__file__).resolve().parent.parent

# --clock-shift-days / AUP_CLOCK_SHIFT_DAYS: the whole session on a clock moved ahead (make test-future).
pytest_plugins = ("tests.clockshift",)

# Never reach real AWS from a test, whatever the developer's shell holds.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="AUP/Usage",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_DEV="false",
    SAM_CLI_TELEMETRY="0",
)


def one_dynamodb_request_at_a_time() -> None:
    """moto's in-process DynamoDB serves one request at a time in this process, as DynamoDB applies each
    atomically (idempotent). moto's backends hold no locks: the ledger writes a batch's counters from
    several threads, and two first writes into one new partition could each create the partition's dict,
    one replacing the other with its item (a counter lost about once in a few thousand runs). The local
    stack's server has the same rule as a WSGI wrapper (``aupctl.server.DynamoDBOneAtATime``)."""
    import threading

    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "one_at_a_time", False):
        return
    lock = threading.RLock()  # re-entrant: a server in a thread of this process dispatches here too
    serve = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return serve(self)

    call_action.one_at_a_time = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


one_dynamodb_request_at_a_time()


def load_handler(function_dir: str) -> ModuleType:
    """Import ``functions/<function_dir>/app.py`` as Lambda would (a fresh module per call)."""
    path = ROOT / "functions" / function_dir / "app.py"
    name = f"handler_{function_dir}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class LambdaContext(events.LambdaContext):
    """aupctl's Lambda context with the tests' fixed names and request id."""

    def __init__(self) -> None:
        super().__init__(function_name="test", memory_mb=512, timeout_seconds=300, request_id="req-0001")


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def reset_moto(endpoint: str) -> None:
    """Empty moto's backends through a server on ``endpoint`` (``POST /moto-api/reset``). A server in a
    thread of this process shares them with every earlier server and mock of the process (an xdist
    worker runs many modules): without this, the second module's deploy finds the first one's stack."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30
    ).close()


_SESSION: list[Any] = []


def _deploy_session() -> Any:
    """One boto3 session for every deploy of this process (created once moto is imported, so its clients
    are mocked): clients from a warm session skip re-reading the service models, a third of a deploy."""
    if not _SESSION:
        import boto3

        _SESSION.append(boto3.session.Session(region_name="us-east-1"))
    return _SESSION[0]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto with template.yaml deployed (SAM -> CloudFormation); env set as for a deployed function."""
    from moto import mock_aws

    from aup import bootstrap
    from aupctl.stack import deploy

    with mock_aws():
        bootstrap.reset()
        deployed = deploy(_deploy_session())
        monkeypatch.setenv("LEDGER_TABLE", deployed.outputs["LedgerTableName"])
        monkeypatch.setenv("UPLOADS_BUCKET", deployed.outputs["UploadsBucketName"])
        monkeypatch.setenv("QUARANTINE_BUCKET", deployed.outputs["QuarantineBucketName"])
        monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", deployed.outputs["NotificationsTopicArn"])
        monkeypatch.setenv("SERVICE_API_ID", deployed.resources["ServiceApi"])
        monkeypatch.setenv("SERVICE_API_STAGE", "prod")
        monkeypatch.setenv("AUP_POLICY_PARAMETER", "")
        monkeypatch.setenv("EVENT_BUS_NAME", "default")
        bootstrap.reset()
        yield deployed
        bootstrap.reset()
