"""The composition root: each function's settings (parsed once, at cold start), the policy, the ledger.

Each is built on first use and cached for the life of the execution environment (a warm Lambda
reuses them); ``reset()`` forgets them, for tests that switch stacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aup.adapters.dynamodb import DynamoStore
from aup.domain.ports import LedgerStore, Transition

if TYPE_CHECKING:
    from aup.domain.models import AccountState, Finding, Outcome, Review, SourceBlock
    from aup.policy import Policy
    from aup.usecases.shadow import Shadow


class SettingsError(RuntimeError):
    """A function's environment lacks a variable it needs, or holds a bad value. Raised at cold start."""


class _Environment(BaseModel):
    # defer_build: only the model a function parses is built, at its cold start.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)


class PolicySettings(_Environment):
    """Where the policy comes from (template.yaml Globals)."""

    # Empty (the template's default) means the policy shipped in the layer.
    policy_parameter: str = Field(default="", alias="AUP_POLICY_PARAMETER")
    # How stale the SSM policy may be: a new document is in force within this many seconds.
    policy_max_age_seconds: int = Field(default=60, alias="AUP_POLICY_MAX_AGE_SECONDS", ge=0, le=86_400)
    # A candidate policy evaluated beside the live one, recorded as shadow decisions, never enforced
    # (template ShadowPolicyParameterName; empty: no shadow mode). Re-read with the same max_age.
    shadow_policy_parameter: str = Field(default="", alias="AUP_SHADOW_POLICY_PARAMETER")


class LedgerSettings(PolicySettings):
    """What every function that reads or writes the ledger needs (template.yaml Globals)."""

    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)


class MetricsSettings(LedgerSettings):
    # Operational metrics (powertools reads the same variable): template OperationsNamespace.
    operations_namespace: str = Field(alias="POWERTOOLS_METRICS_NAMESPACE", min_length=1)
    # The per-account usage metrics (template MetricsNamespace, AUP/Usage), apart from the operational ones.
    usage_namespace: str = Field(default="", alias="AUP_USAGE_NAMESPACE")

    @property
    def metrics_namespace(self) -> str:
        """Where per-account usage metrics go and are read; without AUP_USAGE_NAMESPACE (an older
        environment) the operational namespace holds both."""
        return self.usage_namespace or self.operations_namespace


class AdminApiSettings(LedgerSettings):
    """AdminApiFunction (the console's settings: template Cognito resources; empty locally until the
    console creates its pool)."""

    cognito_user_pool_id: str = Field(default="", alias="COGNITO_USER_POOL_ID")
    cognito_client_id: str = Field(default="", alias="COGNITO_CLIENT_ID")
    # The endpoint the console's sign-in form calls; empty: the region's public Cognito endpoint.
    cognito_endpoint: str = Field(default="", alias="COGNITO_ENDPOINT")
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    console_local: bool = Field(default=False, alias="CONSOLE_LOCAL")
    # Where the per-account usage series are read (template MetricsNamespace).
    usage_namespace: str = Field(default="AUP/Usage", alias="AUP_USAGE_NAMESPACE")


class SuspensionExpirySettings(LedgerSettings):
    """SuspensionExpiryFunction."""


class ApiLogAnalyzerSettings(MetricsSettings):
    """ApiLogAnalyzerFunction."""


class UsageMonitorSettings(MetricsSettings):
    """UsageMonitorFunction."""


class UploadScannerSettings(MetricsSettings):
    """UploadScannerFunction."""

    uploads_bucket: str = Field(alias="UPLOADS_BUCKET", min_length=1)
    quarantine_bucket: str = Field(alias="QUARANTINE_BUCKET", min_length=1)
    scan_limit_bytes: int = Field(default=5 * 1024**3, alias="SCAN_LIMIT_BYTES", gt=0)


class AuthorizerSettings(LedgerSettings):
    """AuthorizerFunction (it never loads the policy: ``policy_parameter`` is unused)."""

    authorizer_fail_mode: Literal["open", "closed"] = Field(default="closed", alias="AUTHORIZER_FAIL_MODE")
    # 0: no in-memory cache in front of API Gateway's (see AuthorizerCacheSeconds in template.yaml).
    authorizer_cache_seconds: float = Field(default=0, alias="AUTHORIZER_CACHE_SECONDS", ge=0)


class NotifierSettings(LedgerSettings):
    """NotifierFunction (the ledger table also holds its idempotency records)."""

    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN", min_length=1)
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME", min_length=1)
    service_api_id: str = Field(alias="SERVICE_API_ID", min_length=1)
    service_api_stage: str = Field(alias="SERVICE_API_STAGE", min_length=1)


S = TypeVar("S", bound=_Environment)

_configured: list[LedgerSettings] = []  # the settings the loaded handler parsed (at most one)


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    """``model`` parsed from ``environ`` (default ``os.environ``).

    Raises SettingsError naming every missing or bad variable, so a function with a broken
    environment fails its cold start instead of its first write.
    """
    import os

    env = dict(os.environ if environ is None else environ)
    try:
        return model.model_validate(env)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            var = ".".join(str(p) for p in err["loc"]) or "<environment>"
            problems.append(f"{var} is not set" if err["type"] == "missing" else f"{var}: {err['msg']}")
        raise SettingsError(f"{model.__name__}: {'; '.join(problems)}") from None


def configure(model: type[S]) -> S:
    """Parse the function's environment once, at cold start, and make it the settings of this process.

    Handlers call it at import. Raises SettingsError naming every missing or bad variable.
    """
    parsed = load_settings(model)
    if isinstance(parsed, LedgerSettings):
        _configured[:] = [parsed]
    return parsed


def settings() -> LedgerSettings:
    """The settings the handler configured; outside a handler (replay, tests) the ledger's, parsed once."""
    if not _configured:
        _configured.append(load_settings(LedgerSettings))
    return _configured[0]


def _policy_rejected(exc: Exception) -> None:
    from aws_lambda_powertools import Logger, single_metric
    from aws_lambda_powertools.metrics import MetricUnit

    Logger(service="aup").error(
        "new policy rejected; the last good policy stays in force", extra={"error": str(exc)[:2000]}
    )
    import os

    # An operational metric: the operations namespace (POWERTOOLS_METRICS_NAMESPACE), never AUP/Usage.
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "AUP/Operations"
    with single_metric(name="PolicyRefreshRejected", unit=MetricUnit.Count, value=1, namespace=namespace):
        pass


@cache
def _policy_source() -> Callable[[], Policy]:
    cfg: PolicySettings = _configured[0] if _configured else load_settings(PolicySettings)
    if not cfg.policy_parameter:
        from aup.policy import load_default_policy

        return load_default_policy
    from aup.policy.loader import PolicySource

    source = PolicySource(
        cfg.policy_parameter, max_age_seconds=cfg.policy_max_age_seconds, on_rejected=_policy_rejected
    )
    return source.current


def _operations_metric(name: str) -> None:
    import os

    from aws_lambda_powertools import single_metric
    from aws_lambda_powertools.metrics import MetricUnit

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "AUP/Operations"
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=namespace):
        pass


def _shadow_failed(account_id: str, exc: Exception) -> None:
    """The shadow path failed for one account: logged and counted (ShadowEvaluationFailed), never raised."""
    from aws_lambda_powertools import Logger

    from aup.domain.redact import scrub

    Logger(service="aup").warning(
        "shadow evaluation failed; the live decision stands",
        extra={"account_id": account_id, "error": scrub(f"{type(exc).__name__}: {exc}")[:2000]},
    )
    _operations_metric("ShadowEvaluationFailed")


def _shadow_rejected(exc: Exception) -> None:
    from aws_lambda_powertools import Logger

    Logger(service="aup").error(
        "new shadow policy rejected; the last good candidate stays", extra={"error": str(exc)[:2000]}
    )
    _operations_metric("ShadowPolicyRefreshRejected")


@cache
def shadow() -> Shadow | None:
    """Shadow mode's candidate source (AUP_SHADOW_POLICY_PARAMETER), None when none is configured.

    The first read happens at the first finding, not at cold start: a candidate that cannot be read
    or does not validate is reported through ``_shadow_failed`` and the live path goes on.
    """
    cfg: PolicySettings = _configured[0] if _configured else load_settings(PolicySettings)
    if not cfg.shadow_policy_parameter:
        return None
    from aup.policy.loader import PolicySource
    from aup.usecases.shadow import Shadow

    box: list[PolicySource] = []

    def candidate() -> Policy:
        if not box:
            box.append(
                PolicySource(
                    cfg.shadow_policy_parameter,
                    max_age_seconds=cfg.policy_max_age_seconds,
                    on_rejected=_shadow_rejected,
                )
            )
        return box[0].current()

    return Shadow(policy=candidate, on_error=_shadow_failed)


def policy() -> Policy:
    """The policy in force: the shipped one, or the SSM parameter's, re-read at most every
    ``AUP_POLICY_MAX_AGE_SECONDS``. Raises PolicyError while no good policy was ever read (the first
    invocation fails loudly); a later bad value is logged and counted, and the last good one is kept.
    """
    return _policy_source()()


class EnforcementLedger:
    """The ``Ledger`` the handlers use: a store's reads, and the use cases that write through it.

    ``policy`` is a policy, or a source asked each time a decision needs one (None: the shipped
    policy). The use cases are imported on first write: the authorizer's path never loads the engine.
    """

    def __init__(
        self,
        store: LedgerStore,
        policy: Policy | Callable[[], Policy] | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        self.store = store
        self._policy = policy
        self.shadow = shadow  # shadow mode's candidate (aup.usecases.shadow), None: off
        # The reads are the store's own.
        self.get_account = store.get_account
        self.list_accounts = store.list_accounts
        self.list_violations = store.list_violations
        self.list_audit = store.list_audit
        self.list_reviews = store.list_reviews
        self.get_review = store.get_review
        self.get_key = store.get_key
        self.authorizer_lookup = store.authorizer_lookup
        self.add_counters_once = store.add_counters_once
        self.get_counters = store.get_counters
        self.expired_suspensions = store.expired_suspensions

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            from aup.policy import load_default_policy

            self._policy = load_default_policy()
        return self._policy() if callable(self._policy) else self._policy

    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]:
        from aup.usecases import enforce

        return enforce.apply_findings(self.store, self.policy, findings, now, shadow=self.shadow)

    def block_source(self, finding: Finding, now: datetime) -> SourceBlock:
        from aup.usecases import enforce

        return enforce.block_source(self.store, self.policy, finding)

    def create_account(self, state: AccountState, key_hash: str, now: datetime, actor: str) -> AccountState:
        from aup.usecases import accounts

        return accounts.create_account(self.store, state, key_hash, now, actor)

    def transition(self, account_id: str, change: Transition) -> Outcome | None:
        from aup.usecases import accounts

        return accounts.transition(self.store, account_id, change)

    def decide_review(
        self, review_id: str, *, confirm: bool, reason: str, actor: str, now: datetime
    ) -> Review:
        from aup.usecases import accounts

        return accounts.close_review(
            self.store, self.policy, review_id, confirm=confirm, reason=reason, actor=actor, now=now
        )


def ledger_on(
    table: str,
    policy: Policy | Callable[[], Policy] | None = None,
    client: Any = None,
    shadow: Shadow | None = None,
) -> EnforcementLedger:
    """The ledger on the DynamoDB table ``table`` (``client``: a DynamoDB client, default the shared one)."""
    return EnforcementLedger(DynamoStore(table, client), policy, shadow)


@cache
def ledger() -> EnforcementLedger:
    # The policy is read when a write needs it; the shadow candidate after each live commit.
    return ledger_on(settings().ledger_table, policy, shadow=shadow())


def utcnow() -> datetime:
    """Wall-clock time, for handlers only: detectors and the engine take time as an argument."""
    return datetime.now(UTC)


def reset() -> None:
    from aup.adapters.aws import reset_clients

    _configured.clear()
    _policy_source.cache_clear()
    shadow.cache_clear()
    ledger.cache_clear()
    reset_clients()
