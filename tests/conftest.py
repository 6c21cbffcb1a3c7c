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

ROOT = Path(__file__).resolve().parent.parent

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


class LambdaContext:
    """Enough of the Lambda context object for powertools."""

    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb = 512
    aws_request_id = "req-0001"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto with template.yaml deployed (SAM -> CloudFormation); env set as for a deployed function."""
    from moto import mock_aws

    from aup import bootstrap
    from aupctl.stack import deploy

    with mock_aws():
        bootstrap.reset()
        deployed = deploy()
        monkeypatch.setenv("LEDGER_TABLE", deployed.outputs["LedgerTableName"])
        monkeypatch.setenv("UPLOADS_BUCKET", deployed.outputs["UploadsBucketName"])
        monkeypatch.setenv("QUARANTINE_BUCKET", deployed.outputs["QuarantineBucketName"])
        monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", deployed.outputs["NotificationsTopicArn"])
        monkeypatch.setenv("SERVICE_API_ID", deployed.resources["ServiceApi"])
        monkeypatch.setenv("SERVICE_API_STAGE", "prod")
        monkeypatch.setenv("AUP_POLICY_PARAMETER", "")
        bootstrap.reset()
        yield deployed
        bootstrap.reset()
