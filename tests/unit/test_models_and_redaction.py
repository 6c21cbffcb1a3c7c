"""Models: identity rules, violation ids, key projections; evidence redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aup.domain.models import (
    ApiKeyRecord,
    Finding,
    Source,
    Status,
    SuspensionKind,
    hash_api_key,
    is_account_id,
)
from aup.domain.redact import email_hash, scrub

NOW = datetime(2026, 11, 27, tzinfo=UTC)
# Fixed dates only on a clock frozen to them: nothing here depends on the day the suite runs.
pytestmark = pytest.mark.time_machine(NOW, tick=False)


@pytest.mark.parametrize("good", ["acme", "acme-corp", "a1-b2-c3", "x" * 63])
def test_account_ids_accepted(good):
    assert is_account_id(good)


@pytest.mark.parametrize("bad", ["ab", "-acme", "Acme", "acme_corp", "x" * 64, "acme corp", "../etc"])
def test_account_ids_rejected(bad):
    assert not is_account_id(bad)
    with pytest.raises(ValidationError):
        Finding(
            rule_id="D1-error-burst",
            clause="D1",
            account_id=bad,
            source=Source.log,
            source_event_id="e",
            detected_at=NOW,
        )


def test_violation_id_is_stable_per_rule_and_source_event():
    f = Finding(
        rule_id="D1-error-burst",
        clause="D1",
        account_id="acme",
        source=Source.log,
        source_event_id="e",
        detected_at=NOW,
    )
    assert (
        f.violation_id
        == f.model_copy(update={"detected_at": NOW + timedelta(1), "confidence": 0.1}).violation_id
    )
    assert f.violation_id != f.model_copy(update={"source_event_id": "e2"}).violation_id
    assert f.violation_id != f.model_copy(update={"rule_id": "D1-scanner-agent"}).violation_id


def test_naive_times_are_taken_as_utc():
    f = Finding(
        rule_id="D1-error-burst",
        clause="D1",
        account_id="acme",
        source=Source.log,
        source_event_id="e",
        detected_at=datetime(2026, 1, 1),
    )
    assert f.detected_at.tzinfo is not None


def test_key_projection_enforcement():
    rec = ApiKeyRecord(
        key_hash=hash_api_key("k"),
        account_id="acme",
        plan="free",
        status=Status.suspended,
        suspension_kind=SuspensionKind.temporary,
        suspended_until=NOW,
    )
    assert rec.enforced(NOW - timedelta(seconds=1)) and not rec.enforced(NOW)
    assert hash_api_key("k") != "k" and len(hash_api_key("k")) == 64


def test_scrub_masks_pii_and_secrets_but_keeps_ids():
    out = scrub(
        {
            "sample": "pay 4111-1111-1111-1111 mail bob@example.com key AKIAIOSFODNN7EXAMPLE "
            "ssn 123-45-6789 order 1234567890123456 /x?api_key=s3cr3t"
        }
    )
    text = out["sample"]
    assert "4111-1111-1111-1111" not in text and "****1111" in text
    assert "bob@example.com" not in text and email_hash("bob@example.com") in text
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "123-45-6789" not in text and "s3cr3t" not in text
    assert "1234567890123456" in text  # fails Luhn: an order number, not a card


def test_scrub_masks_other_countries_identity_numbers() -> None:
    text = scrub("cpf 529.982.247-25 aadhaar 2345 6789 0124 sin 492-352-455 /v1/people/492 352 455")
    for value in ("529.982.247-25", "2345 6789 0124", "492-352-455", "492 352 455"):
        assert value not in text
    assert text.count("[id]") == 4
    assert scrub("v1.2.3 build 20261204 order 12-345") == "v1.2.3 build 20261204 order 12-345"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=2000),
        lambda c: st.lists(c, max_size=80) | st.dictionaries(st.text(max_size=80), c, max_size=80),
        max_leaves=200,
    )
)
def test_scrub_never_fails_and_bounds_size(value):
    out = scrub(value)
    assert len(repr(out)) <= max(len(repr(value)) * 2, 200_000)
