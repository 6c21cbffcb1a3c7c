"""``aupctl replay`` and ``aupctl policy diff --logs`` read the Firehose archive directly: local ``.gz``
objects (gzip of newline-separated or concatenated access lines) and ``s3://bucket/prefix``."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aupctl.errors import CliError
from aupctl.replay import read_log_lines, s3_uri
from tests.unit.logs import traffic as T

LINES = [T.line(T.T0 + i * 1000, account="arch-co", path=f"/v1/items/{i}").text for i in range(6)]


def test_a_local_gz_object_reads_as_its_lines(tmp_path: Path) -> None:
    newline = tmp_path / "obj-1.gz"
    newline.write_bytes(gzip.compress(("\n".join(LINES[:3]) + "\n").encode()))
    assert read_log_lines(newline) == LINES[:3]
    # Firehose adds no delimiter: records back to back, and a gzip without the suffix (its magic)
    glued = tmp_path / "obj-2"
    glued.write_bytes(gzip.compress("".join(LINES[3:]).encode()))
    assert read_log_lines(glued) == LINES[3:]
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(CliError, match="not a readable gzip"):
        read_log_lines(broken)


def test_s3_uris_survive_click_paths() -> None:
    # a click Path keeps one slash of "//" and drops a trailing one: the prefix matches keys alike
    assert s3_uri(Path("s3://archive-bucket/access-logs/2026/")) == ("archive-bucket", "access-logs/2026")
    assert s3_uri("s3://archive-bucket/access-logs/2026/") == ("archive-bucket", "access-logs/2026/")
    assert s3_uri("s3://archive-bucket") == ("archive-bucket", "")
    assert s3_uri(Path("access.log")) is None


def test_every_object_under_an_s3_prefix_in_key_order() -> None:
    with mock_aws():
        s3: Any = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        s3.put_object(
            Bucket="archive",
            Key="access-logs/2026/11/27/17/b.gz",
            Body=gzip.compress(("\n".join(LINES[3:]) + "\n").encode()),
        )
        s3.put_object(
            Bucket="archive",
            Key="access-logs/2026/11/27/16/a.gz",
            Body=gzip.compress("".join(LINES[:3]).encode()),
        )
        s3.put_object(Bucket="archive", Key="elsewhere/c.gz", Body=gzip.compress(b'{"x": 1}\n'))
        assert read_log_lines(Path("s3://archive/access-logs/"), s3=lambda: s3) == LINES
        with pytest.raises(CliError, match="no objects under s3://archive/nothing"):
            read_log_lines(Path("s3://archive/nothing/"), s3=lambda: s3)
        with pytest.raises(CliError, match="s3://missing-bucket/"):
            read_log_lines(Path("s3://missing-bucket/x"), s3=lambda: s3)
