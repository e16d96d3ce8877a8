"""The scheduled inbox: find new portfolio files in a folder, import each and launch its campaign.

A file is known by its SHA-256, so the same bytes are never loaded twice whatever they are called;
its campaign id is derived from its name plus that hash. Files are read by the worker, so the
folder must be visible to it (same machine or a shared mount). Drop files atomically (write
elsewhere, then move in): a file that changes while it is read is left for the next pass.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from cobranza.campaign_models import InboxFile, InboxFileImport, InboxFileResult, InboxInput
from cobranza.campaigns import (
    CampaignConflictError,
    PreparedPortfolio,
    default_report_path,
    derive_campaign_id,
    import_prepared,
    launch_campaign,
    prepare_portfolio,
    write_rejections_report,
)
from cobranza.portfolio import PortfolioFileError, file_sha256
from cobranza.strategy import UnknownStrategyError, load_strategy

REPORT_SUFFIX = ".rechazos.csv"


def inbox_candidates(directory: Path) -> list[Path]:
    """Portfolio files in the folder, by name; rejection reports and hidden files are not."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file()
        and path.suffix.lower() == ".csv"
        and not path.name.endswith(REPORT_SUFFIX)
        and not path.name.startswith(".")
    )


class InboxActivities:
    def __init__(self, pool: AsyncConnectionPool, client: Client) -> None:
        self._pool = pool
        self._client = client

    @activity.defn(name="inbox_scan")
    async def scan_inbox(self, inbox: InboxInput) -> list[InboxFile]:
        directory = Path(inbox.directory)
        if not directory.is_dir():
            raise ApplicationError(
                f"inbox folder does not exist: {directory}", type="InboxMissing", non_retryable=True
            )
        found: dict[str, Path] = {}
        for path in inbox_candidates(directory):
            digest = await asyncio.to_thread(file_sha256, path)
            found.setdefault(digest, path)
            activity.heartbeat()
        if not found:
            return []
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT file_sha256 FROM campaign_inbox_files WHERE file_sha256 = ANY(%s)",
                (list(found),),
            )
            done = {row[0] for row in await cur.fetchall()}
        return [
            InboxFile(
                path=str(path),
                file_name=path.name,
                file_sha256=digest,
                campaign_id=derive_campaign_id(path.name, digest),
            )
            for digest, path in sorted(found.items(), key=lambda item: item[1].name)
            if digest not in done
        ]

    @activity.defn(name="inbox_import_file")
    async def import_inbox_file(self, job: InboxFileImport) -> InboxFileResult:
        inbox, file = job.inbox, job.file
        recorded = await self._recorded(file.file_sha256)
        if recorded is not None:
            return recorded
        try:
            strategy = load_strategy(inbox.strategy_name)
        except UnknownStrategyError as err:
            raise ApplicationError(str(err), type="UnknownStrategy", non_retryable=True) from err
        with tempfile.TemporaryDirectory(prefix="cobranza-inbox-") as workdir:
            try:
                prepared = await _heartbeating(
                    asyncio.to_thread(prepare_portfolio, Path(file.path), Path(workdir))
                )
            except PortfolioFileError as err:
                return await self._record(file, inbox, "rejected", f"archivo ilegible: {err}")
            except FileNotFoundError:
                return InboxFileResult(
                    file_name=file.file_name,
                    campaign_id=file.campaign_id,
                    status="rejected",
                    detail="el archivo desapareció antes de leerlo",
                )
            if prepared.file_sha256 != file.file_sha256:
                # Not recorded: the next pass sees the file as it ends up.
                return InboxFileResult(
                    file_name=file.file_name,
                    campaign_id=file.campaign_id,
                    status="rejected",
                    detail="el archivo cambió mientras se leía; se procesará en la próxima pasada",
                )
            report = default_report_path(Path(file.path))
            if prepared.errors:
                await asyncio.to_thread(write_rejections_report, prepared, report)
            if prepared.errors and not inbox.skip_invalid:
                return await self._record(
                    file, inbox, "rejected", _errors_detail(prepared, report, imported=False)
                )
            if prepared.rows == 0:
                return await self._record(file, inbox, "rejected", "ninguna fila válida")
            try:
                summary = await import_prepared(
                    self._pool,
                    prepared,
                    campaign_id=file.campaign_id,
                    strategy=strategy.name,
                    source=f"schedule:{inbox.schedule_id}",
                )
            except CampaignConflictError as err:
                return await self._record(file, inbox, "rejected", str(err))
        await launch_campaign(
            self._client,
            self._pool,
            campaign_id=file.campaign_id,
            strategy=strategy,
            task_queue=activity.info().task_queue,
            account_task_queue=inbox.account_task_queue,
            options=inbox.options,
        )
        detail = _errors_detail(prepared, report, imported=True) if prepared.errors else ""
        return await self._record(file, inbox, "imported", detail, accounts=summary.accounts)

    async def _recorded(self, sha: str) -> InboxFileResult | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT file_name, coalesce(campaign_id, ''), detail
                   FROM campaign_inbox_files WHERE file_sha256 = %s""",
                (sha,),
            )
            found = await cur.fetchone()
        if found is None:
            return None
        return InboxFileResult(
            file_name=found[0], campaign_id=found[1], status="already_processed", detail=found[2]
        )

    async def _record(
        self, file: InboxFile, inbox: InboxInput, status: str, detail: str, accounts: int = 0
    ) -> InboxFileResult:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO campaign_inbox_files (file_sha256, schedule_id, file_name,
                       campaign_id, status, detail) VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (file_sha256) DO NOTHING""",
                (
                    file.file_sha256,
                    inbox.schedule_id,
                    file.file_name,
                    file.campaign_id if status == "imported" else None,
                    status,
                    detail,
                ),
            )
        return InboxFileResult(
            file_name=file.file_name,
            campaign_id=file.campaign_id,
            status="imported" if status == "imported" else "rejected",
            accounts=accounts,
            detail=detail,
        )

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.scan_inbox, self.import_inbox_file]


def _errors_detail(prepared: PreparedPortfolio, report: Path, *, imported: bool) -> str:
    # Counts and the report's name only: the rows themselves (PII) stay in the files.
    what = "omitidas" if imported else "con errores; archivo rechazado"
    return f"{prepared.rejected_lines} líneas {what}; ver {report.name}"


async def _heartbeating(work: Awaitable[PreparedPortfolio]) -> PreparedPortfolio:
    """Await CPU-bound work in a thread while telling the server this attempt is alive."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=10)
        if done:
            return task.result()
        activity.heartbeat()
