"""``aupctl hash`` and ``aupctl banks``: hashes of files and the hash banks, by the scanner's own code.

``hash`` prints ``FILE pdq=<64 hex> quality=<0-100> md5=<hex> sha256=<hex>`` per file (``pdq=-`` when
the file is not an image), from ``aup.detectors.uploads.pdq.hash_bytes``. ``banks`` reads and writes the
banks through ``aup.usecases.banks`` on S3 (``--uri s3://bucket/prefix/`` or ``$AUP_BANKS_URI``; with
``--port`` the local stack's moto, else the AWS credentials and endpoint of the environment).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aupctl.errors import CliError


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}", exit_code=2) from exc


def hash_files(files: Sequence[Path], as_json: bool) -> int:
    from aup.detectors.uploads.pdq import hash_bytes

    results = [(str(f), hash_bytes(_read(f))) for f in files]
    if as_json:
        print(json.dumps([h.as_dict(name) for name, h in results], indent=2))
    else:
        for name, h in results:
            print(h.line(name))
    return 0


def actor() -> str:
    try:
        return os.environ.get("AUP_OPERATOR") or getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "operator"


def store(uri: str | None, port: int | None) -> Any:
    from aup.adapters.banks import S3BankStore

    uri = uri or os.environ.get("AUP_BANKS_URI")
    if not uri:
        raise CliError("where are the banks? --uri s3://bucket/prefix/ (or AUP_BANKS_URI)", exit_code=2)
    s3 = None
    if port is not None:
        import boto3

        from aupctl.stack import REGION
        from aupctl.state import endpoint

        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint(port),
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )
    try:
        return S3BankStore(uri, s3=s3)
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc


def _now() -> datetime:
    return datetime.now(UTC)  # the process's clock (aupctl.clock shifts it under AUP_CLOCK_SHIFT_DAYS)


def _bank_error(fn: Any) -> Any:
    from aup.usecases.banks import BankError

    def wrapped(*args: Any, **kwargs: Any) -> int:
        try:
            return int(fn(*args, **kwargs))
        except BankError as exc:
            raise CliError(str(exc)) from exc

    return wrapped


def _table(banks: Sequence[Any]) -> str:
    rows = [("BANK", "KIND", "CLAUSE", "RULE", "THRESHOLD", "HASHES", "SOURCE", "VERSION", "IMPORTED")]
    for b in banks:
        rows.append(
            (
                b.name,
                b.kind,
                b.clause,
                b.rule_id,
                str(b.threshold) if b.kind == "pdq" else "exact",
                str(b.count),
                b.source or "-",
                b.list_version or "-",
                b.imported_at[:19],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


@_bank_error
def import_file(
    bank: str,
    file: Path,
    *,
    uri: str | None,
    port: int | None,
    kind: str | None,
    clause: str | None,
    source: str,
    list_version: str,
    threshold: int | None,
    merge: bool,
    as_json: bool,
) -> int:
    from aup.usecases.banks import import_bank

    imported, errors = import_bank(
        store(uri, port),
        bank,
        _read(file),
        now=_now(),
        actor=actor(),
        kind=kind,
        clause=clause,
        source=source or file.name,
        list_version=list_version,
        threshold=threshold,
        replace=not merge,
    )
    if as_json:
        print(json.dumps({"bank": imported.as_dict(), "rejected": errors}, indent=2))
        return 0
    print(f"{imported.name}: {imported.count} {imported.kind} hashes ({imported.clause}, {imported.rule_id})")
    for line in errors[:20]:
        print(f"  rejected {line}")
    if len(errors) > 20:
        print(f"  ... and {len(errors) - 20} more rejected lines")
    return 0


@_bank_error
def list_all(*, uri: str | None, port: int | None, as_json: bool) -> int:
    from aup.usecases.banks import list_banks

    banks = list_banks(store(uri, port))
    if as_json:
        print(json.dumps([b.as_dict() for b in banks], indent=2))
    else:
        print(_table(banks) if banks else "no banks")
    return 0


@_bank_error
def show(bank: str, *, uri: str | None, port: int | None, limit: int, as_json: bool) -> int:
    from aup.usecases.banks import show_bank

    meta, entries = show_bank(store(uri, port), bank, limit=limit)
    if as_json:
        print(json.dumps({"bank": meta.as_dict(), "entries": entries}, indent=2))
        return 0
    print(_table([meta]))
    print(f"\nfirst {len(entries)} of {meta.count} hashes:")
    for e in entries:
        extra = " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k != "hash")
        print(f"  {e['hash']}  {extra}")
    return 0


@_bank_error
def remove(bank: str, *, uri: str | None, port: int | None, reason: str) -> int:
    from aup.usecases.banks import remove_bank

    removed = remove_bank(store(uri, port), bank, now=_now(), actor=actor(), reason=reason)
    print(f"removed bank {removed.name} ({removed.count} hashes)")
    return 0


@_bank_error
def add(bank: str, value: str, *, uri: str | None, port: int | None, reason: str, note: str) -> int:
    from aup.usecases.banks import add_hash

    updated = add_hash(store(uri, port), bank, value, now=_now(), actor=actor(), reason=reason, note=note)
    print(f"{updated.name}: {updated.count} hashes")
    return 0


@_bank_error
def match(
    files: Sequence[Path], *, uri: str | None, port: int | None, min_quality: int, as_json: bool
) -> int:
    """Exit 0 when nothing matches, 1 when any file matches a bank."""
    from aup.detectors.uploads.pdq import hash_bytes
    from aup.usecases.banks import BankSet

    banks = BankSet.load(store(uri, port))
    report = []
    for f in files:
        hashes = hash_bytes(_read(f))
        found = banks.match(hashes, min_quality=min_quality)
        report.append({**hashes.as_dict(str(f)), "matches": [m.evidence() for m in found]})
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for r in report:
            if not r["matches"]:
                low = r["quality"] is not None and r["quality"] < min_quality
                why = f" (PDQ quality {r['quality']}: not matched)" if low else ""
                print(f"{r['file']}: no match{why}")
            for m in r["matches"]:
                print(
                    f"{r['file']}: {m['bank']} ({m['clause']}, {m['kind']}) distance={m['distance']} "
                    f"quality={m['quality'] if m['quality'] is not None else '-'} "
                    f"hash={m['matched_hash']} source={m['provenance'].get('source', '-')}"
                )
    return 1 if any(r["matches"] for r in report) else 0
