"""The template as synthesized: linted, least privilege, failure destinations, encryption, the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aupctl.stack import TEMPLATE, load_template, translate

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTRACT_FUNCTIONS = {
    "ApiLogAnalyzerFunction",
    "UploadScannerFunction",
    "UsageMonitorFunction",
    "AuthorizerFunction",
    "AdminApiFunction",
    "NotifierFunction",
    "SuspensionExpiryFunction",
}
CONTRACT_OUTPUTS = {
    "UploadsBucketName",
    "QuarantineBucketName",
    "LedgerTableName",
    "AdminApiUrl",
    "ServiceApiUrl",
    "NotificationsTopicArn",
    "AccessLogGroupName",
}
# The contract's access-log keys, in order.
LOG_KEYS = [
    "requestId",
    "extendedRequestId",
    "requestTimeEpoch",
    "ip",
    "userAgent",
    "httpMethod",
    "path",
    "resourcePath",
    "status",
    "responseLength",
    "principalId",
    "apiKeyId",
    "authorizerError",
    "forwardedFor",
    "claimedAccount",
]


@cache
def sam() -> dict[str, Any]:
    return load_template()


@cache
def cfn(log_ingestion: str = "subscription") -> dict[str, Any]:
    return translate(sam(), None, {"LogIngestion": log_ingestion, "CreateApiGatewayAccountRole": "true"})


def resources(kind: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    t = template or cfn()
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_is_clean():
    proc = subprocess.run([str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sam_validate_lint_is_clean():
    exe = BIN / "sam"
    if not exe.exists():
        exe = Path(shutil.which("sam") or "sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(exe), "validate", "--lint", "--region", "us-east-1", "--template", str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_contract_functions_and_outputs_exist():
    assert set(resources("AWS::Serverless::Function", sam())) >= CONTRACT_FUNCTIONS
    assert set(sam()["Outputs"]) >= CONTRACT_OUTPUTS


def test_every_function_is_python313_arm64_with_the_layer():
    for fn in resources("AWS::Lambda::Function").values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
        assert props["Layers"]
    layer = sam()["Resources"]["AupLayer"]
    assert (
        layer["Metadata"]["BuildMethod"] == "python3.13" and layer["Metadata"]["BuildArchitecture"] == "arm64"
    )


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in role["Properties"].get("Policies", []):
        for raw in policy["PolicyDocument"]["Statement"]:
            out.append(raw["Fn::If"][1] if isinstance(raw, dict) and "Fn::If" in raw else raw)
    return out


@pytest.mark.parametrize("ingestion", ["subscription", "kinesis", "firehose"])
def test_every_function_has_its_own_role_without_wildcard_actions(ingestion):
    t = cfn(ingestion)
    roles = resources("AWS::IAM::Role", t)
    fn_roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in resources("AWS::Lambda::Function", t).values()
    ]
    assert len(fn_roles) == len(set(fn_roles)), "functions must not share a role"
    for role_id in fn_roles:
        for st in _statements(roles[role_id]):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions), (role_id, actions)
            if st.get("Resource") == "*":
                # Only actions IAM cannot scope to a resource may use "*".
                assert set(actions) <= {"cloudwatch:GetMetricData", "cloudwatch:PutMetricData"}, (
                    role_id,
                    actions,
                )


def test_roles_reach_only_their_own_resources():
    t = cfn()
    roles = resources("AWS::IAM::Role", t)
    text = {rid: repr(_statements(r)) for rid, r in roles.items()}
    assert "UploadsBucket" not in text["AuthorizerFunctionRole"]
    assert "dynamodb:PutItem" not in text["AuthorizerFunctionRole"]
    # the analyzer's only S3 access: reading the access-log archive (LogIngestion=firehose)
    assert "UploadsBucket" not in text["ApiLogAnalyzerFunctionRole"]
    assert "QuarantineBucket" not in text["ApiLogAnalyzerFunctionRole"]
    assert text["ApiLogAnalyzerFunctionRole"].count("s3:") == 1
    assert "sns:Publish" not in text["UploadScannerFunctionRole"]
    assert "sns:Publish" in text["NotifierFunctionRole"]
    assert "QuarantineBucket" in text["UploadScannerFunctionRole"]


def test_each_asynchronous_consumer_has_a_failure_destination():
    t = cfn()
    fns = resources("AWS::Lambda::Function", t)
    mappings = resources("AWS::Lambda::EventSourceMapping", t)
    invoke_configs = {
        c["Properties"]["FunctionName"]["Ref"]
        for c in resources("AWS::Lambda::EventInvokeConfig", t).values()
    }
    for name in ("UsageMonitorFunction", "SuspensionExpiryFunction"):
        assert "DeadLetterConfig" in fns[name]["Properties"], name
    assert "ApiLogAnalyzerFunction" in invoke_configs
    stream = [m for m in mappings.values() if "StreamArn" in repr(m["Properties"]["EventSourceArn"])]
    assert stream and all("OnFailure" in m["Properties"]["DestinationConfig"] for m in stream)
    queues = resources("AWS::SQS::Queue", t)
    assert "RedrivePolicy" in queues["UploadsQueue"]["Properties"]
    kinesis = [
        m
        for m in resources("AWS::Lambda::EventSourceMapping", cfn("kinesis")).values()
        if "AccessLogStream" in repr(m["Properties"]["EventSourceArn"])
    ]
    assert kinesis and "OnFailure" in kinesis[0]["Properties"]["DestinationConfig"]


def test_ledger_table_is_durable_and_streams_both_images():
    (table,) = resources("AWS::DynamoDB::Table").values()
    p = table["Properties"]
    assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert p["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_buckets_are_encrypted_private_and_tls_only():
    t = cfn()
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in resources("AWS::S3::BucketPolicy", t).values()}
    for name, bucket in resources("AWS::S3::Bucket", t).items():
        p = bucket["Properties"]
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(p["PublicAccessBlockConfiguration"].values())
        statements = policies[name]["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        ), name
    assert resources("AWS::S3::Bucket", t)["QuarantineBucket"]["Properties"]["VersioningConfiguration"] == {
        "Status": "Enabled"
    }


def test_admin_api_refuses_unsigned_calls():
    (admin,) = [
        r for r in resources("AWS::ApiGateway::RestApi").values() if "admin" in repr(r["Properties"]["Name"])
    ]
    paths = admin["Properties"]["Body"]["paths"]
    methods = [m for p in paths.values() for m in p.values()]
    assert methods and all(m.get("security") == [{"AWS_IAM": []}] for m in methods)


def test_service_api_uses_the_authorizer_with_caching_and_logs_the_contract_format():
    import json

    service = sam()["Resources"]["ServiceApi"]["Properties"]
    auth = service["Auth"]["Authorizers"]["ApiKeyAuthorizer"]
    assert auth["FunctionPayloadType"] == "REQUEST"
    assert auth["Identity"]["Headers"] == ["x-api-key"] and auth["Identity"]["ReauthorizeEvery"] == 60
    fmt = json.loads(service["AccessLogSetting"]["Format"])
    assert list(fmt) == LOG_KEYS
    assert fmt["principalId"] == "$context.authorizer.principalId"
    assert fmt["forwardedFor"] == "$context.authorizer.forwardedFor"


def test_notifier_is_invoked_only_for_state_violation_and_review_items():
    import json

    (mapping,) = [
        m
        for m in resources("AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in repr(m["Properties"]["EventSourceArn"])
    ]
    (flt,) = mapping["Properties"]["FilterCriteria"]["Filters"]
    assert json.loads(flt["Pattern"]) == {
        "dynamodb": {"Keys": {"sk": {"S": ["STATE", "REVIEW", {"prefix": "VIOLATION#"}]}}}
    }
