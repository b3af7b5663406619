from __future__ import annotations

import pytest

from reconcile.core import settings

NAME = "RECONCILE_TEST_SETTING"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 7),
        ("", 7),
        ("  ", 7),
        ("12", 12),
        (" 3 ", 3),
        ("0", 7),
        ("-4", 7),
        ("2.5", 7),
        ("x", 7),
    ],
)
def test_a_whole_number_above_zero_or_the_default(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {NAME: raw}
    assert settings.positive_int(NAME, 7, env) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 0.5),
        ("", 0.5),
        ("2", 2.0),
        ("0.25", 0.25),
        ("1e-3", 0.001),
        ("0", 0.5),
        ("-1", 0.5),
        ("inf", 0.5),
        ("nan", 0.5),
        ("soon", 0.5),
    ],
)
def test_a_finite_number_above_zero_or_the_default(raw: str | None, expected: float) -> None:
    env = {} if raw is None else {NAME: raw}
    assert settings.positive_float(NAME, 0.5, env) == expected


def test_without_a_mapping_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NAME, "9")
    assert (settings.positive_int(NAME, 1), settings.positive_float(NAME, 1.0)) == (9, 9.0)
