"""boto3 clients, created lazily and cached per process (never at import: tests start moto first).

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at moto.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

_CONFIG: Any = None
_SESSION: Any = None
# A boto3 Session is not safe to build clients from on two threads at once; the clients it builds are.
_LOCK = threading.Lock()


def user_agent() -> str:
    """The User-Agent of every client: fixed, so botocore does not assemble its own (SDK, OS, language,
    feature ids, each component sanitized) twice per request, ~15% of its CPU per counter UpdateItem
    (~570 -> ~480 us, bench_logs' botocore row). DynamoDB and the others use it for their statistics
    only; the function's name still says which one sent a request (boto3 appends botocore's version)."""
    import platform

    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    return f"aup-enforcer/{name} Python/{platform.python_version()}"


def _config() -> Any:
    global _CONFIG
    if _CONFIG is None:
        from botocore.config import Config

        _CONFIG = Config(
            retries={"max_attempts": 5, "mode": "adaptive"},
            connect_timeout=2,
            read_timeout=5,
            tcp_keepalive=True,
            user_agent=user_agent(),
        )
    return _CONFIG


def _session() -> Any:
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return _SESSION


# DynamoDB requests are built by the ledger's code alone, and DynamoDB validates each one again: in a
# Lambda the client skips its own check, ~100-180 of ~600 us of botocore's CPU per counter UpdateItem
# (bench_logs). Tests and the local stack keep it: moto accepts some requests DynamoDB refuses.
_UNVALIDATED_IN_LAMBDA = frozenset({"dynamodb"})


@cache
def client(service: str) -> Any:
    """One client per service, all from one Session: the Session's loader caches the service models, so
    the second and third clients of a cold start cost ~30 ms each instead of ~90 (a Session per client
    read every model afresh: 247-283 ms for three clients against 92-125 ms, measured here)."""
    config = client_config(service)
    with _LOCK:
        return _session().client(service, config=config)


def client_config(service: str, *, in_lambda: bool | None = None) -> Any:
    """The botocore Config of ``service``'s client. ``in_lambda`` None: whether this process is a Lambda
    function talking to AWS itself (``AWS_LAMBDA_FUNCTION_NAME`` set, which the runtime does, and no
    ``AWS_ENDPOINT_URL``, which the local stack sets to point the clients at moto)."""
    if in_lambda is None:
        in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not (
            os.environ.get("AWS_ENDPOINT_URL") or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
        )
    if not (in_lambda and service in _UNVALIDATED_IN_LAMBDA):
        return _config()
    from botocore.config import Config

    return _config().merge(Config(parameter_validation=False))


def reset_clients() -> None:
    """Forget cached clients and their Session (tests switch endpoints, regions and mocks between cases;
    a Session reads the region and credentials from the environment when it is built)."""
    global _SESSION
    with _LOCK:
        client.cache_clear()
        _SESSION = None
