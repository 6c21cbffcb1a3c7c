"""Other countries' identity numbers (``detectors/uploads/text.py`` ``national_id``) as W2 evidence.

Found by probing: only US SSNs were identity numbers, so a list of 40 Brazilians' CPFs, Canadians' SINs
or Indians' Aadhaar numbers, each with a header naming them, was clean."""

from __future__ import annotations

import random

import pytest

from aup.detectors.uploads.text import cpf_valid, national_id, verhoeff_ok
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

KINDS = {
    "cpf": ("nome,cpf", F.cpf),
    "sin": ("name,SIN", F.sin),
    "aadhaar": ("name,aadhaar number", F.aadhaar),
}


def listing(header: str, make: object, n: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    rows = [f"Person {i},{make(rng)}" for i in range(n)]  # type: ignore[operator]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def test_the_validators_take_the_published_examples_and_refuse_a_changed_digit() -> None:
    assert cpf_valid(b"52998224725") and not cpf_valid(b"52998224724") and not cpf_valid(b"11111111111")
    assert verhoeff_ok(b"2363") and not verhoeff_ok(b"2364")  # Verhoeff's own worked example: 236 -> 3
    assert national_id(b"529.982.247-25", b"52998224725") == "cpf"
    assert national_id(b"52998224725", b"52998224725") is None  # unformatted: an order number's shape


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_named_list_of_identity_numbers_is_bulk_personal_data(kind: str) -> None:
    header, make = KINDS[kind]
    v, _, findings = judge(listing(header, make, 40), f"exports/{kind}.csv")
    assert v is Verdict.violation and rules_of(findings) == {"W2-bulk-personal-data"}
    (finding,) = findings
    assert finding.evidence["national_ids"] == {kind: 40}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_same_numbers_unnamed_are_not_counted(kind: str) -> None:
    _, make = KINDS[kind]
    v, _, findings = judge(listing("name,reference", make, 40), f"exports/{kind}.csv")
    assert v is Verdict.clean and not findings


def test_a_few_named_numbers_are_personal_data_for_review() -> None:
    header, make = KINDS["cpf"]
    _, _, findings = judge(listing(header, make, 4), "exports/few.csv")
    assert rules_of(findings) == {"W2-personal-data"}


def test_spanish_mobile_numbers_beside_the_word_sin_are_no_insurance_numbers() -> None:
    rng = random.Random(5)
    notes = ["sin descuento", "sin número de pedido", "sin nombre", "cliente nuevo"]
    rows = [
        f"Cliente {i},6{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)},{notes[i % 4]}"
        for i in range(400)
    ]
    v, _, findings = judge(("nombre,telefono,notas\n" + "\n".join(rows)).encode(), "clientes.csv")
    assert v is Verdict.clean and not findings
