"""`collection_log` rows as auditors get them: exact values, so the hash chain can be recomputed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import AwareDatetime, BaseModel, ConfigDict

from cobranza.hashchain import ChainBreak, verify_chain


class LogRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    account_id: str
    workflow_id: str
    run_id: str
    collection_id: str
    seq: int
    kind: str
    stage: str
    detail: dict[str, Any]
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    prev_hash: str
    hash: str

    def hash_input(self) -> dict[str, Any]:
        # verify_chain reads rows as mappings; datetimes stay datetimes (it formats them itself).
        return dict(self)


_COLUMNS = ", ".join(LogRow.model_fields)


async def fetch_rows(pool: AsyncConnectionPool, account_ids: Sequence[str]) -> list[LogRow]:
    """Rows of the given accounts, each account's rows in insertion (chain) order."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM collection_log WHERE account_id = ANY(%s)"
            " ORDER BY account_id, id",
            (list(account_ids),),
        )
        return [LogRow.model_validate(row) for row in await cur.fetchall()]


def chain_breaks(rows: Iterable[LogRow]) -> list[ChainBreak]:
    """verify_chain per account (rows may hold several accounts), in id order."""
    by_account: dict[str, list[LogRow]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        by_account.setdefault(row.account_id, []).append(row)
    breaks: list[ChainBreak] = []
    for account_rows in by_account.values():
        breaks.extend(verify_chain(row.hash_input() for row in account_rows))
    return breaks


def _instant(value: datetime) -> str:
    # Full microsecond precision with offset: the hash covers the exact instant.
    return value.isoformat(timespec="microseconds")


def to_json_line(row: LogRow) -> str:
    data = row.model_dump()
    data["occurred_at"] = _instant(row.occurred_at)
    data["recorded_at"] = _instant(row.recorded_at)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def write_rows(path: Path, rows: Iterable[LogRow]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(to_json_line(row) + "\n")


def read_rows(path: Path) -> list[LogRow]:
    rows: list[LogRow] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(LogRow.model_validate_json(line))
            except ValueError as err:
                raise ValueError(f"{path.name}, línea {number}: fila inválida ({err})") from err
    return rows
