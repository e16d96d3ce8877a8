"""A bad portfolio starts nothing and names each bad line (checked before any server is touched)."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from starter import app
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bad_portfolio_starts_nothing_and_names_each_line(database_url: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "campaign",
            "start",
            str(REPO_ROOT / "tests/data/bad_portfolio.csv"),
            "--campaign-id",
            "rechazada",
        ],
        env={"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": "127.0.0.1:1"},
    )
    assert result.exit_code == 2
    output = result.output
    assert "No se importó ni se inició nada" in output
    assert "línea 4, saldo_cop" in output and "mayor que cero" in output
    assert "línea 6, numero_documento" in output and "obligatorio" in output
    assert "línea 8, cuenta" in output and "duplicada" in output and "línea 2" in output
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM campaigns WHERE campaign_id = 'rechazada'"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM accounts WHERE account_id LIKE 'BAD-%'"
        ).fetchone() == (0,)
