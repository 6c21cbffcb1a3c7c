"""The operators' commands (``aupctl accounts|reviews``) through AdminApiFunction, in-process.

Each command becomes the API Gateway REST proxy event the admin API would receive from an
IAM-signed request by the local user, and the function's response is decoded back into JSON.
"""

from __future__ import annotations

import base64
import getpass
import gzip
import json
import re
from dataclasses import dataclass
from typing import Any

from aupctl.events import ACCOUNT, rest_event
from aupctl.runner import FunctionRunner

FUNCTION = "AdminApiFunction"
API = "AdminApi"
LIST_MAX_PAGES = 100  # `aupctl accounts list` follows the next token this many pages at most


@dataclass
class Response:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        body = self.body
        if not isinstance(body, dict):
            return body if isinstance(body, str) else json.dumps(body, default=str)
        message = str(body.get("error") or body.get("message") or json.dumps(body, default=str))
        details = [
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}"
            for e in body.get("errors", [])
            if isinstance(e, dict)
        ]
        return message + (f" ({'; '.join(details)})" if details else "")


def local_user_arn() -> str:
    try:
        user = re.sub(r"[^\w+=,.@-]", "-", getpass.getuser()) or "operator"
    except Exception:  # no user name in a bare container
        user = "operator"
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def _routes(runner: FunctionRunner) -> list[tuple[str, str]]:
    """(METHOD, resource path) of every Api event of the admin function in the template."""
    props = runner.local.template["Resources"][FUNCTION]["Properties"]
    return [
        (str(e["Properties"]["Method"]).upper(), str(e["Properties"]["Path"]))
        for e in props.get("Events", {}).values()
        if e.get("Type") == "Api"
    ]


def _match(resource: str, path: str) -> dict[str, str] | None:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
    m = re.fullmatch(pattern, path)
    return m.groupdict() if m else None


def decode_response(raw: Any) -> Response:
    """The proxy response's status and JSON body (base64 and gzip undone)."""
    if not isinstance(raw, dict) or "statusCode" not in raw:
        return Response(502, {"message": f"{FUNCTION} returned no proxy response: {str(raw)[:200]}"})
    body = raw.get("body") or ""
    data: bytes = base64.b64decode(body) if raw.get("isBase64Encoded") else str(body).encode()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        parsed: Any = json.loads(data) if data else None
    except ValueError:
        parsed = data.decode(errors="replace")
    return Response(int(raw["statusCode"]), parsed)


class AdminClient:
    def __init__(self, runner: FunctionRunner, stage: str = "prod") -> None:
        self.runner = runner
        self.stage = stage
        self.user_arn = local_user_arn()

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Response:
        for route_method, resource in _routes(self.runner):
            params = _match(resource, path)
            if route_method in (method, "ANY") and params is not None:
                break
        else:
            resource, params = path, {}
        api_id = self.runner.local.resources.get(API, "local")
        event = rest_event(
            method,
            path,
            body,
            resource=resource,
            path_params=params,
            query=query,
            api_id=api_id,
            stage=self.stage,
            user_arn=self.user_arn,
        )
        return decode_response(self.runner.invoke(FUNCTION, event).result)

    # The admin API's routes (docs/architecture.md#admin-api).
    def list_accounts(
        self,
        limit: int | None = None,
        next_token: str | None = None,
        *,
        status: str | None = None,
        plan: str | None = None,
        allowlisted: bool | None = None,
        pending_reviews: bool | None = None,
        q: str | None = None,
    ) -> Response:
        """One page of ``GET /accounts``; the filters (each only when given) are the API's query
        parameters: ``status``, ``plan``, ``allowlisted``, ``pending_reviews`` (true/false), ``q``."""
        query = {k: str(v) for k, v in (("limit", limit), ("next_token", next_token)) if v}
        for name, flag in (("allowlisted", allowlisted), ("pending_reviews", pending_reviews)):
            if flag is not None:
                query[name] = "true" if flag else "false"
        query.update({k: v for k, v in (("status", status), ("plan", plan), ("q", q)) if v})
        return self.call("GET", "/accounts", query=query)

    def all_accounts(
        self, max_pages: int = LIST_MAX_PAGES, page_size: int | None = None, **filters: Any
    ) -> Response:
        """Every page of ``GET /accounts`` with these filters, as one ``{"items", "next_token"}`` answer
        (a filtered page can be short, even empty, with more behind its token). The first error answer
        is returned as it is; ``next_token`` is set only when ``max_pages`` were read."""
        items: list[Any] = []
        token: str | None = None
        for _ in range(max_pages):
            page = self.list_accounts(page_size, token, **filters)
            if not page.ok:
                return page
            items += items_of(page.body)
            token = page.body.get("next_token") if isinstance(page.body, dict) else None
            if not token:
                break
        return Response(200, {"items": items, "next_token": token})

    def get_account(self, account_id: str) -> Response:
        return self.call("GET", f"/accounts/{account_id}")

    def violations(self, account_id: str, next_token: str | None = None, **filters: str | None) -> Response:
        """``filters``: ``rule``, ``clause``, ``decision`` (each only when given)."""
        query = {k: v for k, v in {"next_token": next_token, **filters}.items() if v}
        return self.call("GET", f"/accounts/{account_id}/violations", query=query or None)

    def audit(self, account_id: str) -> Response:
        return self.call("GET", f"/accounts/{account_id}/audit")

    def export(self, account_id: str) -> Response:
        return self.call("GET", f"/accounts/{account_id}/export")

    def create_account(self, account_id: str, plan: str, api_key: str | None = None) -> Response:
        body: dict[str, Any] = {"account_id": account_id, "plan": plan}
        if api_key:
            body["api_key"] = api_key
        return self.call("POST", "/accounts", body)

    def suspend(self, account_id: str, reason: str, until: str | None = None) -> Response:
        body: dict[str, Any] = {"reason": reason}
        if until:
            body["until"] = until
        return self.call("POST", f"/accounts/{account_id}/suspend", body)

    def reinstate(self, account_id: str, reason: str) -> Response:
        return self.call("POST", f"/accounts/{account_id}/reinstate", {"reason": reason})

    def void(self, account_id: str, violation_id: str, reason: str) -> Response:
        return self.call("POST", f"/accounts/{account_id}/violations/{violation_id}/void", {"reason": reason})

    def allowlist(self, account_id: str, allowlisted: bool) -> Response:
        return self.call("PUT", f"/accounts/{account_id}/allowlist", {"allowlisted": allowlisted})

    def acts_for(self, account_id: str, accounts: list[str], reason: str | None = None) -> Response:
        body: dict[str, Any] = {"acts_for": accounts}
        if reason:
            body["reason"] = reason
        return self.call("PUT", f"/accounts/{account_id}/acts-for", body)

    def list_reviews(self) -> Response:
        return self.call("GET", "/reviews")

    def decide_review(self, review_id: str, decision: str, reason: str) -> Response:
        return self.call("POST", f"/reviews/{review_id}", {"decision": decision, "reason": reason})


def items_of(body: Any) -> list[dict[str, Any]]:
    """The records of a list answer (``{"items": [...]}`` or a bare list)."""
    if isinstance(body, dict):
        body = body.get("items", [])
    return [i for i in body if isinstance(i, dict)] if isinstance(body, list) else []
