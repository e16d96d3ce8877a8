"""The JSON API against a real console, worker, Temporal dev server and Postgres."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from cobranza.web.users import add_user, disable_user
from tests.web.conftest import account_with_task
from tests.web.support import PASSWORD, USERS, WebServer, login

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_payment_token_posts_idempotent_payments_attributed_to_it(
    web: WebServer,
    tokens: dict[str, str],
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    web_queue: str,
) -> None:
    account = await account_with_task(dev_env, pool, web_queue)
    reference = f"PSE-{uuid.uuid4().hex[:10]}"
    body = {"account_id": account.account_id, "amount_cop": 200_000, "reference": reference}
    async with httpx.AsyncClient(base_url=web.base_url, timeout=60) as http:
        first = await http.post("/api/payments", json=body, headers=bearer(tokens["payments"]))
        again = await http.post("/api/payments", json=body, headers=bearer(tokens["payments"]))
        # The same token cannot read the account it paid.
        status = await http.get(
            f"/api/accounts/{account.account_id}", headers=bearer(tokens["payments"])
        )
        reused = await http.post(
            "/api/payments",
            json={**body, "amount_cop": 1},
            headers=bearer(tokens["payments"]),
        )
        wrong = await http.post("/api/payments", json=body, headers=bearer("cbz_0123456789ab_x"))
    assert first.status_code == 200 and first.json()["status"] == "applied"
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert status.status_code == 403
    assert reused.status_code == 409 and "ya se usó" in reused.json()["detail"]
    assert wrong.status_code == 401
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), min(source) FROM payments WHERE payment_reference = %s", (reference,)
        )
        count, source = await cur.fetchone()  # type: ignore[misc]
    assert count == 1 and source.startswith("api:pasarela-")


async def test_agent_claims_and_completes_through_the_api(
    web: WebServer, dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, web_queue: str
) -> None:
    account = await account_with_task(dev_env, pool, web_queue)
    task_id = account.task.task_id
    agent = await login(web.base_url, USERS["agent"])
    other = await login(web.base_url, USERS["other_agent"])
    try:
        listed = await agent.get("/api/tasks")
        assert task_id in {t["task_id"] for t in listed.json()}
        # Another team's agent can neither see nor take it.
        assert task_id not in {t["task_id"] for t in (await other.get("/api/tasks")).json()}
        assert (await other.get(f"/api/tasks/{task_id}")).status_code == 404
        assert (await other.post(f"/api/tasks/{task_id}/claim")).status_code == 404
        assert (await other.get(f"/api/accounts/{account.account_id}")).status_code == 403

        claimed = await agent.post(f"/api/tasks/{task_id}/claim")
        assert claimed.status_code == 200 and claimed.json()["assigned_to"] == USERS["agent"]
        bad = await agent.post(
            f"/api/tasks/{task_id}/complete",
            json={"outcome": "promise_to_pay", "amount": "5.000.000", "due": "2030-01-01"},
        )
        assert bad.status_code == 422
        fields = {p["field"] for p in bad.json()["problems"]}
        assert "amount_cop" in fields
        done = await agent.post(
            f"/api/tasks/{task_id}/complete", json={"outcome": "no_answer", "note": "buzón"}
        )
        assert done.status_code == 200 and done.json()["status"] == "accepted"
    finally:
        await agent.aclose()
        await other.aclose()
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT detail->>'agent_id' FROM collection_log
               WHERE account_id = %s AND kind = 'task_completed'""",
            (account.account_id,),
        )
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == [USERS["agent"]]


async def test_cookie_api_calls_need_the_csrf_header(web: WebServer) -> None:
    agent = await login(web.base_url, USERS["agent"])
    try:
        token = agent.headers.pop("x-csrf-token")
        refused = await agent.post("/api/tasks/T-0000000000000000/claim")
        agent.headers["x-csrf-token"] = token
        allowed = await agent.post("/api/tasks/T-0000000000000000/claim")
    finally:
        await agent.aclose()
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert allowed.status_code == 404


async def test_disabled_user_is_logged_out_at_once(
    web: WebServer, pool: AsyncConnectionPool
) -> None:
    username = f"web-temp-{uuid.uuid4().hex[:6]}"
    from cobranza.web.users import Role

    await add_user(pool, username=username, role=Role.AUDITOR, password=PASSWORD)
    auditor = await login(web.base_url, username)
    try:
        assert (await auditor.get("/api/campaigns")).status_code == 200
        await disable_user(pool, username)
        assert (await auditor.get("/api/campaigns")).status_code == 401
        again = await auditor.post("/login", data={"username": username, "password": PASSWORD})
        assert again.status_code in (401, 403)
    finally:
        await auditor.aclose()


async def test_auditor_exports_a_bundle_and_verifies(
    web: WebServer, dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, web_queue: str
) -> None:
    account = await account_with_task(dev_env, pool, web_queue)
    auditor = await login(web.base_url, USERS["auditor"])
    try:
        timeline = await auditor.get(f"/api/audit/{account.account_id}")
        verify = await auditor.get(f"/api/audit/{account.account_id}/verify")
        export = await auditor.get(f"/api/audit/{account.account_id}/export")
        payment = await auditor.post(
            "/api/payments",
            json={"account_id": account.account_id, "amount_cop": 1, "reference": "X-1"},
        )
    finally:
        await auditor.aclose()
    assert timeline.status_code == 200 and timeline.json()["timeline"]
    assert verify.status_code == 200 and all(c["passed"] for c in verify.json()["checks"])
    assert export.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert any(n.endswith("manifest.json") for n in names)
    assert payment.status_code == 403
