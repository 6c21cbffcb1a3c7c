"""Security: a policy scan of the synthesized template beyond tests/infrastructure, and a PII-leak test.

The PII-leak test plays abusive fixtures (card numbers, SSNs, API keys, e-mail addresses in uploads,
request paths, headers) through the handlers and captures every log line (stdout, stderr, logging)
and every ledger item and object tag written; none may carry one of those raw values.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
from functools import cache
from typing import Any

import pytest

from tests.conftest import load_handler
from tests.eventlib import authorizer_event
from tests.reliability.support import SAMPLES_CLOCK, record_figures, scan
from tests.unit.uploads import samples as files

# ------------------------------------------------------------------------------------ policy scan

# What each function's role may name (logical ids): its own resources, nothing else.
REACH = {
    # AccessLogArchive*: LogIngestion=firehose (the archive bucket it reads, the queue it is fed from).
    "ApiLogAnalyzerFunctionRole": {
        "LedgerTable",
        "FailureQueue",
        "AccessLogStream",
        "AccessLogArchiveBucket",
        "AccessLogArchiveQueue",
    },
    "AuthorizerFunctionRole": {"LedgerTable"},
    "AdminApiFunctionRole": {"LedgerTable"},
    # NotificationsKey: the topic's customer managed key (CloudWatch alarms cannot use aws/sns).
    "NotifierFunctionRole": {
        "LedgerTable",
        "FailureQueue",
        "NotificationsTopic",
        "NotificationsKey",
        "ServiceApi",
        "StageName",
    },
    "UsageMonitorFunctionRole": {"LedgerTable", "FailureQueue"},
    "SuspensionExpiryFunctionRole": {"LedgerTable", "FailureQueue"},
    "UploadScannerFunctionRole": {"LedgerTable", "UploadsBucket", "QuarantineBucket", "ScannerDataBucket"},
    "ServiceBackendFunctionRole": set(),
}
# AWS managed policies SAM attaches: logs, X-Ray, and the event-source pollers' read access (SQS /
# DynamoDB streams; those two are resource "*" by AWS's design, accepted and listed in RELIABILITY.md).
MANAGED = {
    "AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
    "AmazonAPIGatewayPushToCloudWatchLogs",
    # CodeDeployServiceRole (SAM, for DeploymentPreference): shifts the alias live and reads the alarms.
    "AWSCodeDeployRoleForLambda",
}
READ_ONLY_ROLES = {"AuthorizerFunctionRole"}  # the authorizer only reads (the ledger, the policy)


@cache
def cfn(ingestion: str = "subscription") -> dict[str, Any]:
    from aupctl.stack import load_template, translate

    return translate(
        load_template(), None, {"LogIngestion": ingestion, "CreateApiGatewayAccountRole": "true"}
    )


def of_type(t: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def names(node: Any, out: set[str]) -> set[str]:
    """Logical ids a policy document refers to (Ref, GetAtt, ${...} in Sub)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else str(v).split(".")[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                out.update(
                    m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text) if not m.startswith("AWS::")
                )
                names(v, out)
            else:
                names(v, out)
    elif isinstance(node, list):
        for v in node:
            names(v, out)
    return out


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            out.append(st["Fn::If"][1] if isinstance(st, dict) and "Fn::If" in st else st)
    return out


@pytest.mark.parametrize("ingestion", ["subscription", "kinesis"])
def test_every_role_names_only_its_own_resources_and_no_wildcard_action(ingestion: str):
    t = cfn(ingestion)
    roles = of_type(t, "AWS::IAM::Role")
    assert not of_type(t, "AWS::IAM::Policy") and not of_type(t, "AWS::IAM::ManagedPolicy")
    checked = 0
    for role_id, role in roles.items():
        for arn in role["Properties"].get("ManagedPolicyArns", []) or []:
            name = (arn if isinstance(arn, str) else arn.get("Fn::Sub", "")).rsplit("/", 1)[-1]
            assert name in MANAGED, (role_id, arn)
        for st in statements(role):
            checked += 1
            actions = st.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            assert st.get("Effect") == "Allow" and "NotAction" not in st and "NotResource" not in st
            assert all(a != "*" and not a.endswith(":*") and "*" not in a for a in actions), (
                role_id,
                actions,
            )
            if role_id in READ_ONLY_ROLES:
                assert all(
                    re.match(
                        r"(dynamodb:(Get|BatchGet|Query|DescribeTable|ConditionCheck)|ssm:GetParameter$)", a
                    )
                    for a in actions
                ), (
                    role_id,
                    actions,
                )
            assert not any(a.startswith("iam:") for a in actions), (role_id, actions)
        if role_id in REACH:
            reached = names([p["PolicyDocument"] for p in role["Properties"].get("Policies", [])], set())
            assert reached - {"AWS::NoValue"} <= REACH[role_id], (role_id, reached - REACH[role_id])
    record_figures("security", iam_statements_scanned=checked, roles_scanned=len(roles))


def test_data_at_rest_is_encrypted_and_kept():
    t = cfn("kinesis")
    for name, q in of_type(t, "AWS::SQS::Queue").items():
        p = q["Properties"]
        assert p.get("SqsManagedSseEnabled") or p.get("KmsMasterKeyId"), name
    for name, topic in of_type(t, "AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), name
    for name, stream in of_type(t, "AWS::Kinesis::Stream").items():
        assert stream["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS", name
    for name, group in of_type(t, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays"), name  # logs are not kept forever
    for name, bucket in of_type(t, "AWS::S3::Bucket").items():
        assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values()), name
        assert bucket["Properties"].get(
            "OwnershipControls", {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )


def test_bucket_policies_deny_plain_http_for_every_principal_and_object():
    t = cfn()
    for policy in of_type(t, "AWS::S3::BucketPolicy").values():
        sts = policy["Properties"]["PolicyDocument"]["Statement"]
        tls = [s for s in sts if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert tls and all(s["Effect"] == "Deny" and s["Principal"] in ("*", {"AWS": "*"}) for s in tls)
        actions = [a for s in tls for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        assert "s3:*" in actions
        resources = repr([s["Resource"] for s in tls])
        assert "/*" in resources  # the objects, not only the bucket


def test_only_the_service_api_is_unsigned_and_it_always_runs_the_authorizer():
    t = cfn()
    apis = of_type(t, "AWS::ApiGateway::RestApi")
    # The console's API: the user pool's authorizer, but for the static files and the API's description
    # (they hold no data; the function serves only those there without a token).
    console_open = {"/console", "/console/{file}", "/openapi.json", "/swagger"}
    for logical_id, api in apis.items():
        body = api["Properties"].get("Body", {})
        for path, methods in body.get("paths", {}).items():
            for verb, method in methods.items():
                security = method.get("security")
                assert security, f"{path} {verb} has no auth"
                if logical_id == "ConsoleApi":
                    expected = [{"NONE": []}] if path in console_open else [{"CognitoAuthorizer": []}]
                    assert (verb, security) == ("get" if path in console_open else verb, expected), path
                    continue
                assert security in ([{"AWS_IAM": []}], [{"ApiKeyAuthorizer": []}]), (path, verb, security)


# ------------------------------------------------------------------------------------ PII leak

CARDS = files.valid_cards(12)
SSNS = files.valid_ssns(8)
EMAILS = [f"victim{i}.person@example-mail.com" for i in range(30)]
API_KEYS = ["sk_live_9f8e7d6c5b4a39281706", "AKIAIOSFODNN7EXAMPLE", "demo-key-acme-0000000001"]
RAW = [*CARDS, *SSNS, *EMAILS, *API_KEYS]


def access_line(i: int, path: str, account: str = "leaky-co", ua: str = "curl/8.0") -> str:
    return json.dumps(
        {
            "requestId": f"r{i}",
            "extendedRequestId": f"e{i}",
            "requestTimeEpoch": str(1795795200000 + i * 10),
            "ip": "198.51.100.9",
            "userAgent": ua,
            "httpMethod": "GET",
            "path": path,
            "resourcePath": "-",
            "status": "404",
            "responseLength": "10",
            "principalId": account,
            "apiKeyId": "-",
            "authorizerError": "-",
            "forwardedFor": "198.51.100.9",
            "claimedAccount": "-",
        }
    )


def subscription(lines: list[str]) -> dict[str, Any]:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/apigateway/access",
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [
            {"id": f"pii-{i}", "timestamp": 1795795200000 + i * 10, "message": m} for i, m in enumerate(lines)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def upload_event(bucket: str, key: str, version: str | None) -> dict[str, Any]:
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key), "size": 1, "sequencer": "01"}
    if version:
        obj["versionId"] = version
    rec = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }
    return {
        "Records": [
            {
                "messageId": "m-0",
                "receiptHandle": "r",
                "body": json.dumps({"Records": [rec]}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "awsRegion": "us-east-1",
            }
        ]
    }


@pytest.mark.time_machine(SAMPLES_CLOCK, tick=True)  # the log lines and uploads below are of that day
def test_no_raw_personal_data_or_key_in_logs_ledger_or_tags(
    stack: Any, lambda_context: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    from aup import bootstrap
    from aup.adapters.aws import client
    from aup.domain.models import AccountState, hash_api_key

    caplog.set_level(logging.DEBUG)
    ledger = bootstrap.ledger()
    for account in ("leaky-co", "acme-corp"):
        key = API_KEYS[2] if account == "acme-corp" else f"key-{account}-0000000000"
        ledger.create_account(
            AccountState(account_id=account, plan="free"), hash_api_key(key), bootstrap.utcnow(), "t"
        )

    # Uploads: cards, SSNs, an e-mail list, cloud keys in a config file.
    s3 = client("s3")
    bucket = stack.outputs["UploadsBucketName"]
    uploads = {
        "accounts/leaky-co/exports/cards.csv": files.cards_csv(12),
        "accounts/leaky-co/hr/staff.csv": files.ssn_csv(8),
        "accounts/leaky-co/mail/list.txt": "\n".join(EMAILS).encode(),
        "accounts/leaky-co/conf/settings.env": f"STRIPE={API_KEYS[0]}\nAWS_KEY={API_KEYS[1]}\n".encode(),
    }
    scanner = load_handler("upload_scanner")
    for key, body in uploads.items():
        version = s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")
        assert scanner.lambda_handler(upload_event(bucket, key, version), lambda_context) == {
            "batchItemFailures": []
        }

    # Access logs: personal data and keys in request paths, query strings and user agents.
    lines = [
        access_line(i, f"/v1/users/{EMAILS[i % 30]}?card={CARDS[i % 12]}&ssn={SSNS[i % 8]}")
        for i in range(60)
    ]
    lines += [
        access_line(100 + i, f"/.env?key={API_KEYS[i % 2]}", ua=f"sqlmap/1.8 {EMAILS[1]}") for i in range(40)
    ]
    lines += ["not json " + CARDS[1] + " " + EMAILS[2]]  # an unparseable line is sampled into the log
    analyzer = load_handler("api_log_analyzer")
    result = analyzer.lambda_handler(subscription(lines), lambda_context)
    assert result["findings"] > 0

    # The authorizer, with a known key and unknown keys.
    authorizer = load_handler("authorizer")
    for key in API_KEYS:
        authorizer.lambda_handler(authorizer_event(key, forwarded_for=EMAILS[3]), lambda_context)

    out, err = capfd.readouterr()
    logged = "\n".join(
        [out, err, *(r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records)]
    )
    # Binary attributes (the counters' 8-byte batch ids) are written out as text too, so nothing is skipped.
    written = json.dumps(
        scan(client("dynamodb"), stack.outputs["LedgerTableName"]),
        default=lambda b: b.decode("latin-1") if isinstance(b, bytes) else str(b),
    )
    tags = json.dumps(
        [s3.get_object_tagging(Bucket=bucket, Key=k)["TagSet"] for k in uploads if _exists(s3, bucket, k)]
    )
    leaks = {
        where: sorted({raw for raw in RAW if raw in text or raw.lower() in text.lower()})
        for where, text in (("logs", logged), ("ledger", written), ("tags", tags))
    }
    # The authorizer context echoes X-Forwarded-For by contract (the access log needs it): not a leak here.
    leaks["logs"] = [x for x in leaks["logs"] if x != EMAILS[3]]
    assert written.count("VIOLATION#") >= 3, "the fixtures must have produced violations to inspect"
    record_figures(
        "pii",
        raw_values_planted=len(RAW),
        log_bytes_scanned=len(logged),
        ledger_items_scanned=written.count('"pk"'),
        leaks=sum(len(v) for v in leaks.values()),
    )
    assert not any(leaks.values()), f"raw personal data or keys written: {leaks}"


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        return False
