"""The suspension flag, enforced: decides a REQUEST authorizer call from the ledger, with a small cache.

One ledger read (a BatchGetItem of the key's item and the caller's source block) per cache miss.
The answer covers the whole stage (``*/*``) so API Gateway's authorizer cache, keyed by the identity
sources, can never replay a route-specific answer for another route.

When the ledger cannot be read, a recent answer for the same key is served (stale-if-error, up to
``stale_seconds``); for a key never seen, the fail mode decides: ``closed`` denies, ``open`` allows
with ``unverified=true`` in the context so the backend can tell.

A source block (D2 key stuffing, ``SOURCE#<hash>``) denies the unknown keys presented from that source
(and suspended accounts' keys are denied as always); a valid key of an active account is allowed from a
blocked source, since the address may be shared (carrier-grade NAT) with the stuffer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aup.domain.models import ApiKeyRecord, SourceBlock, hash_api_key, hash_source

Lookup = Callable[[str, str | None], tuple[ApiKeyRecord | None, SourceBlock | None]]

MAX_HEADER_CHARS = 512
# principalId of refused callers: never an account id (":" is not allowed in one), so the access-log
# analyzer counts them as identities a source tried, not as an account's traffic.
NO_KEY = "no-key:-"
UNVERIFIED = "unverified:-"
UNKNOWN_KEY_PREFIX = "unknown-key:"


@dataclass(frozen=True)
class Verdict:
    allow: bool
    principal_id: str
    reason: str
    account_id: str | None = None
    plan: str | None = None
    unverified: bool = False


@dataclass
class _Entry:
    key_hash: str
    record: ApiKeyRecord | None
    block: SourceBlock | None
    fetched: float


def clip_header(value: str | None) -> str:
    """A header value as it may enter the authorizer context (and so the access log): bounded, no newlines."""
    if not value:
        return "-"
    value = value.replace("\r", " ").replace("\n", " ").replace('"', "'")
    return value[:MAX_HEADER_CHARS]


class KeyAuthorizer:
    """Decides allow/deny for an API key and source address; holds the per-environment cache."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        cache_seconds: float = 10,
        stale_seconds: float = 300,
        fail_open: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = cache_seconds
        self._stale = max(stale_seconds, cache_seconds)
        self._fail_open = fail_open
        self._clock = monotonic
        self._cache: dict[tuple[str, str | None], _Entry] = {}

    def decide(self, api_key: str | None, source_ip: str | None, now: datetime | None = None) -> Verdict:
        if not api_key:
            return Verdict(False, NO_KEY, "no api key")
        now = now or datetime.now(UTC)
        key_hash = hash_api_key(api_key)
        source_hash = hash_source(source_ip) if source_ip else None
        cache_key = (key_hash, source_hash)
        entry = self._cache.get(cache_key)
        tick = self._clock()
        if entry is None or tick - entry.fetched >= self._ttl:
            try:
                record, block = self._lookup(key_hash, source_hash)
            except Exception:
                if entry is not None and tick - entry.fetched < self._stale:
                    return self._verdict(entry, now, stale=True)
                if self._fail_open:
                    return Verdict(True, UNVERIFIED, "ledger unavailable: fail-open", unverified=True)
                return Verdict(False, UNVERIFIED, "ledger unavailable: fail-closed")
            entry = _Entry(key_hash, record, block, tick)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = entry
        return self._verdict(entry, now)

    @staticmethod
    def _verdict(entry: _Entry, now: datetime, *, stale: bool = False) -> Verdict:
        record, block = entry.record, entry.block
        suffix = " (stale: ledger unavailable)" if stale else ""
        blocked = block is not None and now < block.until
        if record is None:
            # Not an account: a short hash of the refused key, so the access log shows one source trying
            # many keys (D2) without ever carrying a key. A source block names itself in the reason.
            reason = "unknown api key" + (
                f"; source blocked until {block.until.isoformat()}" if blocked and block else ""
            )
            return Verdict(False, f"{UNKNOWN_KEY_PREFIX}{entry.key_hash[:12]}", reason + suffix)
        # A source block (D2 key stuffing) is a block on the stuffer's unknown keys: a shared address
        # (carrier NAT, an office) also carries honest subscribers, and a valid key of an active account
        # is its own identity, judged by its own account's state, not by its neighbours' (issue class 6).
        if record.enforced(now):
            return Verdict(
                False, record.account_id, "account suspended" + suffix, record.account_id, record.plan
            )
        return Verdict(True, record.account_id, "active" + suffix, record.account_id, record.plan)

    def forget(self) -> None:
        self._cache.clear()
