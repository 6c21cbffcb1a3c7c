"""S3 storage of hash banks (aup.usecases.banks' ObjectStore): one prefix, plain objects, SSE-S3."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from aup.adapters.aws import client

_MISSING = {"NoSuchKey", "404", "NotFound"}


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
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in _MISSING:
                return None
            raise
        return bytes(response["Body"].read())

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)
