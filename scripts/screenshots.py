"""The README's screenshots of the web console, taken in Debian's Chromium:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--accounts 120] [--days 21]

writes agent-worklist.png (a collector's worklist: tasks she took, her team's queue) and
campaign-dashboard.png (a campaign some weeks into the default strategy: progress, KPIs, funnel,
promises and COP recovered per day).

Everything is real except the clock and the people: a scratch Postgres database (on DATABASE_URL's
server, or an embedded one when unset), the time-skipping Temporal test server (so three weeks
of the default strategy pass in a minute or two), the worker, the console on a free port. The
portfolio is the bundled synthetic one (cobranza/data/demo_portfolio.csv), uploaded through the
console's form; simulated collectors work the call tasks and simulated debtors pay some of the
promises, through the same calls people and core banking make. The worklist's tasks come from a
few more accounts of that portfolio that join the default strategy at its collector call, so
they open on today's clock (the console's "now"), not the skipped one. Figures vary a little
from run to run (who pays is fixed, when the clock skips is not). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cobranza.agent_simulation import SimulatedAgents
from cobranza.binaries import temporal_test_server
from cobranza.campaigns import import_campaign
from cobranza.db import open_pool, scratch_database
from cobranza.models import CollectionInput, workflow_id_for
from cobranza.operations import OperationError, report_payment
from cobranza.portfolio import DEMO_PORTFOLIO, read_portfolio
from cobranza.settings import Settings
from cobranza.strategy import Strategy, load_strategy
from cobranza.temporal import build_worker, ensure_search_attributes
from cobranza.web.app import create_app
from cobranza.web.users import Role, add_user
from workflows.collection import CollectionWorkflow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PASSWORD = "capturas-de-pantalla-2026"
OPS, AGENT, AGENT_TEAM = "operaciones", "laura.gomez", "administrativa"
CAMPAIGN = "consumo-diciembre"
WORKLIST_CAMPAIGN, WORKLIST_ACCOUNTS = "administrativa-diciembre", 9
QUEUE = "screenshots"
# The share of promises the simulated debtors keep (the demo's figure).
KEEP_RATE = 0.6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def console(settings: Settings) -> Iterator[str]:
    """The console in a thread (its own loop, Temporal client and pool, as in production)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.web_port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web console did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.web_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(browser: Browser, base_url: str, username: str) -> Page:
    context = await browser.new_context(
        base_url=base_url,
        viewport=VIEWPORT,
        locale="es-CO",
        timezone_id="America/Bogota",
    )
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Usuario").fill(username)
    await page.get_by_label("Contraseña").fill(PASSWORD)
    await page.get_by_role("button", name="Ingresar").click()
    await expect(page.get_by_role("button", name="Salir")).to_be_visible()
    return page


def portfolio(accounts: int, folder: Path) -> Path:
    lines = DEMO_PORTFOLIO.read_text("utf-8").splitlines(keepends=True)
    path = folder / "cartera-consumo-diciembre.csv"
    path.write_text("".join(lines[: accounts + 1]), "utf-8")
    return path


async def pay_promises(
    client: Client, pool: AsyncConnectionPool, now: datetime, handled: set[tuple[str, int]]
) -> None:
    """Debtors who keep their word pay a little before the due date (on the skipped clock; the
    payment itself is dated now: report_payment refuses a date in the future)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT l.account_id, l.seq, (l.detail->>'amount_cop')::bigint,
                      (l.detail->>'due_at')::timestamptz
               FROM collection_log l JOIN collections c USING (collection_id)
               WHERE c.campaign_id = %s AND c.outcome IS NULL AND l.kind = 'promise_registered'""",
            (CAMPAIGN,),
        )
        promises = await cur.fetchall()
    for account_id, seq, amount, due_at in promises:
        if (account_id, seq) in handled or due_at - now > timedelta(hours=18):
            continue
        handled.add((account_id, seq))
        digest = hashlib.sha256(f"{account_id}:{seq}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= KEEP_RATE:
            continue
        with contextlib.suppress(OperationError):  # the collection closed meanwhile
            await report_payment(
                client,
                pool,
                account_id=account_id,
                amount_cop=amount,
                reference=f"PSE-{account_id}-{seq}",
                source="simulated_debtor",
            )


async def run_campaign(env: WorkflowEnvironment, pool: AsyncConnectionPool, days: int) -> None:
    """Skip the clock six hours at a time: collectors work the call tasks, debtors pay."""
    agents = SimulatedAgents(
        env.client,
        pool,
        agents=3,
        promise_after=timedelta(days=4),
        installment_every=timedelta(days=8),
        call_back_after=timedelta(days=1),
    )
    handled: set[tuple[str, int]] = set()
    for day in range(1, days + 1):
        for _ in range(4):
            await env.sleep(timedelta(hours=6))
            await pay_promises(env.client, pool, await env.get_current_time(), handled)
            await agents.tick(CAMPAIGN)
        print(f"  día {day} de {days}", flush=True)


async def open_worklist(env: WorkflowEnvironment, pool: AsyncConnectionPool, skip: int) -> None:
    """The administrativa team's queue today: accounts of the same portfolio, not in the
    campaign, that reach the default strategy's collector call now (the campaign's own accounts
    reach it days later, on the skipped clock, where the console's "now" is not)."""
    default = load_strategy("default")
    steps = [s.model_dump() for s in default.steps]
    escalate = next(s for s in steps if s["id"] == "to-administrativa")
    call = next(i for i, s in enumerate(steps) if s["id"] == "adm-agent-call")
    strategy = Strategy.model_validate(
        {**default.model_dump(), "name": "default-llamada", "steps": [escalate, *steps[call:]]}
    )
    rows = [r for r in read_portfolio(DEMO_PORTFOLIO).rows[skip:] if 16 <= r.days_past_due <= 60][
        :WORKLIST_ACCOUNTS
    ]
    await import_campaign(
        pool,
        campaign_id=WORKLIST_CAMPAIGN,
        strategy=strategy.name,
        file_name="cartera-administrativa.csv",
        file_sha256=hashlib.sha256(WORKLIST_CAMPAIGN.encode()).hexdigest(),
        rows=rows,
    )
    for row in rows:
        await env.client.start_workflow(
            CollectionWorkflow.run,
            CollectionInput(
                account_id=row.account_id,
                campaign_id=WORKLIST_CAMPAIGN,
                strategy=strategy,
                balance_cop=row.balance_cop,
                days_past_due=row.days_past_due,
                product=row.product,
            ),
            id=workflow_id_for(row.account_id),
            task_queue=QUEUE,
        )


async def tasks_opened(pool: AsyncConnectionPool, count: int, timeout: float = 60) -> None:
    """The worklist page is static: load it once the workflows have opened their tasks."""
    deadline = time.monotonic() + timeout
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM agent_tasks WHERE campaign_id = %s AND status = 'open'",
                (WORKLIST_CAMPAIGN,),
            )
            row = await cur.fetchone()
        if row is not None and row[0] >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {row[0] if row else 0} of {count} tasks opened")
        await asyncio.sleep(0.2)


async def take_screenshots(out: Path, accounts: int, days: int, database_url: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        with tempfile.TemporaryDirectory(prefix="cobranza-shots-") as workdir:
            settings = Settings(
                temporal_address=env.client.service_client.config.target_host,
                task_queue=QUEUE,
                database_url=database_url,
                state_dir=Path(workdir) / "state",
                web_port=free_port(),
                web_secret=secrets.token_urlsafe(32),
            )
            async with (
                open_pool(database_url) as pool,
                build_worker(env.client, pool, settings),
            ):
                await add_user(pool, username=OPS, role=Role.OPS, password=PASSWORD)
                await add_user(
                    pool,
                    username=AGENT,
                    role=Role.AGENT,
                    password=PASSWORD,
                    team=AGENT_TEAM,
                    full_name="Laura Gómez",
                )
                with console(settings) as base_url:
                    async with chromium() as browser:
                        await shoot(
                            browser,
                            base_url,
                            env,
                            pool,
                            out,
                            portfolio(accounts, Path(workdir)),
                            accounts,
                            days,
                        )
    finally:
        await env.shutdown()


async def shoot(
    browser: Browser,
    base_url: str,
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    out: Path,
    csv: Path,
    accounts: int,
    days: int,
) -> None:
    ops = await signed_in(browser, base_url, OPS)
    await ops.goto("/campaigns/new")
    await ops.get_by_label("Archivo CSV").set_input_files(csv)
    await ops.get_by_label("Identificador de campaña").fill(CAMPAIGN)
    await ops.get_by_label("Estrategia").select_option("default")
    await ops.get_by_role("button", name="Validar e iniciar").click()
    await expect(ops.locator("#start-counts")).to_contain_text("0 pendientes", timeout=120_000)

    await open_worklist(env, pool, accounts)
    await tasks_opened(pool, WORKLIST_ACCOUNTS)
    agent = await signed_in(browser, base_url, AGENT)
    offered = agent.locator("#offered-tasks tbody tr")
    await expect(offered).to_have_count(WORKLIST_ACCOUNTS)
    for _ in range(2):
        await offered.get_by_role("button", name="Tomar").first.click()
        await expect(agent.locator("#completion-form")).to_be_visible()
        await agent.get_by_role("link", name="Mi lista de trabajo").click()
    await expect(agent.locator("#my-tasks tbody tr")).to_have_count(2)
    await agent.screenshot(path=out / "agent-worklist.png")

    print(f"campaña {CAMPAIGN} iniciada; {days} días de gestión…", flush=True)
    await run_campaign(env, pool, days)

    await ops.goto(f"/campaigns/{CAMPAIGN}")
    await expect(ops.locator("#start-progress")).to_be_visible()
    await ops.screenshot(path=out / "campaign-dashboard.png", full_page=True)
    print(f"capturas en {out}: agent-worklist.png, campaign-dashboard.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--accounts", type=int, default=120, help="filas de la cartera de demo")
    parser.add_argument("--days", type=int, default=21, help="días de gestión simulados")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with scratch_database("cobranza_shots") as database_url:
        asyncio.run(take_screenshots(args.out, args.accounts, args.days, database_url))


if __name__ == "__main__":
    main()
