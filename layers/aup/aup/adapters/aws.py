"""boto3 clients, created lazily and cached per process (never at import: tests start moto first).

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at moto.
"""

from __future__ import annotations

from functools import cache
from typing import Any

_CONFIG: Any = None


def _config() -> Any:
    global _CONFIG
    if _CONFIG is None:
        from botocore.config import Config

        _CONFIG = Config(
            retries={"max_attempts": 5, "mode": "adaptive"},
            connect_timeout=2,
            read_timeout=5,
            tcp_keepalive=True,
        )
    return _CONFIG


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.session.Session().client(service, config=_config())  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and mocks between cases)."""
    client.cache_clear()
