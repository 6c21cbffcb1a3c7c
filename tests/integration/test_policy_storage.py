"""The policy's size against SSM's: the local server refuses what SSM refuses (moto stores any size), the
policy goes in compressed in the tier it needs and the functions read it back, and a document that
would not fit even compressed is refused before anything is written or started."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from aup.policy.loader import PolicySource, default_policy_text, load_default_policy
from aup.policy.stored import ADVANCED_LIMIT, PREFIX, STANDARD_LIMIT
from aupctl.cli import main
from aupctl.errors import CliError
from aupctl.policy import put_policy_value

pytestmark = pytest.mark.server


def doc() -> dict:
    return yaml.safe_load(default_policy_text())


def too_large() -> str:
    """Valid, but random trademarks that hardly compress: over 8,192 characters even gzip+base64."""
    rng = random.Random(3)
    d = doc()
    d["protected_trademarks"] = [f"{rng.getrandbits(64):016x}" for _ in range(800)]
    return yaml.safe_dump(d)


@pytest.fixture(scope="module")
def ssm() -> Iterator[Any]:
    """SSM of the local stack's moto server (its WSGI wrappers, SsmValueLimits among them)."""
    from aupctl.server import _serve
    from aupctl.state import free_port

    port = free_port()
    server = _serve(port)
    try:
        yield boto3.client(
            "ssm",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.shutdown()


def tier(ssm: Any, name: str) -> str:
    (p,) = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    return str(p["Tier"])


def test_the_local_server_refuses_values_over_their_tier_as_ssm_does(ssm):
    with pytest.raises(ClientError) as err:
        ssm.put_parameter(Name="/aup/raw", Value="x" * (STANDARD_LIMIT + 1), Type="String")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "maximum parameter value of 4096 characters" in str(err.value)
    with pytest.raises(ClientError, match="8192"):
        ssm.put_parameter(Name="/aup/raw", Value="x" * (ADVANCED_LIMIT + 1), Type="String", Tier="Advanced")
    ssm.put_parameter(Name="/aup/raw", Value="x" * ADVANCED_LIMIT, Type="String", Tier="Advanced")
    # the shipped policy as written fits neither tier
    with pytest.raises(ClientError):
        ssm.put_parameter(Name="/aup/raw2", Value=default_policy_text(), Type="String", Tier="Advanced")


def test_the_shipped_policy_goes_in_compressed_and_the_functions_read_it(ssm):
    version = put_policy_value(ssm, "/aup/policy-a", default_policy_text())
    value = ssm.get_parameter(Name="/aup/policy-a")["Parameter"]["Value"]
    assert version == 1 and value.startswith(PREFIX) and tier(ssm, "/aup/policy-a") == "Advanced"
    assert PolicySource("/aup/policy-a", max_age_seconds=0, ssm_client=ssm).current() == load_default_policy()


def test_a_small_document_into_an_advanced_parameter_keeps_it_advanced(ssm):
    """SSM cannot move an Advanced parameter back to Standard: the tier is kept."""
    put_policy_value(ssm, "/aup/policy-b", default_policy_text())
    small = "policy_version: small-1\n"
    put_policy_value(ssm, "/aup/policy-b", small)
    assert ssm.get_parameter(Name="/aup/policy-b")["Parameter"]["Value"] == small
    assert tier(ssm, "/aup/policy-b") == "Advanced"
    put_policy_value(ssm, "/aup/policy-c", small)
    assert tier(ssm, "/aup/policy-c") == "Standard"


def test_a_document_too_large_even_compressed_is_refused_and_nothing_written(ssm):
    with pytest.raises(
        CliError, match=r"big\.yaml: too large for an SSM parameter: \d+ characters as written"
    ):
        put_policy_value(ssm, "/aup/policy-d", too_large(), origin="big.yaml")
    assert (
        ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/aup/policy-d"]}])["Parameters"]
        == []
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_encode_and_local_up_refuse_a_document_too_large_for_ssm(tmp_path: Path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text(too_large(), encoding="utf-8")
    code, _, err = cli(capsys, "policy", "validate", str(big))
    assert code == 1 and "<root>: too large for an SSM parameter" in err
    code, out, err = cli(capsys, "policy", "encode", str(big))
    assert code == 1 and out == "" and "too large for an SSM parameter" in err
    # refused before anything starts: the port is never looked at
    code, _, err = cli(capsys, "local", "up", "--port", "1", "--policy", str(big))
    assert code == 1 and "too large for an SSM parameter" in err
    code, _, err = cli(capsys, "local", "up", "--port", "1", "--shadow-policy", str(big))
    assert code == 1 and err.startswith("aupctl: shadow policy") and "too large" in err


def test_validate_and_encode_say_the_stored_size_and_tier(tmp_path: Path, capsys):
    import json

    shipped = tmp_path / "p.yaml"
    shipped.write_text(default_policy_text(), encoding="utf-8")
    code, out, _ = cli(capsys, "policy", "validate", "--json", str(shipped))
    body = json.loads(out)
    assert code == 0 and body["ssm"]["tier"] == "Advanced" and body["ssm"]["compressed"] is True
    assert body["ssm"]["raw_chars"] == len(default_policy_text()) > body["ssm"]["stored_chars"]
    code, out, err = cli(capsys, "policy", "encode", str(shipped))
    assert code == 0 and out.strip().startswith(PREFIX) and "Advanced tier" in err
    assert len(out.strip()) == body["ssm"]["stored_chars"]


def test_a_broken_shadow_policy_is_refused_at_local_up_with_the_field_named(tmp_path: Path, capsys):
    bad = doc()
    bad["rules"]["D1-error-burst"]["severity"] = "severe"
    path = tmp_path / "shadow.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    code, _, err = cli(capsys, "local", "up", "--port", "1", "--shadow-policy", str(path))
    assert code == 1 and err.startswith("aupctl: shadow policy")
    assert "rules.D1-error-burst.severity: Input should be" in err
