"""`cobranza compliance windows`: the legal windows per day, holidays named, as JSON for tools."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cobranza.cli.compliance import compliance_app


def test_windows_json_names_the_2026_july_holiday_and_closes_sunday() -> None:
    result = CliRunner().invoke(
        compliance_app, ["windows", "--from", "2026-07-10", "--days", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    days = {d["date"]: d for d in json.loads(result.output)}
    assert days["2026-07-10"]["windows"] == [{"start": "07:00", "end": "19:00"}]
    assert days["2026-07-11"]["windows"] == [{"start": "08:00", "end": "15:00"}]
    assert days["2026-07-12"] == {"date": "2026-07-12", "windows": [], "holiday": None}
    assert days["2026-07-13"]["windows"] == [] and days["2026-07-13"]["holiday"]
    assert days["2026-07-14"]["holiday"] is None


def test_epiphany_2026_is_observed_on_monday_12_not_on_the_6th() -> None:
    result = CliRunner().invoke(
        compliance_app, ["windows", "--from", "2026-01-06", "--days", "7", "--json"]
    )
    days = {d["date"]: d for d in json.loads(result.output)}
    assert days["2026-01-06"]["holiday"] is None and days["2026-01-06"]["windows"]
    assert days["2026-01-12"]["holiday"] and days["2026-01-12"]["windows"] == []


def test_bad_date_is_named() -> None:
    result = CliRunner().invoke(compliance_app, ["windows", "--from", "2026-13-01"])
    assert result.exit_code == 2
    assert "--from" in result.output and "2026-13-01" in result.output
