"""ServiceBackendFunction: a stand-in for the provider's API behind the authorizer (replace it)."""

from __future__ import annotations

import json
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    authorizer = ((event or {}).get("requestContext") or {}).get("authorizer") or {}
    body = {"ok": True, "account": authorizer.get("accountId"), "path": (event or {}).get("path")}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
