"""`cobranza audit ... --verify` and audit bundles, against real Temporal and Postgres.

Accounts run a seconds-long strategy on the dev server; then the log is tampered with the way only
someone bypassing the application could (superuser, triggers off), and verification must fail
naming the row or step concerned.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.audit.bundle import LOG_FILE, export_bundle, history_file, verify_bundle
from cobranza.audit.logrows import LogRow, fetch_rows
from cobranza.audit.verify import CheckKey, CheckResult, VerificationReport, verify_account
from cobranza.hashchain import row_hash
from cobranza.portfolio import PortfolioRow
from starter import app
from tests.integration.audit_support import short_strategy, tamper
from tests.integration.support import make_row, running_worker, seed_accounts, start_collection

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))
ACCOUNTS = ("clean", "update", "delete", "insert", "last", "bundle", "pii", "twice")


@pytest_asyncio.fixture(scope="module")
async def accounts(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool
) -> AsyncIterator[dict[str, PortfolioRow]]:
    """One finished collection per test, run side by side (about three seconds in all)."""
    rows = {name: make_row(line=i + 2) for i, name in enumerate(ACCOUNTS)}
    await seed_accounts(pool, list(rows.values()))
    queue = f"tq-audit-{uuid.uuid4().hex[:8]}"
    strategy = short_strategy(wait="1s", grace="1s", contacts=False)
    async with running_worker(dev_env.client, pool, queue, adapter=SILENT):
        handles = []
        for name, row in rows.items():
            # The "pii" account leaks its debtor's email into the workflow input on purpose.
            if name == "pii":
                row = row.model_copy(update={"product": f"tarjeta {row.email}"})
            handles.append(await start_collection(dev_env.client, row, queue, strategy=strategy))
        await asyncio.gather(*(h.result() for h in handles))
        # A later campaign opens a second collection under the same workflow id.
        again = await start_collection(dev_env.client, rows["twice"], queue, strategy=strategy)
        await again.result()
    yield rows


async def _verify(
    env: WorkflowEnvironment, pool: AsyncConnectionPool, account_id: str
) -> VerificationReport:
    return await verify_account(env.client, pool, account_id)


def _check(report: VerificationReport, key: CheckKey) -> CheckResult:
    check = report.check(key)
    assert check is not None
    return check


def _problems(report: VerificationReport, key: CheckKey) -> list[str]:
    return _check(report, key).problems


async def _row(pool: AsyncConnectionPool, account_id: str, seq: int) -> LogRow:
    return next(r for r in await fetch_rows(pool, [account_id]) if r.seq == seq)


async def test_verify_passes_on_a_clean_account(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, accounts: dict[str, PortfolioRow]
) -> None:
    report = await _verify(dev_env, pool, accounts["clean"].account_id)
    assert [c.key for c in report.checks] == ["chain", "reconcile", "replay", "pii"]
    assert report.passed, [c.problems for c in report.checks]
    assert len(report.collections) == 1 and report.collections[0].status == "completada"
    assert report.rows == report.collections[0].steps >= 6


async def test_verify_covers_every_collection_of_the_workflow_id(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, accounts: dict[str, PortfolioRow]
) -> None:
    account_id = accounts["twice"].account_id
    report = await _verify(dev_env, pool, account_id)
    assert report.passed, [c.problems for c in report.checks]
    first, second = report.collections
    assert first.collection_id != second.collection_id
    assert first.rows == first.steps == second.rows == second.steps >= 6
    assert report.rows == first.rows + second.rows
    # Each collection's seq restarts at 1 and its rows carry its own collection_id.
    rows = await fetch_rows(pool, [account_id])
    assert next(r.seq for r in rows if r.collection_id == second.collection_id) == 1


async def test_verify_fails_naming_an_updated_row(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    database_url: str,
    accounts: dict[str, PortfolioRow],
) -> None:
    account_id = accounts["update"].account_id
    target = await _row(pool, account_id, 2)
    assert target.kind == "wait"
    tamper(
        database_url,
        """UPDATE collection_log SET detail = jsonb_set(detail, '{duration}', '"30d"')
           WHERE id = %s""",
        (target.id,),
    )
    report = await _verify(dev_env, pool, account_id)
    assert not report.passed
    assert any(f"fila id {target.id} " in p for p in _problems(report, "chain"))
    mismatch = _problems(report, "reconcile")
    assert len(mismatch) == 1 and f"fila id {target.id} (seq 2)" in mismatch[0]
    assert "detail" in mismatch[0] and "30d" in mismatch[0]
    assert _check(report, "replay").passed


async def test_verify_fails_naming_a_deleted_row(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    database_url: str,
    accounts: dict[str, PortfolioRow],
) -> None:
    account_id = accounts["delete"].account_id
    deleted = await _row(pool, account_id, 3)
    following = await _row(pool, account_id, 4)
    tamper(database_url, "DELETE FROM collection_log WHERE id = %s", (deleted.id,))
    report = await _verify(dev_env, pool, account_id)
    assert not report.passed
    # The chain breaks at the row after the gap; the history names the missing step itself.
    assert any(f"fila id {following.id} " in p for p in _problems(report, "chain"))
    missing = _problems(report, "reconcile")
    assert len(missing) == 1 and f"paso seq 3 ({deleted.kind}" in missing[0]
    assert "no tiene fila" in missing[0]


async def test_verify_fails_naming_an_inserted_row_even_with_a_valid_hash(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    database_url: str,
    accounts: dict[str, PortfolioRow],
) -> None:
    account_id = accounts["insert"].account_id
    rows = await fetch_rows(pool, [account_id])
    last = rows[-1]
    fake = last.model_copy(
        update={
            "id": 0,
            "seq": last.seq + 1,
            "kind": "payment_received",
            "detail": {"amount_cop": 5_000_000, "reference": "FAKE-1"},
        }
    )
    forged = row_hash(last.hash, fake.hash_input())
    tamper(
        database_url,
        """INSERT INTO collection_log (account_id, workflow_id, run_id, collection_id, seq, kind,
               stage, detail, occurred_at, recorded_at, prev_hash, hash)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            fake.account_id,
            fake.workflow_id,
            fake.run_id,
            fake.collection_id,
            fake.seq,
            fake.kind,
            fake.stage,
            json.dumps(fake.detail),
            fake.occurred_at,
            fake.recorded_at,
            last.hash,
            forged,
        ),
    )
    inserted = await _row(pool, account_id, last.seq + 1)
    report = await _verify(dev_env, pool, account_id)
    assert not report.passed
    # A forger who recomputes the hash keeps the chain whole; the history still exposes the row.
    assert _check(report, "chain").passed
    extra = _problems(report, "reconcile")
    assert len(extra) == 1 and f"fila id {inserted.id} (seq {last.seq + 1}" in extra[0]
    assert "ningún paso del historial" in extra[0]


async def test_verify_fails_when_a_history_step_has_no_row(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    database_url: str,
    accounts: dict[str, PortfolioRow],
) -> None:
    account_id = accounts["last"].account_id
    rows = await fetch_rows(pool, [account_id])
    closing = rows[-1]
    assert closing.kind == "closed"
    # Removing the last row leaves a valid (shorter) chain: only the history can tell.
    tamper(database_url, "DELETE FROM collection_log WHERE id = %s", (closing.id,))
    report = await _verify(dev_env, pool, account_id)
    assert not report.passed
    assert _check(report, "chain").passed
    missing = _problems(report, "reconcile")
    assert len(missing) == 1 and f"paso seq {closing.seq} (closed" in missing[0]


async def test_verify_fails_naming_where_pii_appears(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, accounts: dict[str, PortfolioRow]
) -> None:
    report = await _verify(dev_env, pool, accounts["pii"].account_id)
    assert not report.passed
    assert _check(report, "chain").passed and _check(report, "reconcile").passed
    found = _problems(report, "pii")
    assert found and all("correo electrónico del deudor" in p for p in found)
    assert any("evento 1 (EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)" in p for p in found)
    # The report names the field, never the value.
    email = accounts["pii"].email
    assert email is not None and all(email not in p for p in found)


async def test_bundle_verifies_offline_and_fails_after_one_flipped_byte(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    accounts: dict[str, PortfolioRow],
    tmp_path: Path,
) -> None:
    account_id = accounts["bundle"].account_id
    out = tmp_path / "bundle"
    exported = await export_bundle(dev_env.client, pool, account_id, out)
    assert exported.report.passed
    run_ids = exported.report.collections[0].runs
    assert (out / history_file(run_ids[0])).is_file()

    # Offline: verify_bundle takes nothing but the folder.
    clean = await verify_bundle(out)
    assert [c.key for c in clean.checks] == ["manifest", "chain", "reconcile", "replay"]
    assert clean.passed, [c.problems for c in clean.checks]

    log = out / LOG_FILE
    data = bytearray(log.read_bytes())
    position = data.index(b'"seq": 2')
    data[position + 7] ^= 0x01  # '2' -> '3'
    log.write_bytes(bytes(data))
    broken = await verify_bundle(out)
    assert not broken.passed
    assert any(LOG_FILE in p for p in _check(broken, "manifest").problems)
    assert not _check(broken, "chain").passed
    assert not _check(broken, "reconcile").passed


# --- the command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(dev_env: WorkflowEnvironment, database_url: str) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DATABASE_URL": database_url,
        "COLUMNS": "200",
    }


async def _cli(env: dict[str, str], *args: str) -> Result:
    # The CLI runs its own event loop; give it a thread of its own.
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, list(args), env=env))


async def test_cli_audit_account_verify_exit_codes(
    cli_env: dict[str, str], accounts: dict[str, PortfolioRow]
) -> None:
    clean = accounts["clean"].account_id
    result = await _cli(cli_env, "audit", clean, "--verify")
    assert result.exit_code == 0, result.output
    assert "verificación aprobada" in result.output
    assert f"/namespaces/default/workflows/collection-{clean}" in result.output
    assert f"temporal workflow show -w collection-{clean}" in result.output
    assert "temporizador" in result.output and "señal" not in result.output

    leaky = accounts["pii"].account_id
    result = await _cli(cli_env, "audit", "account", leaky, "--verify", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["passed"] is False
    kinds = [e["event"] for e in payload["timeline"]]
    assert kinds[0] == "workflow_started" and "step" in kinds

    result = await _cli(cli_env, "audit", "NO-SUCH-ACCOUNT")
    assert result.exit_code == 1 and "no tiene cobranzas" in result.output


async def test_cli_audit_debtor_never_prints_the_document(
    cli_env: dict[str, str], accounts: dict[str, PortfolioRow]
) -> None:
    row = accounts["clean"]
    result = await _cli(cli_env, "audit", "debtor", f"cc:{row.document_number}")
    assert result.exit_code == 0, result.output
    assert row.account_id in result.output
    assert row.document_number not in result.output
    result = await _cli(cli_env, "audit", "debtor", "XX:123")
    assert result.exit_code == 2 and "tipo de documento desconocido" in result.output
    result = await _cli(cli_env, "audit", "debtor", "CC:99999999999")
    assert result.exit_code == 1 and "99999999999" not in result.output


async def test_cli_export_and_verify_bundle(
    cli_env: dict[str, str], accounts: dict[str, PortfolioRow], tmp_path: Path
) -> None:
    out = tmp_path / "cli-bundle"
    result = await _cli(cli_env, "audit", "export", accounts["clean"].account_id, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "SHA-256 de manifest.json" in result.output
    result = await _cli(cli_env, "audit", "export", accounts["clean"].account_id, "--out", str(out))
    assert result.exit_code == 2 and "no está vacío" in result.output
    # Offline: no database, no Temporal.
    offline = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    result = await _cli(offline, "audit", "verify-bundle", str(out))
    assert result.exit_code == 0, result.output
    history = next((out / "histories").glob("*.json"))
    data = bytearray(history.read_bytes())
    data[len(data) // 2] ^= 0x01
    history.write_bytes(bytes(data))
    result = await _cli(offline, "audit", "verify-bundle", str(out))
    assert result.exit_code == 1
    assert f"histories/{history.name}: su SHA-256 no coincide" in result.output


async def test_cli_audit_campaign_summarizes_failures(
    cli_env: dict[str, str], pool: AsyncConnectionPool, accounts: dict[str, PortfolioRow]
) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT campaign_id FROM campaign_accounts WHERE account_id = %s",
            (accounts["clean"].account_id,),
        )
        found = await cur.fetchone()
    assert found is not None
    result = await _cli(cli_env, "audit", "campaign", found[0], "--verify", "--concurrency", "3")
    assert result.exit_code == 1
    assert f"de {len(ACCOUNTS)} cuentas aprobadas" in result.output
    assert f"✘ {accounts['pii'].account_id}:" in result.output
    assert f"✘ {accounts['clean'].account_id}:" not in result.output
