"""May we send a negative report to the credit bureaus? (Ley 1266 de 2008, mod. Ley 2157 de 2021)

Pure: the workflow passes `workflow.now()`, the notices already sent to the person to be reported,
and the rules snapshot.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import cache
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cobranza.compliance.calendar import day_start, format_date, to_bogota
from cobranza.compliance.rules import Verdict, read_rules_toml, select_version

# Fixed context: results never depend on the thread's (mutable) decimal context.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)

BUREAU_RULE_IDS: tuple[str, ...] = (
    "ley1266.paid",
    "ley1266.no_debt",
    "ley1266.authorization",
    "ley1266.smlmv",
    "ley1266.report_deadline",
    "ley1266.art12.notice",
    "ley1266.art12.notice_period",
    "ley1266.art12.small_debt",
    "ley1266.allowed",
)


class BureauRules(BaseModel):
    """Parameters of the prior-notice rules for negative credit-bureau reports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    notice_days: int = Field(default=20, ge=20)
    small_debt_fraction: Decimal = Field(default=Decimal("0.15"), gt=0, le=1)
    small_debt_min_notices: int = Field(default=2, ge=2)
    # The law counts 20 days from "the" notice; measuring from the last one is the safe side.
    notice_reference: Literal["last", "first"] = "last"
    # None disables the (medium-confidence) 18-month reporting deadline.
    report_deadline_months: int | None = Field(default=18, ge=1)
    smlmv_cop: dict[int, int]
    sources: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> BureauRules:
        missing = [rule for rule in BUREAU_RULE_IDS if not self.sources.get(rule)]
        if missing:
            raise ValueError(f"rules {self.version}: no legal source for {', '.join(missing)}")
        if any(v <= 0 for v in self.smlmv_cop.values()):
            raise ValueError("SMLMV values must be positive")
        return self

    def small_debt_threshold(self, year: int) -> Decimal | None:
        """Largest balance (COP) that counts as a small debt in `year`; None if SMLMV unknown."""
        smlmv = self.smlmv_cop.get(year)
        return None if smlmv is None else _CONTEXT.multiply(self.small_debt_fraction, smlmv)


class BureauDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    # For "defer": the first instant (Bogota midnight) the report may be made.
    not_before: AwareDatetime | None = None
    rule: str
    source: str
    reason: str

    @model_validator(mode="after")
    def _not_before_iff_defer(self) -> BureauDecision:
        if (self.verdict == "defer") != (self.not_before is not None):
            raise ValueError("not_before is required for defer and only for defer")
        return self

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


@cache
def load_bureau_rules(version: str | None = None) -> BureauRules:
    """Load a bureau rules version from the bundled TOML (the current one by default)."""
    file_name = "bureau_rules.toml"
    return BureauRules.model_validate(
        select_version(read_rules_toml(file_name), version, file_name)
    )


def format_cop(amount: Decimal | int) -> str:
    """Colombian style: 'COP 262.635,75' (cents shown only when there are any)."""
    value = Decimal(amount)
    whole = value == value.to_integral_value(context=_CONTEXT)
    text = f"{value.quantize(Decimal(1) if whole else Decimal('0.01'), context=_CONTEXT):,}"
    return "COP " + text.replace(",", "_").replace(".", ",").replace("_", ".")


def format_percent(fraction: Decimal) -> str:
    """Colombian style: Decimal('0.2502') -> '25,02 %', Decimal('0.15') -> '15 %'."""
    percent = _CONTEXT.multiply(fraction, Decimal(100)).quantize(Decimal("0.01"), context=_CONTEXT)
    text = f"{percent:f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + " %"


def _days_left(days: int) -> str:
    return "falta 1 día" if days == 1 else f"faltan {days} días"


def add_months(d: date, months: int) -> date:
    """`d` plus whole months, clamped to the last day of a shorter month."""
    year, month_index = divmod(d.month - 1 + months, 12)
    year += d.year
    last = _stdlib_calendar.monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, min(d.day, last))


def decide_bureau_report(
    now: datetime,
    notices: Sequence[datetime],
    balance_cop: int,
    authorization_on_file: bool,
    paid_in_full: bool,
    rules: BureauRules,
    *,
    arrears_since: date | None = None,
) -> BureauDecision:
    """Allow, defer (until the notice period ends) or refuse a negative report at `now`.

    `notices` are the prior notices sent to this person (debtor or each co-debtor individually);
    notices dated after `now` are ignored. `arrears_since` enables the 18-month deadline check.
    """

    def decide(
        verdict: Verdict, rule: str, reason: str, nb: datetime | None = None
    ) -> BureauDecision:
        return BureauDecision(
            verdict=verdict, not_before=nb, rule=rule, source=rules.sources[rule], reason=reason
        )

    local_now = to_bogota(now)
    today = local_now.date()
    if paid_in_full:
        return decide(
            "refuse",
            "ley1266.paid",
            "La obligación fue pagada en su totalidad: no se reporta (y un reporte ya hecho sin "
            "aviso previo se retira de inmediato).",
        )
    if balance_cop <= 0:
        return decide(
            "refuse", "ley1266.no_debt", "No hay saldo en mora que reportar ni deuda que probar."
        )
    if not authorization_on_file:
        return decide(
            "refuse",
            "ley1266.authorization",
            "No hay autorización previa y expresa del titular para el reporte negativo.",
        )
    threshold = rules.small_debt_threshold(today.year)
    if threshold is None:
        return decide(
            "refuse",
            "ley1266.smlmv",
            f"No hay salario mínimo (SMLMV) cargado para {today.year}: no se puede saber si la "
            "deuda es de menor cuantía; no se reporta hasta actualizar la tabla.",
        )
    deadline: date | None = None
    if arrears_since is not None and rules.report_deadline_months is not None:
        deadline = add_months(arrears_since, rules.report_deadline_months)
        if today > deadline:
            return decide(
                "refuse",
                "ley1266.report_deadline",
                f"Pasaron más de {rules.report_deadline_months} meses desde el inicio de la mora "
                f"({arrears_since.isoformat()}); el plazo para reportar venció el "
                f"{deadline.isoformat()}.",
            )

    sent = sorted({to_bogota(n).date() for n in notices if to_bogota(n) <= local_now})
    if not sent:
        return decide(
            "refuse",
            "ley1266.art12.notice",
            f"No hay aviso previo al titular: primero se envía el aviso y el reporte solo procede "
            f"{rules.notice_days} días calendario después.",
        )
    small = Decimal(balance_cop) <= threshold
    if small and len(sent) < rules.small_debt_min_notices:
        return decide(
            "refuse",
            "ley1266.art12.small_debt",
            f"El saldo de {format_cop(balance_cop)} no supera el "
            f"{format_percent(rules.small_debt_fraction)} de un SMLMV de {today.year} "
            f"({format_cop(threshold)}): se requieren al menos {rules.small_debt_min_notices} "
            f"avisos en días diferentes y hay {len(sent)}.",
        )
    reference = sent[-1] if small or rules.notice_reference == "last" else sent[0]
    earliest = reference + timedelta(days=rules.notice_days)
    if deadline is not None and earliest > deadline:
        return decide(
            "refuse",
            "ley1266.report_deadline",
            f"El reporte solo procedería desde el {earliest.isoformat()}, después del plazo de "
            f"{rules.report_deadline_months} meses desde el inicio de la mora "
            f"({deadline.isoformat()}).",
        )
    if today < earliest:
        return decide(
            "defer",
            "ley1266.art12.notice_period",
            f"El aviso del {format_date(reference)} exige esperar {rules.notice_days} días "
            f"calendario: el reporte procede desde el {format_date(earliest)} "
            f"({_days_left((earliest - today).days)}).",
            day_start(earliest),
        )
    return decide(
        "allow",
        "ley1266.allowed",
        f"Reporte negativo permitido: autorización en archivo y {rules.notice_days} días "
        f"calendario cumplidos desde el aviso del {format_date(reference)}"
        + (f" (deuda de menor cuantía, {len(sent)} avisos en días diferentes)." if small else "."),
    )
