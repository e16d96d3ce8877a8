"""The portfolio importer on real Postgres: one transaction, COPY-safe values, idempotence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from cobranza.campaigns import (
    CampaignConflictError,
    derive_campaign_id,
    import_campaign,
    import_prepared,
    prepare_portfolio,
)
from cobranza.portfolio import PortfolioFileError, PortfolioRow
from tests.integration.support import make_row
from tests.integration.test_campaign_cli import row_cells, write_portfolio

pytestmark = pytest.mark.integration


async def scalar(pool: AsyncConnectionPool, query: str, *args: object) -> object:
    async with pool.connection() as conn:
        cur = await conn.execute(query, args)
        found = await cur.fetchone()
    assert found is not None
    return found[0]


async def test_a_file_failing_midway_leaves_nothing(pool: AsyncConnectionPool) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [make_row(line=i + 2, account_id=f"half-{tag}-{i}") for i in range(2500)]

    def rows_then_unreadable() -> Iterator[PortfolioRow]:
        yield from rows
        raise PortfolioFileError("el archivo no está codificado en UTF-8 (línea 2502)", line=2502)

    with pytest.raises(PortfolioFileError):
        await import_campaign(
            pool,
            campaign_id=f"half-{tag}",
            strategy="default",
            file_name="half.csv",
            file_sha256=uuid.uuid4().hex,
            rows=rows_then_unreadable(),
        )
    assert (
        await scalar(pool, "SELECT count(*) FROM campaigns WHERE campaign_id = %s", f"half-{tag}")
        == 0
    )
    assert (
        await scalar(
            pool, "SELECT count(*) FROM accounts WHERE account_id LIKE %s", f"half-{tag}-%"
        )
        == 0
    )
    documents = [r.document_number for r in rows]
    assert (
        await scalar(
            pool, "SELECT count(*) FROM debtors WHERE document_number = ANY(%s)", documents
        )
        == 0
    )


async def test_values_round_trip_and_one_debtor_per_document(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    document = str(40_000_000 + int(tag, 16) % 9_000_000)
    first = make_row(line=2, account_id=f"rt-{tag}-a", document_number=document)
    second = make_row(line=3, account_id=f"rt-{tag}-b", document_number=document)
    cells_a = row_cells(first)
    cells_b = row_cells(second)
    # The later line is the debtor's current record; backslash and quotes survive COPY.
    cells_b[3] = "Ana María Pérez de Núñez"
    cells_b[9] = r"Calle 10 \ 5-20, Torre «B»"
    file = write_portfolio(tmp_path / "rt.csv", [first, second], {0: cells_a, 1: cells_b})
    prepared = prepare_portfolio(file, tmp_path)
    assert (prepared.rows, prepared.errors) == (2, 0)
    summary = await import_prepared(pool, prepared, campaign_id=f"rt-{tag}", strategy="default")
    assert summary.created and summary.accounts == 2
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT DISTINCT d.full_name, d.address, d.authorized_channels FROM accounts a
               JOIN debtors d USING (debtor_id) WHERE a.account_id = ANY(%s)""",
            ([first.account_id, second.account_id],),
        )
        debtors = await cur.fetchall()
    assert len(debtors) == 1
    name, address, channels = debtors[0]
    assert name == "Ana María Pérez de Núñez"
    assert address == r"Calle 10 \ 5-20, Torre «B»"
    assert sorted(channels) == sorted(c.value for c in first.authorized_channels)


async def test_same_id_same_file_is_a_no_op_and_another_file_is_refused(
    pool: AsyncConnectionPool,
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [make_row(line=2, account_id=f"idem-{tag}")]
    sha = uuid.uuid4().hex
    args = {"campaign_id": f"idem-{tag}", "file_name": "idem.csv", "rows": rows}
    created = await import_campaign(pool, strategy="default", file_sha256=sha, **args)  # type: ignore[arg-type]
    again = await import_campaign(pool, strategy="default", file_sha256=sha, **args)  # type: ignore[arg-type]
    assert created.created and not again.created and again.accounts == 1
    with pytest.raises(CampaignConflictError, match="otro archivo"):
        await import_campaign(pool, strategy="default", file_sha256="other", **args)  # type: ignore[arg-type]
    with pytest.raises(CampaignConflictError, match="estrategia"):
        await import_campaign(pool, strategy="demo", file_sha256=sha, **args)  # type: ignore[arg-type]
    assert (
        await scalar(
            pool, "SELECT count(*) FROM campaign_accounts WHERE campaign_id = %s", f"idem-{tag}"
        )
        == 1
    )


def test_campaign_id_from_file_name_and_hash() -> None:
    sha = "ab" * 32
    assert derive_campaign_id("cartera dic 2026.csv", sha) == "cartera-dic-2026-abababababab"
    assert derive_campaign_id("ñ.csv", sha) == "cartera-abababababab"
    assert len(derive_campaign_id("x" * 200 + ".csv", sha)) <= 64
