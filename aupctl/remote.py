"""The operators' commands against a deployed stack: ``--stack NAME [--region R] [--profile P]``.

The admin API's URL is the stack's ``AdminApiUrl`` output (CloudFormation ``DescribeStacks``); every
request is signed with SigV4 (service ``execute-api``) with the boto3 session's credentials, as the
API's ``AWS_IAM`` authorizer requires. The commands are the same as against the local stack: only the
transport differs (``AdminClient.call``). ``replay`` and ``policy diff --logs`` take the same options
to read an ``s3://`` archive with the stack's session (``archive_s3``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from aupctl.admin import AdminClient, Response
from aupctl.errors import CliError

OUTPUT = "AdminApiUrl"
SERVICE = "execute-api"
TIMEOUT_SECONDS = 30


def session(region: str | None, profile: str | None) -> Any:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:  # an unknown profile
        raise CliError(str(exc)) from exc


def describe(boto_session: Any, stack: str) -> dict[str, Any]:
    """The stack's description (``DescribeStacks``). CliError when it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = boto_session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot describe stack {stack}: {exc}") from exc
    if not stacks:
        raise CliError(f"cannot describe stack {stack}: not found")
    return dict(stacks[0])


def archive_s3(stack: str, region: str | None, profile: str | None) -> Any:
    """The S3 client that reads ``s3://`` archives for ``replay`` / ``policy diff --logs`` with
    ``--stack``: the deployed stack's session (its region and profile), once the stack is found there
    (so a wrong region or account is one line, not an S3 error about a bucket)."""
    boto_session = session(region, profile)
    describe(boto_session, stack)
    return boto_session.client("s3")


def admin_api_url(boto_session: Any, stack: str) -> str:
    """The stack's ``AdminApiUrl`` output. CliError when the stack or the output is missing."""
    for output in describe(boto_session, stack).get("Outputs", []):
        if output.get("OutputKey") == OUTPUT:
            url = str(output["OutputValue"]).rstrip("/")
            if not url.startswith(("https://", "http://")):
                raise CliError(f"stack {stack}: {OUTPUT} is not an HTTP(S) URL: {url[:100]}")
            return url
    raise CliError(f"stack {stack} has no {OUTPUT} output (is it an aup-enforcer stack?)")


class RemoteAdminClient(AdminClient):
    """The admin API over HTTPS, SigV4-signed."""

    def __init__(self, base_url: str, boto_session: Any) -> None:
        credentials = boto_session.get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials (set a profile with --profile, or the AWS_* variables)")
        region = boto_session.region_name
        if not region:
            raise CliError("no AWS region (pass --region or set one in the profile)")
        self.base_url = base_url
        self.credentials = credentials
        self.region = str(region)

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Response:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = self.base_url + quote(path)
        if query:
            url += "?" + urlencode(sorted(query.items()))
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        # Frozen credentials: a refreshing (assumed-role) set cannot change between key and token.
        SigV4Auth(self.credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(request)
        prepared = request.prepare()
        http = urllib.request.Request(  # noqa: S310 (the scheme is checked in admin_api_url)
            prepared.url, data=data, method=method, headers=dict(prepared.headers.items())
        )
        try:
            with urllib.request.urlopen(http, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
                return _response(resp.status, resp.read())
        except urllib.error.HTTPError as err:
            return _response(err.code, err.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CliError(f"admin API at {self.base_url} unreachable: {exc}") from exc


def _response(status: int, raw: bytes) -> Response:
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Response(status, parsed)


def client(stack: str, region: str | None, profile: str | None) -> RemoteAdminClient:
    boto_session = session(region, profile)
    return RemoteAdminClient(admin_api_url(boto_session, stack), boto_session)
