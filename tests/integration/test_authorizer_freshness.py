"""From suspension to the first denied request: with the deployed defaults, a warm authorizer denies a
suspended account on the very next request (API Gateway's cache is flushed by the notifier)."""

from __future__ import annotations

from datetime import UTC, datetime

from aup import bootstrap
from aup.domain.models import AccountState, hash_api_key
from aup.usecases import accounts
from tests.conftest import load_handler
from tests.eventlib import authorizer_event

KEY = "fresh-key-acme-0123456789"


def effect(resp) -> str:
    (statement,) = resp["policyDocument"]["Statement"]
    return statement["Effect"]


def test_a_warm_authorizer_denies_the_first_request_after_a_suspension(stack, lambda_context, monkeypatch):
    monkeypatch.delenv("AUTHORIZER_CACHE_SECONDS", raising=False)  # the template's default
    bootstrap.reset()
    now = datetime.now(UTC)
    bootstrap.ledger().create_account(AccountState(account_id="acme-corp"), hash_api_key(KEY), now, "t")
    module = load_handler("authorizer")
    assert effect(module.lambda_handler(authorizer_event(KEY), lambda_context)) == "Allow"
    accounts.suspend(
        bootstrap.ledger(), account_id="acme-corp", reason="abuse", until=None, now=now, actor="ops"
    )
    # The same warm environment, no time passing: no in-memory Allow outlives the flag.
    assert effect(module.lambda_handler(authorizer_event(KEY), lambda_context)) == "Deny"
    accounts.reinstate(bootstrap.ledger(), account_id="acme-corp", reason="appeal", now=now, actor="ops")
    assert effect(module.lambda_handler(authorizer_event(KEY), lambda_context)) == "Allow"


def test_the_template_keeps_no_in_memory_cache_by_default():
    from pathlib import Path

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(Path("template.yaml").read_text(), Loader=Loader)
    assert template["Parameters"]["AuthorizerCacheSeconds"]["Default"] == 0
