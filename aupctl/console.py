"""``aupctl console``: the operators' console against the local stack, on a loopback port.

One server serves both the console's static files and the admin API, under one origin, by mapping each
HTTP request onto the REST proxy event ``ConsoleApi`` would deliver to ``AdminApiFunction`` and running
the function in-process (``FunctionRunner``), as ``aupctl accounts`` does. The part API Gateway's
Cognito authorizer plays on AWS is played here: the ``Authorization: Bearer <IdToken>`` is verified
against the local user pool (RS256 signature with the pool's JWKS from moto, issuer, audience = the
console's client, ``token_use`` id, expiry) and its claims go into ``requestContext.authorizer.claims``
as the authorizer passes them (strings; ``cognito:groups`` comma-separated). A missing or bad token
reaches the function with no identity at all, so the function answers 401 (with its headers) to
anything but the static files.

``--as ROLE`` creates (once) the local user ``local-<ROLE>`` in that group with a random password,
signs it in with ``AdminInitiateAuth`` and prints ``/console/#token=<IdToken>``. Against AWS
(``--stack``) there is no such thing: the console is ``ConsoleUrl`` and people sign in.

The sign-in form calls Cognito's ``InitiateAuth``: locally at ``/cognito-idp/`` on this server (a
proxy of that one call to moto, so the page never leaves its origin); on AWS at the region's endpoint.

For tests: ``serve(port)`` starts the server in a thread and returns a ``ConsoleServer``
(``base_url``, ``login_url(role)``, ``token(role)``, ``close()``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aupctl.admin import FUNCTION, _match, _routes
from aupctl.errors import CliError
from aupctl.events import REGION, console_event
from aupctl.runner import FunctionRunner, LocalStack

ROLES = ("viewer", "operator", "admin")
USER_PREFIX = "local-"
COGNITO_PROXY = "/cognito-idp/"
# The only Cognito calls the page makes (sign-in, and a new-password challenge).
PROXIED_TARGETS = frozenset(
    {
        "AWSCognitoIdentityProviderService.InitiateAuth",
        "AWSCognitoIdentityProviderService.RespondToAuthChallenge",
    }
)
MAX_BODY = 1024 * 1024
CLOCK_SKEW_SECONDS = 60


class TokenError(Exception):
    """The bearer token is not a valid ID token of the local pool."""


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass
class PoolConfig:
    """The local user pool and its console client, as the deployed admin function names them."""

    pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"


def pool_config(runner: FunctionRunner) -> PoolConfig:
    env = runner.configuration(FUNCTION).get("Environment", {}).get("Variables", {})
    pool_id, client_id = env.get("COGNITO_USER_POOL_ID", ""), env.get("COGNITO_CLIENT_ID", "")
    if not pool_id or not client_id:
        raise CliError(
            "the local stack has no console user pool (it predates the console): "
            "restart it with `aupctl local down` and `aupctl local up`"
        )
    return PoolConfig(str(pool_id), str(client_id))


@dataclass
class TokenVerifier:
    """RS256 ID tokens of one pool, checked against the pool's JWKS (fetched once from moto)."""

    endpoint: str
    pool: PoolConfig
    clock: Callable[[], float] = time.time
    _keys: dict[str, Any] = field(default_factory=dict)

    def _key(self, kid: str) -> Any:
        if not self._keys:
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

            url = f"{self.endpoint}/{self.pool.pool_id}/.well-known/jwks.json"
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (the local endpoint)
                jwks = json.loads(resp.read())
            for k in jwks.get("keys", []):
                if k.get("kty") == "RSA":
                    numbers = RSAPublicNumbers(
                        int.from_bytes(_b64(k["e"]), "big"), int.from_bytes(_b64(k["n"]), "big")
                    )
                    self._keys[str(k.get("kid"))] = numbers.public_key()
        if kid not in self._keys:
            raise TokenError("unknown signing key")
        return self._keys[kid]

    def verify(self, token: str) -> dict[str, Any]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("not a JWT")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except ValueError as exc:
            raise TokenError("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            raise TokenError("not an RS256 token")
        key = self._key(str(header.get("kid")))
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise TokenError("bad signature") from exc
        if claims.get("iss") != self.pool.issuer:
            raise TokenError("another issuer")
        if claims.get("aud") != self.pool.client_id or claims.get("token_use") != "id":
            raise TokenError("not an ID token of the console's client")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + CLOCK_SKEW_SECONDS < self.clock():
            raise TokenError("expired")
        return claims


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway's Cognito authorizer hands them on: every value a string, lists
    comma-separated."""
    out: dict[str, str] = {}
    for k, v in claims.items():
        out[str(k)] = ",".join(str(i) for i in v) if isinstance(v, list) else str(v)
    return out


def ensure_user(local: LocalStack, pool: PoolConfig, role: str) -> tuple[str, str]:
    """The local user ``local-<role>`` in group ``role`` with a fresh random password: (name, password)."""
    if role not in ROLES:
        raise CliError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    idp = local.client("cognito-idp")
    username = USER_PREFIX + role
    password = secrets.token_urlsafe(24) + "aA1!"  # any pool policy: cases, digit, symbol
    try:
        idp.admin_get_user(UserPoolId=pool.pool_id, Username=username)
    except idp.exceptions.UserNotFoundException:
        idp.admin_create_user(
            UserPoolId=pool.pool_id,
            Username=username,
            UserAttributes=[{"Name": "email", "Value": f"{username}@localhost"}],
            MessageAction="SUPPRESS",
        )
        idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=role)
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
    return username, password


def mint_token(local: LocalStack, pool: PoolConfig, role: str) -> str:
    """An ID token of ``local-<role>`` from the local pool (``AdminInitiateAuth``, no password asked)."""
    username, password = ensure_user(local, pool, role)
    answer = local.client("cognito-idp").admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


class _ConsoleRunner(FunctionRunner):
    """The admin function as ConsoleApi runs it locally: the sign-in endpoint is this server's proxy."""

    overrides: dict[str, str]

    def environment(self, logical_id: str) -> dict[str, str]:
        return {**super().environment(logical_id), **self.overrides}


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, local: LocalStack, listen: int = 0, log: Callable[[str], None] | None = None) -> None:
        super().__init__(("127.0.0.1", listen), _Handler)
        self.local = local
        self.runner = _ConsoleRunner(local)
        self.pool = pool_config(self.runner)
        self.runner.overrides = {
            "COGNITO_ENDPOINT": self.base_url + COGNITO_PROXY,
            "CONSOLE_LOCAL": "true",
        }
        self.verifier = TokenVerifier(local.endpoint, self.pool)
        self.lock = threading.Lock()  # one invocation at a time: the runner swaps os.environ
        self.log = log
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def token(self, role: str) -> str:
        return mint_token(self.local, self.pool, role)

    def login_url(self, role: str) -> str:
        """The console signed in as ``local-<role>``: the SPA takes the token from the fragment."""
        return f"{self.base_url}/console/#token={self.token(role)}"

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self.serve_forever, name="aupctl-console", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.runner.close()

    def __enter__(self) -> ConsoleServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self.lock:
            return self.runner.invoke(FUNCTION, event).result


def serve(port: int, listen: int = 0) -> ConsoleServer:
    """The console server for the local stack on ``port``, started in a thread on ``listen`` (0: a
    free loopback port). ``close()`` it when done."""
    return ConsoleServer(LocalStack.connect(port), listen).start()


class _Handler(BaseHTTPRequestHandler):
    server: ConsoleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ]
        self._send(status, headers, json.dumps(body).encode())

    def _handle(self) -> None:
        body = self._body()
        if body is None:
            self._json(413, {"error": "request body too large"})
            return
        url = urlsplit(self.path)
        path = url.path or "/"
        if path == COGNITO_PROXY.rstrip("/") or path == COGNITO_PROXY:
            self._proxy_cognito(body)
            return
        headers = {k: v for k, v in self.headers.items()}
        headers["X-Forwarded-Proto"] = "http"
        claims: dict[str, str] | None = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            try:
                claims = authorizer_claims(self.server.verifier.verify(auth[7:].strip()))
            except TokenError:
                claims = None  # the function answers 401 (the static files need no token)
            except (OSError, urllib.error.URLError) as exc:
                self._json(503, {"error": f"the local user pool is unreachable: {exc}"})
                return
        resource, params = path, {}
        for route_method, route in _routes(self.server.runner):
            found = _match(route, path)
            if found is not None and route_method in (self.command, "ANY") and "{proxy+}" not in route:
                resource, params = route, found
                break
        event = console_event(
            self.command,
            path,
            headers=headers,
            claims=claims,
            raw_body=body.decode("utf-8", errors="replace") if body else None,
            query=dict(parse_qsl(url.query, keep_blank_values=True)) or None,
            resource=resource,
            path_params=params,
            api_id=self.server.local.resources.get("ConsoleApi", "local"),
            source_ip=self.client_address[0],
        )
        try:
            raw = self.server.invoke(event)
        except Exception as exc:  # the function crashed: what API Gateway answers then
            self._json(502, {"error": f"{FUNCTION} failed: {type(exc).__name__}"})
            return
        self._send_proxy(raw)

    def _send_proxy(self, raw: Any) -> None:
        if not isinstance(raw, dict) or "statusCode" not in raw:
            self._json(502, {"error": f"{FUNCTION} returned no proxy response"})
            return
        headers: list[tuple[str, str]] = []
        for k, values in (raw.get("multiValueHeaders") or {}).items():
            headers.extend((k, str(v)) for v in values)
        seen = {k.lower() for k, _ in headers}
        headers.extend((k, str(v)) for k, v in (raw.get("headers") or {}).items() if k.lower() not in seen)
        payload = raw.get("body") or ""
        data = base64.b64decode(payload) if raw.get("isBase64Encoded") else str(payload).encode()
        self._send(int(raw["statusCode"]), headers, data)

    def _proxy_cognito(self, body: bytes) -> None:
        target = self.headers.get("X-Amz-Target", "")
        if self.command != "POST" or target not in PROXIED_TARGETS:
            self._json(403, {"error": "only sign-in calls are passed to the local user pool"})
            return
        request = urllib.request.Request(  # noqa: S310 (the local endpoint)
            self.server.local.endpoint + "/",
            data=body,
            method="POST",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
                status, data = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, data = err.code, err.read()
        except (urllib.error.URLError, OSError) as exc:
            self._json(503, {"error": f"the local user pool is unreachable: {exc}"})
            return
        self._send(
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("Cache-Control", "no-store")],
            data,
        )


def stack_console_url(boto_session: Any, stack: str) -> str:
    """A deployed stack's ``ConsoleUrl`` output. CliError when the stack or the output is missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = boto_session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot describe stack {stack}: {exc}") from exc
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == "ConsoleUrl":
            return str(output["OutputValue"])
    raise CliError(f"stack {stack} has no ConsoleUrl output (deployed before the console?)")


def run(
    port: int, listen: int | None, role: str | None, open_browser: bool, echo: Callable[[str], None]
) -> int:
    """``aupctl console``: serve until interrupted."""
    server = ConsoleServer(LocalStack.connect(port), listen or 0)
    url = server.login_url(role) if role else f"{server.base_url}/console/"
    echo(f"console for the local stack on port {port}: {server.base_url}/console/")
    if role:
        echo(f"signed in as {USER_PREFIX}{role} ({role}): {url}")
    else:
        echo("sign in with a user of the local pool (or restart with --as viewer|operator|admin)")
    echo("Ctrl-C to stop")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.runner.close()
    return 0
