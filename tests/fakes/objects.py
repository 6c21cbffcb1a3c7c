"""An in-memory object store (aup.usecases.banks.ObjectStore) with S3's conditional writes.

Entity tags are the MD5 of the body, as S3 gives for a single-part upload. `before_put` runs just
before each write is checked, so a test can slip another writer in between a read and a write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


class DictStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.before_put: Callable[[str], None] | None = None
        self.lost: list[str] = []  # keys of conditional writes that lost

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        body = self.objects.get(key)
        return body, (None if body is None else hashlib.md5(body).hexdigest())

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        self.objects[key] = body

    def put_if(self, key: str, body: bytes, content_type: str, *, tag: str | None) -> bool:
        if self.before_put is not None:
            self.before_put(key)
        if self.get_tagged(key)[1] != tag:
            self.lost.append(key)
            return False
        self.objects[key] = body
        return True

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
