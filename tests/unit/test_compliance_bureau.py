"""Prior notice before negative credit-bureau reports (Ley 1266 de 2008, mod. Ley 2157 de 2021)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cobranza.compliance import (
    BureauDecision,
    BureauRules,
    ComplianceError,
    decide_bureau_report,
    load_bureau_rules,
)
from cobranza.compliance.bureau import add_months, format_cop
from cobranza.domain import BOGOTA

RULES = load_bureau_rules()
BIG = 1_000_000


def bog(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BOGOTA)


def report(
    now: datetime,
    notices: list[datetime],
    balance: int = BIG,
    *,
    authorized: bool = True,
    paid: bool = False,
    rules: BureauRules = RULES,
    arrears_since: date | None = None,
) -> BureauDecision:
    decision = decide_bureau_report(
        now, notices, balance, authorized, paid, rules, arrears_since=arrears_since
    )
    assert decision.source == rules.sources[decision.rule]
    return decision


def test_loaded_defaults() -> None:
    assert RULES.version == "2026.1"
    assert RULES.notice_days == 20
    assert RULES.small_debt_fraction == Decimal("0.15")
    assert RULES.smlmv_cop[2026] == 1_750_905
    assert RULES.small_debt_threshold(2026) == Decimal("262635.75")
    assert RULES.small_debt_threshold(2030) is None
    assert load_bureau_rules("2026.1") == RULES
    with pytest.raises(ComplianceError):
        load_bureau_rules("nope")


def test_notice_on_2026_03_02_earliest_report_2026_03_22() -> None:
    notices = [bog(2026, 3, 2, 10)]
    d = report(bog(2026, 3, 3, 9), notices)
    assert (d.verdict, d.not_before, d.rule) == (
        "defer",
        bog(2026, 3, 22),
        "ley1266.art12.notice_period",
    )
    assert "2026-03-22" in d.reason
    assert report(bog(2026, 3, 22), notices).verdict == "allow"


def test_19_days_after_notice_refused_20_days_allowed() -> None:
    notice = bog(2026, 3, 2, 16)
    day_19 = bog(2026, 3, 21, 23, 59)
    assert (day_19.date() - notice.date()).days == 19
    d = report(day_19, [notice])
    assert d.verdict == "defer" and not d.allowed
    assert "falta 1 día" in d.reason
    day_20 = bog(2026, 3, 22, 0, 0)
    assert report(day_20, [notice]).allowed


def test_small_balance_with_one_notice_is_refused() -> None:
    d = report(bog(2026, 5, 1), [bog(2026, 3, 2)], 200_000)
    assert (d.verdict, d.rule) == ("refuse", "ley1266.art12.small_debt")
    assert "COP 200.000" in d.reason and "COP 262.635,75" in d.reason


def test_small_balance_needs_two_notices_on_different_days() -> None:
    same_day = [bog(2026, 3, 2, 9), bog(2026, 3, 2, 17)]
    assert report(bog(2026, 5, 1), same_day, 200_000).rule == "ley1266.art12.small_debt"
    two_days = [bog(2026, 3, 2, 9), bog(2026, 3, 10, 9)]
    # 20 days run from the last notice.
    d = report(bog(2026, 3, 25), two_days, 200_000)
    assert (d.verdict, d.not_before) == ("defer", bog(2026, 3, 30))
    assert report(bog(2026, 3, 30), two_days, 200_000).allowed


def test_small_debt_threshold_is_inclusive() -> None:
    one = [bog(2026, 3, 2)]
    assert report(bog(2026, 5, 1), one, 262_635).rule == "ley1266.art12.small_debt"
    assert report(bog(2026, 5, 1), one, 262_636).allowed


def test_threshold_uses_the_smlmv_of_the_report_year() -> None:
    one = [bog(2025, 11, 2)]
    # 2025: 15 % of 1,423,500 is 213,525.
    assert report(bog(2025, 12, 30), one, 230_000).allowed
    assert report(bog(2026, 1, 2), one, 230_000).rule == "ley1266.art12.small_debt"


def test_unknown_smlmv_year_is_refused_not_guessed() -> None:
    d = report(bog(2031, 5, 1), [bog(2031, 3, 2)])
    assert (d.verdict, d.rule) == ("refuse", "ley1266.smlmv")


def test_no_authorization_is_refused() -> None:
    d = report(bog(2026, 5, 1), [bog(2026, 3, 2)], authorized=False)
    assert (d.verdict, d.rule) == ("refuse", "ley1266.authorization")


def test_paid_in_full_while_waiting_means_no_report() -> None:
    d = report(bog(2026, 3, 10), [bog(2026, 3, 2)], paid=True)
    assert (d.verdict, d.rule) == ("refuse", "ley1266.paid")
    assert report(bog(2026, 5, 1), [bog(2026, 3, 2)], paid=True).verdict == "refuse"


def test_no_notice_is_refused_and_future_notices_do_not_count() -> None:
    assert report(bog(2026, 5, 1), []).rule == "ley1266.art12.notice"
    assert report(bog(2026, 5, 1), [bog(2026, 5, 2)]).rule == "ley1266.art12.notice"


def test_zero_balance_is_refused() -> None:
    assert report(bog(2026, 5, 1), [bog(2026, 3, 2)], 0).rule == "ley1266.no_debt"


def test_notice_reference_setting() -> None:
    notices = [bog(2026, 3, 2), bog(2026, 3, 15)]
    # Conservative default: from the last notice.
    assert report(bog(2026, 3, 25), notices).not_before == bog(2026, 4, 4)
    first = RULES.model_copy(update={"notice_reference": "first"})
    assert report(bog(2026, 3, 25), notices, rules=first).allowed


def test_notice_days_are_bogota_calendar_days() -> None:
    # 2026-03-02 03:00 UTC is still 2026-03-01 in Bogota.
    notice = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert report(bog(2026, 3, 21), [notice]).allowed


def test_report_deadline_of_18_months() -> None:
    notices = [bog(2026, 3, 2)]
    assert report(bog(2026, 5, 1), notices, arrears_since=date(2024, 11, 1)).allowed
    late = report(bog(2026, 5, 2), notices, arrears_since=date(2024, 11, 1))
    assert (late.verdict, late.rule) == ("refuse", "ley1266.report_deadline")
    # A notice period that would end after the deadline is refused, not deferred.
    d = report(bog(2026, 3, 10), notices, arrears_since=date(2024, 9, 15))
    assert (d.verdict, d.rule) == ("refuse", "ley1266.report_deadline")
    off = RULES.model_copy(update={"report_deadline_months": None})
    assert report(bog(2026, 5, 2), notices, rules=off, arrears_since=date(2024, 11, 1)).allowed


def test_deferral_is_a_fixed_point() -> None:
    notices = [bog(2026, 3, 2, 10), bog(2026, 3, 9, 10)]
    for balance in (100_000, BIG):
        for offset in range(0, 40):
            now = bog(2026, 3, 9, 12) + timedelta(days=offset)
            d = report(now, notices, balance)
            if d.verdict == "defer":
                assert d.not_before is not None and d.not_before > now
                assert report(d.not_before, notices, balance).allowed


def test_rules_round_trip_and_validation() -> None:
    restored = BureauRules.model_validate_json(RULES.model_dump_json())
    assert restored == RULES
    with pytest.raises(ValidationError):
        BureauRules.model_validate({**RULES.model_dump(), "notice_days": 10})
    with pytest.raises(ValidationError):
        BureauRules.model_validate({**RULES.model_dump(), "sources": {}})


def test_helpers() -> None:
    assert format_cop(1_750_905) == "COP 1.750.905"
    assert format_cop(Decimal("262635.75")) == "COP 262.635,75"
    assert add_months(date(2024, 8, 31), 18) == date(2026, 2, 28)
    assert add_months(date(2024, 11, 1), 18) == date(2026, 5, 1)
