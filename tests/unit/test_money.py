from __future__ import annotations

import pytest
from babel.numbers import format_decimal
from hypothesis import given
from hypothesis import strategies as st

from cobranza.money import CopParseError, format_cop, parse_cop


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234567", 1_234_567),
        ("1.234.567", 1_234_567),
        ("$ 1.234.567", 1_234_567),
        ("$1.234.567", 1_234_567),
        ("COP 1.234.567", 1_234_567),
        ("cop 1.234.567", 1_234_567),
        ("1.234.567 COP", 1_234_567),
        ("1.234.567,00", 1_234_567),
        ("1234567,0", 1_234_567),
        ("  $ 150.000  ", 150_000),
        ("\u00a0$\u00a01.000\u00a0", 1_000),  # no-break spaces from spreadsheets and babel
        ("$\u202f45.000.000", 45_000_000),
        ("0", 0),
        ("999", 999),
    ],
)
def test_parse_cop_accepts_colombian_forms(text: str, expected: int) -> None:
    assert parse_cop(text) == expected
    assert isinstance(parse_cop(text), int)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5", "negativo"),
        ("$ -5.000", "negativo"),
        ("-$ 5.000", "negativo"),
        ("", "vacío"),
        ("   ", "vacío"),
        ("abc", "solo se admiten"),
        ("12a", "solo se admiten"),
        ("1,234,567", "EE. UU."),
        ("1,234", "EE. UU."),
        ("1,234,567.00", "EE. UU."),
        ("1.23.4", "separadores"),
        ("1.2345", "separadores"),
        (".123", "separadores"),
        ("1.234,50", "centavos"),
        ("10,5", "centavos"),
        ("1234.5", "separadores"),
        ("$", "dígitos"),
        ("--5", "signo"),
        ("1 234 567", "solo se admiten"),
        ("١٢٣", "solo se admiten"),  # non-ASCII digits are not accepted silently
    ],
)
def test_parse_cop_rejects_with_spanish_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="monto inválido") as info:
        parse_cop(text)
    assert reason in str(info.value)
    assert isinstance(info.value, CopParseError)
    assert reason in info.value.reason


def test_parse_cop_error_echo_is_truncated() -> None:
    with pytest.raises(ValueError) as info:
        parse_cop("x" * 500)
    assert len(str(info.value)) < 200


def test_parse_cop_allow_negative() -> None:
    assert parse_cop("-$ 1.234.567", allow_negative=True) == -1_234_567
    assert parse_cop("-5000", allow_negative=True) == -5000


def test_parse_cop_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        parse_cop(1234)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "$ 0"),
        (5, "$ 5"),
        (999, "$ 999"),
        (1_000, "$ 1.000"),
        (150_000, "$ 150.000"),
        (1_234_567, "$ 1.234.567"),
        (45_000_000, "$ 45.000.000"),
        (-1_234_567, "-$ 1.234.567"),
        (10**30, "$ 1" + ".000" * 10),
    ],
)
def test_format_cop(amount: int, expected: str) -> None:
    assert format_cop(amount) == expected


def test_format_cop_is_plain_ascii_spacing() -> None:
    text = format_cop(1_234_567)
    assert "\u00a0" not in text and "\u202f" not in text
    assert "," not in text


@pytest.mark.parametrize("bad", [1.5, "100", True, None])
def test_format_cop_rejects_non_int(bad: object) -> None:
    with pytest.raises(TypeError):
        format_cop(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**18))
def test_round_trip(amount: int) -> None:
    assert parse_cop(format_cop(amount)) == amount


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_round_trip_signed(amount: int) -> None:
    assert parse_cop(format_cop(amount), allow_negative=True) == amount


@given(st.integers(min_value=0, max_value=10**15))
def test_plain_and_dotted_agree(amount: int) -> None:
    dotted = f"{amount:,}".replace(",", ".")
    assert parse_cop(str(amount)) == parse_cop(dotted) == parse_cop(dotted + ",00") == amount


@given(st.integers(min_value=-(10**24), max_value=10**24))
def test_format_cop_groups_as_babel_es_co(amount: int) -> None:
    # The fast formatter against babel's own es_CO number formatting, digit for digit.
    grouped = format_decimal(abs(amount), format="#,##0", locale="es_CO")
    assert format_cop(amount) == ("-" if amount < 0 else "") + "$ " + grouped
