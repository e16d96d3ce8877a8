"""Property tests: whatever the strategy asks, no allowed contact ever breaks Ley 2300.

The invariants are checked with an independent re-implementation (the `holidays` package queried
directly, windows recomputed from the rules' raw numbers), not with the engine's own helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.compliance import (
    ContactAttempt,
    ContactRequest,
    ContactRules,
    RequestedHours,
    decide_bureau_report,
    decide_contact,
    load_bureau_rules,
    load_contact_rules,
)
from cobranza.domain import BOGOTA, Channel, MessagePurpose, RecipientRole

BASE = load_contact_rules()
RULE_VARIANTS: list[ContactRules] = [
    BASE,
    BASE.model_copy(update={"count_mode": "two_way_only"}),
    BASE.model_copy(update={"window_end_exclusive": False}),
    BASE.model_copy(update={"week_start": "sunday", "count_exempt_in_caps": False}),
    BASE.model_copy(update={"max_contacts_per_day": 2}),
    BASE.model_copy(update={"window_exempt_purposes": frozenset({MessagePurpose.FRAUD_ALERT})}),
]
CO_HOLIDAYS = holidays.country_holidays("CO", years=range(2025, 2031))
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MESSAGE_CHANNELS = [Channel.SMS, Channel.EMAIL, Channel.WHATSAPP, Channel.CALL, Channel.LETTER]


def open_interval(d: date, rules: ContactRules) -> tuple[time, time] | None:
    if d.weekday() == 6 or d in CO_HOLIDAYS:
        return None
    if d.weekday() == 5:
        return rules.saturday_window.start, rules.saturday_window.end
    return rules.weekday_window.start, rules.weekday_window.end


def independently_open(
    at: datetime, rules: ContactRules, requested: RequestedHours | None = None
) -> bool:
    local = at.astimezone(BOGOTA)
    d, t = local.date(), local.time()
    interval = open_interval(d, rules)
    if interval is None:
        return False  # debtor requests never open Sundays or holidays

    def inside(start: time, end: time) -> bool:
        return start <= t < end if rules.window_end_exclusive else start <= t <= end

    if inside(*interval):
        return True
    return (
        requested is not None
        and d >= requested.requested_on
        and d.weekday() in requested.weekdays
        and inside(requested.start, requested.end)
    )


def counts(attempt: ContactAttempt, rules: ContactRules) -> bool:
    if rules.count_mode == "two_way_only" and not attempt.two_way:
        return False
    return rules.count_exempt_in_caps or attempt.purpose not in rules.exempt_purposes


def week_of(at: datetime, rules: ContactRules) -> date:
    d = at.astimezone(BOGOTA).date()
    start_index = WEEKDAYS.index(rules.week_start)
    return d - timedelta(days=(d.weekday() - start_index) % 7)


@dataclass(frozen=True)
class Step:
    gap_minutes: int
    channel: Channel
    purpose: MessagePurpose
    held: bool
    role: RecipientRole
    two_way: bool


steps = st.builds(
    Step,
    gap_minutes=st.one_of(st.just(0), st.integers(1, 600), st.integers(600, 14 * 24 * 60)),
    channel=st.sampled_from([*MESSAGE_CHANNELS, Channel.VISIT]),
    purpose=st.one_of(
        st.just(MessagePurpose.COLLECTION),
        st.just(MessagePurpose.COLLECTION),
        st.sampled_from(list(MessagePurpose)),
    ),
    held=st.integers(0, 9).map(lambda n: n == 0),  # one request in ten is on hold
    role=st.one_of(
        st.just(RecipientRole.DEBTOR),
        st.just(RecipientRole.DEBTOR),
        st.sampled_from(list(RecipientRole)),
    ),
    two_way=st.booleans(),
)


@st.composite
def requested_hours(draw: st.DrawFn) -> RequestedHours | None:
    if draw(st.booleans()):
        return None
    a, b = sorted(draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=2, max_size=2, unique=True)))
    return RequestedHours(
        requested_on=draw(st.dates(date(2025, 6, 1), date(2027, 12, 31))),
        weekdays=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=time(a // 60, a % 60),
        end=time(b // 60, b % 60),
    )


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59)
).map(lambda naive: naive.replace(tzinfo=BOGOTA))


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    authorized=st.frozensets(st.sampled_from(MESSAGE_CHANNELS), min_size=1),
    plan=st.lists(steps, min_size=1, max_size=20),
    rules=st.sampled_from(RULE_VARIANTS),
    requested=requested_hours(),
)
def test_no_allowed_contact_ever_breaks_the_rules(
    start: datetime,
    authorized: frozenset[Channel],
    plan: list[Step],
    rules: ContactRules,
    requested: RequestedHours | None,
) -> None:
    now = start
    history: list[ContactAttempt] = []
    for step in plan:
        now = now + timedelta(minutes=step.gap_minutes)
        request = ContactRequest(
            at=now,
            channel=step.channel,
            recipient_role=step.role,
            purpose=step.purpose,
            authorized_channels=authorized,
            on_hold=step.held,
            requested_hours=() if requested is None else (requested,),
        )
        decision = decide_contact(request, history, rules)
        assert decision == decide_contact(request, tuple(history), rules)  # deterministic
        assert decision.source == rules.sources[decision.rule]

        must_refuse = (
            step.held
            or step.role not in rules.allowed_recipient_roles
            or step.channel == Channel.VISIT  # no product type: never a visit
            or step.channel not in authorized
        )
        assert (decision.verdict == "refuse") == must_refuse, decision
        if decision.verdict == "refuse":
            assert decision.not_before is None
            if step.held:
                assert decision.rule.startswith("hold.")
            continue

        if decision.verdict == "defer":
            assert decision.not_before is not None
            assert decision.not_before > now  # deferrals move forward
            when = decision.not_before
            again = decide_contact(request.model_copy(update={"at": when}), history, rules)
            assert again.verdict == "allow"
        else:
            assert decision.not_before is None
            when = now

        local = when.astimezone(BOGOTA)
        assert step.channel in authorized
        if step.purpose not in rules.window_exempt_purposes:
            assert independently_open(when, rules, requested), (when, decision)
            assert local.weekday() != 6 and local.date() not in CO_HOLIDAYS
        if step.purpose not in rules.exempt_purposes:
            counted = [a for a in history if counts(a, rules)]
            same_day = [a for a in counted if a.at.astimezone(BOGOTA).date() == local.date()]
            assert len(same_day) < rules.max_contacts_per_day, (when, same_day)
            if rules.one_channel_per_week:
                week = [a for a in counted if week_of(a.at, rules) == week_of(when, rules)]
                if week:
                    first = min(week, key=lambda a: (a.at, str(a.channel)))
                    assert first.channel == step.channel, (when, week)

        history.append(
            ContactAttempt(
                at=when, channel=step.channel, purpose=step.purpose, two_way=step.two_way
            )
        )
        now = when


def independent_earliest(at: datetime, rules: ContactRules) -> datetime:
    local = at.astimezone(BOGOTA)
    if independently_open(local, rules):
        return local
    d = local.date()
    while True:
        interval = open_interval(d, rules)
        if interval is not None:
            opening = datetime.combine(d, interval[0], tzinfo=BOGOTA)
            if opening >= local:
                return opening
        d += timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(at=instants, rules=st.sampled_from(RULE_VARIANTS))
def test_window_deferral_is_the_earliest_opening(at: datetime, rules: ContactRules) -> None:
    request = ContactRequest(at=at, channel=Channel.SMS, authorized_channels={Channel.SMS})
    decision = decide_contact(request, [], rules)
    expected = independent_earliest(at, rules)
    if expected == at:
        assert decision.verdict == "allow"
    else:
        assert (decision.verdict, decision.not_before) == ("defer", expected)


BUREAU = load_bureau_rules()


@settings(max_examples=200, deadline=None)
@given(
    notice_days=st.lists(st.integers(0, 60), min_size=1, max_size=4),
    now_day=st.integers(0, 90),
    balance=st.integers(1, 3_000_000),
)
def test_bureau_report_never_before_20_days_after_the_last_notice(
    notice_days: list[int], now_day: int, balance: int
) -> None:
    origin = datetime(2026, 2, 1, 10, tzinfo=BOGOTA)
    notices = [origin + timedelta(days=n) for n in notice_days]
    now = origin + timedelta(days=now_day)
    d = decide_bureau_report(now, notices, balance, True, False, BUREAU)
    sent = sorted({n.date() for n in notices if n <= now})
    small = balance <= 262_635.75
    if not sent or (small and len(sent) < 2):
        assert d.verdict == "refuse"
    elif (now.date() - sent[-1]).days >= 20:
        assert d.verdict == "allow"
    else:
        assert d.verdict == "defer" and d.not_before is not None
        assert d.not_before.date() == sent[-1] + timedelta(days=20)
