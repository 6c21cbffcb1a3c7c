"""What a path or a user agent says about its caller, from the pattern lists in ``patterns/`` (data).

Each distinct path and agent is classified once and remembered (an ``lru_cache`` per instance): access
logs repeat the same few paths and agents, so the per-line cost is one cache lookup. Paths made of
plain characters skip the payload patterns altogether.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import NamedTuple
from urllib.parse import unquote

CACHE_LIMIT = 50_000

# Path flags
SENSITIVE = 1  # sensitive files, backdoors, admin interfaces, CVE probe URIs (D1-sensitive-path)
PAYLOAD = 2  # traversal, SQLi, XSS probe strings (D1-attack-payload)

# Agent flags
SCANNER = 1  # D1-scanner-agent
BAD_BOT = 2  # scraper / offline-reader agents (raises D5a and W5 confidence)
CRAWLER = 4  # claims to be a search-engine crawler (W1-fake-crawler when authenticated)
NON_BROWSER = 8  # client library, headless tool, or no browser token at all (D5a confidence)

_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_\-]*").fullmatch


class PathInfo(NamedTuple):
    flags: int
    prefix: str  # the path without its last segment, when that segment is a number (W5 enumeration)
    number: int  # that number, else -1
    tenant: str  # the account id after an account marker segment (D2 foreign-account probe), else ""


def _lines(name: str) -> list[str]:
    text = resources.files("aup.detectors.logs").joinpath("patterns", name).read_text(encoding="utf-8")
    # Keep inner and trailing spaces: some fragments ("' or ") need them.
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


class Signatures:
    """The compiled lists. Build once per process (``signatures()``)."""

    def __init__(self, account_markers: tuple[str, ...] = ()) -> None:
        import orjson

        self.sensitive_suffixes = tuple(s.lower() for s in _lines("sensitive_data.txt"))
        self.sensitive_dirs = tuple(s + "/" for s in self.sensitive_suffixes if s.startswith("."))
        self.backdoors = frozenset(s.lower() for s in _lines("backdoors.txt"))
        admin = [s.lower() for s in _lines("admin_interfaces.txt")]
        self.admin_prefixes = tuple(admin)
        self.admin_first = frozenset(p.strip("/").split("/")[0] for p in admin if p.startswith("/"))
        cves = [str(orjson.loads(ln)["uri"]).lower() for ln in _lines("trendy_cves_uris.json")]
        self.cve_uris = tuple(u for u in cves if len(u) >= 6)
        fragments = [
            *_lines("path_traversal.txt"),
            *_lines("sqli_probe_patterns.txt"),
            *_lines("sqli_extra.txt"),
            *(s for s in _lines("xss_probe_patterns.txt") if len(s.strip()) > 2),
        ]
        # One alternation over raw and decoded forms: a single C-level scan per new path.
        self.payload_re = re.compile(
            "|".join(sorted({re.escape(f.lower()) for f in fragments}, key=len, reverse=True))
        )
        self.bad_bot_re = re.compile("|".join(f"(?:{p})" for p in _lines("bad_user_agents.regex.txt")))
        words = lambda name: "|".join(re.escape(w) for w in _lines(name))  # noqa: E731
        self.scanner_re = re.compile(rf"\b(?:{words('scanner_agents.txt')})\b")
        self.crawler_re = re.compile(rf"\b(?:{words('search_crawlers.txt')})\b")
        self.client_tokens = tuple(_lines("client_libraries.txt"))
        self.account_markers = frozenset(m.lower() for m in account_markers)
        self.path: Callable[[str], PathInfo] = lru_cache(maxsize=CACHE_LIMIT)(self._path_info)
        self.agent: Callable[[str], int] = lru_cache(maxsize=CACHE_LIMIT)(self._classify_agent)
        self._prefix_class: Callable[[str], tuple[str, bool] | tuple[()]] = lru_cache(maxsize=CACHE_LIMIT)(
            self._classify_prefix
        )

    # --- paths --------------------------------------------------------------------------------

    def _path_info(self, path: str) -> PathInfo:
        return self._numbered_path(path) or self._classify_path(path)

    def _numbered_path(self, path: str) -> PathInfo | None:
        """``<prefix>/<number>`` (order ids, product ids: most new paths) from its prefix's class, when
        the number cannot change it: a plain prefix whose first segment is no admin interface's, so
        no pattern can match (see ``_classify_path``). None: classify the whole path."""
        prefix, _, last = path.rpartition("/")
        if not (prefix and last.isdigit() and len(last) <= 12 and last.isascii()):
            return None
        known = self._prefix_class(prefix)
        if not known:
            return None
        tenant, marker_last = known
        return PathInfo(0, prefix, int(last), tenant or (last if marker_last else ""))

    def _classify_prefix(self, prefix: str) -> tuple[str, bool] | tuple[()]:
        """For a prefix the number cannot change: (its tenant, whether its last segment is an account
        marker, so that the number is the tenant); else ()."""
        lower = prefix.lower()
        if _PLAIN_PATH(prefix) is None or self._admin_candidate(lower):
            return ()
        return self._tenant(lower), lower.rpartition("/")[2] in self.account_markers

    def _classify_path(self, path: str) -> PathInfo:
        lower = path.lower()
        flags = 0
        if _PLAIN_PATH(path) is None:
            decoded = lower
            for _ in range(2):  # double encoding (%252e) is a probe technique of its own
                if "%" not in decoded:
                    break
                decoded = unquote(decoded).lower()
            if self.payload_re.search(lower) or (decoded is not lower and self.payload_re.search(decoded)):
                flags |= PAYLOAD
            if self._sensitive(decoded):
                flags |= SENSITIVE
        elif self._admin(lower):
            flags |= SENSITIVE
        prefix, _, last = path.rpartition("/")
        number = int(last) if last.isdigit() and len(last) <= 12 and last.isascii() else -1
        return PathInfo(flags, prefix if number >= 0 else "", number, self._tenant(lower))

    def _admin_candidate(self, lower: str) -> bool:
        """Whether the first segment is an admin interface's: only then can ``_admin`` be true."""
        first = lower[1:].split("/", 1)[0] if lower.startswith("/") else ""
        return first in self.admin_first or first.split(".", 1)[0] in self.admin_first

    def _admin(self, lower: str) -> bool:
        if not self._admin_candidate(lower):
            return False
        for p in self.admin_prefixes:
            if lower.startswith(p) and (len(lower) == len(p) or p.endswith("/") or lower[len(p)] in "/.?_-"):
                return True
        return False

    def _sensitive(self, lower: str) -> bool:
        last = lower.rsplit("/", 1)[-1]
        if last in self.backdoors or self._admin(lower):
            return True
        trimmed = lower.rstrip("/")
        if trimmed.endswith(self.sensitive_suffixes) or any(d in lower for d in self.sensitive_dirs):
            return True
        return any(u in lower for u in self.cve_uris)

    def _tenant(self, lower: str) -> str:
        if not self.account_markers:
            return ""
        parts = lower.split("/")
        for i in range(len(parts) - 1):
            if parts[i] in self.account_markers and parts[i + 1]:
                return parts[i + 1]
        return ""

    # --- agents -------------------------------------------------------------------------------

    def _classify_agent(self, agent: str) -> int:
        lower = agent.lower()
        flags = 0
        if self.scanner_re.search(lower):
            flags |= SCANNER
        if self.crawler_re.search(lower):
            flags |= CRAWLER
        if self.bad_bot_re.search(agent):
            flags |= BAD_BOT
        if (
            flags & (SCANNER | BAD_BOT)
            or "mozilla/" not in lower
            or any(t in lower for t in self.client_tokens)
        ):
            flags |= NON_BROWSER
        return flags


@cache
def signatures(account_markers: tuple[str, ...] = ()) -> Signatures:
    return Signatures(account_markers)
