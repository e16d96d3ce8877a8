"""Ley 2300 de 2023 contact decisions, from the examples of REGULATION.md section 1."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from pydantic import ValidationError

from cobranza.compliance import (
    ComplianceError,
    ContactAttempt,
    ContactDecision,
    ContactRequest,
    ContactRules,
    HoldReason,
    ProductType,
    RequestedHours,
    channel_of_week,
    contacts_on_day,
    decide_contact,
    holiday_name,
    load_contact_rules,
    plan_contact,
)
from cobranza.domain import BOGOTA, Channel, MessagePurpose, RecipientRole

RULES = load_contact_rules()
ALL_BUT_VISIT = frozenset(set(Channel) - {Channel.VISIT})


def bog(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BOGOTA)


def req(at: datetime, channel: Channel = Channel.SMS, **kw: Any) -> ContactRequest:
    kw.setdefault("authorized_channels", ALL_BUT_VISIT)
    return ContactRequest(at=at, channel=channel, **kw)


def sent(at: datetime, channel: Channel = Channel.SMS, **kw: Any) -> ContactAttempt:
    return ContactAttempt(at=at, channel=channel, **kw)


def decide(
    request: ContactRequest,
    history: Sequence[ContactAttempt] = (),
    rules: ContactRules = RULES,
) -> ContactDecision:
    decision = decide_contact(request, history, rules)
    if decision.verdict == "defer":
        # Every deferral lands on an instant that itself passes all the rules.
        assert decision.not_before is not None and decision.not_before > request.at
        assert decision.not_before.tzinfo == BOGOTA
        again = decide_contact(
            request.model_copy(update={"at": decision.not_before}), history, rules
        )
        assert again.verdict == "allow", again
    assert decision.source == rules.sources[decision.rule]
    return decision


# --- REGULATION.md examples -------------------------------------------------------------------


def test_sunday_before_holiday_monday_goes_to_tuesday_0700() -> None:
    d = decide(req(bog(2026, 7, 12, 10)))
    assert d.verdict == "defer"
    assert d.not_before == bog(2026, 7, 14, 7)
    assert d.rule == "ley2300.art3.window"
    assert d.source == "Ley 2300 de 2023, Art. 3"
    assert "domingo" in d.reason
    assert "lunes 2026-07-13" in d.reason and "Chiquinquirá" in d.reason


def test_saturday_after_window_goes_to_tuesday_naming_the_monday_holiday() -> None:
    d = decide(req(bog(2026, 7, 11, 15, 10)))
    assert (d.verdict, d.not_before, d.rule) == (
        "defer",
        bog(2026, 7, 14, 7),
        "ley2300.art3.window",
    )
    monday_holiday = holiday_name(date(2026, 7, 13))
    assert monday_holiday is not None and monday_holiday in d.reason
    assert "martes 2026-07-14 07:00" in d.reason


def test_friday_1900_goes_to_saturday_0800() -> None:
    d = decide(req(bog(2026, 7, 10, 19)))
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 7, 11, 8))
    assert "la hora final no está incluida" in d.reason


def test_saturday_1500_goes_to_monday_0700() -> None:
    assert holiday_name(date(2026, 3, 9)) is None
    d = decide(req(bog(2026, 3, 7, 15)))
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 9, 7))


def test_sms_at_0900_then_call_at_1600_defers_the_call_to_the_next_allowed_day() -> None:
    history = [sent(bog(2026, 3, 3, 9), Channel.SMS)]  # Tuesday
    call = req(bog(2026, 3, 3, 16), Channel.CALL)
    # The daily cap alone: next day's first window.
    daily_only = RULES.model_copy(update={"one_channel_per_week": False})
    d = decide(call, history, daily_only)
    assert (d.verdict, d.not_before, d.rule) == (
        "defer",
        bog(2026, 3, 4, 7),
        "ley2300.art3.daily_cap",
    )
    # With every rule on, the next day on which a call is allowed is the next week's Monday.
    d = decide(call, history)
    assert (d.verdict, d.not_before, d.rule) == (
        "defer",
        bog(2026, 3, 9, 7),
        "ley2300.art3.daily_cap",
    )
    assert "máximo es 1 por día" in d.reason and "llamada" in d.reason
    # As an SMS (the week's channel) it goes the next day.
    d = decide(req(bog(2026, 3, 3, 16), Channel.SMS), history)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 4, 7))


def test_saturday_sms_then_call_goes_monday() -> None:
    history = [sent(bog(2026, 3, 7, 9), Channel.SMS)]
    d = decide(req(bog(2026, 3, 7, 14), Channel.CALL), history)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 9, 7))


def test_sms_monday_then_email_wednesday_waits_for_next_week() -> None:
    history = [sent(bog(2026, 3, 2, 10), Channel.SMS)]
    email = req(bog(2026, 3, 4, 10), Channel.EMAIL)
    d = decide(email, history)
    assert (d.verdict, d.not_before, d.rule) == (
        "defer",
        bog(2026, 3, 9, 7),
        "ley2300.art3.weekly_channel",
    )
    assert "SMS" in d.reason and "correo electrónico" in d.reason
    # ... or goes as SMS, the week's channel.
    assert channel_of_week(history, email.at, RULES) == Channel.SMS
    assert decide(req(bog(2026, 3, 4, 10), Channel.SMS), history).verdict == "allow"


def test_weekly_deferral_skips_a_holiday_monday() -> None:
    history = [sent(bog(2026, 3, 16, 10), Channel.SMS)]  # Monday 2026-03-23 is San José
    d = decide(req(bog(2026, 3, 18, 10), Channel.EMAIL), history)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 24, 7))
    assert "San José" in d.reason


def test_unauthorized_channel_is_refused() -> None:
    d = decide(req(bog(2026, 3, 3, 10), Channel.SMS, authorized_channels={Channel.EMAIL}))
    assert (d.verdict, d.rule, d.not_before) == ("refuse", "ley2300.art2.authorized_channel", None)
    assert d.source == "Ley 2300 de 2023, Art. 2"
    assert "nunca se envía" in d.reason


def test_unauthorized_channel_is_refused_even_for_exempt_purposes() -> None:
    for purpose in RULES.exempt_purposes:
        d = decide(
            req(
                bog(2026, 3, 3, 10),
                Channel.WHATSAPP,
                purpose=purpose,
                authorized_channels={Channel.SMS},
            )
        )
        assert (d.verdict, d.rule) == ("refuse", "ley2300.art2.authorized_channel")


def test_no_authorized_channel_at_all_is_refused() -> None:
    d = decide(req(bog(2026, 3, 3, 10), Channel.SMS, authorized_channels=frozenset()))
    assert d.rule == "ley2300.art2.authorized_channel"


@pytest.mark.parametrize(
    "role",
    [
        RecipientRole.REFERENCE,
        RecipientRole.EMPLOYER,
        RecipientRole.FAMILY,
        RecipientRole.THIRD_PARTY,
    ],
)
def test_third_party_recipients_are_refused(role: RecipientRole) -> None:
    d = decide(req(bog(2026, 3, 3, 10), recipient_role=role))
    assert (d.verdict, d.rule) == ("refuse", "ley2300.art4.recipient")
    assert d.source == "Ley 2300 de 2023, Art. 4"


@pytest.mark.parametrize(
    "role", [RecipientRole.DEBTOR, RecipientRole.CO_DEBTOR, RecipientRole.GUARANTOR]
)
def test_debtor_co_debtor_and_guarantor_follow_the_debtor_rules(role: RecipientRole) -> None:
    assert decide(req(bog(2026, 3, 3, 10), recipient_role=role)).verdict == "allow"
    assert decide(req(bog(2026, 3, 3, 20), recipient_role=role)).verdict == "defer"


# --- order of the checks ----------------------------------------------------------------------


def test_hold_refuses_first() -> None:
    d = decide(
        req(
            bog(2026, 3, 3, 10),
            on_hold=True,
            hold_reason=HoldReason.DISPUTE,
            recipient_role=RecipientRole.EMPLOYER,
            authorized_channels=frozenset(),
        )
    )
    assert (d.verdict, d.rule) == ("refuse", "hold.dispute")
    assert "reclamo" in d.reason


def test_hold_without_reason_and_reason_without_flag_both_hold() -> None:
    assert decide(req(bog(2026, 3, 3, 10), on_hold=True)).rule == "hold.other"
    d = decide(req(bog(2026, 3, 3, 10), hold_reason=HoldReason.CONSENT_WITHDRAWN))
    assert (d.verdict, d.rule) == ("refuse", "hold.consent_withdrawn")


def test_recipient_checked_before_channel() -> None:
    d = decide(
        req(
            bog(2026, 3, 3, 10),
            recipient_role=RecipientRole.REFERENCE,
            authorized_channels=frozenset(),
        )
    )
    assert d.rule == "ley2300.art4.recipient"


def test_refusals_win_over_deferrals() -> None:
    # Sunday and unauthorized: refused, not deferred.
    d = decide(req(bog(2026, 7, 12, 10), Channel.CALL, authorized_channels={Channel.SMS}))
    assert d.verdict == "refuse"


# --- visits (Art. 6) --------------------------------------------------------------------------


def visit(product: ProductType | None, authorized: bool, channels: frozenset[Channel]) -> Any:
    return req(
        bog(2026, 3, 3, 10),
        Channel.VISIT,
        product_type=product,
        visit_authorized=authorized,
        authorized_channels=channels,
    )


WITH_VISIT = ALL_BUT_VISIT | {Channel.VISIT}


@pytest.mark.parametrize(
    "product", [ProductType.MICROCREDIT, ProductType.DEVELOPMENT, ProductType.AGRICULTURAL]
)
def test_visit_allowed_for_microcredit_development_agricultural_with_authorization(
    product: ProductType,
) -> None:
    assert decide(visit(product, True, WITH_VISIT)).verdict == "allow"
    d = decide(visit(product, False, WITH_VISIT))
    assert (d.verdict, d.rule) == ("refuse", "ley2300.art6.visit")
    assert "autorización expresa" in d.reason


@pytest.mark.parametrize(
    "product", [ProductType.CONSUMER, ProductType.HOUSING, ProductType.CREDIT_CARD, None]
)
def test_visit_refused_for_other_products(product: ProductType | None) -> None:
    d = decide(visit(product, True, WITH_VISIT))
    assert (d.verdict, d.rule) == ("refuse", "ley2300.art6.visit")


def test_visit_also_needs_the_channel_authorization() -> None:
    d = decide(visit(ProductType.MICROCREDIT, True, ALL_BUT_VISIT))
    assert d.rule == "ley2300.art2.authorized_channel"


# --- exempt purposes (Art. 8) -----------------------------------------------------------------


def test_exempt_purposes_skip_the_caps() -> None:
    history = [sent(bog(2026, 3, 3, 9), Channel.SMS)]
    for purpose in RULES.exempt_purposes:
        d = decide(req(bog(2026, 3, 3, 16), Channel.EMAIL, purpose=purpose), history)
        assert (d.verdict, d.rule) == ("allow", "ley2300.art8.exempt")
        assert d.source == "Ley 2300 de 2023, Art. 8"


def test_exempt_purposes_still_respect_the_window_by_default() -> None:
    fraud_at_night = req(bog(2026, 3, 3, 23), purpose=MessagePurpose.FRAUD_ALERT)
    d = decide(fraud_at_night)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 4, 7))
    lifted = RULES.model_copy(
        update={"window_exempt_purposes": frozenset({MessagePurpose.FRAUD_ALERT})}
    )
    assert decide(fraud_at_night, rules=lifted).verdict == "allow"


def test_exempt_messages_count_toward_later_collection_caps_by_default() -> None:
    history = [sent(bog(2026, 3, 2, 9), Channel.SMS, purpose=MessagePurpose.FRAUD_ALERT)]
    email = req(bog(2026, 3, 3, 10), Channel.EMAIL)
    assert decide(email, history).rule == "ley2300.art3.weekly_channel"
    same_day = req(bog(2026, 3, 2, 15), Channel.SMS)
    assert decide(same_day, history).rule == "ley2300.art3.daily_cap"
    lenient = RULES.model_copy(update={"count_exempt_in_caps": False})
    assert decide(email, history, lenient).verdict == "allow"
    assert decide(same_day, history, lenient).verdict == "allow"


# --- settings ---------------------------------------------------------------------------------


def test_count_mode_two_way_only() -> None:
    two_way = RULES.model_copy(update={"count_mode": "two_way_only"})
    unanswered = [sent(bog(2026, 3, 3, 9), Channel.SMS, two_way=False)]
    answered = [sent(bog(2026, 3, 3, 9), Channel.SMS, two_way=True)]
    call = req(bog(2026, 3, 3, 16), Channel.CALL)
    assert decide(call, unanswered, two_way).verdict == "allow"
    assert decide(call, answered, two_way).verdict == "defer"
    # Default: every attempt counts.
    assert decide(call, unanswered).verdict == "defer"
    assert contacts_on_day(unanswered, date(2026, 3, 3), RULES) == 1
    assert contacts_on_day(unanswered, date(2026, 3, 3), two_way) == 0


def test_max_contacts_per_day_setting() -> None:
    two = RULES.model_copy(update={"max_contacts_per_day": 2})
    history = [sent(bog(2026, 3, 3, 9))]
    assert decide(req(bog(2026, 3, 3, 12)), history, two).verdict == "allow"
    history.append(sent(bog(2026, 3, 3, 12)))
    d = decide(req(bog(2026, 3, 3, 15)), history, two)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 4, 7))


def test_week_start_setting_changes_the_week() -> None:
    history = [sent(bog(2026, 3, 6, 10), Channel.SMS)]  # Friday
    saturday_email = req(bog(2026, 3, 7, 10), Channel.EMAIL)
    d = decide(saturday_email, history)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 9, 7))
    saturday_weeks = RULES.model_copy(update={"week_start": "saturday"})
    assert decide(saturday_email, history, saturday_weeks).verdict == "allow"


def test_one_channel_per_week_can_be_switched_off() -> None:
    history = [sent(bog(2026, 3, 2, 10), Channel.SMS)]
    off = RULES.model_copy(update={"one_channel_per_week": False})
    assert decide(req(bog(2026, 3, 4, 10), Channel.EMAIL), history, off).verdict == "allow"


# --- debtor-requested hours (Art. 3) ----------------------------------------------------------

EVENINGS = RequestedHours(
    requested_on=date(2026, 2, 10),
    weekdays=frozenset({0, 1, 2, 3, 4}),
    start=time(19, 0),
    end=time(21, 0),
    reference="doc-123",
)


def test_requested_hours_lift_the_window() -> None:
    evening = req(bog(2026, 3, 3, 20), requested_hours=(EVENINGS,))
    d = decide(evening)
    assert (d.verdict, d.rule) == ("allow", "ley2300.art3.requested_hours")
    assert "2026-02-10" in d.reason
    # Without the request: deferred to the next morning.
    assert decide(req(bog(2026, 3, 3, 20))).not_before == bog(2026, 3, 4, 7)
    # Outside the requested hours too: next window (the next morning).
    late = decide(req(bog(2026, 3, 3, 21, 30), requested_hours=(EVENINGS,)))
    assert late.not_before == bog(2026, 3, 4, 7)
    # Saturday is not in the request.
    sat = decide(req(bog(2026, 3, 7, 16), requested_hours=(EVENINGS,)))
    assert sat.not_before == bog(2026, 3, 9, 7)


def test_requested_hours_never_lift_the_caps() -> None:
    history = [sent(bog(2026, 3, 3, 9))]
    d = decide(req(bog(2026, 3, 3, 20), requested_hours=(EVENINGS,)), history)
    assert (d.verdict, d.rule, d.not_before) == (
        "defer",
        "ley2300.art3.daily_cap",
        bog(2026, 3, 4, 7),
    )


def test_requested_hours_must_postdate_the_contract() -> None:
    signed_same_day = req(
        bog(2026, 3, 3, 20), requested_hours=(EVENINGS,), contract_signed_on=date(2026, 2, 10)
    )
    assert decide(signed_same_day).verdict == "defer"
    signed_before = req(
        bog(2026, 3, 3, 20), requested_hours=(EVENINGS,), contract_signed_on=date(2026, 2, 9)
    )
    assert decide(signed_before).verdict == "allow"


def test_deferral_can_land_inside_requested_hours() -> None:
    # Before 07:00 with a 06:00-07:00 request -> allowed; at 05:00 -> deferred to 06:00.
    early = RequestedHours(
        requested_on=date(2026, 1, 1), weekdays=frozenset({1}), start=time(6), end=time(7)
    )
    d = decide(req(bog(2026, 3, 3, 5), requested_hours=(early,)))
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 3, 6))


# --- fixed point, determinism, serialization --------------------------------------------------


def test_deferral_chains_cap_week_and_holiday_to_a_fixed_point() -> None:
    history = [sent(bog(2026, 7, 10, 9), Channel.SMS)]  # Friday before the holiday Monday
    d = decide(req(bog(2026, 7, 10, 16), Channel.EMAIL), history)
    assert (d.verdict, d.rule, d.not_before) == (
        "defer",
        "ley2300.art3.daily_cap",
        bog(2026, 7, 14, 7),
    )
    # Both rules explained, and the skipped holiday named.
    assert "por día" in d.reason and "semana" in d.reason and "Chiquinquirá" in d.reason


def test_deferral_skips_days_already_used_in_a_planned_history() -> None:
    # Attempts already logged for the next days (e.g. a replayed plan): the deferral jumps past.
    history = [sent(bog(2026, 3, 3, 9)), sent(bog(2026, 3, 4, 9)), sent(bog(2026, 3, 5, 9))]
    d = decide(req(bog(2026, 3, 3, 10)), history)
    assert d.not_before == bog(2026, 3, 6, 7)


def test_decisions_are_deterministic_and_survive_a_rules_round_trip() -> None:
    history = [sent(bog(2026, 3, 2, 10), Channel.SMS)]
    request = req(bog(2026, 3, 4, 10), Channel.EMAIL)
    first = decide_contact(request, history, RULES)
    restored = ContactRules.model_validate_json(RULES.model_dump_json())
    assert restored == RULES
    assert decide_contact(request, history, restored) == first
    assert decide_contact(request, list(history), RULES) == first
    # Requests and decisions round-trip too (they go into the workflow history).
    assert ContactRequest.model_validate_json(request.model_dump_json()) == request
    assert ContactDecision.model_validate_json(first.model_dump_json()) == first


def test_rules_serialization_is_stable() -> None:
    dumped = RULES.model_dump(mode="json")
    assert dumped["allowed_recipient_roles"] == ["co_debtor", "debtor", "guarantor"]
    assert dumped["exempt_purposes"] == sorted(dumped["exempt_purposes"])
    assert dumped["weekday_window"] == {"start": "07:00:00", "end": "19:00:00"}


def test_loaded_defaults() -> None:
    assert RULES.version == "2026.1"
    assert load_contact_rules("2026.1") == RULES
    assert RULES.max_contacts_per_day == 1
    assert RULES.one_channel_per_week and RULES.window_end_exclusive
    assert RULES.week_start == "monday" and RULES.count_mode == "every_attempt"
    assert RULES.saturday_window.start == time(8) and RULES.saturday_window.end == time(15)
    assert RULES.source("ley2300.art6.visit") == "Ley 2300 de 2023, Art. 6"
    with pytest.raises(ComplianceError):
        load_contact_rules("1999.1")


def test_rules_validation() -> None:
    data = RULES.model_dump()
    with pytest.raises(ValidationError):
        ContactRules.model_validate({**data, "sources": {}})
    with pytest.raises(ValidationError):
        ContactRules.model_validate({**data, "exempt_purposes": ["collection"]})
    with pytest.raises(ValidationError):
        ContactRules.model_validate(
            {
                **data,
                "exempt_purposes": ["fraud_alert"],
                "window_exempt_purposes": ["fraud_alert", "requested_information"],
            }
        )
    with pytest.raises(ValidationError):
        ContactRules.model_validate({**data, "sunday_closed": False})


def test_models_refuse_naive_datetimes_and_normalize_to_bogota() -> None:
    with pytest.raises(ValidationError):
        ContactRequest(
            at=datetime(2026, 3, 3, 10), channel=Channel.SMS, authorized_channels=ALL_BUT_VISIT
        )
    with pytest.raises(ValidationError):
        ContactAttempt(at=datetime(2026, 3, 3, 10), channel=Channel.SMS)
    attempt = sent(datetime(2026, 3, 3, 15, tzinfo=UTC))
    assert attempt.at == bog(2026, 3, 3, 10) and attempt.at.tzinfo == BOGOTA
    with pytest.raises(ValidationError):
        ContactDecision(verdict="defer", rule="x", source="y", reason="z")


def test_utc_history_counts_on_the_bogota_day() -> None:
    # 2026-03-04 03:00 UTC is 2026-03-03 22:00 in Bogota: same Bogota day as the request.
    history = [sent(datetime(2026, 3, 4, 3, 0, tzinfo=UTC))]
    d = decide(req(bog(2026, 3, 3, 10)), history)
    assert d.rule == "ley2300.art3.daily_cap"


def test_plan_contact() -> None:
    assert plan_contact(req(bog(2026, 3, 3, 10)), [], RULES) == bog(2026, 3, 3, 10)
    assert plan_contact(req(bog(2026, 7, 12, 10)), [], RULES) == bog(2026, 7, 14, 7)
    refused = req(bog(2026, 3, 3, 10), recipient_role=RecipientRole.EMPLOYER)
    assert plan_contact(refused, [], RULES) is None


def test_allowed_reason_is_spanish_and_names_the_channel() -> None:
    d = decide(req(bog(2026, 3, 3, 10), Channel.WHATSAPP))
    assert (d.verdict, d.rule) == ("allow", "ley2300.allowed")
    assert "WhatsApp" in d.reason and "martes 2026-03-03 10:00" in d.reason
