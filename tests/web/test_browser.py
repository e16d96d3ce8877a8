"""The console in a real browser (Debian's Chromium through Playwright) against the real server,
worker, Temporal dev server and Postgres: an agent works a task, ops start a campaign from a
file, an auditor verifies an account and downloads its evidence. Each step is screenshotted
under the test's tmp folder; every wait is Playwright's auto-waiting `expect`."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from cobranza.domain import BOGOTA
from cobranza.models import workflow_id_for
from tests.web.browser import CHROMIUM, VIEWPORT, launch_chromium, log_in, portfolio_csv
from tests.web.conftest import account_with_task
from tests.web.support import USERS, WebServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)",
    ),
]


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await launch_chromium(playwright)
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def page(browser: Browser, web: WebServer) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=web.base_url,
        viewport=VIEWPORT,
        locale="es-CO",
        timezone_id="America/Bogota",
        accept_downloads=True,
    )
    opened = await context.new_page()
    yield opened
    await context.close()


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=folder / f"{name}.png", full_page=True)


def bogota_day(days_from_today: int) -> str:
    return (datetime.now(BOGOTA).date() + timedelta(days=days_from_today)).isoformat()


async def test_agent_claims_a_task_fixes_a_rejected_promise_and_records_it(
    page: Page,
    tmp_path: Path,
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    web_queue: str,
) -> None:
    account = await account_with_task(dev_env, pool, web_queue)
    task_id = account.task.task_id
    await log_in(page, USERS["agent"])

    await expect(page).to_have_url(re.compile(r"/tasks$"))
    row = page.locator("#offered-tasks tbody tr").filter(has=page.get_by_role("link", name=task_id))
    await expect(row).to_contain_text(account.account_id)
    await expect(row).to_contain_text("$ 1.200.000")
    await shot(page, tmp_path, "1-worklist")
    await row.get_by_role("button", name="Tomar").click()

    await expect(page).to_have_url(re.compile(f"/tasks/{task_id}$"))
    await expect(page.locator("#task-status")).to_contain_text(f"tomada ({USERS['agent']})")
    await expect(page.locator("#account-balance")).to_contain_text("$ 1.200.000")
    form = page.locator("#completion-form")
    await form.get_by_label("Resultado").select_option("promise_to_pay")
    await form.get_by_label("Monto (COP)").fill("5.000.000")
    await form.get_by_label("Fecha de pago prometida").fill(bogota_day(-2))
    await form.get_by_role("button", name="Registrar resultado").click()

    # Both problems, each under its own field; nothing reached the workflow.
    await expect(page.locator("#completion-error")).to_be_visible()
    await expect(page.locator("#error-amount")).to_contain_text(
        "el monto prometido ($ 5.000.000) supera el saldo de la cuenta ($ 1.200.000)"
    )
    await expect(page.locator("#error-due")).to_contain_text("ya pasó: debe ser futura")
    await expect(page.locator("#amount")).to_have_class(re.compile(r"\binvalid\b"))
    # What the agent typed is kept, so only the wrong fields need retyping.
    await expect(page.locator("#outcome")).to_have_value("promise_to_pay")
    await expect(page.locator("#task-status")).to_contain_text("tomada")
    await shot(page, tmp_path, "2-rejected-promise")

    due = bogota_day(5)
    await form.get_by_label("Monto (COP)").fill("300.000")
    await form.get_by_label("Fecha de pago prometida").fill(due)
    await form.get_by_role("button", name="Registrar resultado").click()

    await expect(page.locator(".flash.ok")).to_contain_text("Tarea completada: promesa de pago")
    await expect(page.locator("#task-status")).to_contain_text("completada")
    await expect(page.locator("#account-promise")).to_contain_text(f"$ 300.000 para el {due}")
    await expect(page.locator("#completion-form")).to_have_count(0)
    await shot(page, tmp_path, "3-promise-recorded")
    # It left the worklist.
    await page.get_by_role("link", name="Mi lista de trabajo").click()
    await expect(page.locator("#offered-tasks")).to_be_visible()
    await expect(page.get_by_role("link", name=task_id)).to_have_count(0)


async def test_ops_sees_a_bad_row_rejected_then_starts_a_campaign(
    page: Page, tmp_path: Path
) -> None:
    prefix = f"NAV-{uuid.uuid4().hex[:6]}"
    campaign_id = f"navidad-{prefix[4:]}"
    await log_in(page, USERS["ops"])
    await expect(page).to_have_url(re.compile(r"/campaigns$"))
    await page.get_by_role("link", name="Iniciar campaña desde un archivo").click()

    # Line 4 of the file (the header is line 1) has a balance nobody can read.
    await page.get_by_label("Archivo CSV").set_input_files(
        {
            "name": "cartera-diciembre.csv",
            "mimeType": "text/csv",
            "buffer": portfolio_csv(prefix, [2]),
        }
    )
    await page.get_by_label("Identificador de campaña").fill(campaign_id)
    await page.get_by_label("Estrategia").select_option("demo")
    await page.get_by_role("button", name="Validar e iniciar").click()

    await expect(page.locator("#upload-result")).to_contain_text(
        "Archivo rechazado: 1 error(es) en 1 línea(s). No se importó ni se inició nada."
    )
    problems = page.locator("#upload-problems tbody tr")
    await expect(problems).to_have_count(1)
    await expect(problems.locator("td").first).to_have_text("4")
    await expect(problems).to_contain_text("monto inválido")
    # The form keeps the choices, so only the file needs choosing again.
    await expect(page.get_by_label("Identificador de campaña")).to_have_value(campaign_id)
    await expect(page.get_by_label("Estrategia")).to_have_value("demo")
    await shot(page, tmp_path, "1-rejected-file")

    await page.get_by_label("Archivo CSV").set_input_files(
        {"name": "cartera-diciembre.csv", "mimeType": "text/csv", "buffer": portfolio_csv(prefix)}
    )
    await page.get_by_role("button", name="Validar e iniciar").click()

    await expect(page).to_have_url(re.compile(f"/campaigns/{campaign_id}"))
    await expect(page.locator(".flash.ok")).to_contain_text(f"Campaña {campaign_id} iniciada")
    await expect(page.locator("#kpi-accounts")).to_have_text("5")
    await expect(page.locator("#kpi-recovered + .label")).to_contain_text("$ 21.465.800")
    # The page reloads itself every few seconds while accounts open (no JavaScript).
    await expect(page.locator("#start-counts")).to_contain_text(
        "5 iniciadas · 0 omitidas · 0 fallidas · 0 pendientes de 5", timeout=30_000
    )
    await expect(page.locator("#start-progress")).to_have_attribute("value", "5")
    # "iniciando cuentas" until the campaign records that its fan-out finished.
    await expect(page.locator("#campaign-status")).to_contain_text("en gestión", timeout=15_000)
    await expect(page.locator("svg.chart").first).to_be_visible()
    await shot(page, tmp_path, "2-campaign-started")

    # Cancelling stops its collections (they would otherwise keep opening tasks for the team).
    await page.get_by_role("button", name="Cancelar campaña").click()
    await expect(page.locator(".flash.ok")).to_have_text(f"Campaña {campaign_id} cancelada.")
    # Recorded by the campaign just after the cancel returns; the page reloads until it shows.
    await expect(page.locator("#campaign-status")).to_contain_text("cancelada", timeout=15_000)
    await expect(page.get_by_role("button", name="Cancelar campaña")).to_have_count(0)
    await shot(page, tmp_path, "3-campaign-cancelled")


async def test_auditor_verifies_an_account_and_downloads_its_evidence(
    page: Page,
    tmp_path: Path,
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    web_queue: str,
) -> None:
    account = await account_with_task(dev_env, pool, web_queue)
    await log_in(page, USERS["auditor"])
    await expect(page).to_have_url(re.compile(r"/audit$"))
    await page.get_by_label("Cuenta (id interno)").fill(account.account_id)
    await page.get_by_role("button", name="Ver línea de tiempo").click()

    await expect(page).to_have_url(re.compile(f"/audit/{account.account_id}$"))
    await expect(page.locator("#verification-result")).to_have_text("✔ Verificación aprobada")
    await expect(page.locator("#checks tbody tr").first).to_be_visible()
    await expect(page.locator("#checks")).not_to_contain_text("FALLA")
    await expect(page.locator("#timeline")).to_contain_text("cobranza abierta")
    await expect(page.locator("#temporal-link")).to_have_attribute(
        "href", re.compile(re.escape(f"/workflows/{workflow_id_for(account.account_id)}") + "$")
    )
    await shot(page, tmp_path, "1-audit-timeline")

    async with page.expect_download() as started:
        await page.locator("#bundle-link").click()
    download = await started.value
    assert re.fullmatch(
        rf"evidencia-{account.account_id}-\d{{8}}-[0-9a-f]{{8}}\.zip", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert zipfile.is_zipfile(saved)
    folder = f"evidencia-{account.account_id}"
    with zipfile.ZipFile(saved) as bundle:
        assert bundle.testzip() is None
        names = set(bundle.namelist())
        assert f"{folder}/manifest.json" in names, names
        manifest = json.loads(bundle.read(f"{folder}/manifest.json"))
        # The manifest lists every other file with its SHA-256.
        assert manifest["account_id"] == account.account_id
        assert manifest["files"] and manifest["rows"] > 0
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(bundle.read(f"{folder}/{name}")).hexdigest() == digest, name
