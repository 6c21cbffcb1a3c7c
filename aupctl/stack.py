"""Deploy ``template.yaml`` into moto as ``sam deploy`` would into AWS.

SAM -> CloudFormation with samtranslator (local CodeUri/ContentUri rewritten to zips uploaded to an
artifacts bucket, as ``sam package`` does), then moto's CloudFormation ``create_stack``, then by API
what moto's CloudFormation ignores (table TTL, bucket notifications, dead-letter configs).

Used by the integration tests (in-process ``mock_aws``) and by ``aupctl local up`` (moto server): the
tables, buckets and queues the code runs against always come from the real template.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ARTIFACTS_BUCKET = "aup-local-artifacts"
DEFAULT_STACK = "aup-enforcer"
REGION = "us-east-1"

# Parameters that make the template deployable into moto: no account-wide API Gateway role.
LOCAL_PARAMETERS = {"CreateApiGatewayAccountRole": "false"}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as dicts."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as a dict (a fresh copy: callers may change it)."""
    return copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))


@lru_cache(maxsize=8)
def _parsed(path: Path, _mtime: int) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a template")
    return doc


class _NoManagedPolicies:
    """samtranslator asks IAM for AWS managed policy names; the template only uses ARNs."""

    def load(self) -> dict[str, str]:
        return {}


def _zip_dir(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


def code_locations(template: Mapping[str, Any]) -> dict[str, Path]:
    """Logical id -> local code folder for every function and layer of the template."""
    out: dict[str, Path] = {}
    for logical_id, res in template.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            out[logical_id] = ROOT / props["CodeUri"]
        elif res.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            out[logical_id] = ROOT / props["ContentUri"]
    return out


def translate(
    template: dict[str, Any],
    s3: Any | None = None,
    parameters: Mapping[str, str] | None = None,
    bucket: str = ARTIFACTS_BUCKET,
) -> dict[str, Any]:
    """SAM -> CloudFormation. With ``s3``, code folders are zipped and uploaded as ``sam package`` does."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    doc = copy.deepcopy(template)
    for logical_id, folder in code_locations(doc).items():
        key = f"{logical_id}.zip"
        if s3 is not None:
            s3.put_object(Bucket=bucket, Key=key, Body=_zip_dir(folder))
        props = doc["Resources"][logical_id]["Properties"]
        uri_field = "CodeUri" if "CodeUri" in props else "ContentUri"
        props[uri_field] = f"s3://{bucket}/{key}"
    params = {**LOCAL_PARAMETERS, **(parameters or {})}
    # The same template and parameters translate the same way: a process that deploys again (a test per
    # stack) reuses the first translation instead of running samtranslator each time.
    fingerprint = json.dumps([doc, params], sort_keys=True, default=repr)
    if fingerprint not in _TRANSLATED:
        if len(_TRANSLATED) >= 8:
            _TRANSLATED.clear()
        _TRANSLATED[fingerprint] = transform(doc, params, _NoManagedPolicies())
    return copy.deepcopy(_TRANSLATED[fingerprint])


_TRANSLATED: dict[str, dict[str, Any]] = {}


@dataclass
class DeployedStack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    template: dict[str, Any] = field(repr=False)
    parameters: dict[str, str] = field(default_factory=dict)


def deploy(
    session: Any | None = None,
    *,
    stack_name: str = DEFAULT_STACK,
    endpoint_url: str | None = None,
    parameters: Mapping[str, str] | None = None,
    template_path: Path = TEMPLATE,
) -> DeployedStack:
    """Deploy the template into moto (in-process ``mock_aws`` or a server at ``endpoint_url``)."""
    import boto3

    session = session or boto3.session.Session(region_name=REGION)

    def client(name: str) -> Any:
        return session.client(name, region_name=REGION, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    s3, cfn = client("s3"), client("cloudformation")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    sam = load_template(template_path)
    cfn_template = translate(sam, s3, parameters)
    params = {**LOCAL_PARAMETERS, **(parameters or {})}
    declared = cfn_template.get("Parameters", {})
    deployable, api_bodies = _split_api_bodies(cfn_template)
    _moto_reads_json_templates_as_json()
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(deployable),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    desc = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if desc["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} ended {desc['StackStatus']}: {desc.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
    resources: dict[str, str] = {}
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for r in page["StackResourceSummaries"]:
            resources[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
    stack = DeployedStack(
        name=stack_name, outputs=outputs, resources=resources, template=cfn_template, parameters=dict(params)
    )
    _apply_what_moto_ignores(stack, client)
    _import_api_bodies(stack, api_bodies, params.get("StageName", "prod"), client("apigateway"))
    return stack


def _moto_reads_json_templates_as_json() -> None:
    """moto parses every ``TemplateBody`` with PyYAML's pure-Python loader first, a JSON body too: a
    quarter of a local deploy. The body ``deploy`` sends is JSON, so moto (when it runs in this process:
    ``mock_aws`` or the local server's thread) reads a body that starts with ``{`` as JSON; anything else
    takes moto's own path, and a moto without this function is left alone."""
    if "moto" not in sys.modules:  # deploying to a server in another process
        return
    try:
        from moto.cloudformation.models import Stack
    except ImportError:
        return
    original = Stack.__dict__.get("parse_template")
    if not isinstance(original, staticmethod) or getattr(original.__func__, "json_first", False):
        return
    yaml_parse = original.__func__

    def parse_template(template: Any) -> Any:
        if isinstance(template, str) and template.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(template)
        return yaml_parse(template)

    parse_template.json_first = True  # type: ignore[attr-defined]
    setattr(Stack, "parse_template", staticmethod(parse_template))  # noqa: B010


def _split_api_bodies(cfn_template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """moto's CloudFormation ignores a RestApi's ``Body``, so its Deployment fails ("no methods").

    Deploy the stack without the Deployment and Stage resources; the bodies are imported and the
    stages deployed by API afterwards (``_import_api_bodies``).
    """
    doc = copy.deepcopy(cfn_template)
    resources = doc["Resources"]
    bodies = {
        lid: r["Properties"].pop("Body")
        for lid, r in resources.items()
        if r["Type"] == "AWS::ApiGateway::RestApi" and "Body" in r.get("Properties", {})
    }
    dropped = {
        lid
        for lid, r in resources.items()
        # Event-source mappings too: moto would run their functions through Docker (absent here), and
        # deleting a mapping later does not unhook a DynamoDB stream's trigger. The local stack's
        # dispatcher and ``aupctl invoke`` play the event sources instead.
        if r["Type"]
        in ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::Lambda::EventSourceMapping")
    }
    dropped |= _local_aliases(resources)
    for lid in dropped:
        del resources[lid]
    for r in resources.values():
        deps = r.get("DependsOn")
        if isinstance(deps, list):
            r["DependsOn"] = [d for d in deps if d not in dropped]
        elif isinstance(deps, str) and deps in dropped:
            del r["DependsOn"]
    return doc, bodies


# What a canary deployment adds (DeploymentPreference): CodeDeploy runs no deployment locally, and moto's
# CloudFormation has no model of an alias (every reference to one would resolve to nothing).
_DEPLOYMENT_TYPES = (
    "AWS::Lambda::Alias",
    "AWS::Lambda::Version",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
)


def _local_aliases(resources: dict[str, Any]) -> set[str]:
    """Locally an alias is its function: every reference to an alias (``!Ref Fn.Alias``) is rewritten
    to the function's ARN; the aliases, versions and CodeDeploy resources (and its role) are dropped."""
    alias_of = {
        lid: r["Properties"]["FunctionName"]["Ref"]
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias" and isinstance(r.get("Properties", {}).get("FunctionName"), dict)
    }
    dropped = {lid for lid, r in resources.items() if r["Type"] in _DEPLOYMENT_TYPES}
    roles = {
        str(r["Properties"].get("ServiceRoleArn", {}).get("Fn::GetAtt", [""])[0])
        for r in resources.values()
        if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    }
    dropped |= {lid for lid in roles if lid in resources}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in alias_of:
                return {"Fn::GetAtt": [alias_of[node["Ref"]], "Arn"]}
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if isinstance(node, str):
            for alias, fn in alias_of.items():
                node = node.replace("${" + alias + "}", "${" + fn + ".Arn}")
        return node

    for lid in list(resources):
        if lid not in dropped:
            resources[lid] = rewrite(resources[lid])
    return dropped


def _import_api_bodies(stack: DeployedStack, bodies: dict[str, Any], stage: str, apigw: Any) -> None:
    """Create the swagger paths and methods by API (moto imports OpenAPI 3 only), then deploy the stage."""
    for logical_id, body in bodies.items():
        api_id = stack.resources.get(logical_id)
        if not api_id:
            continue
        swagger = _resolve_swagger(body, stack)
        resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api_id)["items"]}
        for path, methods in sorted(swagger.get("paths", {}).items()):
            parent = resources["/"]
            current = ""
            for part in [p for p in path.split("/") if p]:
                current += "/" + part
                if current not in resources:
                    resources[current] = apigw.create_resource(
                        restApiId=api_id, parentId=parent, pathPart=part
                    )["id"]
                parent = resources[current]
            for method, spec in methods.items():
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                auth = (
                    "AWS_IAM"
                    if "sigv4" in str(spec.get("security", ""))
                    else "CUSTOM"
                    if spec.get("security")
                    else "NONE"
                )
                apigw.put_method(restApiId=api_id, resourceId=parent, httpMethod=verb, authorizationType=auth)
                uri = str(spec.get("x-amazon-apigateway-integration", {}).get("uri", ""))
                target = re.search(r"\$\{(\w+)\.Arn\}", uri)
                fn = stack.resources.get(target.group(1), "unknown") if target else "unknown"
                apigw.put_integration(
                    restApiId=api_id,
                    resourceId=parent,
                    httpMethod=verb,
                    type="AWS_PROXY",
                    integrationHttpMethod="POST",
                    uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                    f"arn:aws:lambda:{REGION}:123456789012:function:{fn}/invocations",
                )
        apigw.create_deployment(restApiId=api_id, stageName=stage)


def _resolve_swagger(node: Any, stack: DeployedStack) -> Any:
    """Replace the intrinsics SAM leaves in a swagger body by strings (moto only needs the shape)."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                return text
            if key in ("Ref", "Fn::GetAtt", "Fn::If", "Fn::Join"):
                return str(stack.resources.get(value if isinstance(value, str) else value[0], "local"))
        return {k: _resolve_swagger(v, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_swagger(v, stack) for v in node]
    return node


def _apply_what_moto_ignores(stack: DeployedStack, client: Any) -> None:
    # moto would run event-source mappings through Docker (absent here); the local stack's dispatcher
    # and ``aupctl invoke`` play the event sources instead, in-process.
    lam = client("lambda")
    for mapping in lam.list_event_source_mappings().get("EventSourceMappings", []):
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    # Likewise EventBridge rules with Lambda targets: moto's put_events raises NotImplementedError on
    # them. The rules stay (they are part of the stack); their Lambda targets go.
    events = client("events")
    for rule in events.list_rules().get("Rules", []):
        targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
        lambda_ids = [t["Id"] for t in targets if ":lambda:" in t.get("Arn", "")]
        if lambda_ids:
            events.remove_targets(Rule=rule["Name"], Ids=lambda_ids)
    res = stack.template["Resources"]
    ddb, s3, sqs = client("dynamodb"), client("s3"), client("sqs")
    for logical_id, r in res.items():
        props = r.get("Properties", {})
        physical = stack.resources.get(logical_id)
        if not physical:
            continue
        if r["Type"] == "AWS::DynamoDB::Table" and props.get("TimeToLiveSpecification"):
            spec = props["TimeToLiveSpecification"]
            ddb.update_time_to_live(
                TableName=physical,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
            )
        if r["Type"] == "AWS::S3::Bucket" and props.get("NotificationConfiguration"):
            queues = []
            for qc in props["NotificationConfiguration"].get("QueueConfigurations", []):
                queue_logical = qc["Queue"]["Fn::GetAtt"][0]
                url = stack.resources[queue_logical]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                queues.append({"QueueArn": arn, "Events": [qc["Event"]]})
            s3.put_bucket_notification_configuration(
                Bucket=physical, NotificationConfiguration={"QueueConfigurations": queues}
            )
    _create_delivery_streams(stack, client)
    _lock_evidence_buckets(stack, client("s3"))
    _create_alarms(stack, client)
    _create_user_pools(stack, client)


def _create_user_pools(stack: DeployedStack, client: Any) -> None:
    """moto's CloudFormation has no Cognito model: create the template's user pools, their app clients
    and groups by API (moto implements cognito-idp), and give the functions the variables that name
    them (moto's CloudFormation drops a variable whose ``!Ref`` it could not resolve)."""
    res = stack.template["Resources"]
    pools = [
        k for k, r in res.items() if r.get("Type") == "AWS::Cognito::UserPool" and k not in stack.resources
    ]
    if not pools:
        return
    idp = client("cognito-idp")
    for logical_id in pools:
        props = res[logical_id].get("Properties", {})
        name_spec = props.get("UserPoolName", logical_id)
        name = name_spec["Fn::Sub"] if isinstance(name_spec, dict) else str(name_spec)
        pool = idp.create_user_pool(
            PoolName=name.replace("${AWS::StackName}", stack.name),
            AdminCreateUserConfig=props.get("AdminCreateUserConfig", {}),
        )["UserPool"]
        stack.resources[logical_id] = pool["Id"]
    for logical_id, r in res.items():
        props = r.get("Properties", {})
        pool_id = stack.resources.get(str((props.get("UserPoolId") or {}).get("Ref", "")), "")
        if not pool_id or logical_id in stack.resources:
            continue
        if r["Type"] == "AWS::Cognito::UserPoolClient":
            created = idp.create_user_pool_client(
                UserPoolId=pool_id,
                ClientName=str(props.get("ClientName", logical_id)),
                GenerateSecret=bool(props.get("GenerateSecret", False)),
                ExplicitAuthFlows=list(props.get("ExplicitAuthFlows", [])),
            )["UserPoolClient"]
            stack.resources[logical_id] = created["ClientId"]
        elif r["Type"] == "AWS::Cognito::UserPoolGroup":
            idp.create_group(
                UserPoolId=pool_id,
                GroupName=str(props["GroupName"]),
                Description=str(props.get("Description", "")),
                Precedence=int(props.get("Precedence", 0)),
            )
            stack.resources[logical_id] = str(props["GroupName"])
    created_ids = set(pools) | {
        k for k, r in res.items() if str(r.get("Type", "")).startswith("AWS::Cognito::")
    }
    lam = client("lambda")
    for logical_id, r in res.items():
        if r.get("Type") != "AWS::Lambda::Function" or logical_id not in stack.resources:
            continue
        variables = (r.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        missing = {
            k: str(_resolve(v, stack))
            for k, v in variables.items()
            if isinstance(v, dict) and v.get("Ref") in created_ids
        }
        if missing:
            physical = stack.resources[logical_id]
            env = function_environment(stack, logical_id, lam)
            lam.update_function_configuration(
                FunctionName=physical, Environment={"Variables": {**env, **missing}}
            )
    for key, output in (stack.template.get("Outputs") or {}).items():
        value = output.get("Value")
        if isinstance(value, dict) and value.get("Ref") in created_ids:
            stack.outputs[key] = str(_resolve(value, stack))


def _lock_evidence_buckets(stack: DeployedStack, s3: Any) -> None:
    """moto's CloudFormation ignores a bucket's versioning and Object Lock: apply them by API to the
    buckets the template locks (the quarantine bucket), so the local evidence is versioned and lockable.

    Not the default retention: moto then refuses every CopyObject into the bucket (it asks a copy for the
    Content-MD5 / SDK checksum header of a body-carrying PUT), which is how the scanner quarantines.
    """
    for logical_id, r in stack.template["Resources"].items():
        props = r.get("Properties", {})
        physical = stack.resources.get(logical_id)
        if r["Type"] != "AWS::S3::Bucket" or not physical or not props.get("ObjectLockConfiguration"):
            continue
        s3.put_bucket_versioning(Bucket=physical, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object_lock_configuration(
            Bucket=physical, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )


def _create_alarms(stack: DeployedStack, client: Any) -> None:
    """moto's CloudFormation has no alarm model: create the template's alarms by API so the local stack
    lists them (moto never evaluates an alarm: they stay INSUFFICIENT_DATA and notify nothing)."""
    cloudwatch = client("cloudwatch")
    for logical_id, r in stack.template["Resources"].items():
        if r["Type"] != "AWS::CloudWatch::Alarm" or logical_id in stack.resources:
            continue
        props = r.get("Properties", {})
        dims = [
            {"Name": d["Name"], "Value": str(_resolve(d["Value"], stack))}
            for d in props.get("Dimensions", [])
        ]
        if any(not d["Value"] for d in dims):  # its resource is not in this stack (a false condition)
            continue
        name = f"{stack.name}-{logical_id}"
        stat = (
            {"ExtendedStatistic": props["ExtendedStatistic"]}
            if "ExtendedStatistic" in props
            else {"Statistic": props.get("Statistic", "Sum")}
        )
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=str(props.get("AlarmDescription", "")),
            Namespace=str(_resolve(props["Namespace"], stack)),
            MetricName=props["MetricName"],
            Dimensions=dims,
            Period=int(props["Period"]),
            EvaluationPeriods=int(props["EvaluationPeriods"]),
            Threshold=float(_resolve(props["Threshold"], stack)),
            ComparisonOperator=props["ComparisonOperator"],
            TreatMissingData=props.get("TreatMissingData", "missing"),
            AlarmActions=[
                str(a) for a in (_resolve(x, stack) for x in _listed(props.get("AlarmActions"))) if a
            ],
            **stat,
        )
        stack.resources[logical_id] = name


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _resolve(value: Any, stack: DeployedStack) -> Any:
    """A ``Ref`` / ``GetAtt ...QueueName`` in an alarm or bucket property, as the local stack has it:
    resources by physical id, parameters by the deployed value or their default; "" when absent."""
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        if ref in stack.resources:
            return stack.resources[ref]
        param = stack.template.get("Parameters", {}).get(ref)
        return stack.parameters.get(ref, param.get("Default", "")) if param else ""
    if "Fn::GetAtt" in value:
        target, attr = value["Fn::GetAtt"]
        physical = stack.resources.get(target, "")
        return physical.rsplit("/", 1)[-1] if attr == "QueueName" else physical
    return ""


def _create_delivery_streams(stack: DeployedStack, client: Any) -> None:
    """moto's CloudFormation has no Firehose model: create the template's S3 delivery streams by API
    (moto delivers each put straight to the bucket, uncompressed, which the analyzer also reads)."""
    res = stack.template["Resources"]
    for logical_id, r in res.items():
        if r.get("Type") != "AWS::KinesisFirehose::DeliveryStream" or logical_id in stack.resources:
            continue
        props = r.get("Properties", {})
        dest = dict(props.get("ExtendedS3DestinationConfiguration", {}))
        bucket = stack.resources.get(dest["BucketARN"]["Fn::GetAtt"][0])
        if not bucket:  # the stream's condition is false: its bucket was not created either
            continue
        role = stack.resources[dest["RoleARN"]["Fn::GetAtt"][0]]
        name_spec = props["DeliveryStreamName"]
        name = name_spec["Fn::Sub"] if isinstance(name_spec, dict) else str(name_spec)
        name = name.replace("${AWS::StackName}", stack.name)
        role_arn = client("iam").get_role(RoleName=role)["Role"]["Arn"]
        dest.update(BucketARN=f"arn:aws:s3:::{bucket}", RoleARN=role_arn)
        dest.pop("BufferingHints", None)  # a !Ref to a parameter; moto delivers every put at once anyway
        client("firehose").create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
            ExtendedS3DestinationConfiguration=dest,
        )
        stack.resources[logical_id] = name


def function_environment(stack: DeployedStack, logical_id: str, lambda_client: Any) -> dict[str, str]:
    """A function's environment as deployed (``!Ref``s resolved to physical names)."""
    cfg = lambda_client.get_function_configuration(FunctionName=stack.resources[logical_id])
    return dict(cfg.get("Environment", {}).get("Variables", {}))
