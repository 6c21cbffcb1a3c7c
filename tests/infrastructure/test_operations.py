"""Deploy-ready operations, on the translated template: log retention, alarms on every failure queue,
the dashboard, canary deployments with rollback alarms, data that outlives the stack; and the local
stack applying what moto can hold of them."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aupctl.stack import load_template, translate

ROOT = Path(__file__).resolve().parents[2]
INGESTIONS = ["subscription", "kinesis", "firehose"]
DETECTORS = ["ApiLogAnalyzerFunction", "UploadScannerFunction", "UsageMonitorFunction", "AuthorizerFunction"]


@cache
def cfn(ingestion: str = "subscription") -> dict[str, Any]:
    return translate(
        load_template(), None, {"LogIngestion": ingestion, "CreateApiGatewayAccountRole": "true"}
    )


def of_type(t: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def ref(node: Any) -> str | None:
    """The logical id a ``Ref`` or ``GetAtt`` names."""
    if isinstance(node, dict):
        if "Ref" in node:
            return str(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def alarms(t: dict[str, Any]) -> dict[str, Any]:
    return of_type(t, "AWS::CloudWatch::Alarm")


def dimension(alarm: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in alarm["Properties"].get("Dimensions", []) if d["Name"] == name), None)


# ------------------------------------------------------------------------------ logs


@pytest.mark.parametrize("ingestion", INGESTIONS)
def test_every_function_logs_to_its_own_group_with_the_retention_parameter(ingestion):
    t = cfn(ingestion)
    groups = of_type(t, "AWS::Logs::LogGroup")
    assert load_template()["Parameters"]["LogRetentionDays"]["Default"] == 30
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    used = []
    for name, fn in of_type(t, "AWS::Lambda::Function").items():
        group = ref(fn["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        assert group in groups, (name, group)  # never the unbounded group Lambda would create itself
        used.append(group)
    assert len(used) == len(set(used)), "functions must not share a log group"


def test_the_operators_apis_are_throttled_and_access_logged_with_the_caller():
    """A runaway operator script is throttled before the ledger; who called what is kept (retained
    like every other log), the IAM caller on AdminApi, the user pool's subject on ConsoleApi."""
    t = cfn()
    stages = {
        ref(props["RestApiId"]): props
        for props in (r["Properties"] for r in of_type(t, "AWS::ApiGateway::Stage").values())
    }
    for api, caller in (
        ("AdminApi", "$context.identity.userArn"),
        ("ConsoleApi", "$context.authorizer.claims.sub"),
    ):
        stage = stages[api]
        (setting,) = stage["MethodSettings"]
        assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
        assert 0 < setting["ThrottlingRateLimit"] <= setting["ThrottlingBurstLimit"] <= 100
        access = stage["AccessLogSetting"]
        assert ref(access["DestinationArn"]) == "OperatorsApiAccessLogGroup"
        fields = json.loads(access["Format"])
        assert caller in fields.values() and fields["status"] == "$context.status", api
    group = t["Resources"]["OperatorsApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ------------------------------------------------------------------------------ alarms


def failure_queues(t: dict[str, Any]) -> set[str]:
    """Every queue that receives what failed: dead-letter queues, on-failure destinations, DLQ configs."""
    out: set[str] = set()
    for res in t["Resources"].values():
        props = res.get("Properties", {})
        redrive = props.get("RedrivePolicy", {})
        out.add(ref(redrive.get("deadLetterTargetArn")) or "")
        out.add(ref(props.get("DeadLetterConfig", {}).get("TargetArn")) or "")
        out.add(ref(props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")) or "")
    queues = of_type(t, "AWS::SQS::Queue")
    return {q for q in out if q in queues}


@pytest.mark.parametrize("ingestion", INGESTIONS)
def test_every_failure_queue_has_a_depth_alarm(ingestion):
    t = cfn(ingestion)
    queues = failure_queues(t)
    assert {"FailureQueue", "UploadsDeadLetterQueue"} <= queues
    if ingestion == "firehose":
        assert "AccessLogArchiveDeadLetterQueue" in queues
    watched = {
        ref(dimension(a, "QueueName"))
        for a in alarms(t).values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Properties"]["Namespace"] == "AWS/SQS"
        # deployed in every case its queue is
        and a.get("Condition") == t["Resources"][ref(dimension(a, "QueueName")) or ""].get("Condition")
    }
    assert queues <= watched, queues - watched


def test_every_alarm_notifies_the_notifications_topic():
    found = alarms(cfn())
    assert len(found) >= 13
    for name, alarm in found.items():
        if name.startswith("UsageExample"):  # the optional per-account example alarms feed the usage monitor
            continue
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "NotificationsTopic"}], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "NotificationsTopic"}], name


def test_each_detector_and_the_authorizer_have_error_and_throttle_alarms():
    by_metric: dict[tuple[str, str | None], str] = {
        (a["Properties"]["MetricName"], ref(dimension(a, "FunctionName"))): name
        for name, a in alarms(cfn()).items()
        if a["Properties"]["Namespace"] == "AWS/Lambda"
    }
    for fn in DETECTORS:
        assert ("Errors", fn) in by_metric and ("Throttles", fn) in by_metric, fn
    latency = alarms(cfn())[by_metric[("Duration", "AuthorizerFunction")]]["Properties"]
    assert latency["ExtendedStatistic"] == "p99"


def test_not_scanned_and_malformed_payloads_alarm_in_the_operations_namespace():
    found = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms(cfn()).values()}
    for metric, service in (("NotScanned", "upload-scanner"), ("MalformedPayloads", "api-log-analyzer")):
        props = found[metric]
        assert props["Namespace"] == {"Ref": "OperationsNamespace"}
        assert props["Dimensions"] == [{"Name": "service", "Value": service}]
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# ------------------------------------------------------------------------------ metrics and the dashboard


def dashboard_body() -> dict[str, Any]:
    (dash,) = of_type(cfn(), "AWS::CloudWatch::Dashboard").values()
    body = dash["Properties"]["DashboardBody"]["Fn::Sub"]
    text = body if isinstance(body, str) else body[0]
    # Every ${...} must be something CloudFormation substitutes: a parameter or a resource (attribute).
    known = set(cfn()["Parameters"]) | set(cfn()["Resources"]) | {"AWS::Region"}
    for var in re.findall(r"\$\{([^}]+)\}", text):
        assert var.split(".")[0] in known, var
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_dashboard_shows_the_operational_figures():
    widgets = dashboard_body()["widgets"]
    text = json.dumps(widgets)
    for title in (
        "clause",
        "decisions",
        "verdicts",
        "Not-scanned reasons",
        "parsed and unparseable",
        "allows",
    ):
        assert any(title.lower() in w["properties"]["title"].lower() for w in widgets), title
    for metric in (
        "ViolationsRecorded",
        "EnforcementDecisions",
        "ScanVerdicts",
        "NotScannedReasons",
        "LogLinesParsed",
        "LogLinesUnparseable",
        "AuthorizerDecisions",
    ):
        assert metric in text, metric
    assert '"stat":"p99"' in text.replace(" ", "") and "${AuthorizerFunction}" in text
    # Operational figures in their own namespace, never the per-account usage namespace.
    assert "${OperationsNamespace}" in text and "${MetricsNamespace}" not in text and "AUP/Usage" not in text


def test_decisions_widget_shows_reviews_pending_as_a_gauge():
    (widget,) = [w for w in dashboard_body()["widgets"] if "decisions" in w["properties"]["title"].lower()]
    props = widget["properties"]
    assert "reviews pending" in props["title"].lower()
    lines = [m for m in props["metrics"] if isinstance(m[0], str)]
    (pending,) = [m for m in lines if m[1] == "ReviewsPending"]
    assert pending[:4] == ["${OperationsNamespace}", "ReviewsPending", "service", "suspension-expiry"]
    # A level reported every minute: its maximum over the period, never the sum of five readings.
    assert pending[4]["stat"] == "Maximum" and props["stat"] == "Sum"
    assert "EnforcementDecisions" in json.dumps(props) and any(m[1] == "SuspensionsLifted" for m in lines)


def test_reviews_waiting_too_long_alarm():
    t = cfn()
    resource = t["Resources"]["ReviewsPendingAgeAlarm"]
    alarm = resource["Properties"]
    assert alarm["Namespace"] == {"Ref": "OperationsNamespace"}
    assert alarm["MetricName"] == "ReviewsPendingOldestAge" and alarm["Statistic"] == "Maximum"
    assert dimension(resource, "service") == "suspension-expiry"
    assert alarm["Threshold"] == {"Ref": "ReviewMaxAgeSeconds"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert load_template()["Parameters"]["ReviewMaxAgeSeconds"]["Default"] == 86400
    assert ref(alarm["AlarmActions"][0]) == "NotificationsTopic"
    # The sweep that reports it runs more often than the alarm's period, and may read GSI1.
    expiry = load_template()["Resources"]["SuspensionExpiryFunction"]["Properties"]
    assert expiry["Events"]["Sweep"]["Properties"]["Schedule"] == "rate(1 minute)" and alarm["Period"] >= 60
    (ledger,) = [s for s in expiry["Policies"][0]["Statement"] if s["Sid"] == "Ledger"]
    assert "dynamodb:Query" in ledger["Action"]
    assert {"Fn::Sub": "${LedgerTable.Arn}/index/*"} in ledger["Resource"]


def _source() -> str:
    files = [*ROOT.glob("functions/*/app.py"), ROOT / "layers/aup/aup/usecases/scan_upload.py"]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def test_operational_metric_names_are_fixed_and_emitted_by_the_handlers():
    source = _source()
    # No name built from a value (``f"Verdict_{v}"``): what varies is a dimension.
    assert not re.search(r"name\s*=\s*f[\"']", source)
    assert not re.search(r"_count\(\s*f[\"']", source)
    dashboard = json.dumps(dashboard_body())
    in_dashboard = set(re.findall(r'MetricName=\\"(\w+)\\"', dashboard))
    in_dashboard |= {
        m[1] for w in dashboard_body()["widgets"] for m in w["properties"]["metrics"] if isinstance(m[0], str)
    }
    in_alarms = {
        a["Properties"]["MetricName"]
        for a in alarms(cfn()).values()
        if a["Properties"]["Namespace"] == {"Ref": "OperationsNamespace"}
    }
    aws_metrics = {"Duration", "Errors", "Throttles", "ApproximateNumberOfMessagesVisible"}
    for metric in (in_dashboard | in_alarms) - aws_metrics:
        assert f'"{metric}"' in source, f"{metric} is charted or alarmed but no handler emits it"


def test_operations_and_usage_namespaces_are_apart():
    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "OperationsNamespace"}
    assert env["AUP_USAGE_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    params = load_template()["Parameters"]
    assert params["OperationsNamespace"]["Default"] != params["MetricsNamespace"]["Default"] == "AUP/Usage"


# ------------------------------------------------------------------------------ safe deploys


@pytest.mark.parametrize("ingestion", INGESTIONS)
def test_detectors_and_the_authorizer_deploy_as_canaries_rolled_back_by_their_alarms(ingestion):
    t = cfn(ingestion)
    groups = of_type(t, "AWS::CodeDeploy::DeploymentGroup")
    aliases = of_type(t, "AWS::Lambda::Alias")
    by_alarm = {
        ref(dimension(a, "FunctionName")): name
        for name, a in alarms(t).items()
        if dimension(a, "FunctionName")
    }
    for fn in DETECTORS:
        alias = aliases[f"{fn}Aliaslive"]
        assert alias["Properties"]["Name"] == "live"
        hook = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        group = groups[ref(hook["DeploymentGroupName"]) or ""]["Properties"]
        # SAM resolves DeploymentType when it translates (the default here; sam deploy passes overrides).
        config = group["DeploymentConfigName"]["Fn::Sub"]
        assert config == ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        rollback = {ref(a["Name"]) for a in group["AlarmConfiguration"]["Alarms"]}
        assert {f"{fn}ErrorsAlarm", f"{fn}ThrottlesAlarm"} <= rollback, fn
        assert by_alarm.get(fn)
    assert load_template()["Parameters"]["DeploymentType"]["Default"] == "Canary10Percent5Minutes"


def test_what_invokes_a_detector_invokes_its_alias():
    t = cfn()
    api = next(
        r
        for r in of_type(t, "AWS::ApiGateway::RestApi").values()
        if "service" in repr(r["Properties"]["Name"])
    )
    authorizer = api["Properties"]["Body"]["securityDefinitions"]["ApiKeyAuthorizer"]
    uri = authorizer["x-amazon-apigateway-authorizer"]["authorizerUri"]["Fn::Sub"][1]
    assert uri["__FunctionArn__"] == {"Ref": "AuthorizerFunctionAliaslive"}
    sub = t["Resources"]["AccessLogSubscription"]["Properties"]
    assert sub["DestinationArn"] == {"Ref": "ApiLogAnalyzerFunctionAliaslive"}
    for name, mapping in of_type(t, "AWS::Lambda::EventSourceMapping").items():
        target = ref(mapping["Properties"]["FunctionName"]) or ""
        if target.removesuffix("Aliaslive") in DETECTORS:
            assert target.endswith("Aliaslive"), name
    for kind in ("AWS::Lambda::EventInvokeConfig",):
        for name, cfg in of_type(t, kind).items():
            if ref(cfg["Properties"]["FunctionName"]) in DETECTORS:
                assert cfg["Properties"]["Qualifier"] == "live", name
    for name, kinesis in of_type(cfn("kinesis"), "AWS::Lambda::EventSourceMapping").items():
        if "AccessLogStream" in repr(kinesis["Properties"]["EventSourceArn"]):
            assert kinesis["Properties"]["FunctionName"] == {"Ref": "ApiLogAnalyzerFunctionAliaslive"}, name


# ------------------------------------------------------------------------------ data that outlives the stack


def test_ledger_and_evidence_are_retained_and_evidence_is_locked():
    t = cfn()
    for name in ("LedgerTable", "QuarantineBucket"):
        res = t["Resources"][name]
        assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain", name
    props = t["Resources"]["QuarantineBucket"]["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    lock = props["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"] == {
        "Mode": "GOVERNANCE",
        "Days": {"Ref": "QuarantineRetentionDays"},
    }
    assert load_template()["Parameters"]["QuarantineRetentionDays"]["Default"] == 365


def test_alarms_can_publish_to_the_encrypted_topic():
    t = cfn()
    topic = t["Resources"]["NotificationsTopic"]["Properties"]
    assert ref(topic["KmsMasterKeyId"]) == "NotificationsKey"  # not aws/sns, which CloudWatch cannot use
    key = t["Resources"]["NotificationsKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key)


# ------------------------------------------------------------------------------ the local stack


def test_local_stack_holds_alarms_and_a_locked_quarantine_and_runs_functions_unaliased(stack):
    import boto3

    cloudwatch, s3 = boto3.client("cloudwatch"), boto3.client("s3")
    names = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert f"{stack.name}-FailureQueueDepthAlarm" in names and f"{stack.name}-NotScannedAlarm" in names
    assert not any("AccessLogArchive" in n for n in names)  # its queue is not in this stack
    quarantine = stack.outputs["QuarantineBucketName"]
    assert s3.get_bucket_versioning(Bucket=quarantine)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=quarantine)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"  # the default retention stays AWS-only (README)
    for fn in DETECTORS:
        assert stack.resources[fn]  # the local runner finds each function by its logical id


# ------------------------------------------------------------------------------ the walkthrough


@pytest.mark.time_machine("2026-11-27T10:00:00Z", tick=False)
def test_scanner_takes_a_bare_s3_notification_and_refuses_other_events_in_one_line(stack, lambda_context):
    import boto3

    from tests.conftest import load_handler

    bucket = stack.outputs["UploadsBucketName"]
    boto3.client("s3").put_object(Bucket=bucket, Key="accounts/acme-corp/invoice.pdf", Body=PDF.read_bytes())
    app = load_handler("upload_scanner")
    # The shape `sam local generate-event s3 put` prints, with the object's real eTag.
    etag = boto3.client("s3").head_object(Bucket=bucket, Key="accounts/acme-corp/invoice.pdf")["ETag"]
    raw = {
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-27T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": "accounts/acme-corp/invoice.pdf",
                        "size": PDF.stat().st_size,
                        "eTag": etag.strip('"'),
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }
    assert app.lambda_handler(raw, lambda_context) == {"batchItemFailures": []}
    tags = boto3.client("s3").get_object_tagging(Bucket=bucket, Key="accounts/acme-corp/invoice.pdf")[
        "TagSet"
    ]
    assert {"Key": "aup-verdict", "Value": "clean"} in tags  # the shipped example PDF scans clean
    with pytest.raises(ValueError, match="expects S3 event notifications inside an SQS batch"):
        app.lambda_handler({"detail-type": "Scheduled Event"}, lambda_context)


PDF = ROOT / "examples" / "invoice.pdf"


def test_walkthrough_samples_exist_and_agree_with_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    known_key = json.loads((ROOT / "events/AuthorizerFunction/known-key.json").read_text(encoding="utf-8"))
    assert (
        f"--api-key {known_key['headers']['x-api-key']}" in readme
    )  # the key the sample sends is registered
    lines = (ROOT / "examples/access.log").read_text(encoding="utf-8").splitlines()
    accounts = {json.loads(line)["principalId"] for line in lines}
    for account in accounts:
        assert f"accounts create {account} " in readme, account
    for path in re.findall(r"(?:events|examples)/[\w./-]+\.(?:json|pdf|log)", readme):
        assert (ROOT / path).is_file(), path
