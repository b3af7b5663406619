from __future__ import annotations

import pytest

from reconcile.core import settings
from reconcile.core.errors import UsageError

NAME = "RECONCILE_TEST_SETTING"


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 7), ("", 7), ("  ", 7), ("12", 12), (" 3 ", 3)]
)
def test_a_whole_number_above_zero_or_the_default_when_unset(
    raw: str | None, expected: int
) -> None:
    env = {} if raw is None else {NAME: raw}
    assert settings.positive_int(NAME, 7, env) == expected


@pytest.mark.parametrize("raw", ["0", "-4", "2.5", "x"])
def test_any_other_whole_number_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(UsageError) as refused:
        settings.positive_int(NAME, 7, {NAME: raw})
    assert str(refused.value) == f"{NAME}={raw!r}: give a whole number greater than 0"


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 0.5), ("", 0.5), ("2", 2.0), ("0.25", 0.25), ("1e-3", 0.001)]
)
def test_a_finite_number_above_zero_or_the_default_when_unset(
    raw: str | None, expected: float
) -> None:
    env = {} if raw is None else {NAME: raw}
    assert settings.positive_float(NAME, 0.5, env) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "inf", "nan", "soon"])
def test_any_other_number_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(UsageError) as refused:
        settings.positive_float(NAME, 0.5, {NAME: raw})
    assert str(refused.value) == f"{NAME}={raw!r}: give a number greater than 0 (seconds)"


def test_without_a_mapping_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NAME, "9")
    assert (settings.positive_int(NAME, 1), settings.positive_float(NAME, 1.0)) == (9, 9.0)
