"""Load the policy: the YAML shipped in the layer, or an SSM parameter named by ``AUP_POLICY_PARAMETER``
(its value as written or compressed: ``aup.policy.stored``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from aup.policy.document import Policy, PolicyError

POLICY_PARAMETER_ENV = "AUP_POLICY_PARAMETER"


def parse_policy(text: str, *, origin: str = "policy") -> Policy:
    """Parse and validate a YAML (or JSON) policy document, or a stored value compressed by
    ``aup.policy.stored`` (a document too large for an SSM parameter as written). Raises PolicyError
    naming every bad field."""
    from aup.policy.stored import load_stored

    stored, data = load_stored(text, origin=origin)
    if not stored:
        try:
            # libyaml's loader when the wheel has it: the policy is parsed on every cold start.
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        except yaml.YAMLError as exc:
            raise PolicyError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: the document must be a mapping, got {type(data).__name__}")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{origin}: invalid policy: {problems}") from exc
    from aup.policy.validate import check  # what the schema cannot state: the detectors' rules, plans

    return check(policy, data, origin=origin)


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
    return PolicySource(name, max_age_seconds=0, ssm_client=ssm_client).current()


class PolicySource:
    """The policy of an SSM parameter, re-read at most every ``max_age_seconds`` (powertools Parameters).

    The first read must succeed and validate (PolicyError otherwise: the cold start fails). After
    that, a value that cannot be read or does not validate is reported through ``on_rejected`` and
    the last good policy keeps being served: a new document is applied whole or not at all. A value
    that did not change is not parsed again.
    """

    def __init__(
        self,
        parameter_name: str,
        *,
        max_age_seconds: float,
        ssm_client: Any = None,
        on_rejected: Callable[[PolicyError], None] | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        if ssm_client is None:
            from aup.adapters.aws import client

            ssm_client = client("ssm")
        self.parameter_name = parameter_name
        self.max_age_seconds = max_age_seconds
        self._provider = SSMProvider(boto3_client=ssm_client)
        self._on_rejected = on_rejected
        self._text: str | None = None
        self._policy: Policy | None = None
        self._quiet_until: datetime | None = None  # after a rejected refresh: no new read before this

    def _read(self) -> Policy:
        try:
            value = self._provider.get(self.parameter_name, max_age=int(self.max_age_seconds), decrypt=True)
        except Exception as exc:  # GetParameterError wrapping botocore's error
            cause = exc.__cause__ or exc
            raise PolicyError(f"cannot read policy parameter {self.parameter_name!r}: {cause}") from exc
        text = str(value)
        if self._policy is not None and text == self._text:
            return self._policy
        policy = parse_policy(text, origin=f"ssm:{self.parameter_name}")
        self._text, self._policy = text, policy
        return policy

    def current(self) -> Policy:
        """The policy to decide with now. Raises PolicyError only while no good policy was ever read."""
        if self._policy is None:
            return self._read()
        now = datetime.now()  # the clock powertools' cache runs on
        if self._quiet_until is not None and now < self._quiet_until:
            return self._policy
        try:
            policy = self._read()
        except PolicyError as exc:
            # A bad or unreadable value is retried once per max_age, not on every call: no SSM storm
            # and one log line and metric per refresh while it lasts.
            self._quiet_until = now + timedelta(seconds=self.max_age_seconds)
            if self._on_rejected is not None:
                self._on_rejected(exc)
            return self._policy
        self._quiet_until = None
        return policy
