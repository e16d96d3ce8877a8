"""Usury cap on default interest, and collection fees (REGULATION.md sections 3 and 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cobranza.compliance import (
    CreditType,
    ProductType,
    UsuryTable,
    check_collection_fee,
    check_default_interest,
    load_usury_table,
    monthly_rate,
    product_type_from_code,
)
from cobranza.domain import Stage

TABLE = load_usury_table()
CONSUMER = CreditType.CONSUMER_ORDINARY


@pytest.mark.parametrize(
    ("year", "month", "cap"),
    [
        (2025, 12, Decimal("0.2502")),
        (2026, 1, Decimal("0.2436")),
        (2026, 2, Decimal("0.2523")),
        (2026, 3, Decimal("0.2552")),
    ],
)
def test_certified_caps_from_the_table(year: int, month: int, cap: Decimal) -> None:
    assert TABLE.cap(CONSUMER, year, month) == cap
    at_cap = check_default_interest(cap, year, month, CONSUMER, table=TABLE)
    assert (at_cap.verdict, at_cap.rule, at_cap.cap_ea) == ("allow", "usury.allowed", cap)
    above = check_default_interest(cap + Decimal("0.0001"), year, month, CONSUMER, table=TABLE)
    assert (above.verdict, above.rule) == ("refuse", "usury.cap")
    assert above.cap_monthly == monthly_rate(cap)


def test_reason_is_spanish_with_both_rates() -> None:
    d = check_default_interest(Decimal("0.26"), 2026, 3, CONSUMER)
    assert "26 % E.A." in d.reason and "25,52 % E.A." in d.reason and "mensual" in d.reason
    assert "Art. 305" in d.source


def test_january_cap_is_lower_than_december() -> None:
    rate = Decimal("0.2450")
    assert check_default_interest(rate, 2025, 12, CONSUMER).allowed
    assert not check_default_interest(rate, 2026, 1, CONSUMER).allowed


@pytest.mark.parametrize(
    ("year", "month", "credit_type"),
    [
        (2026, 4, CONSUMER),
        (2025, 11, CONSUMER),
        (2026, 3, CreditType.MICROCREDIT),
        (2026, 13, CONSUMER),
    ],
)
def test_month_not_in_the_table_is_refused(year: int, month: int, credit_type: CreditType) -> None:
    d = check_default_interest(Decimal("0.01"), year, month, credit_type)
    assert (d.verdict, d.rule, d.cap_ea) == ("refuse", "usury.missing_month", None)


def test_negative_and_float_rates() -> None:
    assert check_default_interest(Decimal("-0.01"), 2026, 3, CONSUMER).rule == "usury.invalid_rate"
    with pytest.raises(TypeError):
        check_default_interest(0.2, 2026, 3, CONSUMER)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        monthly_rate(0.2)  # type: ignore[arg-type]


def test_monthly_rate() -> None:
    assert monthly_rate(Decimal("0.2552")) == Decimal("0.019121766867")
    assert monthly_rate(Decimal("0.2502")) == Decimal("0.018782847716")
    assert monthly_rate(Decimal(0)) == Decimal(0)
    # 12.6825 % E.A. is exactly 1 % a month.
    assert monthly_rate(Decimal("0.12682503013196972")) == Decimal("0.010000000000")


@settings(max_examples=100, deadline=None)
@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("1.5"), places=4))
def test_monthly_rate_compounds_back_to_the_annual_rate(ea: Decimal) -> None:
    m = monthly_rate(ea)
    assert abs((1 + m) ** 12 - (1 + ea)) < Decimal("1e-10")


def test_table_validation_and_round_trip() -> None:
    assert UsuryTable.model_validate_json(TABLE.model_dump_json()) == TABLE
    data = TABLE.model_dump()
    with pytest.raises(ValidationError):
        UsuryTable.model_validate({**data, "rates": [*data["rates"], data["rates"][0]]})
    with pytest.raises(ValidationError):
        UsuryTable.model_validate({**data, "sources": {}})


# --- collection fees --------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.PREVENTIVA, Stage.ADMINISTRATIVA, Stage.PREJURIDICA])
def test_housing_pre_legal_fees_are_always_the_lenders(stage: Stage) -> None:
    d = check_collection_fee(ProductType.HOUSING, stage, documented_action=True)
    assert (d.verdict, d.rule) == ("refuse", "sfc.ce048.housing_prelegal")
    assert "vivienda" in d.reason
    assert "048 de 2008" in d.source


def test_housing_judicial_stage_with_documented_action_is_allowed() -> None:
    assert check_collection_fee(ProductType.HOUSING, Stage.JURIDICA, True).allowed


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("product", list(ProductType))
def test_no_fee_without_a_documented_action(stage: Stage, product: ProductType) -> None:
    d = check_collection_fee(product, stage, documented_action=False)
    assert d.verdict == "refuse"
    assert d.rule in {"sfc.ce048.documented_action", "sfc.ce048.housing_prelegal"}


def test_fee_with_documented_action_allowed_and_disclosure_required() -> None:
    d = check_collection_fee(ProductType.CONSUMER, Stage.ADMINISTRATIVA, True)
    assert (d.verdict, d.rule) == ("allow", "sfc.ce048.allowed")
    d = check_collection_fee(
        ProductType.CONSUMER, Stage.ADMINISTRATIVA, True, disclosed_beforehand=False
    )
    assert (d.verdict, d.rule) == ("refuse", "sfc.ce048.disclosure")


def test_portfolio_product_codes_map_to_product_types() -> None:
    assert product_type_from_code("hipotecario") == ProductType.HOUSING
    assert product_type_from_code(" Microcredito ") == ProductType.MICROCREDIT
    assert product_type_from_code("tarjeta_credito") == ProductType.CREDIT_CARD
    assert product_type_from_code("agricultural") == ProductType.AGRICULTURAL
    assert product_type_from_code("desconocido") is None
