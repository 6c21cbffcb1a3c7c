"""How a policy document is stored in an SSM parameter: as written, or compressed when it would not fit.

SSM caps a parameter's value at 4,096 characters in the Standard tier and 8,192 in the Advanced tier;
the shipped policy is over 16,000. A document that fits a Standard parameter as written is stored as
written. Any other is stored as ``aup-policy:gzip+base64:`` followed by the base64 of the gzip of its
compact JSON (comments and layout dropped; the same document: ``parse_policy`` reads both), in the
smallest tier it fits. One that does not fit 8,192 characters even so is refused (:class:`PolicyTooLarge`,
naming both sizes). The prefix is unambiguous: a YAML or JSON document that starts with it is a bare
string, never a policy mapping.

``decode`` is what the loader applies to every value it reads, so plain YAML or JSON written by hand
keeps working, and an operator reads a stored value back with
``cut -d: -f3 | base64 -d | gunzip``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

from aup.policy.document import PolicyError

PREFIX = "aup-policy:gzip+base64:"
STANDARD_LIMIT = 4096  # characters of a Standard parameter's value
ADVANCED_LIMIT = 8192  # characters of an Advanced parameter's value
DECODED_LIMIT = 1 << 20  # a stored value never inflates beyond 1 MiB (no gzip bomb in a parameter)


class PolicyTooLarge(PolicyError):
    """The document would not fit an SSM parameter even compressed."""


@dataclass(frozen=True)
class StoredPolicy:
    value: str  # what goes into the parameter
    tier: str  # "Standard" or "Advanced"
    raw_chars: int  # the document as written
    compressed: bool

    @property
    def chars(self) -> int:
        return len(self.value)

    def describe(self) -> str:
        form = "gzip+base64 of its compact JSON" if self.compressed else "as written"
        return f"{self.raw_chars} characters as written, stored as {self.chars} ({form}), {self.tier} tier"


def is_encoded(value: str) -> bool:
    return value.startswith(PREFIX)


def _compact(text: str) -> bytes:
    """The document as compact JSON (YAML's comments and layout dropped), or its text when it has
    values JSON cannot hold (then it is compressed as written)."""
    import yaml

    try:
        data: Any = yaml.safe_load(text)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (yaml.YAMLError, TypeError, ValueError):
        return text.encode("utf-8")


def encode(text: str, *, origin: str = "policy") -> StoredPolicy:
    """The value and tier to store ``text`` under. Raises PolicyTooLarge when nothing fits."""
    if is_encoded(text):  # already a stored value (copied from one parameter to another): kept
        raw = len(decode(text, origin=origin))
        if len(text) <= ADVANCED_LIMIT:
            return StoredPolicy(text, "Standard" if len(text) <= STANDARD_LIMIT else "Advanced", raw, True)
    if len(text) <= STANDARD_LIMIT:
        return StoredPolicy(text, "Standard", len(text), compressed=False)
    value = PREFIX + base64.b64encode(gzip.compress(_compact(text), compresslevel=9, mtime=0)).decode()
    if len(value) <= STANDARD_LIMIT:
        return StoredPolicy(value, "Standard", len(text), compressed=True)
    if len(value) <= ADVANCED_LIMIT:
        return StoredPolicy(value, "Advanced", len(text), compressed=True)
    raise PolicyTooLarge(
        f"{origin}: too large for an SSM parameter: {len(text)} characters as written, {len(value)} "
        f"compressed (gzip+base64 of its compact JSON), over the Advanced tier's {ADVANCED_LIMIT}"
    )


def decode(value: str, *, origin: str = "policy") -> str:
    """The document a stored value holds: a compressed value inflated, any other returned as it is."""
    if not is_encoded(value):
        return value
    try:
        packed = base64.b64decode(value[len(PREFIX) :].strip(), validate=True)
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        raw = inflater.decompress(packed, DECODED_LIMIT)
        if inflater.unconsumed_tail:
            raise PolicyError(f"{origin}: the compressed policy inflates beyond {DECODED_LIMIT} bytes")
        if not inflater.eof:
            raise PolicyError(f"{origin}: the compressed policy is truncated")
        return raw.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError) as exc:
        raise PolicyError(f"{origin}: not a valid {PREFIX.rstrip(':')} value: {exc}") from exc


def load_stored(value: str, *, origin: str = "policy") -> tuple[bool, Any]:
    """(True, the document's data) for a compressed value (its compact JSON read as JSON: YAML 1.1
    would read ``1e-06`` as a string), (False, None) for any other (the caller parses it as YAML)."""
    if not is_encoded(value):
        return False, None
    text = decode(value, origin=origin)
    try:
        return True, json.loads(text)
    except ValueError:  # compressed as written (values JSON cannot hold): YAML
        import yaml

        try:
            return True, yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{origin}: not valid YAML: {exc}") from exc


def tier_limit(tier: str | None) -> int:
    """The value limit of an SSM tier (Intelligent-Tiering picks Advanced when the value needs it)."""
    return STANDARD_LIMIT if tier in (None, "", "Standard") else ADVANCED_LIMIT
