"""Who may do what in the admin API: the operators' roles and the caller's identity (pure).

Roles are ordered: ``viewer`` (every read) < ``operator`` (+ suspend, reinstate, void, decide a
review, export) < ``admin`` (+ create an account, allowlist). A Cognito user's role is the highest of
its groups named after a role; a user in none has no role. An IAM (SigV4) caller of the IAM-authorized
API has ``admin``, as before roles existed. The actor recorded in the audit is the person:
``cognito:<username>`` (its e-mail when the pool signs in by e-mail) or the IAM ARN.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Role(enum.IntEnum):
    viewer = 1
    operator = 2
    admin = 3


COGNITO_PREFIX = "cognito:"


def groups_of(claims: Mapping[str, Any]) -> list[str]:
    """``cognito:groups`` as a list: a JSON list (a decoded token), or the string API Gateway's
    Cognito authorizer passes (``"a,b"``; HTTP APIs' ``"[a b]"``)."""
    raw = claims.get("cognito:groups")
    if isinstance(raw, list | tuple):
        return [str(g) for g in raw]
    if isinstance(raw, str):
        return [g for g in raw.strip("[]").replace(",", " ").split() if g]
    return []


def role_of_groups(groups: list[str]) -> Role | None:
    """The highest role among ``groups``; None when none is a role's name."""
    roles = [Role[g] for g in groups if g in Role.__members__]
    return max(roles) if roles else None


@dataclass(frozen=True)
class Caller:
    actor: str  # recorded in every audit entry this caller's requests make
    role: Role | None  # None: authenticated but in no role's group
    kind: str  # "cognito" or "iam"


def cognito_caller(claims: Mapping[str, Any]) -> Caller | None:
    """The Cognito user of an ID token's verified claims; None without a user name."""
    name = claims.get("cognito:username") or claims.get("email") or claims.get("username")
    if not isinstance(name, str) or not name:
        return None
    return Caller(actor=COGNITO_PREFIX + name, role=role_of_groups(groups_of(claims)), kind="cognito")


def iam_caller(arn: str) -> Caller:
    return Caller(actor=arn, role=Role.admin, kind="iam")


def allows(caller: Caller, required: Role | None) -> bool:
    """``required`` None: any authenticated caller (``whoami``)."""
    if required is None:
        return True
    return caller.role is not None and caller.role >= required
