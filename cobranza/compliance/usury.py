"""Default interest against the certified usury cap, and collection fees (SFC CE 048 de 2008).

Rates are `Decimal` fractions (Decimal("0.2552") is 25.52 % effective annual); floats are refused
because they cannot hold a certified rate exactly.
"""

from __future__ import annotations

import tomllib
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cobranza.compliance.bureau import format_percent
from cobranza.compliance.rules import PRODUCT_LABELS, ProductType
from cobranza.domain import STAGE_LABELS, Stage

# Fixed context: results never depend on the thread's (mutable) decimal context.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_MONTHLY_QUANTUM = Decimal("1e-12")

USURY_RULE_IDS: tuple[str, ...] = (
    "usury.cap",
    "usury.missing_month",
    "usury.invalid_rate",
    "usury.allowed",
)


class CreditType(StrEnum):
    """Credit types with their own certified usury rate."""

    CONSUMER_ORDINARY = "consumer_ordinary"  # consumo y ordinario
    LOW_AMOUNT_CONSUMER = "low_amount_consumer"  # consumo de bajo monto
    MICROCREDIT = "microcredit"


CREDIT_TYPE_LABELS: dict[CreditType, str] = {
    CreditType.CONSUMER_ORDINARY: "consumo y ordinario",
    CreditType.LOW_AMOUNT_CONSUMER: "consumo de bajo monto",
    CreditType.MICROCREDIT: "microcrédito",
}


class UsuryRate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    credit_type: CreditType
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    usury_ea: Decimal = Field(gt=0, lt=2)


class UsuryTable(BaseModel):
    """The monthly certified usury caps, as loaded from `cobranza/rules/usury_rates.toml`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    rates: tuple[UsuryRate, ...]
    sources: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> UsuryTable:
        missing = [rule for rule in USURY_RULE_IDS if not self.sources.get(rule)]
        if missing:
            raise ValueError(f"usury table {self.version}: no source for {', '.join(missing)}")
        keys = [(r.credit_type, r.year, r.month) for r in self.rates]
        if len(keys) != len(set(keys)):
            raise ValueError(f"usury table {self.version}: a month appears twice")
        return self

    def cap(self, credit_type: CreditType, year: int, month: int) -> Decimal | None:
        """The certified cap (effective annual) for that month, or None when not in the table."""
        for rate in self.rates:
            if (rate.credit_type, rate.year, rate.month) == (credit_type, year, month):
                return rate.usury_ea
        return None


class UsuryDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Literal["allow", "refuse"]
    rule: str
    source: str
    reason: str
    cap_ea: Decimal | None = None
    cap_monthly: Decimal | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


class FeeDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Literal["allow", "refuse"]
    rule: str
    source: str
    reason: str

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


@cache
def load_usury_table() -> UsuryTable:
    """Load the bundled monthly usury table (call outside workflow code; pass it in)."""
    path = resources.files("cobranza") / "rules" / "usury_rates.toml"
    return UsuryTable.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


def monthly_rate(ea: Decimal) -> Decimal:
    """Monthly rate equivalent to an effective annual rate: (1 + EA)^(1/12) - 1, to 1e-12."""
    if not isinstance(ea, Decimal):
        raise TypeError("pass rates as Decimal, never float")
    if ea <= -1:
        raise ValueError("an effective annual rate must be above -100 %")
    root = _CONTEXT.power(_CONTEXT.add(Decimal(1), ea), _CONTEXT.divide(Decimal(1), Decimal(12)))
    return _CONTEXT.subtract(root, Decimal(1)).quantize(_MONTHLY_QUANTUM, context=_CONTEXT)


def check_default_interest(
    rate_ea: Decimal,
    year: int,
    month: int,
    credit_type: CreditType,
    *,
    table: UsuryTable | None = None,
) -> UsuryDecision:
    """Refuse a default (mora) interest rate above the certified cap of its month.

    A month missing from the table is refused, never guessed. `table` defaults to the bundled one;
    workflow code should pass the table from its snapshot.
    """
    if not isinstance(rate_ea, Decimal):
        raise TypeError("pass rates as Decimal, never float")
    usury = table if table is not None else load_usury_table()
    if rate_ea < 0:
        return UsuryDecision(
            verdict="refuse",
            rule="usury.invalid_rate",
            source=usury.sources["usury.invalid_rate"],
            reason=f"Tasa de mora inválida ({format_percent(rate_ea)} E.A.).",
        )
    period = f"{year:04d}-{month:02d}"
    kind = CREDIT_TYPE_LABELS[credit_type]
    cap = usury.cap(credit_type, year, month)
    if cap is None:
        return UsuryDecision(
            verdict="refuse",
            rule="usury.missing_month",
            source=usury.sources["usury.missing_month"],
            reason=f"No hay tasa de usura certificada cargada para {kind} en {period}: no se "
            "cobra interés de mora hasta cargar la certificación del mes.",
        )
    cap_monthly = monthly_rate(cap)
    cap_text = f"{format_percent(cap)} E.A., {format_percent(cap_monthly)} mensual"
    if rate_ea > cap:
        return UsuryDecision(
            verdict="refuse",
            rule="usury.cap",
            source=usury.sources["usury.cap"],
            reason=f"La tasa de mora de {format_percent(rate_ea)} E.A. supera la tasa de usura "
            f"certificada para {kind} en {period} ({cap_text}): se perderían todos los intereses "
            "y es delito de usura.",
            cap_ea=cap,
            cap_monthly=cap_monthly,
        )
    return UsuryDecision(
        verdict="allow",
        rule="usury.allowed",
        source=usury.sources["usury.allowed"],
        reason=f"La tasa de mora de {format_percent(rate_ea)} E.A. no supera la tasa de usura "
        f"de {kind} en {period} ({cap_text}).",
        cap_ea=cap,
        cap_monthly=cap_monthly,
    )


FEE_SOURCES: MappingProxyType[str, str] = MappingProxyType(
    {
        "sfc.ce048.housing_prelegal": "Superintendencia Financiera, Circular Externa 048 de 2008 "
        "(Circular Básica Jurídica): en vivienda, la cobranza prejudicial es a cargo de la entidad",
        "sfc.ce048.documented_action": "Superintendencia Financiera, Circular Externa 048 de 2008 "
        "(Circular Básica Jurídica): cobrar gastos sin gestión real es práctica abusiva",
        "sfc.ce048.disclosure": "Superintendencia Financiera, Circular Externa 048 de 2008 "
        "(Circular Básica Jurídica): tarifas informadas previamente al deudor",
        "sfc.ce048.allowed": "Superintendencia Financiera, Circular Externa 048 de 2008 "
        "(Circular Básica Jurídica)",
    }
)

# Pre-legal stages: "preventiva" and "administrativa" are industry practice, "prejurídica" law.
PRE_LEGAL_STAGES: frozenset[Stage] = frozenset(
    {Stage.PREVENTIVA, Stage.ADMINISTRATIVA, Stage.PREJURIDICA}
)


def check_collection_fee(
    product_type: ProductType,
    stage: Stage,
    documented_action: bool,
    *,
    disclosed_beforehand: bool = True,
) -> FeeDecision:
    """May a collection fee be charged for this action?

    Never for mere default: only for a real, documented recovery action, disclosed beforehand, and
    never to a housing debtor before the judicial stage. Reasonableness and proportionality of the
    amount belong to the fee schedule, not to this check.
    """

    def decide(verdict: Literal["allow", "refuse"], rule: str, reason: str) -> FeeDecision:
        return FeeDecision(verdict=verdict, rule=rule, source=FEE_SOURCES[rule], reason=reason)

    stage_label = STAGE_LABELS[stage]
    if product_type == ProductType.HOUSING and stage in PRE_LEGAL_STAGES:
        return decide(
            "refuse",
            "sfc.ce048.housing_prelegal",
            f"Crédito de vivienda en etapa {stage_label}: los gastos de cobranza prejudicial son "
            "siempre de la entidad, no del deudor.",
        )
    if not documented_action:
        return decide(
            "refuse",
            "sfc.ce048.documented_action",
            "No hay una gestión de cobro real y documentada: el solo incumplimiento no genera "
            "gastos de cobranza, y cobrarlos automáticamente es una práctica abusiva.",
        )
    if not disclosed_beforehand:
        return decide(
            "refuse",
            "sfc.ce048.disclosure",
            "La tarifa de cobranza no fue informada previamente al deudor.",
        )
    return decide(
        "allow",
        "sfc.ce048.allowed",
        f"Gasto de cobranza permitido para crédito de {PRODUCT_LABELS[product_type]} en etapa "
        f"{stage_label}: gestión real documentada y tarifa informada previamente.",
    )
