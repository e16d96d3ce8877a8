"""Contact rules of Ley 2300 de 2023 as versioned, serializable data.

The defaults live in the bundled `cobranza/rules/contact_rules.toml`. A workflow stores the loaded
`ContactRules` in its snapshot, so publishing a new rules version for new accounts never changes a
decision replayed from an existing history.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import time
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from cobranza.domain import Channel, MessagePurpose, RecipientRole

Verdict = Literal["allow", "defer", "refuse"]
WeekdayName = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CountMode = Literal["every_attempt", "two_way_only"]

WEEKDAY_NAMES: tuple[WeekdayName, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class ComplianceError(Exception):
    """A rules file or a rules model is unusable (unknown version, no possible window...)."""


class ProductType(StrEnum):
    """Credit product, as far as the rules care (Ley 2300 Art. 6 visits, housing fees)."""

    CONSUMER = "consumer"
    CREDIT_CARD = "credit_card"
    VEHICLE = "vehicle"
    COMMERCIAL = "commercial"
    HOUSING = "housing"
    MICROCREDIT = "microcredit"
    DEVELOPMENT = "development"  # crédito de fomento
    AGRICULTURAL = "agricultural"


PRODUCT_LABELS: dict[ProductType, str] = {
    ProductType.CONSUMER: "consumo",
    ProductType.CREDIT_CARD: "tarjeta de crédito",
    ProductType.VEHICLE: "vehículo",
    ProductType.COMMERCIAL: "comercial",
    ProductType.HOUSING: "vivienda",
    ProductType.MICROCREDIT: "microcrédito",
    ProductType.DEVELOPMENT: "fomento",
    ProductType.AGRICULTURAL: "agropecuario",
}


# Portfolio product codes (Spanish, as loaded from the lender's file) -> product type.
PRODUCT_CODES: dict[str, ProductType] = {
    "tarjeta_credito": ProductType.CREDIT_CARD,
    "libre_inversion": ProductType.CONSUMER,
    "libranza": ProductType.CONSUMER,
    "credito_rotativo": ProductType.CONSUMER,
    "consumo": ProductType.CONSUMER,
    "vehiculo": ProductType.VEHICLE,
    "capital_de_trabajo": ProductType.COMMERCIAL,
    "comercial": ProductType.COMMERCIAL,
    "hipotecario": ProductType.HOUSING,
    "vivienda": ProductType.HOUSING,
    "leasing_habitacional": ProductType.HOUSING,
    "microcredito": ProductType.MICROCREDIT,
    "fomento": ProductType.DEVELOPMENT,
    "agropecuario": ProductType.AGRICULTURAL,
}


def product_type_from_code(code: str) -> ProductType | None:
    """Product type of a portfolio product code ('hipotecario', 'microcredito' or an enum value).

    None for an unknown code: callers must then take the strictest path (no visits, no fees).
    """
    key = code.strip().lower()
    if key in PRODUCT_CODES:
        return PRODUCT_CODES[key]
    try:
        return ProductType(key)
    except ValueError:
        return None


def _sorted_list(values: Iterable[StrEnum]) -> list[str]:
    # frozenset iteration order depends on the hash seed; sort so snapshots are byte-stable.
    return sorted(str(v) for v in values)


ChannelSet = Annotated[frozenset[Channel], PlainSerializer(_sorted_list, return_type=list[str])]
RoleSet = Annotated[frozenset[RecipientRole], PlainSerializer(_sorted_list, return_type=list[str])]
PurposeSet = Annotated[
    frozenset[MessagePurpose], PlainSerializer(_sorted_list, return_type=list[str])
]
ProductSet = Annotated[frozenset[ProductType], PlainSerializer(_sorted_list, return_type=list[str])]


class TimeRange(BaseModel):
    """A daily time range in Bogota local time; whether `end` is included is a rules setting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("TimeRange times are Bogota local times, without tzinfo")
        if not self.start < self.end:
            raise ValueError(f"TimeRange start {self.start} must be before end {self.end}")
        return self


# Every rule id a decision can carry; each one must have a legal source in the rules data.
CONTACT_RULE_IDS: tuple[str, ...] = (
    "hold.dispute",
    "hold.paused",
    "hold.consent_withdrawn",
    "hold.other",
    "ley2300.art2.authorized_channel",
    "ley2300.art3.window",
    "ley2300.art3.daily_cap",
    "ley2300.art3.weekly_channel",
    "ley2300.art3.requested_hours",
    "ley2300.art4.recipient",
    "ley2300.art6.visit",
    "ley2300.art8.exempt",
    "ley2300.allowed",
)


class ContactRules(BaseModel):
    """Parameters of the contact rules (Ley 2300 de 2023); defaults are the conservative ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    weekday_window: TimeRange = TimeRange(start=time(7, 0), end=time(19, 0))
    saturday_window: TimeRange = TimeRange(start=time(8, 0), end=time(15, 0))
    # The law never allows Sundays or holidays; kept explicit so a snapshot documents it.
    sunday_closed: Literal[True] = True
    holidays_closed: Literal[True] = True
    max_contacts_per_day: int = Field(default=1, ge=1)
    one_channel_per_week: bool = True
    week_start: WeekdayName = "monday"
    # Conservative: a contact at exactly 19:00:00 is outside the Mon-Fri window.
    window_end_exclusive: bool = True
    count_mode: CountMode = "every_attempt"
    # Conservative: an exempt message (fraud alert...) still uses up the day and sets the week's
    # channel for later collection contacts; it is itself never held back by the caps.
    count_exempt_in_caps: bool = True
    allowed_recipient_roles: RoleSet = frozenset(
        {RecipientRole.DEBTOR, RecipientRole.CO_DEBTOR, RecipientRole.GUARANTOR}
    )
    visit_product_types: ProductSet = frozenset(
        {ProductType.MICROCREDIT, ProductType.DEVELOPMENT, ProductType.AGRICULTURAL}
    )
    exempt_purposes: PurposeSet = frozenset(
        {
            MessagePurpose.OPERATION_CONFIRMATION,
            MessagePurpose.REQUESTED_INFORMATION,
            MessagePurpose.FRAUD_ALERT,
        }
    )
    # Art. 8 exempts these purposes from the caps only; by default the window still applies.
    window_exempt_purposes: PurposeSet = frozenset()
    sources: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> ContactRules:
        missing = [rule for rule in CONTACT_RULE_IDS if not self.sources.get(rule)]
        if missing:
            raise ValueError(f"rules {self.version}: no legal source for {', '.join(missing)}")
        if not self.window_exempt_purposes <= self.exempt_purposes:
            raise ValueError("window_exempt_purposes must be a subset of exempt_purposes")
        if MessagePurpose.COLLECTION in self.exempt_purposes:
            raise ValueError("collection messages can never be exempt from the caps")
        return self

    @property
    def week_start_index(self) -> int:
        """Python weekday number (Monday = 0) on which a contact week starts."""
        return WEEKDAY_NAMES.index(self.week_start)

    def source(self, rule: str) -> str:
        """The legal source of a rule id (validated to exist for every known id)."""
        return self.sources[rule]


def read_rules_toml(file_name: str) -> dict[str, Any]:
    """Parse one bundled rules file from `cobranza/rules/`."""
    path = resources.files("cobranza") / "rules" / file_name
    return tomllib.loads(path.read_text(encoding="utf-8"))


def select_version(data: dict[str, Any], version: str | None, file_name: str) -> dict[str, Any]:
    """Pick one `[versions."X"]` table (the file's `current` one when `version` is None)."""
    versions: dict[str, Any] = data.get("versions", {})
    chosen = version if version is not None else data.get("current")
    if not isinstance(chosen, str) or chosen not in versions:
        known = ", ".join(sorted(versions))
        raise ComplianceError(f"{file_name}: unknown rules version {chosen!r} (known: {known})")
    return {**versions[chosen], "version": chosen}


@cache
def load_contact_rules(version: str | None = None) -> ContactRules:
    """Load a contact rules version from the bundled TOML (the current one by default).

    Call it outside workflow code (starter or activity) and pass the model into the workflow.
    """
    file_name = "contact_rules.toml"
    return ContactRules.model_validate(
        select_version(read_rules_toml(file_name), version, file_name)
    )
