"""The operators' console in the template: the user pool and its groups, the app client's sign-in
flows, ConsoleApi behind the pool's authorizer (static files open), the outputs, the function's
settings; and the local stack creating what moto's CloudFormation cannot."""

from __future__ import annotations

from functools import cache
from typing import Any

from aupctl.stack import load_template, translate


@cache
def sam() -> dict[str, Any]:
    return load_template()


@cache
def cfn() -> dict[str, Any]:
    return translate(sam(), None, {"CreateApiGatewayAccountRole": "true"})


def of_type(kind: str) -> dict[str, Any]:
    return {k: v for k, v in cfn()["Resources"].items() if v["Type"] == kind}


def test_the_pool_has_one_group_per_role_and_a_public_client_with_password_and_srp_sign_in():
    (pool_id,) = of_type("AWS::Cognito::UserPool")
    pool = of_type("AWS::Cognito::UserPool")[pool_id]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}  # nobody signs themselves up
    groups = of_type("AWS::Cognito::UserPoolGroup").values()
    assert sorted(g["Properties"]["GroupName"] for g in groups) == ["admin", "operator", "viewer"]
    assert all(g["Properties"]["UserPoolId"] == {"Ref": pool_id} for g in groups)
    (client,) = of_type("AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["UserPoolId"] == {"Ref": pool_id} and props["GenerateSecret"] is False
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(props["ExplicitAuthFlows"])


def test_console_api_authorizes_every_route_with_the_pool_but_the_static_files():
    (console,) = [
        r for r in of_type("AWS::ApiGateway::RestApi").values() if "console" in repr(r["Properties"]["Name"])
    ]
    body = console["Properties"]["Body"]
    schemes = body["securityDefinitions"]
    assert schemes["CognitoAuthorizer"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert schemes["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": ["ConsoleUserPool", "Arn"]}
    ]
    paths = body["paths"]
    assert set(paths) == {"/console", "/console/{file}", "/openapi.json", "/swagger", "/{proxy+}"}
    proxy = paths["/{proxy+}"]["x-amazon-apigateway-any-method"]
    assert proxy["security"] == [{"CognitoAuthorizer": []}]
    for static in ("/console", "/console/{file}", "/openapi.json", "/swagger"):
        assert "CognitoAuthorizer" not in repr(paths[static]["get"].get("security", []))


def test_the_admin_api_is_still_iam_only_and_serves_the_new_routes():
    (admin,) = [
        r for r in of_type("AWS::ApiGateway::RestApi").values() if "admin" in repr(r["Properties"]["Name"])
    ]
    paths = admin["Properties"]["Body"]["paths"]
    assert {"/whoami", "/reports", "/accounts/{id}/usage"} <= set(paths)
    assert all(m.get("security") == [{"AWS_IAM": []}] for p in paths.values() for m in p.values())


def test_outputs_and_the_function_settings_name_the_console():
    outputs = sam()["Outputs"]
    assert {"ConsoleUrl", "UserPoolId", "UserPoolClientId"} <= set(outputs)
    assert "/console/" in repr(outputs["ConsoleUrl"]["Value"])
    env = sam()["Resources"]["AdminApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["COGNITO_USER_POOL_ID"] == {"Ref": "ConsoleUserPool"}
    assert env["COGNITO_CLIENT_ID"] == {"Ref": "ConsoleUserPoolClient"}


def test_the_local_stack_creates_the_pool_its_groups_and_client(stack):
    import boto3

    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = stack.outputs["UserPoolId"]
    groups = idp.list_groups(UserPoolId=pool_id)["Groups"]
    assert sorted(g["GroupName"] for g in groups) == ["admin", "operator", "viewer"]
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=stack.outputs["UserPoolClientId"])
    assert "ALLOW_USER_PASSWORD_AUTH" in client["UserPoolClient"]["ExplicitAuthFlows"]
    lam = boto3.client("lambda", region_name="us-east-1")
    env = lam.get_function_configuration(FunctionName=stack.resources["AdminApiFunction"])["Environment"]
    assert env["Variables"]["COGNITO_USER_POOL_ID"] == pool_id
    assert env["Variables"]["COGNITO_CLIENT_ID"] == stack.outputs["UserPoolClientId"]
