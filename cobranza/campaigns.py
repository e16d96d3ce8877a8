"""Campaigns from the ops side: import a portfolio at scale, launch its CampaignWorkflow, control it.

Import is two steps so a bad file touches no server and a good one is all-or-nothing:

1. ``prepare_portfolio`` streams the file once through ``iter_portfolio`` (no server contacted),
   writing valid rows to a local spool in COPY format and errors to a side file. Memory stays flat
   whatever the file size (only the account ids seen, for duplicate detection, grow).
2. ``import_prepared`` COPYs the spool into a temporary staging table and upserts debtors, accounts
   and the campaign's accounts from it in one transaction: nothing is ever half imported.

The same campaign id with the same file imports nothing new; with another file it is refused.
Starting the accounts is the CampaignWorkflow's job (workflows/campaign.py), not the client's.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.campaign_models import (
    CampaignControl,
    CampaignInput,
    ControlAction,
    ControlResult,
    FanoutOptions,
    InboxInput,
    campaign_workflow_id,
)
from cobranza.portfolio import PortfolioRow, RowError, iter_portfolio
from cobranza.strategy import Strategy

# Workflow type and update names, as strings: this module is imported by the activities that the
# workflow module imports, so it cannot import the workflow class itself.
CAMPAIGN_WORKFLOW = "CampaignWorkflow"
CONTROL_UPDATE = "control"

# One import at a time: two files holding the same account must not both see it as free.
_IMPORT_LOCK = 2300_0002
# How many skipped accounts an import reports one by one (the rest are counted).
SKIPPED_LISTED = 1000


class CampaignConflictError(ValueError):
    """The campaign id exists with another file or strategy (message in Spanish)."""


class CampaignNotFoundError(LookupError):
    """No such campaign in Postgres (message in Spanish)."""


class CampaignControlError(ValueError):
    """A pause / resume / cancel refused; the message is for people (Spanish)."""


# --- step 1: validate and spool, no server ---------------------------------------------------------


@dataclass(frozen=True)
class PreparedPortfolio:
    """A validated file: its valid rows spooled in COPY text format, its errors beside them."""

    source: Path
    file_name: str
    file_sha256: str
    spool: Path
    errors_file: Path
    rows: int
    errors: int
    rejected_lines: int


def _copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_line(row: PortfolioRow) -> str:
    channels = "{" + ",".join(sorted(c.value for c in row.authorized_channels)) + "}"
    fields = (
        str(row.line),
        _copy_text(row.account_id),
        _copy_text(row.document_type.value),
        _copy_text(row.document_number),
        _copy_text(row.full_name),
        _copy_text(row.product),
        str(row.balance_cop),
        str(row.days_past_due),
        _copy_text(row.phone),
        _copy_text(row.email),
        _copy_text(row.address),
        _copy_text(row.city),
        channels,
    )
    return "\t".join(fields) + "\n"


def prepare_portfolio(
    path: Path, workdir: Path, on_line: Callable[[int], None] | None = None
) -> PreparedPortfolio:
    """Validate every row of ``path``, spooling valid rows and errors under ``workdir``.

    Raises ``PortfolioFileError`` when the file as a whole is unreadable, even midway through:
    the caller must then import nothing. The spool holds PII as the source file does: keep
    ``workdir`` private and delete it after the import.
    """
    spool = workdir / "rows.copy"
    errors_file = workdir / "errors.jsonl"
    digest = hashlib.sha256()
    rows = errors = 0
    bad_lines: set[int] = set()
    with (
        spool.open("w", encoding="utf-8", newline="") as out,
        errors_file.open("w", encoding="utf-8") as err_out,
    ):
        for item in iter_portfolio(path):
            if isinstance(item, PortfolioRow):
                rows += 1
                out.write(_copy_line(item))
                if on_line is not None and rows % 1000 == 0:
                    on_line(item.line)
            else:
                errors += 1
                bad_lines.add(item.line)
                err_out.write(item.model_dump_json() + "\n")
    # Hash after a successful read: the bytes that were validated are the bytes recorded.
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return PreparedPortfolio(
        source=path,
        file_name=path.name,
        file_sha256=digest.hexdigest(),
        spool=spool,
        errors_file=errors_file,
        rows=rows,
        errors=errors,
        rejected_lines=len(bad_lines),
    )


def iter_errors(prepared: PreparedPortfolio) -> Iterator[RowError]:
    with prepared.errors_file.open(encoding="utf-8") as handle:
        for text in handle:
            yield RowError.model_validate_json(text)


def default_report_path(source: Path) -> Path:
    return source.with_name(source.name + ".rechazos.csv")


def write_rejections_report(prepared: PreparedPortfolio, dest: Path) -> None:
    """One CSV row per problem: line, field (Spanish label), value, reason (Spanish)."""
    from cobranza.portfolio import FIELD_LABELS

    tmp = dest.with_name(dest.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["linea", "campo", "valor", "motivo"])
        for error in iter_errors(prepared):
            field = FIELD_LABELS.get(error.field, error.field) if error.field else ""
            writer.writerow([error.line, field, error.value or "", error.message])
    tmp.replace(dest)


# --- step 2: load in one transaction ---------------------------------------------------------------


class SkippedAccount(BaseModel):
    line: int
    account_id: str
    reason: str


class ImportSummary(BaseModel):
    campaign_id: str
    created: bool
    accounts: int
    skipped: list[SkippedAccount]
    skipped_total: int = 0
    lines_rejected: int = 0


_STAGING = """CREATE TEMP TABLE campaign_staging (
    line integer NOT NULL, account_id text NOT NULL, document_type text NOT NULL,
    document_number text NOT NULL, full_name text NOT NULL, product text NOT NULL,
    balance_cop bigint NOT NULL, days_past_due integer NOT NULL, phone text, email text,
    address text, city text, authorized_channels text[] NOT NULL
) ON COMMIT DROP"""

# Accounts another campaign holds: an open collection, a start still pending, or a start whose
# workflow has not written its first row yet. They are reported and skipped, never duplicated.
_BUSY = """CREATE TEMP TABLE campaign_busy ON COMMIT DROP AS
SELECT DISTINCT ON (account_id) account_id, other FROM (
    SELECT c.account_id, coalesce(c.campaign_id, '') AS other
    FROM collections c JOIN campaign_staging s USING (account_id)
    WHERE c.outcome IS NULL
    UNION ALL
    SELECT ca.account_id, ca.campaign_id
    FROM campaign_accounts ca JOIN campaign_staging s USING (account_id)
    JOIN campaigns k ON k.campaign_id = ca.campaign_id
    WHERE k.status <> 'cancelled' AND ca.skipped_reason IS NULL AND ca.failed_reason IS NULL
      AND (ca.started_at IS NULL OR NOT EXISTS (
          SELECT 1 FROM collections c2
          WHERE c2.account_id = ca.account_id AND c2.campaign_id = ca.campaign_id))
) busy ORDER BY account_id, other"""

_DEBTORS = """INSERT INTO debtors (debtor_id, document_type, document_number, full_name, phone,
        email, address, city, authorized_channels)
    SELECT gen_random_uuid(), document_type, document_number, full_name, phone, email, address,
        city, authorized_channels
    FROM (SELECT DISTINCT ON (document_type, document_number) * FROM campaign_staging
          ORDER BY document_type, document_number, line DESC) latest
    ON CONFLICT (document_type, document_number) DO UPDATE SET
        full_name = EXCLUDED.full_name,
        phone = coalesce(EXCLUDED.phone, debtors.phone),
        email = coalesce(EXCLUDED.email, debtors.email),
        address = coalesce(EXCLUDED.address, debtors.address),
        city = coalesce(EXCLUDED.city, debtors.city),
        authorized_channels = EXCLUDED.authorized_channels,
        updated_at = now()"""

# An account with an open collection elsewhere keeps its row as that collection knows it.
_ACCOUNTS = """INSERT INTO accounts (account_id, debtor_id, product, balance_cop, days_past_due)
    SELECT s.account_id, d.debtor_id, s.product, s.balance_cop, s.days_past_due
    FROM campaign_staging s JOIN debtors d USING (document_type, document_number)
    ON CONFLICT (account_id) DO UPDATE SET
        debtor_id = EXCLUDED.debtor_id, product = EXCLUDED.product,
        balance_cop = EXCLUDED.balance_cop, days_past_due = EXCLUDED.days_past_due,
        updated_at = now()
    WHERE NOT EXISTS (SELECT 1 FROM campaign_busy b WHERE b.account_id = EXCLUDED.account_id)"""

_CAMPAIGN_ACCOUNTS = """INSERT INTO campaign_accounts (campaign_id, account_id, line, balance_cop,
        days_past_due, product, skipped_reason, conflict_campaign_id)
    SELECT %s, s.account_id, s.line, s.balance_cop, s.days_past_due, s.product,
        CASE WHEN b.account_id IS NOT NULL THEN 'open_collection_elsewhere' END, b.other
    FROM campaign_staging s LEFT JOIN campaign_busy b USING (account_id)"""


def _skipped_reason(other: str) -> str:
    if other:
        return f"ya tiene una cobranza abierta en la campaña {other!r}"
    return "ya tiene una cobranza abierta fuera de campañas"


async def _existing(
    conn: psycopg.AsyncConnection[Any], campaign_id: str, file_sha256: str, strategy: str
) -> ImportSummary | None:
    cur = await conn.execute(
        """SELECT file_sha256, strategy, accounts_total, accounts_skipped, lines_rejected
           FROM campaigns WHERE campaign_id = %s""",
        (campaign_id,),
    )
    found = await cur.fetchone()
    if found is None:
        return None
    sha, existing_strategy, total, skipped, rejected = found
    if sha != file_sha256:
        raise CampaignConflictError(
            f"la campaña {campaign_id!r} ya existe con otro archivo; use otro --campaign-id"
        )
    if existing_strategy != strategy:
        raise CampaignConflictError(
            f"la campaña {campaign_id!r} ya existe con la estrategia {existing_strategy!r}"
        )
    return ImportSummary(
        campaign_id=campaign_id,
        created=False,
        accounts=total,
        skipped=[],
        skipped_total=skipped,
        lines_rejected=rejected,
    )


# Tables the upserts join against, and how stale (changed rows over live rows) their planner
# statistics may be before the import refreshes them.
_JOINED_TABLES = ("debtors", "accounts", "campaign_accounts", "collections")
_STALE_FRACTION = 0.2


async def _refresh_statistics(conn: psycopg.AsyncConnection[Any]) -> None:
    """ANALYZE the joined tables whose statistics lag (e.g. right after a large import).

    With stale statistics the planner takes a freshly loaded table for a few rows and picks
    nested loops over it: quadratic, hours for a large file. ANALYZE samples a fixed number of
    rows, so this costs well under a second even on large tables, and only when needed.
    """
    cur = await conn.execute(
        """SELECT relname FROM pg_stat_user_tables
           WHERE schemaname = current_schema() AND relname = ANY(%s)
             AND n_mod_since_analyze > %s * greatest(n_live_tup, 1000)""",
        (list(_JOINED_TABLES), _STALE_FRACTION),
    )
    for (table,) in await cur.fetchall():
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


async def _load(
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: str,
    file_name: str,
    file_sha256: str,
    chunks: Callable[[], Iterable[str | bytes]],
    lines_rejected: int,
    source: str,
) -> ImportSummary:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_IMPORT_LOCK,))
        existing = await _existing(conn, campaign_id, file_sha256, strategy)
        if existing is not None:
            return existing
        await _refresh_statistics(conn)
        await conn.execute(_STAGING)
        async with conn.cursor() as cur:
            async with cur.copy("COPY campaign_staging FROM STDIN") as copy:
                for chunk in chunks():
                    await copy.write(chunk)
            # Temporary tables have no statistics until analysed: without them the upserts
            # below get nested-loop plans that are quadratic on a large file.
            await cur.execute("ANALYZE campaign_staging")
            await cur.execute(_BUSY)
            await cur.execute("ANALYZE campaign_busy")
            await cur.execute(_DEBTORS)
            await cur.execute(_ACCOUNTS)
            await cur.execute(
                """INSERT INTO campaigns (campaign_id, strategy, file_name, file_sha256,
                       accounts_total, accounts_skipped, lines_rejected, source)
                   SELECT %s, %s, %s, %s, (SELECT count(*) FROM campaign_staging),
                          (SELECT count(*) FROM campaign_busy), %s, %s""",
                (campaign_id, strategy, file_name, file_sha256, lines_rejected, source),
            )
            await cur.execute(_CAMPAIGN_ACCOUNTS, (campaign_id,))
            await cur.execute(
                """SELECT s.line, s.account_id, b.other FROM campaign_staging s
                   JOIN campaign_busy b USING (account_id) ORDER BY s.line LIMIT %s""",
                (SKIPPED_LISTED,),
            )
            listed = await cur.fetchall()
            await cur.execute(
                "SELECT accounts_total, accounts_skipped FROM campaigns WHERE campaign_id = %s",
                (campaign_id,),
            )
            counts = await cur.fetchone()
            assert counts is not None
    return ImportSummary(
        campaign_id=campaign_id,
        created=True,
        accounts=counts[0],
        skipped=[
            SkippedAccount(line=line, account_id=account, reason=_skipped_reason(other))
            for line, account, other in listed
        ],
        skipped_total=counts[1],
        lines_rejected=lines_rejected,
    )


def _spool_chunks(spool: Path) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with spool.open("rb") as handle:
            yield from iter(lambda: handle.read(1 << 20), b"")

    return chunks


async def import_prepared(
    pool: AsyncConnectionPool,
    prepared: PreparedPortfolio,
    *,
    campaign_id: str,
    strategy: str,
    source: str = "cli",
) -> ImportSummary:
    """Load a prepared file (its valid rows) in one transaction; idempotent per campaign."""
    return await _load(
        pool,
        campaign_id=campaign_id,
        strategy=strategy,
        file_name=prepared.file_name,
        file_sha256=prepared.file_sha256,
        chunks=_spool_chunks(prepared.spool),
        lines_rejected=prepared.rejected_lines,
        source=source,
    )


async def import_campaign(
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: str,
    file_name: str,
    file_sha256: str,
    rows: Iterable[PortfolioRow],
    lines_rejected: int = 0,
    source: str = "cli",
) -> ImportSummary:
    """Load already validated rows in one transaction (tests and benches build rows directly)."""

    def chunks() -> Iterator[str]:
        batch: list[str] = []
        for row in rows:
            batch.append(_copy_line(row))
            if len(batch) >= 1000:
                yield "".join(batch)
                batch.clear()
        if batch:
            yield "".join(batch)

    return await _load(
        pool,
        campaign_id=campaign_id,
        strategy=strategy,
        file_name=file_name,
        file_sha256=file_sha256,
        chunks=chunks,
        lines_rejected=lines_rejected,
        source=source,
    )


def derive_campaign_id(file_name: str, file_sha256: str) -> str:
    """A campaign id for a dropped file: its name (made id-safe) plus the start of its hash."""
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:48] or "cartera"
    return f"{safe}-{file_sha256[:12]}"


# --- the campaign row ------------------------------------------------------------------------------


class CampaignRow(BaseModel):
    campaign_id: str
    strategy: str
    file_name: str
    status: str
    paused: bool
    source: str
    accounts_total: int
    accounts_started: int
    accounts_skipped: int
    accounts_failed: int
    lines_rejected: int
    created_at: datetime
    fanout_started_at: datetime | None
    fanout_done_at: datetime | None
    finished_at: datetime | None

    @property
    def pending(self) -> int:
        return max(
            0,
            self.accounts_total
            - self.accounts_started
            - self.accounts_skipped
            - self.accounts_failed,
        )


_ROW_COLUMNS = ", ".join(CampaignRow.model_fields)


async def get_campaign(pool: AsyncConnectionPool, campaign_id: str) -> CampaignRow | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM campaigns WHERE campaign_id = %s", (campaign_id,)
        )
        found = await cur.fetchone()
    if found is None:
        return None
    return CampaignRow(**dict(zip(CampaignRow.model_fields, found, strict=True)))


async def list_campaigns(pool: AsyncConnectionPool, limit: int = 200) -> list[CampaignRow]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM campaigns ORDER BY created_at DESC LIMIT %s", (limit,)
        )
        rows = await cur.fetchall()
    return [CampaignRow(**dict(zip(CampaignRow.model_fields, r, strict=True))) for r in rows]


# --- launching and controlling the workflow ------------------------------------------------------

LaunchOutcome = Literal["started", "running", "finished"]


async def launch_campaign(
    client: Client,
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: Strategy,
    task_queue: str,
    account_task_queue: str | None = None,
    options: FanoutOptions | None = None,
) -> LaunchOutcome:
    """Start the campaign's workflow unless it runs already or the campaign has ended.

    Idempotent: the workflow id is ``campaign-<id>`` and a running one is reused, so launching
    twice starts nothing new; a relaunch after the workflow was lost resumes the pending accounts.
    """
    row = await get_campaign(pool, campaign_id)
    if row is None:
        raise CampaignNotFoundError(f"la campaña {campaign_id!r} no existe")
    if row.status in ("completed", "cancelled"):
        return "finished"
    workflow_id = campaign_workflow_id(campaign_id)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            return "running"
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    await client.start_workflow(
        CAMPAIGN_WORKFLOW,
        CampaignInput(
            campaign_id=campaign_id,
            strategy=strategy,
            account_task_queue=account_task_queue or task_queue,
            options=options or FanoutOptions(),
        ),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return "started"


class StartSummary(BaseModel):
    campaign_id: str
    started: int
    already_running: int


async def wait_fanout(
    pool: AsyncConnectionPool, campaign_id: str, *, timeout: float = 600, poll: float = 0.2
) -> CampaignRow:
    """Poll Postgres until every account of the campaign is resolved (or it paused or ended)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await get_campaign(pool, campaign_id)
        if row is None:
            raise CampaignNotFoundError(f"la campaña {campaign_id!r} no existe")
        if row.pending == 0 or row.paused or row.status in ("completed", "cancelled"):
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"campaign {campaign_id}: {row.pending} accounts still pending")
        await asyncio.sleep(poll)


async def start_campaign(
    client: Client,
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: Strategy,
    task_queue: str,
    account_task_queue: str | None = None,
    options: FanoutOptions | None = None,
    timeout: float = 600,
) -> StartSummary:
    """Launch the campaign's workflow and wait until every account is resolved (tests, benches)."""
    before = await get_campaign(pool, campaign_id)
    if before is None:
        raise CampaignNotFoundError(f"la campaña {campaign_id!r} no existe")
    await launch_campaign(
        client,
        pool,
        campaign_id=campaign_id,
        strategy=strategy,
        task_queue=task_queue,
        account_task_queue=account_task_queue,
        options=options,
    )
    after = await wait_fanout(pool, campaign_id, timeout=timeout)
    return StartSummary(
        campaign_id=campaign_id,
        started=after.accounts_started - before.accounts_started,
        already_running=after.accounts_skipped - before.accounts_skipped,
    )


# Rejections the workflow's update validator names by type, in the words ops read.
_REJECTIONS = {
    "CampaignCancelled": "la campaña {id!r} fue cancelada",
    "CampaignFinished": "la campaña {id!r} ya terminó",
    "CampaignAlreadyPaused": "la campaña {id!r} ya está en pausa",
    "CampaignNotPaused": "la campaña {id!r} no está en pausa",
}


async def control_campaign(
    client: Client,
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    action: ControlAction,
    requested_by: str = "ops",
    reason: str = "",
) -> ControlResult:
    """Pause, resume or cancel every account of the campaign; returns once all were reached."""
    row = await get_campaign(pool, campaign_id)
    if row is None:
        raise CampaignNotFoundError(f"la campaña {campaign_id!r} no existe")
    if row.status == "cancelled":
        raise CampaignControlError(_REJECTIONS["CampaignCancelled"].format(id=campaign_id))
    if row.status == "completed":
        raise CampaignControlError(
            f"la campaña {campaign_id!r} ya terminó: todas sus cobranzas están cerradas"
        )
    if row.status == "imported":
        raise CampaignControlError(
            f"la campaña {campaign_id!r} está importada pero no iniciada: "
            "ejecute 'cobranza campaign start' primero"
        )
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        return await handle.execute_update(
            CONTROL_UPDATE,
            CampaignControl(action=action, requested_by=requested_by, reason=reason),
            result_type=ControlResult,
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _REJECTIONS:
            raise CampaignControlError(_REJECTIONS[cause.type].format(id=campaign_id)) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CampaignControlError(
                f"el flujo de la campaña {campaign_id!r} no está en ejecución; "
                "vuelva a ejecutar 'cobranza campaign start' con el mismo archivo"
            ) from err
        raise


# --- scheduled inboxes ---------------------------------------------------------------------------

INBOX_WORKFLOW = "CampaignInboxWorkflow"
SCHEDULE_PREFIX = "campaign-inbox-"


class InboxSchedule(BaseModel):
    schedule_id: str
    directory: str
    strategy: str
    every: timedelta | None
    skip_invalid: bool
    paused: bool
    next_run: datetime | None
    last_run: datetime | None


def schedule_id_for(name: str) -> str:
    return name if name.startswith(SCHEDULE_PREFIX) else SCHEDULE_PREFIX + name


async def create_inbox_schedule(
    client: Client,
    *,
    name: str,
    directory: Path,
    strategy: Strategy,
    every: timedelta,
    task_queue: str,
    skip_invalid: bool = False,
    options: FanoutOptions | None = None,
) -> str:
    """A Temporal Schedule that, every ``every``, imports and launches each new file in the folder."""
    schedule_id = schedule_id_for(name)
    inbox = InboxInput(
        schedule_id=schedule_id,
        directory=str(directory.resolve()),
        strategy_name=strategy.name,
        skip_invalid=skip_invalid,
        account_task_queue=task_queue,
        options=options or FanoutOptions(),
    )
    await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                INBOX_WORKFLOW, inbox, id=f"{schedule_id}-run", task_queue=task_queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            # A pass still running (a large file) is not doubled by the next tick.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
    )
    return schedule_id


async def _describe_inbox(client: Client, schedule_id: str) -> InboxSchedule | None:
    description = await client.get_schedule_handle(schedule_id).describe()
    action = description.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or action.workflow != INBOX_WORKFLOW:
        return None
    payload = action.args[0] if action.args else None
    if payload is None:
        return None
    if isinstance(payload, Payload):
        [decoded] = await client.data_converter.decode([payload], [InboxInput])
        inbox = decoded
    else:
        inbox = InboxInput.model_validate(payload)
    intervals = description.schedule.spec.intervals
    recent = description.info.recent_actions
    upcoming = description.info.next_action_times
    return InboxSchedule(
        schedule_id=schedule_id,
        directory=inbox.directory,
        strategy=inbox.strategy_name,
        every=intervals[0].every if intervals else None,
        skip_invalid=inbox.skip_invalid,
        paused=description.schedule.state.paused,
        next_run=upcoming[0] if upcoming else None,
        last_run=recent[-1].started_at if recent else None,
    )


async def list_inbox_schedules(client: Client) -> list[InboxSchedule]:
    found: list[InboxSchedule] = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(SCHEDULE_PREFIX):
            continue
        try:
            described = await _describe_inbox(client, listed.id)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue  # deleted since the (eventually consistent) listing
            raise
        if described is not None:
            found.append(described)
    return sorted(found, key=lambda schedule: schedule.schedule_id)


async def delete_inbox_schedule(client: Client, name: str) -> str:
    schedule_id = schedule_id_for(name)
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CampaignNotFoundError(f"no existe la programación {schedule_id!r}") from err
        raise
    return schedule_id
