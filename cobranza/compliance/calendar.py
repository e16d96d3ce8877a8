"""Colombian public holidays and the Ley 2300 contact windows, in America/Bogota time.

Holidays come from the pinned `holidays` package (Ley 51 de 1983 "Ley Emiliani", plus Ley 2578 de
2026). Upgrading that package can change a replayed decision, so treat it like a code change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

import holidays
from pydantic import BaseModel, ConfigDict, model_validator

from cobranza.compliance.rules import ComplianceError, ContactRules, TimeRange
from cobranza.domain import BOGOTA

if TYPE_CHECKING:
    from cobranza.compliance.contact import RequestedHours

# Any valid rules open at least one day a week, so a year always holds a window.
SEARCH_HORIZON_DAYS = 370

WEEKDAYS_ES: tuple[str, ...] = (
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
)


# Years computed once at import: decisions then never run the holidays package (it imports and
# reads its gettext translations lazily, which the Temporal workflow sandbox forbids at run time).
PRECOMPUTED_YEARS = range(2015, 2061)


def _compute_years(years: range) -> Mapping[int, Mapping[date, str]]:
    calendar = holidays.country_holidays("CO", years=years, language="es")
    by_year: dict[int, dict[date, str]] = {year: {} for year in years}
    for d, name in sorted(calendar.items()):
        by_year[d.year][d] = str(name)
    return MappingProxyType({year: MappingProxyType(table) for year, table in by_year.items()})


_HOLIDAYS: Mapping[int, Mapping[date, str]] = _compute_years(PRECOMPUTED_YEARS)


def _holidays_for_year(year: int) -> Mapping[date, str]:
    table = _HOLIDAYS.get(year)
    if table is None:
        # Never guess a calendar: a year outside the table is an error, not a working day.
        raise ComplianceError(
            f"no holiday calendar for {year} (covered: {PRECOMPUTED_YEARS.start}-"
            f"{PRECOMPUTED_YEARS.stop - 1})"
        )
    return table


def holidays_in_year(year: int) -> Mapping[date, str]:
    """All Colombian public holidays of a year, with their Spanish names (read-only)."""
    return _holidays_for_year(year)


def holiday_name(d: date) -> str | None:
    """Spanish name of the public holiday on `d`, or None when `d` is not a holiday."""
    return _holidays_for_year(d.year).get(d)


def is_holiday(d: date) -> bool:
    return holiday_name(d) is not None


def holidays_between(start: date, end: date) -> list[tuple[date, str]]:
    """Holidays in [start, end), in date order."""
    found: list[tuple[date, str]] = []
    for year in range(start.year, end.year + 1):
        found.extend((d, name) for d, name in _holidays_for_year(year).items() if start <= d < end)
    return found


def to_bogota(at: datetime) -> datetime:
    """The same instant in Bogota time; naive datetimes are refused (ambiguous instant)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime {at.isoformat()} has no timezone; pass an aware datetime")
    return at.astimezone(BOGOTA)


def day_start(d: date) -> datetime:
    """Midnight at the start of `d`, Bogota time."""
    return datetime.combine(d, time(0, 0), tzinfo=BOGOTA)


def week_start_date(d: date, rules: ContactRules) -> date:
    """First day of the contact week holding `d` (Monday unless `rules.week_start` says else)."""
    return d - timedelta(days=(d.weekday() - rules.week_start_index) % 7)


def format_date(d: date) -> str:
    """E.g. 'lunes 2026-07-13'."""
    return f"{WEEKDAYS_ES[d.weekday()]} {d.isoformat()}"


def format_instant(at: datetime) -> str:
    """E.g. 'martes 2026-07-14 07:00', in Bogota time."""
    local = to_bogota(at)
    clock = local.strftime("%H:%M:%S" if local.second or local.microsecond else "%H:%M")
    return f"{format_date(local.date())} {clock}"


def format_range(tr: TimeRange) -> str:
    return f"{tr.start.strftime('%H:%M')}-{tr.end.strftime('%H:%M')}"


class Window(BaseModel):
    """One contact window of one day: [start, end) or [start, end] per the rules setting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime
    end_exclusive: bool = True
    # True when the window exists only because the debtor asked for other hours.
    requested: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if not to_bogota(self.start) < to_bogota(self.end):
            raise ValueError("window start must be before its end")
        return self

    def contains(self, at: datetime) -> bool:
        if at < self.start:
            return False
        return at < self.end if self.end_exclusive else at <= self.end


def closed_day_reason(d: date, rules: ContactRules) -> str | None:
    """Why no contact at all is possible on `d` (Spanish), or None on an open day."""
    name = holiday_name(d)
    if name is not None and rules.holidays_closed:
        return f"{format_date(d)} es festivo: {name}"
    if d.weekday() == 6 and rules.sunday_closed:
        return "no se contacta los domingos"
    return None


def base_range_for_day(d: date, rules: ContactRules) -> TimeRange | None:
    """The legal window of a day before any debtor request; None on Sundays and holidays."""
    if closed_day_reason(d, rules) is not None:
        return None
    weekday = d.weekday()
    if weekday == 5:
        return rules.saturday_window
    if weekday < 5:
        return rules.weekday_window
    return None


def windows_for_day(
    d: date, rules: ContactRules, requested_hours: Sequence[RequestedHours] = ()
) -> list[Window]:
    """Contact windows of `d` in time order; empty on Sundays and holidays.

    Debtor-requested hours add windows on open days only: they lift the hours, never the closed
    days (conservative reading of Art. 3).
    """
    base = base_range_for_day(d, rules)
    if base is None:
        return []
    ranges: list[tuple[time, time, bool]] = [(base.start, base.end, False)]
    ranges.extend((rh.start, rh.end, True) for rh in requested_hours if rh.applies_on(d))
    ranges.sort()
    merged: list[tuple[time, time, bool]] = []
    for start, end, requested in ranges:
        # Touching ranges merge too: [07:00, 19:00) + [19:00, 21:00) is one window.
        if merged and start <= merged[-1][1]:
            prev_start, prev_end, prev_requested = merged[-1]
            merged[-1] = (prev_start, max(prev_end, end), prev_requested and requested)
        else:
            merged.append((start, end, requested))
    return [
        Window(
            start=datetime.combine(d, start, tzinfo=BOGOTA),
            end=datetime.combine(d, end, tzinfo=BOGOTA),
            end_exclusive=rules.window_end_exclusive,
            requested=requested,
        )
        for start, end, requested in merged
    ]


def window_at(
    at: datetime, rules: ContactRules, requested_hours: Sequence[RequestedHours] = ()
) -> Window | None:
    """The window holding instant `at`, if any."""
    local = to_bogota(at)
    for window in windows_for_day(local.date(), rules, requested_hours):
        if window.contains(local):
            return window
    return None


def is_within_window(
    at: datetime, rules: ContactRules, requested_hours: Sequence[RequestedHours] = ()
) -> bool:
    return window_at(at, rules, requested_hours) is not None


def in_base_window(at: datetime, rules: ContactRules) -> bool:
    """Whether `at` is inside the legal window, ignoring any debtor request."""
    return window_at(at, rules) is not None


def next_window_start(
    at: datetime, rules: ContactRules, requested_hours: Sequence[RequestedHours] = ()
) -> datetime:
    """Start of the first window that starts at or after `at` (Bogota time)."""
    local = to_bogota(at)
    for offset in range(SEARCH_HORIZON_DAYS):
        d = local.date() + timedelta(days=offset)
        for window in windows_for_day(d, rules, requested_hours):
            if window.start >= local:
                return window.start
    raise ComplianceError(f"no contact window within {SEARCH_HORIZON_DAYS} days of {local}")


def earliest_window_instant(
    at: datetime, rules: ContactRules, requested_hours: Sequence[RequestedHours] = ()
) -> datetime:
    """`at` itself when it is inside a window, else the next window start (Bogota time)."""
    local = to_bogota(at)
    if is_within_window(local, rules, requested_hours):
        return local
    return next_window_start(local, rules, requested_hours)
