"""Load the policy: the YAML shipped in the layer, or an SSM parameter named by ``AUP_POLICY_PARAMETER``."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from aup.policy.document import Policy, PolicyError

POLICY_PARAMETER_ENV = "AUP_POLICY_PARAMETER"


def parse_policy(text: str, *, origin: str = "policy") -> Policy:
    """Parse and validate a YAML (or JSON) policy document. Raises PolicyError naming every bad field."""
    try:
        # libyaml's loader when the wheel has it: the policy is parsed on every cold start.
        data: Any = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: the document must be a mapping, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{origin}: invalid policy: {problems}") from exc


def default_policy_text() -> str:
    return resources.files("aup.policy").joinpath("default_policy.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_default_policy() -> Policy:
    return parse_policy(default_policy_text(), origin="default_policy.yaml")


def load_policy(parameter_name: str | None = None, ssm_client: Any = None) -> Policy:
    """The policy in force: the SSM parameter when one is named, else the layer's default.

    A named parameter that cannot be read or does not validate raises PolicyError: the function
    fails its cold start loudly instead of enforcing a policy nobody wrote.
    """
    name = parameter_name if parameter_name is not None else os.environ.get(POLICY_PARAMETER_ENV, "")
    if not name:
        return load_default_policy()
    if ssm_client is None:
        from aup.adapters.aws import client

        ssm_client = client("ssm")
    try:
        value = ssm_client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:
        raise PolicyError(f"cannot read policy parameter {name!r}: {exc}") from exc
    return parse_policy(value, origin=f"ssm:{name}")
