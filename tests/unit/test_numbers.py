"""Whole numbers as people type them: the one parser behind counts, sizes and ids."""

from __future__ import annotations

import pytest

from bot.domain.numbers import MAX_ID, parse_whole_number


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "expected"),
    [
        ("12", 0, 100, 12),
        (" 12 ", 0, 100, 12),
        ("１２", 0, 100, 12),  # full-width digits
        ("0", 0, 100, 0),
        ("0", 1, 100, None),
        ("100", 0, 100, 100),
        ("101", 0, 100, None),
        ("²", 0, 100, None),  # a digit to isdigit(), not to int()
        ("-1", 0, 100, None),
        ("2.5", 0, 100, None),
        ("abc", 0, 100, None),
        ("", 0, 100, None),
        (None, 0, 100, None),
        ("1" + "0" * 30, 1, MAX_ID, None),
    ],
)
def test_parse_whole_number(text: str | None, minimum: int, maximum: int, expected: int | None) -> None:
    assert parse_whole_number(text, minimum=minimum, maximum=maximum) == expected
