"""YARA signatures (I3): the bundled rules plus operators' own, compiled once per execution environment.

Rules are matched over overlapping windows of the stream (chunk + the previous chunk's tail), so a
string shorter than the overlap is found wherever it lies. Conditions on ``filesize`` or offsets see
the window, not the object: operators' rules should match strings, as the bundled ones do.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any


class SignatureError(ValueError):
    """A rule file does not compile: raised at cold start, so a broken rule set fails loudly."""


def bundled_sources() -> dict[str, str]:
    folder = resources.files("aup.detectors.uploads").joinpath("rules")
    return {
        f"bundled_{entry.name.removesuffix('.yar')}": entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yar")
    }


@cache
def compile_rules(extra: tuple[tuple[str, str], ...] = ()) -> Any:
    """Compiled rules: the bundled ones and ``extra`` (namespace, source) pairs. Cached per rule set."""
    import yara

    sources = bundled_sources()
    for namespace, text in extra:
        sources[f"extra_{namespace}"] = text
    try:
        return yara.compile(sources=sources)
    except yara.Error as exc:
        raise SignatureError(f"YARA rules do not compile: {exc}") from exc


class SignatureScanner:
    """Feed chunks in order; ``matches`` holds the names of every rule that matched a window."""

    def __init__(self, rules: Any, overlap: int) -> None:
        self.rules = rules
        self.overlap = overlap
        self.matches: set[str] = set()
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk if self._tail else chunk
        for match in self.rules.match(data=window, fast=True):
            self.matches.add(match.rule)
        self._tail = window[-self.overlap :]
