"""May we contact the debtor now, and if not, when? (Ley 2300 de 2023)

`decide_contact` is pure: the workflow passes `workflow.now()` as the request instant, the past
attempts to the same person and the rules snapshot, and gets the same decision on every replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from cobranza.compliance.calendar import (
    WEEKDAYS_ES,
    closed_day_reason,
    day_start,
    earliest_window_instant,
    format_date,
    format_instant,
    holiday_name,
    in_base_window,
    is_within_window,
    next_window_start,
    to_bogota,
    week_start_date,
    windows_for_day,
)
from cobranza.compliance.rules import (
    PRODUCT_LABELS,
    ChannelSet,
    ComplianceError,
    ContactRules,
    ProductType,
    TimeRange,
    Verdict,
)
from cobranza.domain import CHANNEL_LABELS, Channel, MessagePurpose, RecipientRole


class HoldReason(StrEnum):
    """Why the collection is held; a held account is never contacted until the hold ends."""

    DISPUTE = "dispute"
    PAUSED = "paused"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OTHER = "other"


HOLD_LABELS: dict[HoldReason, str] = {
    HoldReason.DISPUTE: "hay un reclamo o disputa del deudor en trámite",
    HoldReason.PAUSED: "la gestión está pausada",
    HoldReason.CONSENT_WITHDRAWN: "el deudor revocó su autorización de contacto",
    HoldReason.OTHER: "la gestión está suspendida",
}

ROLE_LABELS: dict[RecipientRole, str] = {
    RecipientRole.DEBTOR: "deudor",
    RecipientRole.CO_DEBTOR: "codeudor",
    RecipientRole.GUARANTOR: "avalista o deudor solidario",
    RecipientRole.REFERENCE: "referencia",
    RecipientRole.EMPLOYER: "empleador",
    RecipientRole.FAMILY: "familiar",
    RecipientRole.THIRD_PARTY: "tercero",
}

PURPOSE_LABELS: dict[MessagePurpose, str] = {
    MessagePurpose.COLLECTION: "cobranza",
    MessagePurpose.OPERATION_CONFIRMATION: "confirmación de una operación",
    MessagePurpose.REQUESTED_INFORMATION: "información solicitada por el deudor",
    MessagePurpose.FRAUD_ALERT: "alerta de fraude",
}

# How many closed days a deferral reason lists before it abbreviates.
_MAX_LISTED_CLOSED_DAYS = 8


def _bogota(value: datetime) -> datetime:
    return to_bogota(value)


def _sorted_ints(values: frozenset[int]) -> list[int]:
    return sorted(values)


class ContactAttempt(BaseModel):
    """A contact already placed (or attempted) to the same person, as the rules count it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    channel: Channel
    purpose: MessagePurpose = MessagePurpose.COLLECTION
    # Whether the debtor actually interacted (answered, replied); used by count_mode two_way_only.
    two_way: bool = False

    _normalize_at = field_validator("at")(_bogota)


class RequestedHours(TimeRange):
    """Other contact hours the debtor asked for (Ley 2300 Art. 3), as a dated record.

    It only adds hours on open days (never Sundays or holidays) and never lifts the caps.
    `weekdays` uses Python numbering: Monday = 0 ... Sunday = 6.
    """

    requested_on: date
    weekdays: Annotated[
        frozenset[Annotated[int, Field(ge=0, le=6)]],
        Field(min_length=1),
        PlainSerializer(_sorted_ints, return_type=list[int]),
    ]
    # Reference to the separate instrument (document id) that holds the request; never PII.
    reference: str = ""

    def applies_on(self, d: date) -> bool:
        return d >= self.requested_on and d.weekday() in self.weekdays


class ContactRequest(BaseModel):
    """One contact the strategy wants to make, with everything the rules need to judge it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    channel: Channel
    recipient_role: RecipientRole = RecipientRole.DEBTOR
    purpose: MessagePurpose = MessagePurpose.COLLECTION
    authorized_channels: ChannelSet
    requested_hours: tuple[RequestedHours, ...] = ()
    # A request for other hours counts only if made after the contract was signed (Art. 3).
    contract_signed_on: date | None = None
    on_hold: bool = False
    hold_reason: HoldReason | None = None
    product_type: ProductType | None = None
    visit_authorized: bool = False

    _normalize_at = field_validator("at")(_bogota)

    @property
    def held(self) -> bool:
        # A hold reason without the flag still holds: never contact on contradictory input.
        return self.on_hold or self.hold_reason is not None


class ContactDecision(BaseModel):
    """The verdict on one contact request, with the rule that decided it and why (Spanish)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    # For "defer": the earliest instant (Bogota time) at which the contact passes every rule.
    not_before: AwareDatetime | None = None
    rule: str
    source: str
    reason: str

    @model_validator(mode="after")
    def _not_before_iff_defer(self) -> ContactDecision:
        if (self.verdict == "defer") != (self.not_before is not None):
            raise ValueError("not_before is required for defer and only for defer")
        return self

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


def counts_toward_caps(attempt: ContactAttempt, rules: ContactRules) -> bool:
    """Whether a past attempt uses up the day and sets the week's channel."""
    if rules.count_mode == "two_way_only" and not attempt.two_way:
        return False
    return rules.count_exempt_in_caps or attempt.purpose not in rules.exempt_purposes


def _counted(history: Sequence[ContactAttempt], rules: ContactRules) -> list[ContactAttempt]:
    return sorted(
        (a for a in history if counts_toward_caps(a, rules)),
        key=lambda a: (a.at, str(a.channel)),
    )


def contacts_on_day(history: Sequence[ContactAttempt], d: date, rules: ContactRules) -> int:
    """Counted contacts on Bogota calendar day `d`."""
    return sum(1 for a in history if counts_toward_caps(a, rules) and to_bogota(a.at).date() == d)


def channel_of_week(
    history: Sequence[ContactAttempt], at: datetime, rules: ContactRules
) -> Channel | None:
    """The channel of the first counted contact in the week holding `at`, if any.

    A caller deferred by the weekly rule may switch to this channel instead of waiting.
    """
    week = week_start_date(to_bogota(at).date(), rules)
    for attempt in _counted(history, rules):
        if week_start_date(to_bogota(attempt.at).date(), rules) == week:
            return attempt.channel
    return None


def effective_requested_hours(request: ContactRequest) -> tuple[RequestedHours, ...]:
    """The debtor's other-hours requests that may lift the window for this request."""
    signed = request.contract_signed_on
    # Conservative: a request dated the same day as the contract may be part of it; ignore it.
    return tuple(rh for rh in request.requested_hours if signed is None or rh.requested_on > signed)


def _refuse(rules: ContactRules, rule: str, reason: str) -> ContactDecision:
    return ContactDecision(verdict="refuse", rule=rule, source=rules.source(rule), reason=reason)


def _count_es(n: int) -> str:
    return "1 contacto" if n == 1 else f"{n} contactos"


def _label(channel: Channel) -> str:
    return CHANNEL_LABELS[channel]


def _window_detail(at: datetime, rules: ContactRules, hours: Sequence[RequestedHours]) -> str:
    d = at.date()
    closed = closed_day_reason(d, rules)
    if closed is not None:
        why = closed
    else:
        ranges = ", ".join(
            f"{w.start.strftime('%H:%M')}-{w.end.strftime('%H:%M')}"
            for w in windows_for_day(d, rules, hours)
        )
        why = f"horario del {WEEKDAYS_ES[d.weekday()]}: {ranges}"
        if rules.window_end_exclusive and any(
            w.end == at for w in windows_for_day(d, rules, hours)
        ):
            why += "; la hora final no está incluida"
    return f"{format_instant(at)} está fuera del horario de contacto permitido ({why})."


def _violation(
    candidate: datetime,
    request: ContactRequest,
    counted: Sequence[ContactAttempt],
    rules: ContactRules,
    hours: Sequence[RequestedHours],
    check_window: bool,
    capped: bool,
) -> tuple[str, datetime, str] | None:
    """The first rule `candidate` breaks: (rule id, next instant worth trying, Spanish detail)."""
    if check_window and not is_within_window(candidate, rules, hours):
        return (
            "ley2300.art3.window",
            next_window_start(candidate, rules, hours),
            _window_detail(candidate, rules, hours),
        )
    if not capped:
        return None
    d = candidate.date()
    same_day = [a for a in counted if a.at.date() == d]
    if len(same_day) >= rules.max_contacts_per_day:
        used = ", ".join(sorted({_label(a.channel) for a in same_day}))
        return (
            "ley2300.art3.daily_cap",
            earliest_window_instant(day_start(d + timedelta(days=1)), rules, hours),
            f"Ya hubo {_count_es(len(same_day))} el {format_date(d)} ({used}); el máximo es "
            f"{rules.max_contacts_per_day} por día sumando todos los canales.",
        )
    if rules.one_channel_per_week:
        week = week_start_date(d, rules)
        week_channel = channel_of_week(counted, candidate, rules)
        if week_channel is not None and week_channel != request.channel:
            return (
                "ley2300.art3.weekly_channel",
                earliest_window_instant(day_start(week + timedelta(days=7)), rules, hours),
                f"En la semana que empieza el {format_date(week)} ya se contactó por "
                f"{_label(week_channel)}; esa semana solo se puede usar ese canal, no "
                f"{_label(request.channel)} (alternativa: enviar por {_label(week_channel)}).",
            )
    return None


def _closed_days_note(start: date, end: date, rules: ContactRules) -> str:
    """Spanish list of the Sundays and holidays skipped in [start, end)."""
    days: list[str] = []
    d = start
    while d < end:
        if closed_day_reason(d, rules) is not None:
            name = holiday_name(d)
            days.append(f"{format_date(d)}, festivo: {name}" if name else format_date(d))
        d += timedelta(days=1)
    if not days:
        return ""
    if len(days) > _MAX_LISTED_CLOSED_DAYS:
        days = [*days[:_MAX_LISTED_CLOSED_DAYS], f"y {len(days) - _MAX_LISTED_CLOSED_DAYS} más"]
    return " Días sin contacto en el intervalo: " + "; ".join(days) + "."


def decide_contact(
    request: ContactRequest, history: Sequence[ContactAttempt], rules: ContactRules
) -> ContactDecision:
    """Allow, defer (with the earliest instant passing every rule) or refuse one contact.

    Order: hold, recipient, visit, authorized channel (all refusals), then the window and, unless
    the purpose is exempt (Art. 8), the daily cap and the weekly channel (deferrals). A deferral
    is iterated to a fixed point, so `not_before` itself passes all the rules.
    `history` holds the past attempts to the same person (debtor, co-debtor or guarantor).
    """
    if request.held:
        hold = request.hold_reason or HoldReason.OTHER
        return _refuse(
            rules,
            f"hold.{hold}",
            f"No se contacta: {HOLD_LABELS[hold]}; se espera a que se resuelva.",
        )
    if request.recipient_role not in rules.allowed_recipient_roles:
        return _refuse(
            rules,
            "ley2300.art4.recipient",
            f"Destinatario no permitido ({ROLE_LABELS[request.recipient_role]}): la ley prohíbe "
            "contactar a referencias, familiares, empleador o cualquier tercero sobre la deuda; "
            "solo al deudor, codeudores y avalistas.",
        )
    if request.channel == Channel.VISIT:
        product = request.product_type
        if product not in rules.visit_product_types:
            label = PRODUCT_LABELS[product] if product is not None else "sin tipo de producto"
            return _refuse(
                rules,
                "ley2300.art6.visit",
                f"Visita no permitida para crédito de {label}: solo microcrédito, fomento o "
                "crédito agropecuario, con autorización expresa del deudor.",
            )
        if not request.visit_authorized:
            return _refuse(
                rules,
                "ley2300.art6.visit",
                f"Visita no permitida: el crédito de {PRODUCT_LABELS[product]} admite visitas "
                "solo con autorización expresa del deudor, y no hay registro de ella.",
            )
    if request.channel not in request.authorized_channels:
        return _refuse(
            rules,
            "ley2300.art2.authorized_channel",
            f"El canal {_label(request.channel)} no tiene registro de autorización del deudor: "
            "el contacto se rechaza y se registra, nunca se envía.",
        )

    exempt = request.purpose in rules.exempt_purposes
    check_window = request.purpose not in rules.window_exempt_purposes
    hours = effective_requested_hours(request)
    counted = [a.model_copy(update={"at": to_bogota(a.at)}) for a in _counted(history, rules)]
    start = to_bogota(request.at)

    candidate = start
    steps: list[tuple[str, str]] = []
    # Each step moves past a window, a used day or a used week: bounded by the history size.
    for _ in range(2 * len(counted) + 8):
        found = _violation(candidate, request, counted, rules, hours, check_window, not exempt)
        if found is None:
            break
        rule, next_candidate, detail = found
        if next_candidate <= candidate:
            raise ComplianceError(f"rule {rule} did not move {candidate} forward")
        if rule not in (s[0] for s in steps):
            steps.append((rule, detail))
        candidate = next_candidate
    else:
        raise ComplianceError(f"no allowed instant found for the contact due {start}")

    if steps:
        first_rule = steps[0][0]
        reason = (
            " ".join(detail for _, detail in steps)
            + f" Se aplaza al {format_instant(candidate)}."
            + _closed_days_note(start.date(), candidate.date(), rules)
        )
        return ContactDecision(
            verdict="defer",
            not_before=candidate,
            rule=first_rule,
            source=rules.source(first_rule),
            reason=reason,
        )

    channel = _label(request.channel)
    when = format_instant(start)
    if exempt:
        window_note = " y dentro del horario" if check_window else ""
        return ContactDecision(
            verdict="allow",
            rule="ley2300.art8.exempt",
            source=rules.source("ley2300.art8.exempt"),
            reason=f"Mensaje de {PURPOSE_LABELS[request.purpose]} por {channel} el {when}: "
            f"exento de los topes diarios y semanales, por canal autorizado{window_note}.",
        )
    if check_window and not in_base_window(start, rules):
        dates = sorted({rh.requested_on.isoformat() for rh in hours if rh.applies_on(start.date())})
        return ContactDecision(
            verdict="allow",
            rule="ley2300.art3.requested_hours",
            source=rules.source("ley2300.art3.requested_hours"),
            reason=f"Contacto permitido por {channel} el {when}: fuera del horario general pero "
            f"dentro del horario solicitado por el deudor ({', '.join(dates)}); sin otro "
            "contacto ese día y respetando el canal de la semana.",
        )
    return ContactDecision(
        verdict="allow",
        rule="ley2300.allowed",
        source=rules.source("ley2300.allowed"),
        reason=f"Contacto permitido por {channel} el {when}: destinatario y canal autorizados, "
        "dentro del horario, sin otro contacto ese día y respetando el canal de la semana.",
    )


def plan_contact(
    request: ContactRequest, history: Sequence[ContactAttempt], rules: ContactRules
) -> datetime | None:
    """The instant the contact may go (`request.at` or the deferral), or None when refused."""
    decision = decide_contact(request, history, rules)
    if decision.verdict == "allow":
        return to_bogota(request.at)
    return decision.not_before
