"""Each function parses the environment it needs once, at cold start, and names what is missing."""

from __future__ import annotations

import pytest

from aup import bootstrap
from aup.bootstrap import (
    AdminApiSettings,
    ApiLogAnalyzerSettings,
    AuthorizerSettings,
    NotifierSettings,
    SettingsError,
    SuspensionExpirySettings,
    UploadScannerSettings,
    UsageMonitorSettings,
    load_settings,
)
from tests.conftest import load_handler

FULL = {
    "LEDGER_TABLE": "ledger",
    "AUP_POLICY_PARAMETER": "",
    "POWERTOOLS_METRICS_NAMESPACE": "AUP/Usage",
    "UPLOADS_BUCKET": "uploads",
    "QUARANTINE_BUCKET": "quarantine",
    "SCAN_LIMIT_BYTES": "1000",
    "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "EVENT_BUS_NAME": "default",
    "SERVICE_API_ID": "svcapi1234",
    "SERVICE_API_STAGE": "prod",
    "AUTHORIZER_FAIL_MODE": "open",
    "AUTHORIZER_CACHE_SECONDS": "5",
}

# function folder, its settings, the variables it cannot start without
REQUIRED = [
    ("admin_api", AdminApiSettings, {"LEDGER_TABLE"}),
    ("suspension_expiry", SuspensionExpirySettings, {"LEDGER_TABLE"}),
    ("authorizer", AuthorizerSettings, {"LEDGER_TABLE"}),
    ("api_log_analyzer", ApiLogAnalyzerSettings, {"LEDGER_TABLE", "POWERTOOLS_METRICS_NAMESPACE"}),
    ("usage_monitor", UsageMonitorSettings, {"LEDGER_TABLE", "POWERTOOLS_METRICS_NAMESPACE"}),
    (
        "upload_scanner",
        UploadScannerSettings,
        {"LEDGER_TABLE", "POWERTOOLS_METRICS_NAMESPACE", "UPLOADS_BUCKET", "QUARANTINE_BUCKET"},
    ),
    (
        "notifier",
        NotifierSettings,
        {"LEDGER_TABLE", "NOTIFICATIONS_TOPIC_ARN", "SERVICE_API_ID", "SERVICE_API_STAGE"},
    ),
]


@pytest.fixture(autouse=True)
def _fresh() -> object:
    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.mark.parametrize(("folder", "model", "required"), REQUIRED, ids=[r[0] for r in REQUIRED])
def test_each_required_variable_is_named_when_missing(folder, model, required):
    assert load_settings(model, FULL)  # the full environment parses
    for var in required:
        env = {k: v for k, v in FULL.items() if k != var}
        with pytest.raises(SettingsError, match=f"{model.__name__}: {var} is not set"):
            load_settings(model, env)
        with pytest.raises(SettingsError, match=var):  # an empty value is as bad as none
            load_settings(model, {**env, var: ""})


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(SettingsError) as err:
        load_settings(NotifierSettings, {})
    for var in ("LEDGER_TABLE", "NOTIFICATIONS_TOPIC_ARN", "SERVICE_API_ID", "SERVICE_API_STAGE"):
        assert f"{var} is not set" in str(err.value)


def test_bad_values_are_named_with_the_variable():
    with pytest.raises(SettingsError, match="AUTHORIZER_FAIL_MODE"):
        load_settings(AuthorizerSettings, {**FULL, "AUTHORIZER_FAIL_MODE": "sometimes"})
    with pytest.raises(SettingsError, match="SCAN_LIMIT_BYTES"):
        load_settings(UploadScannerSettings, {**FULL, "SCAN_LIMIT_BYTES": "lots"})
    with pytest.raises(SettingsError, match="AUP_POLICY_MAX_AGE_SECONDS"):
        load_settings(AdminApiSettings, {**FULL, "AUP_POLICY_MAX_AGE_SECONDS": "-1"})


def test_tunables_default_to_the_template_defaults_and_parse_types():
    minimal = {"LEDGER_TABLE": "ledger"}
    authz = load_settings(AuthorizerSettings, minimal)
    assert (authz.authorizer_fail_mode, authz.authorizer_cache_seconds) == ("closed", 0)
    assert load_settings(AdminApiSettings, minimal).policy_max_age_seconds == 60
    parsed = load_settings(UploadScannerSettings, FULL)
    assert parsed.scan_limit_bytes == 1000 and parsed.quarantine_bucket == "quarantine"


@pytest.mark.parametrize(("folder", "model", "required"), REQUIRED, ids=[r[0] for r in REQUIRED])
def test_a_handler_fails_its_cold_start_naming_the_missing_variable(monkeypatch, folder, model, required):
    for var, value in FULL.items():
        monkeypatch.setenv(var, value)
    module = load_handler(folder)  # the full environment: the module imports
    assert isinstance(module.settings, model)
    assert bootstrap.settings() is module.settings  # parsed once, shared with the composition root
    var = sorted(required)[-1]
    monkeypatch.delenv(var)
    with pytest.raises(SettingsError, match=var):
        load_handler(folder)
