"""S3 storage of hash banks (aup.usecases.banks' ObjectStore): one prefix, plain objects, SSE-S3."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from aup.adapters.aws import client

_MISSING = {"NoSuchKey", "404", "NotFound"}
# S3 answers a conditional write that lost with 412, or 409 when another conditional write is in flight.
_LOST = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def parse_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix/` -> (bucket, "prefix/")."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3://bucket/prefix/ URI: {uri!r}")
    prefix = parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parsed.netloc, prefix


class S3BankStore:
    def __init__(self, uri: str, s3: Any = None) -> None:
        self.bucket, self.prefix = parse_uri(uri)
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3

    def get(self, key: str) -> bytes | None:
        return self.get_tagged(key)[0]

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None, None
            raise
        return bytes(response["Body"].read()), str(response.get("ETag", "")) or None

    def put_if(self, key: str, body: bytes, content_type: str, *, tag: str | None) -> bool:
        condition = {"IfMatch": tag} if tag is not None else {"IfNoneMatch": "*"}
        try:
            self.put(key, body, content_type, **condition)
        except ClientError as exc:
            if _code(exc) in _LOST:
                return False
            raise
        return True

    def put(
        self, key: str, body: bytes, content_type: str = "application/octet-stream", **condition: str
    ) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
            **condition,
        )

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)
