"""The corpus's vocabulary: a scenario is data plus a deterministic generator of the traffic it causes.

A generator gets a :class:`Ctx` (its account, key, seeded random source, the run's fixed base instant,
its own address block) and returns :class:`Traffic`: access-log deliveries, uploads, platform metrics,
and the source addresses the authorizer is asked from afterwards. It never reads the clock.
"""

from __future__ import annotations

import ipaddress
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)
PERIOD = timedelta(minutes=5)
# First octets of public, routable IPv4 space; each scenario gets its own /16 (no two share a source
# unless a scenario says so, so an IP-scoped block from one scenario never lands on another).
FIRST_OCTETS = (23, 31, 37, 45, 62, 77, 81, 85, 91, 109, 151, 176, 185, 188, 193, 212, 217)


@dataclass
class Line:
    """One access-log line in the contract's format (docs/architecture.md#access-log-format); epoch ms."""

    at_ms: int
    ip: str
    path: str
    resource: str
    principal: str
    status: int = 200
    agent: str = BROWSER_UAS[0]
    method: str = "GET"
    length: int = 1200
    forwarded: str | None = None  # None: API Gateway's own (the caller's address)
    claimed: str = "-"
    authorizer_error: str = "-"

    def json(self, n: int) -> str:
        return json.dumps(
            {
                "requestId": f"{n:08x}-eval-{self.at_ms:x}",
                "extendedRequestId": f"ev{n:014x}=",
                "requestTimeEpoch": str(self.at_ms),
                "ip": self.ip,
                "userAgent": self.agent,
                "httpMethod": self.method,
                "path": self.path,
                "resourcePath": self.resource,
                "status": str(self.status),
                "responseLength": str(self.length),
                "principalId": self.principal,
                "apiKeyId": "-",
                "authorizerError": self.authorizer_error,
                "forwardedFor": self.ip if self.forwarded is None else self.forwarded,
                "claimedAccount": self.claimed,
            },
            separators=(",", ":"),
        )


@dataclass
class Upload:
    """An object the account puts under ``accounts/<account>/<path>``; ``cell`` places it in the matrix."""

    path: str
    body: bytes
    cell: tuple[str, str] | None = None  # (container, payload)
    content_type: str | None = None  # stored with it (None: S3's binary/octet-stream)


@dataclass
class Metric:
    name: str  # CPUSeconds, MemoryPeakMB, ...
    at: datetime
    value: float
    unit: str


@dataclass
class Traffic:
    deliveries: list[list[Line]] = field(default_factory=list)  # one analyzer invocation each, in order
    uploads: list[Upload] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    probe_ips: list[str] = field(default_factory=list)  # the authorizer is asked from these (the first: main)
    scan_limit_bytes: int | None = None  # the scanner's SCAN_LIMIT_BYTES for this scenario's uploads

    def lines(self) -> int:
        return sum(len(d) for d in self.deliveries)


@dataclass
class Ctx:
    account_id: str
    api_key: str
    plan: str
    seed: int
    index: int  # the scenario's position in the whole catalog (its address block)
    end: datetime  # the run's base instant: a 5-minute boundary just before the run started
    connected: dict[str, str] = field(default_factory=dict)  # Scenario.connected: name -> account id
    rng: random.Random = field(init=False)
    _used: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def ms(self, at: datetime) -> int:
        return int(at.timestamp() * 1000)

    def ip(self, net: int | None = None) -> str:
        """A fresh address in this scenario's /16 (in its /24 number ``net`` when given)."""
        a = FIRST_OCTETS[self.index // 200 % len(FIRST_OCTETS)]
        b = 20 + self.index % 200
        while True:
            c = self.rng.randrange(256) if net is None else net % 256
            addr = f"{a}.{b}.{c}.{self.rng.randrange(1, 255)}"
            if addr not in self._used:
                self._used.add(addr)
                return addr

    def ip6(self, prefix64: str | None = None) -> str:
        """An address in this scenario's IPv6 /48 (inside ``prefix64`` when given)."""
        base = (
            prefix64
            or f"2a02:{0x1000 + self.index:x}:{self.rng.randrange(0x10000):x}:{self.rng.randrange(0x10000):x}"
        )
        return str(
            ipaddress.IPv6Address(
                f"{base}::{self.rng.randrange(1, 0xFFFF):x}:{self.rng.randrange(1, 0xFFFF):x}"
            )
        )

    def key_hash(self, label: str) -> str:
        """A refused key as the authorizer logs it: ``unknown-key:`` and a short hash, never the key."""
        return f"unknown-key:{zlib.crc32(f'{self.seed}:{label}'.encode()):08x}ab12"


Label = Literal["honest", "attack"]


@dataclass(frozen=True)
class Scenario:
    name: str
    label: Label
    plan: str
    story: str
    build: Callable[[Ctx], Traffic]
    clauses: tuple[str, ...] = ()  # attacks: the clauses that count as catching it
    known: str | None = None  # honest: the issue class of a wrongful decision the current code makes
    fast: bool = False  # in the CI subset
    ip_scoped: bool = False  # attacks caught by an IP-scoped block (the authorizer denies the source)
    # Other accounts registered with this one (standard plan; ``Ctx.connected`` holds their ids), and
    # those of them the admin API declares it acts for (X-Account-Id, ``PUT /accounts/{id}/acts-for``).
    connected: tuple[str, ...] = ()
    acts_for: tuple[str, ...] = ()
