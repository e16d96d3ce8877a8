"""Colombian holidays (Ley Emiliani, Ley 2578 de 2026) and the Ley 2300 contact windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from dateutil.easter import easter

from cobranza.compliance import (
    ComplianceError,
    RequestedHours,
    earliest_window_instant,
    holiday_name,
    holidays_between,
    holidays_in_year,
    is_holiday,
    is_within_window,
    load_contact_rules,
    next_window_start,
    week_start_date,
    windows_for_day,
)
from cobranza.domain import BOGOTA

RULES = load_contact_rules()


def bog(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=BOGOTA)


def test_2026_07_13_is_a_named_holiday_and_2026_01_06_is_not() -> None:
    # Ley 2578 de 2026: 9 July moves to Monday 13 July.
    name = holiday_name(date(2026, 7, 13))
    assert name is not None and "Chiquinquirá" in name
    # 6 January is moved to the following Monday (Ley Emiliani): 2026-01-12.
    assert holiday_name(date(2026, 1, 6)) is None
    assert not is_holiday(date(2026, 1, 6))
    reyes = holiday_name(date(2026, 1, 12))
    assert reyes is not None and "Reyes" in reyes


def test_holiday_names_are_spanish() -> None:
    assert holiday_name(date(2026, 12, 25)) == "Navidad"
    assert holiday_name(date(2026, 7, 20)) == "Día de la Independencia"
    assert holiday_name(date(2026, 5, 1)) == "Día del Trabajo"


def test_full_2026_holiday_list() -> None:
    expected = {
        date(2026, 1, 1),
        date(2026, 1, 12),
        date(2026, 3, 23),
        date(2026, 4, 2),
        date(2026, 4, 3),
        date(2026, 5, 1),
        date(2026, 5, 18),
        date(2026, 6, 8),
        date(2026, 6, 15),
        date(2026, 6, 29),
        date(2026, 7, 13),
        date(2026, 7, 20),
        date(2026, 8, 7),
        date(2026, 8, 17),
        date(2026, 10, 12),
        date(2026, 11, 2),
        date(2026, 11, 16),
        date(2026, 12, 8),
        date(2026, 12, 25),
    }
    assert set(holidays_in_year(2026)) == expected


def _next_monday(d: date) -> date:
    return d + timedelta(days=(7 - d.weekday()) % 7)


@pytest.mark.parametrize("year", range(2026, 2036))
def test_ley_emiliani_independent_computation(year: int) -> None:
    # Recompute REGULATION.md section 6 from scratch and compare with the package.
    e = easter(year)
    fixed = [(1, 1), (5, 1), (7, 20), (8, 7), (12, 8), (12, 25)]
    moved = [(1, 6), (3, 19), (6, 29), (8, 15), (10, 12), (11, 1), (11, 11), (7, 9)]
    expected = {date(year, m, d) for m, d in fixed}
    expected |= {e - timedelta(days=3), e - timedelta(days=2)}
    expected |= {_next_monday(date(year, m, d)) for m, d in moved}
    expected |= {_next_monday(e + timedelta(days=n)) for n in (39, 60, 68)}
    assert set(holidays_in_year(year)) == expected


def test_holidays_between_is_half_open_and_ordered() -> None:
    found = holidays_between(date(2026, 7, 13), date(2026, 7, 20))
    assert [d for d, _ in found] == [date(2026, 7, 13)]
    found = holidays_between(date(2025, 12, 25), date(2026, 1, 13))
    assert [d for d, _ in found] == [date(2025, 12, 25), date(2026, 1, 1), date(2026, 1, 12)]


def test_holiday_table_is_read_only() -> None:
    table = holidays_in_year(2026)
    with pytest.raises(TypeError):
        table[date(2026, 1, 2)] = "x"  # type: ignore[index]


def test_windows_for_day() -> None:
    friday = windows_for_day(date(2026, 7, 10), RULES)
    assert [(w.start, w.end) for w in friday] == [(bog(2026, 7, 10, 7), bog(2026, 7, 10, 19))]
    saturday = windows_for_day(date(2026, 7, 11), RULES)
    assert [(w.start, w.end) for w in saturday] == [(bog(2026, 7, 11, 8), bog(2026, 7, 11, 15))]
    assert windows_for_day(date(2026, 7, 12), RULES) == []  # Sunday
    assert windows_for_day(date(2026, 7, 13), RULES) == []  # holiday


def test_window_end_is_exclusive_by_default_and_a_setting() -> None:
    assert is_within_window(bog(2026, 7, 10, 7), RULES)
    assert is_within_window(bog(2026, 7, 10, 18, 59, 59), RULES)
    assert not is_within_window(bog(2026, 7, 10, 19), RULES)
    assert not is_within_window(bog(2026, 7, 10, 6, 59, 59), RULES)
    inclusive = RULES.model_copy(update={"window_end_exclusive": False})
    assert is_within_window(bog(2026, 7, 10, 19), inclusive)
    assert not is_within_window(bog(2026, 7, 10, 19, 0, 1), inclusive)


def test_other_timezones_are_converted_and_naive_refused() -> None:
    # 23:59 UTC is 18:59 in Bogota (UTC-5).
    assert is_within_window(datetime(2026, 7, 10, 23, 59, tzinfo=UTC), RULES)
    assert not is_within_window(datetime(2026, 7, 11, 0, 0, tzinfo=UTC), RULES)
    with pytest.raises(ValueError):
        is_within_window(datetime(2026, 7, 10, 12, 0), RULES)
    start = next_window_start(datetime(2026, 7, 11, 0, 0, tzinfo=UTC), RULES)
    assert start == bog(2026, 7, 11, 8) and start.tzinfo == BOGOTA


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        # REGULATION.md: Sunday 2026-07-12 10:00 -> Tuesday 07:00 (Monday 13 is a holiday).
        (bog(2026, 7, 12, 10), bog(2026, 7, 14, 7)),
        # Saturday after the window, before the holiday Monday.
        (bog(2026, 7, 11, 15, 10), bog(2026, 7, 14, 7)),
        # Friday 19:00 -> Saturday 08:00.
        (bog(2026, 7, 10, 19), bog(2026, 7, 11, 8)),
        # Saturday 15:00 -> Monday 07:00 (Monday 2026-03-09 is not a holiday).
        (bog(2026, 3, 7, 15), bog(2026, 3, 9, 7)),
        # Before opening: same day.
        (bog(2026, 3, 9, 5, 30), bog(2026, 3, 9, 7)),
        # Easter week: Wednesday evening -> Saturday (Holy Thursday and Good Friday).
        (bog(2026, 4, 1, 20), bog(2026, 4, 4, 8)),
        # New Year's Eve (Thursday) night -> Saturday 2 January.
        (bog(2026, 12, 31, 22), bog(2027, 1, 2, 8)),
    ],
)
def test_earliest_window_instant_examples(due: datetime, expected: datetime) -> None:
    assert earliest_window_instant(due, RULES) == expected


def test_earliest_window_instant_inside_a_window_is_the_instant_itself() -> None:
    at = bog(2026, 3, 9, 10, 15)
    assert earliest_window_instant(at, RULES) == at
    # next_window_start wants a window that starts at or after the instant.
    assert next_window_start(at, RULES) == bog(2026, 3, 10, 7)


def test_requested_hours_add_windows_on_open_days_only() -> None:
    evenings = RequestedHours(
        requested_on=date(2026, 3, 1),
        weekdays=frozenset({0, 1, 2, 3, 4, 5, 6}),
        start=time(19, 0),
        end=time(21, 0),
    )
    monday = windows_for_day(date(2026, 3, 9), RULES, [evenings])
    # Touching ranges merge into one window.
    assert [(w.start, w.end) for w in monday] == [(bog(2026, 3, 9, 7), bog(2026, 3, 9, 21))]
    saturday = windows_for_day(date(2026, 3, 7), RULES, [evenings])
    assert [(w.start, w.end, w.requested) for w in saturday] == [
        (bog(2026, 3, 7, 8), bog(2026, 3, 7, 15), False),
        (bog(2026, 3, 7, 19), bog(2026, 3, 7, 21), True),
    ]
    # Never Sundays or holidays, whatever the debtor asked.
    assert windows_for_day(date(2026, 3, 8), RULES, [evenings]) == []
    assert windows_for_day(date(2026, 3, 23), RULES, [evenings]) == []
    # Not before the date of the request.
    before = windows_for_day(date(2026, 2, 27), RULES, [evenings])
    assert [(w.start, w.end) for w in before] == [(bog(2026, 2, 27, 7), bog(2026, 2, 27, 19))]


def test_requested_hours_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        RequestedHours(
            requested_on=date(2026, 3, 1),
            weekdays=frozenset({0}),
            start=time(21, 0),
            end=time(19, 0),
        )
    with pytest.raises(ValueError):
        RequestedHours(
            requested_on=date(2026, 3, 1), weekdays=frozenset({7}), start=time(5), end=time(6)
        )


def test_week_start_setting() -> None:
    assert week_start_date(date(2026, 3, 8), RULES) == date(2026, 3, 2)  # Sunday ends Mon week
    sunday_weeks = RULES.model_copy(update={"week_start": "sunday"})
    assert week_start_date(date(2026, 3, 8), sunday_weeks) == date(2026, 3, 8)
    assert week_start_date(date(2026, 3, 7), sunday_weeks) == date(2026, 3, 1)


def test_years_outside_the_precomputed_calendar_are_an_error_not_a_guess() -> None:
    assert holiday_name(date(2060, 12, 25)) == "Navidad"
    with pytest.raises(ComplianceError):
        holiday_name(date(2061, 1, 1))
    with pytest.raises(ComplianceError):
        windows_for_day(date(2014, 12, 31), RULES)
