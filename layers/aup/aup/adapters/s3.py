"""S3 adapters of the scanner: a seekable streamed object, tags, quarantine, operator data.

``S3ObjectFile`` reads one object version through a single streaming GET from the current position;
only a seek (zip central directory, nested archives) opens a new ranged GET. Nothing is written to
/tmp and at most one chunk is held in memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import urlencode

from aup.adapters.aws import client

_GONE_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "PreconditionFailed", "412"}


class ObjectGone(Exception):
    """The object version was deleted (or replaced) before the scan reached it."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def is_gone(exc: Exception) -> bool:
    return _code(exc) in _GONE_CODES


def _version_args(version: str | None, etag: str | None) -> dict[str, str]:
    if version:
        return {"VersionId": version}
    return {"IfMatch": f'"{etag}"'} if etag else {}


def head(bucket: str, key: str, version: str | None, etag: str | None) -> dict[str, Any]:
    """HeadObject of exactly that version; raises ObjectGone when it no longer exists."""
    try:
        return client("s3").head_object(Bucket=bucket, Key=key, **_version_args(version, etag))
    except Exception as exc:
        if is_gone(exc):
            raise ObjectGone(f"{bucket}/{key}") from exc
        raise


class S3ObjectFile(io.RawIOBase):
    """A read-only, seekable file over one object version, streamed (wrap it in io.BufferedReader)."""

    def __init__(
        self,
        bucket: str,
        key: str,
        size: int,
        version: str | None = None,
        etag: str | None = None,
        s3: Any = None,
    ) -> None:
        self.bucket, self.key, self.size = bucket, key, size
        self._args = _version_args(version, etag)
        self._s3 = s3 or client("s3")
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _open(self) -> None:
        if self._body is not None:
            self._body.close()
        try:
            resp = self._s3.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={self._pos}-{self.size - 1}", **self._args
            )
        except Exception as exc:
            if is_gone(exc):
                raise ObjectGone(f"{self.bucket}/{self.key}") from exc
            raise
        self._body = resp["Body"]
        self._body_pos = self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._open()
        want = min(len(buffer), self.size - self._pos)
        data = self._body.read(want)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        self._body_pos += n
        return n

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


def open_object(
    bucket: str, key: str, size: int, version: str | None, etag: str | None, buffer_size: int = 1024 * 1024
) -> io.BufferedReader:
    return io.BufferedReader(S3ObjectFile(bucket, key, size, version, etag), buffer_size=buffer_size)


def read_head(bucket: str, key: str, version: str | None, etag: str | None, n: int) -> bytes:
    """The first ``n`` bytes (to tell the type of an object too large to scan)."""
    try:
        resp = client("s3").get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{n - 1}", **_version_args(version, etag)
        )
    except Exception as exc:
        if is_gone(exc):
            raise ObjectGone(f"{bucket}/{key}") from exc
        raise
    return resp["Body"].read(n)


def get_tags(bucket: str, key: str, version: str | None) -> list[dict[str, str]]:
    kwargs = {"VersionId": version} if version else {}
    try:
        return client("s3").get_object_tagging(Bucket=bucket, Key=key, **kwargs)["TagSet"]
    except Exception as exc:
        if is_gone(exc):
            raise ObjectGone(f"{bucket}/{key}") from exc
        raise


def put_tags(bucket: str, key: str, version: str | None, tags: list[dict[str, str]]) -> None:
    kwargs = {"VersionId": version} if version else {}
    try:
        client("s3").put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags}, **kwargs)
    except Exception as exc:
        if is_gone(exc):
            raise ObjectGone(f"{bucket}/{key}") from exc
        raise


def quarantine(
    bucket: str, key: str, version: str | None, quarantine_bucket: str, tags: list[dict[str, str]]
) -> str:
    """Copy the version into the quarantine bucket (tagged), then delete that version from uploads.

    Returns the quarantine key. A managed copy handles objects beyond CopyObject's 5 GB.
    """
    s3 = client("s3")
    target = f"{bucket}/{key}"
    source: dict[str, str] = {"Bucket": bucket, "Key": key}
    if version:
        source["VersionId"] = version
    tagging = urlencode([(t["Key"], t["Value"]) for t in tags])
    s3.copy(
        source,
        quarantine_bucket,
        target,
        # The quarantine bucket has an Object Lock default retention: S3 refuses a write into it that
        # carries neither Content-MD5 nor a checksum algorithm (MissingUploadObjectWithObjectLockHeaders).
        ExtraArgs={
            "Tagging": tagging,
            "TaggingDirective": "REPLACE",
            "MetadataDirective": "COPY",
            "ChecksumAlgorithm": "SHA256",
        },
    )
    delete_args = {"VersionId": version} if version else {}
    s3.delete_object(Bucket=bucket, Key=key, **delete_args)
    return f"s3://{quarantine_bucket}/{target}"


def _split(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


@cache
def hash_list(uri: str) -> frozenset[str]:
    """One SHA-256 hex digest a line (``#`` comments allowed), from s3://bucket/key or a local path.

    Cached per execution environment; streamed line by line.
    """
    if uri.startswith("s3://"):
        bucket, key = _split(uri)
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        lines: Iterator[str] = (line.decode("ascii", "replace") for line in body.iter_lines())
    else:
        with open(uri, encoding="ascii", errors="replace") as f:
            lines = iter(f.read().splitlines())
    digests = set()
    for line in lines:
        value = line.split("#", 1)[0].strip().lower()
        if len(value) == 64:
            digests.add(value)
    return frozenset(digests)


@cache
def extra_rule_root(uri: str) -> str:
    """A local directory holding operators' YARA rules: ``uri`` itself when it is a directory, else
    every object under the s3:// prefix, downloaded with its relative path (folders nest and files
    include each other by relative path). Cached per execution environment."""
    if not uri.startswith("s3://"):
        return uri
    import hashlib
    import tempfile
    from pathlib import Path

    bucket, prefix = _split(uri)
    root = Path(tempfile.gettempdir()) / f"aup-rules-{hashlib.sha256(uri.encode()).hexdigest()[:16]}"
    s3 = client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            rel = item["Key"][len(prefix) :].lstrip("/")
            if not rel or rel.endswith("/") or ".." in rel.split("/"):
                continue
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return str(root)
