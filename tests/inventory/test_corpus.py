"""The broken-inventory corpus: every case's report matches `corpus_expected.txt` exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.core.errors import InvalidInventory
from reconcile.inventory.load import load_inventory
from tests.conftest import WriteFiles
from tests.inventory.corpus_cases import CASES

EXPECTED_FILE = Path(__file__).with_name("corpus_expected.txt")


def _expected() -> dict[str, list[str]]:
    cases: dict[str, list[str]] = {}
    current: list[str] = []
    for line in EXPECTED_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = cases.setdefault(line[3:], [])
        elif line.strip():
            current.append(line.strip())
    return cases


EXPECTED = _expected()


def test_corpus_is_large_and_fully_specified() -> None:
    ids = [case_id for case_id, _, _ in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == sorted(EXPECTED)


@pytest.mark.parametrize(
    ("case_id", "files"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_inventory_is_reported_exactly(
    case_id: str, files: dict[str, str | bytes], write_files: WriteFiles
) -> None:
    write_files(files)
    with pytest.raises(InvalidInventory) as raised:  # as `validate --strict` reports it
        load_inventory(["automations"], strict=True)
    assert [str(issue) for issue in raised.value.issues] == EXPECTED[case_id]
