"""Hash banks (clauses I2, W4, I1): named lists of PDQ, MD5 or SHA-256 hashes, imported, stored, matched.

A bank has a kind (`pdq`, `md5`, `sha256`), the clause it enforces (and so its rule and action), its
provenance (source, list version, when and by whom imported) and, for PDQ, a match threshold in bits
(31 by default: PDQ's authors' recommendation). Banks live in an object store (S3, `aup.adapters.banks`)
under one prefix:

- `index.json`: every bank's metadata, what the scanner loads first;
- `<bank>/hashes.bin`: the hashes, fixed width (32 bytes PDQ/SHA-256, 16 bytes MD5), in entry order;
- `<bank>/entries.jsonl`: one JSON object per hash, same order: the hash and its own metadata (a CSV's
  other columns, who added it and why);
- `audit/<at>-<bank>-<n>.json`: one object per change (import, add, remove): actor, reason, counts.

The scanner needs only `index.json` and the `hashes.bin` objects (one GET each); `entries.jsonl` is read
when a match needs its provenance, or by `aupctl banks show`. Evidence of a match is the bank, the banked
hash and its provenance, the distance and the image's PDQ quality: never the image.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from aup.detectors.uploads.pdq import DEFAULT_MATCH_DISTANCE, FileHashes
from aup.domain.redact import scrub

Kind = Literal["pdq", "md5", "sha256"]
KINDS: dict[str, int] = {"pdq": 32, "md5": 16, "sha256": 32}  # bytes per hash
#: PDQ's authors: discard hashes of quality 49 and below (they match too much).
DEFAULT_MIN_QUALITY = 50
INDEX_KEY = "index.json"
MAX_NAME = 64
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True)
class ClauseAction:
    rule_id: str
    severity: str
    action: str


#: What a match in a bank of each clause does (the rules of the policy; the ladder does the rest).
CLAUSES: dict[str, ClauseAction] = {
    "I2": ClauseAction(
        "I2-abuse-material-hash", "critical", "quarantine, mandatory report, indefinite suspension"
    ),
    "W4": ClauseAction(
        "W4-known-illegal-hash", "critical", "quarantine, mandatory report, indefinite suspension"
    ),
    "I1": ClauseAction("I1-infringing-hash", "high", "quarantine, temporary suspension"),
}


class BankError(ValueError):
    """A bank operation the operator can correct (bad name, kind, hash or file)."""


class ObjectStore(Protocol):
    """What banks need of S3 (aup.adapters.banks.S3BankStore; a dict-backed double in the tests)."""

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...
    def delete(self, key: str) -> None: ...

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """The object and its entity tag (None, None when there is none)."""
        ...

    def put_if(self, key: str, body: bytes, content_type: str, *, tag: str | None) -> bool:
        """Write only if the object still has entity tag `tag` (`None`: only if there is no object);
        False, writing nothing, when another writer came first."""
        ...


INDEX_ATTEMPTS = 8


@dataclass
class Bank:
    name: str
    kind: Kind
    clause: str
    rule_id: str
    severity: str
    action: str
    threshold: int
    source: str
    list_version: str
    imported_at: str
    imported_by: str
    count: int = 0
    updated_at: str = ""
    #: Whether any entry carries more than its hash (else a match needs no read of entries.jsonl).
    metadata: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BankMatch:
    """One match of an upload in a bank: the evidence a finding carries."""

    bank: str
    kind: Kind
    clause: str
    rule_id: str
    severity: str
    distance: int
    matched_hash: str
    quality: int | None
    threshold: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return scrub(
            {
                "bank": self.bank,
                "kind": self.kind,
                "clause": self.clause,
                "matched_hash": self.matched_hash,
                "distance": self.distance,
                "threshold": self.threshold,
                "quality": self.quality,
                "provenance": self.provenance,
            }
        )


# ------------------------------------------------------------------------------------------ parsing


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or not set(name) <= _NAME_CHARS or name[0] in "-_.":
        raise BankError(f"bank name {name!r}: lower-case letters, digits, '-', '_', '.', at most {MAX_NAME}")
    return name


def normalise_hash(kind: str, text: str) -> str:
    """The hash as lower-case hex of the kind's width, or BankError."""
    width = KINDS.get(kind)
    if width is None:
        raise BankError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    value = text.strip().lower()
    if len(value) != width * 2 or any(c not in "0123456789abcdef" for c in value):
        raise BankError(f"not a {kind} hash ({width * 2} hex digits): {value[:80]!r}")
    return value


_HASH_COLUMNS = ("hash", "pdq", "md5", "sha256", "signal_value", "pdq_hex", "value")


def parse_hash_file(data: bytes, kind: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries ({"hash": hex, **metadata}) and errors ("line N: ...") from a plain or CSV file.

    Plain: one hash per line (anything after the first space, tab or comma ignored; `#` comments and
    blank lines skipped). CSV: a header row naming a hash column (`hash`, `pdq`, `md5`, `sha256`,
    `signal_value`, `pdq_hex` or `value`); the other columns are kept as each hash's metadata.
    Duplicates are kept once (the first).
    """
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    header = [c.strip().lower() for c in next(csv.reader([first]))] if first else []
    column = next((c for c in _HASH_COLUMNS if c in header), None)
    entries: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: set[str] = set()

    def add(number: int, raw: str, meta: Mapping[str, str]) -> None:
        try:
            value = normalise_hash(kind, raw)
        except BankError as exc:
            errors.append(f"line {number}: {exc}")
            return
        if value not in seen:
            seen.add(value)
            entries.append({"hash": value, **{k: v for k, v in meta.items() if v}})

    if column is not None:
        reader = csv.DictReader(io.StringIO(text))
        reader.fieldnames = [(f or "").strip().lower() for f in reader.fieldnames or []]
        for number, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            meta = {k: str(v).strip()[:200] for k, v in row.items() if k and k != column and v}
            add(number, str(row.get(column) or ""), meta)
    else:
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            add(number, stripped.replace(",", " ").replace("\t", " ").split(" ", 1)[0], {})
    return entries, errors


# ------------------------------------------------------------------------------------------ storage


def _index(store: ObjectStore) -> dict[str, dict[str, Any]]:
    raw = store.get(INDEX_KEY)
    if not raw:
        return {}
    return dict(json.loads(raw).get("banks", {}))


def _set_in_index(store: ObjectStore, name: str, meta: Mapping[str, Any] | None) -> None:
    """Set (or with None remove) one bank's entry in `index.json`, by compare-and-swap on the index's
    entity tag: two operators changing two banks at once both land (a plain write kept only the last).
    Only this bank's entry is taken from the caller; every other entry is re-read on each attempt."""
    for _ in range(INDEX_ATTEMPTS):
        raw, tag = store.get_tagged(INDEX_KEY)
        banks = dict(json.loads(raw).get("banks", {})) if raw else {}
        if meta is None:
            banks.pop(name, None)
        else:
            banks[name] = dict(meta)
        body = json.dumps({"version": 1, "banks": dict(sorted(banks.items()))}, indent=1).encode()
        if store.put_if(INDEX_KEY, body, "application/json", tag=tag if raw is not None else None):
            return
    raise BankError(f"index.json kept changing under bank {name}: {INDEX_ATTEMPTS} attempts; try again")


def _bank_of(meta: Mapping[str, Any]) -> Bank:
    return Bank(**{k: meta[k] for k in Bank.__dataclass_fields__ if k in meta})


def _audit(store: ObjectStore, bank: str, now: datetime, actor: str, action: str, **details: Any) -> None:
    at = now.strftime("%Y%m%dT%H%M%S.%fZ")
    record = {"at": now.isoformat(), "bank": bank, "actor": actor, "action": action, **details}
    body = json.dumps(scrub(record)).encode()
    n = 0  # create-only writes: two changes in the same microsecond get two records, never one
    while not store.put_if(f"audit/{at}-{bank}-{n}.json", body, "application/json", tag=None):
        n += 1


def _write_entries(store: ObjectStore, bank: Bank, entries: list[dict[str, Any]]) -> None:
    hashes = b"".join(bytes.fromhex(e["hash"]) for e in entries)
    lines = "".join(json.dumps(scrub(e), sort_keys=True) + "\n" for e in entries)
    store.put(f"{bank.name}/hashes.bin", hashes)
    store.put(f"{bank.name}/entries.jsonl", lines.encode(), "application/x-ndjson")


def read_entries(store: ObjectStore, name: str) -> list[dict[str, Any]]:
    raw = store.get(f"{check_name(name)}/entries.jsonl") or b""
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def import_bank(
    store: ObjectStore,
    name: str,
    data: bytes,
    *,
    now: datetime,
    actor: str,
    kind: str | None = None,
    clause: str | None = None,
    source: str = "",
    list_version: str = "",
    threshold: int | None = None,
    replace: bool = True,
) -> tuple[Bank, list[str]]:
    """Import a list into bank `name` (created with `kind` and `clause`, or the bank's own): audited.

    `replace` (an import of a list's new version) makes the file the bank's whole content; otherwise
    its hashes are added to what the bank holds. A file with no valid hash changes nothing.
    """
    check_name(name)
    banks = _index(store)
    existing = banks.get(name)
    kind = kind or (existing or {}).get("kind")
    clause = (clause or (existing or {}).get("clause") or "").upper()
    if kind not in KINDS:
        raise BankError(f"bank {name}: --kind is needed for a new bank (one of {', '.join(KINDS)})")
    if existing and existing["kind"] != kind:
        raise BankError(f"bank {name} holds {existing['kind']} hashes, not {kind}")
    if clause not in CLAUSES:
        raise BankError(f"bank {name}: --clause is needed for a new bank (one of {', '.join(CLAUSES)})")
    if threshold is not None and not 0 <= threshold <= 64:
        raise BankError("threshold: 0 to 64 bits")
    entries, errors = parse_hash_file(data, kind)
    if not entries:
        raise BankError(f"no valid {kind} hash in the file" + (f" ({errors[0]})" if errors else ""))
    stamp = now.isoformat()
    source = source or (existing or {}).get("source", "")
    list_version = list_version or (existing or {}).get("list_version", "")
    if existing and not replace:
        # Each entry keeps the provenance of the import that brought it (the bank's is the latest).
        new = {"source": source, "list_version": list_version, "imported_at": stamp}
        old = {k: existing.get(k, "") for k in new}
        known = [{**old, **e} for e in read_entries(store, name)]
        have = {e["hash"] for e in known}
        entries = known + [{**new, **e} for e in entries if e["hash"] not in have]
    if kind != "pdq":
        bits = 0
    elif threshold is not None:
        bits = threshold
    else:
        bits = int((existing or {}).get("threshold", DEFAULT_MATCH_DISTANCE))
    action = CLAUSES[clause]
    bank = Bank(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        clause=clause,
        rule_id=action.rule_id,
        severity=action.severity,
        action=action.action,
        threshold=bits,
        source=source,
        list_version=list_version,
        imported_at=stamp,
        imported_by=actor,
        count=len(entries),
        updated_at=stamp,
        metadata=any(len(e) > 1 for e in entries),
    )
    _write_entries(store, bank, entries)
    _set_in_index(store, name, bank.as_dict())
    _audit(store, name, now, actor, "import", count=len(entries), rejected=len(errors), replace=replace)
    return bank, errors


def add_hash(
    store: ObjectStore, name: str, value: str, *, now: datetime, actor: str, reason: str, note: str = ""
) -> Bank:
    """An operator adds one hash to an existing bank: audited (actor, reason)."""
    if not reason.strip():
        raise BankError("a reason is needed (it is audited)")
    banks = _index(store)
    meta = banks.get(check_name(name))
    if meta is None:
        raise BankError(f"no bank {name}")
    bank = _bank_of(meta)
    value = normalise_hash(bank.kind, value)
    entries = read_entries(store, name)
    if any(e["hash"] == value for e in entries):
        return bank
    entry = {"hash": value, "source": f"operator:{actor}", "added_at": now.isoformat(), "reason": reason}
    if note:
        entry["note"] = note[:200]
    entries.append(entry)
    bank.count, bank.metadata = len(entries), True
    bank.updated_at = now.isoformat()
    _write_entries(store, bank, entries)
    _set_in_index(store, name, bank.as_dict())
    _audit(store, name, now, actor, "add", hash=value, reason=reason)
    return bank


def list_banks(store: ObjectStore) -> list[Bank]:
    return [_bank_of(m) for _, m in sorted(_index(store).items())]


def show_bank(store: ObjectStore, name: str, limit: int = 20) -> tuple[Bank, list[dict[str, Any]]]:
    meta = _index(store).get(check_name(name))
    if meta is None:
        raise BankError(f"no bank {name}")
    return _bank_of(meta), read_entries(store, name)[:limit]


def remove_bank(store: ObjectStore, name: str, *, now: datetime, actor: str, reason: str) -> Bank:
    if not reason.strip():
        raise BankError("a reason is needed (it is audited)")
    meta = _index(store).get(check_name(name))
    if meta is None:
        raise BankError(f"no bank {name}")
    _set_in_index(store, name, None)  # the scanner stops matching first, then the data goes
    store.delete(f"{name}/hashes.bin")
    store.delete(f"{name}/entries.jsonl")
    _audit(store, name, now, actor, "remove", count=meta.get("count", 0), reason=reason)
    return _bank_of(meta)


# ------------------------------------------------------------------------------------------ matching


class _Loaded:
    def __init__(self, bank: Bank, raw: bytes) -> None:
        self.bank = bank
        width = KINDS[bank.kind]
        self.width = width
        self.raw = raw
        self.index: Any = None
        self.exact: dict[bytes, int] = {}
        if bank.kind == "pdq":
            import numpy as np

            from aup.detectors.uploads.hamming import HammingIndex

            self.index = HammingIndex(np.frombuffer(raw, dtype=np.uint8).reshape(-1, width))
        else:
            for row in range(len(raw) // width):
                self.exact.setdefault(raw[row * width : (row + 1) * width], row)


class BankSet:
    """Every bank of a store, loaded for matching (what the scanner holds between invocations)."""

    def __init__(self, store: ObjectStore, banks: Iterable[Bank], loaded: list[_Loaded]) -> None:
        self._store = store
        self.banks = list(banks)
        self._loaded = loaded
        self._entries: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def load(cls, store: ObjectStore) -> BankSet:
        banks = list_banks(store)
        loaded = []
        for bank in banks:
            raw = store.get(f"{bank.name}/hashes.bin") or b""
            loaded.append(_Loaded(bank, raw))
        return cls(store, banks, loaded)

    def __len__(self) -> int:
        return sum(b.count for b in self.banks)

    def _provenance(self, bank: Bank, row: int) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        if bank.metadata:  # read once, on the first match that needs it
            if bank.name not in self._entries:
                self._entries[bank.name] = read_entries(self._store, bank.name)
            entries = self._entries[bank.name]
        entry = dict(entries[row]) if row < len(entries) else {}
        entry.pop("hash", None)
        return {
            "source": bank.source,
            "list_version": bank.list_version,
            "imported_at": bank.imported_at,
            **entry,
        }

    def match(self, hashes: FileHashes, min_quality: int = DEFAULT_MIN_QUALITY) -> list[BankMatch]:
        """Every bank that holds this file: PDQ within the bank's threshold (only a hash of at least
        `min_quality`: a flat image matches too much), MD5 and SHA-256 exactly."""
        found: list[BankMatch] = []
        for item in self._loaded:
            bank = item.bank
            if bank.kind == "pdq":
                pdq = hashes.pdq
                if pdq is None or pdq.quality < min_quality or item.index is None:
                    continue
                hits = item.index.search(pdq.value, bank.threshold)
                if not hits:
                    continue
                row, distance = hits[0].row, hits[0].distance
                quality: int | None = pdq.quality
            else:
                digest = bytes.fromhex(hashes.md5 if bank.kind == "md5" else hashes.sha256)
                if digest not in item.exact:
                    continue
                row, distance, quality = item.exact[digest], 0, None
            banked = item.raw[row * item.width : (row + 1) * item.width].hex()
            found.append(
                BankMatch(
                    bank=bank.name,
                    kind=bank.kind,
                    clause=bank.clause,
                    rule_id=bank.rule_id,
                    severity=bank.severity,
                    distance=distance,
                    matched_hash=banked,
                    quality=quality,
                    threshold=bank.threshold,
                    provenance=self._provenance(bank, row),
                )
            )
        return found
