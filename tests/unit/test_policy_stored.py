"""A policy document in an SSM parameter: as written when it fits, else gzip+base64 in the tier it needs,
read back by the loader either way; one that fits nowhere is refused with both sizes named."""

from __future__ import annotations

import base64
import gzip
import random

import pytest
import yaml

from aup.policy import PolicyError
from aup.policy.loader import default_policy_text, load_default_policy, parse_policy
from aup.policy.stored import (
    ADVANCED_LIMIT,
    PREFIX,
    STANDARD_LIMIT,
    PolicyTooLarge,
    decode,
    encode,
    load_stored,
    tier_limit,
)


def doc() -> dict:
    return yaml.safe_load(default_policy_text())


def padded(n_marks: int, seed: int = 5) -> str:
    """The default policy with ``n_marks`` random protected trademarks: text that hardly compresses."""
    rng = random.Random(seed)
    d = doc()
    d["protected_trademarks"] = [f"{rng.getrandbits(64):016x}" for _ in range(n_marks)]
    return yaml.safe_dump(d)


def test_the_shipped_policy_is_over_a_standard_parameter_and_is_stored_compressed_in_advanced():
    text = default_policy_text()
    assert len(text) > ADVANCED_LIMIT  # as written it fits no tier at all
    stored = encode(text)
    assert stored.compressed and stored.value.startswith(PREFIX)
    assert STANDARD_LIMIT < stored.chars <= ADVANCED_LIMIT and stored.tier == "Advanced"
    assert stored.raw_chars == len(text)
    assert parse_policy(stored.value) == load_default_policy()  # the same document, read transparently
    # value for value (1.0e-6 stays a float: the compact JSON is read as JSON, not as YAML 1.1)
    assert load_stored(stored.value) == (True, yaml.safe_load(text))


def test_a_small_document_is_stored_as_written_in_standard():
    text = "policy_version: tiny\n# a comment kept\n"
    stored = encode(text)
    assert (stored.value, stored.tier, stored.compressed) == (text, "Standard", False)
    assert decode(text) == text  # plain YAML or JSON is read as it is


def test_encoding_is_deterministic_and_idempotent():
    first = encode(default_policy_text())
    assert encode(default_policy_text()).value == first.value  # no timestamp in the gzip header
    assert encode(first.value).value == first.value  # a stored value copied to another parameter


def test_a_document_that_fits_nowhere_is_refused_naming_both_sizes():
    text = padded(800)
    with pytest.raises(PolicyTooLarge) as err:
        encode(text, origin="big.yaml")
    message = str(err.value)
    assert message.startswith("big.yaml: too large for an SSM parameter")
    assert f"{len(text)} characters as written" in message and f"{ADVANCED_LIMIT}" in message
    assert isinstance(err.value, PolicyError)


def test_a_broken_stored_value_is_a_policy_error_not_a_crash():
    with pytest.raises(PolicyError, match="not a valid aup-policy:gzip\\+base64 value"):
        parse_policy(PREFIX + "not base64 at all!", origin="ssm:/aup/policy")
    truncated = PREFIX + base64.b64encode(gzip.compress(b"policy_version: x\n")[:-6]).decode()
    with pytest.raises(PolicyError, match="truncated"):
        decode(truncated)


def test_a_stored_value_cannot_inflate_without_bound():
    bomb = PREFIX + base64.b64encode(gzip.compress(b" " * (4 << 20), mtime=0)).decode()
    assert len(bomb) < ADVANCED_LIMIT
    with pytest.raises(PolicyError, match="inflates beyond"):
        decode(bomb)


def test_tier_limits():
    assert tier_limit(None) == tier_limit("Standard") == STANDARD_LIMIT
    assert tier_limit("Advanced") == tier_limit("Intelligent-Tiering") == ADVANCED_LIMIT
