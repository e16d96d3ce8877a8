"""`cobranza campaign ...` end to end: real CLI, dev server, Postgres, a worker on a private queue."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cobranza.campaigns import get_campaign
from cobranza.portfolio import OPTIONAL_FIELDS, REQUIRED_FIELDS, PortfolioRow
from starter import app
from tests.integration.support import campaign_rows, running_worker, server_address

pytestmark = pytest.mark.integration

HEADER = REQUIRED_FIELDS + OPTIONAL_FIELDS


def row_cells(row: PortfolioRow) -> list[str]:
    return [
        row.account_id,
        row.document_type.value,
        row.document_number,
        row.full_name,
        row.product,
        str(row.balance_cop),
        str(row.days_past_due),
        row.phone or "",
        row.email or "",
        row.address or "",
        row.city or "",
        "|".join(sorted(c.value for c in row.authorized_channels)),
    ]


def write_portfolio(path: Path, rows: list[PortfolioRow], bad: dict[int, list[str]]) -> Path:
    """Rows in order; ``bad`` maps a data-row index to the cells written instead of that row."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index, row in enumerate(rows):
            writer.writerow(bad.get(index, row_cells(row)))
    return path


async def cli(env: dict[str, str], *args: str) -> Result:
    # The CLI runs its own event loop: give it a thread, so the worker keeps running in ours.
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env=env))


@pytest.fixture
def cli_env(dev_env: WorkflowEnvironment, database_url: str, task_queue: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": server_address(dev_env.client),
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "COBRANZA_TASK_QUEUE": task_queue,
    }


def campaign_count(database_url: str, campaign_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM campaigns WHERE campaign_id = %s", (campaign_id,)
        ).fetchone()
    assert found is not None
    return int(found[0])


async def test_bad_rows_reject_the_file_or_are_skipped_and_reported(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    database_url: str,
    task_queue: str,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = campaign_rows(8, f"cli-{tag}")
    negative = row_cells(rows[2])
    negative[5] = "-5000"
    no_document = row_cells(rows[5])
    no_document[2] = ""
    file = write_portfolio(tmp_path / "cartera.csv", rows, {2: negative, 5: no_document})
    campaign_id = f"cli-{tag}"

    rejected = await cli(cli_env, "campaign", "start", str(file), "--campaign-id", campaign_id)
    assert rejected.exit_code == 2, rejected.output
    assert "Archivo rechazado" in rejected.output
    assert "No se importó ni se inició nada" in rejected.output
    # Data rows 2 and 5 are file lines 4 and 7 (the header is line 1).
    assert "línea 4, saldo_cop" in rejected.output
    assert "línea 7, numero_documento" in rejected.output
    assert campaign_count(database_url, campaign_id) == 0

    report = tmp_path / "rechazos.csv"
    async with running_worker(dev_env.client, pool, task_queue):
        started = await cli(
            cli_env,
            "campaign",
            "start",
            str(file),
            "--campaign-id",
            campaign_id,
            "--skip-invalid",
            "--report",
            str(report),
        )
        assert started.exit_code == 0, started.output
        assert "Importadas 6 cuentas" in started.output
        assert "Iniciadas 6 cobranzas nuevas" in started.output
        with report.open(encoding="utf-8") as handle:
            lines = list(csv.DictReader(handle))
        assert {(r["linea"], r["campo"]) for r in lines} == {
            ("4", "saldo_cop"),
            ("7", "numero_documento"),
        }
        assert all(r["motivo"] for r in lines)
        row = await get_campaign(pool, campaign_id)
        assert row is not None
        assert (row.accounts_total, row.accounts_started, row.lines_rejected) == (6, 6, 2)

        # The same file again: a no-op.
        again = await cli(
            cli_env, "campaign", "start", str(file), "--campaign-id", campaign_id, "--skip-invalid"
        )
        assert again.exit_code == 0, again.output
        assert "ya estaba importada" in again.output
        assert "Iniciadas 0 cobranzas nuevas" in again.output

        # Another file under the same id: refused.
        other = write_portfolio(tmp_path / "otra.csv", campaign_rows(2, f"otra-{tag}"), {})
        conflict = await cli(cli_env, "campaign", "start", str(other), "--campaign-id", campaign_id)
        assert conflict.exit_code == 2
        assert "ya existe con otro archivo" in conflict.output

        status = await cli(cli_env, "campaign", "status", campaign_id, "--json")
        assert status.exit_code == 0, status.output
        report_json = json.loads(status.output)
        assert report_json["accounts_started"] == 6 and report_json["lines_rejected"] == 2
        assert set(report_json["kpis"]) >= {
            "contact_rate",
            "right_party_contact_rate",
            "promise_rate",
            "promise_kept_rate",
            "cure_rate",
            "recovery_rate",
        }
        listed = await cli(cli_env, "campaign", "list")
        assert listed.exit_code == 0 and campaign_id in listed.output

        paused = await cli(cli_env, "campaign", "pause", campaign_id, "--reason", "revisión")
        assert paused.exit_code == 0, paused.output
        assert "Pausadas 6 cuentas" in paused.output
        cancelled = await cli(cli_env, "campaign", "cancel", campaign_id)
        assert cancelled.exit_code == 0, cancelled.output
        assert "Canceladas 6 cuentas" in cancelled.output
        refused = await cli(cli_env, "campaign", "resume", campaign_id)
        assert refused.exit_code == 1 and "cancelada" in refused.output


async def test_unreadable_file_midway_imports_nothing(
    database_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    file = write_portfolio(tmp_path / "rota.csv", campaign_rows(50, f"utf-{tag}"), {})
    with file.open("ab") as handle:
        handle.write(b"ROTA-1,CC,12345678,Nombre \xff roto,tarjeta,1000,3,,,,,sms\n")
    result = await cli(
        cli_env, "campaign", "start", str(file), "--campaign-id", f"utf-{tag}", "--skip-invalid"
    )
    assert result.exit_code == 2
    assert "UTF-8" in result.output and "línea 52" in result.output
    assert campaign_count(database_url, f"utf-{tag}") == 0
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM accounts WHERE account_id LIKE %s", (f"utf-{tag}%",)
        ).fetchone()
    assert found == (0,)
