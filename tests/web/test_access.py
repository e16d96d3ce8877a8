"""Who may call what: every API route and every page, for every role, anonymous callers and a
payments-only bearer token, against a real console, worker, Temporal dev server and Postgres.

The matrix is the specification: `CAN` says what each caller may do (written out here, not read
from the code), `CASES` says what every route needs and what an allowed caller gets. The rules:

* anonymous: 401 (the API answers JSON, pages render the login form with status 401);
* authenticated without the permission: 403;
* allowed: the business outcome in `ok` (never 401/403), unless `override` says otherwise for
  a caller (the row-level rules: another team's agent does not see the task, nor its account).

Writes are chosen to pass authorization and change nothing: the task is already claimed by a
third agent, the campaign is imported but not started, the payment is for an unknown account and
the uploaded portfolio is invalid. `test_the_matrix_changed_nothing` checks that afterwards.

Then CSRF: form posts and cookie-authenticated API posts without the session's token are refused
with 403 before anything is read or written, and so is a login without it.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import iter_route_contexts
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from cobranza.campaigns import get_campaign
from cobranza.portfolio import OPTIONAL_FIELDS, REQUIRED_FIELDS
from cobranza.settings import Settings
from cobranza.tasks import add_agent, claim_task, get_task
from cobranza.web.app import create_app
from cobranza.web.users import Permission
from tests.integration.support import make_row
from tests.web.conftest import account_with_task
from tests.web.support import PASSWORD, TEAM, USERS, WebServer, csrf_of, login

pytestmark = pytest.mark.integration

P = Permission
PUBLIC: Literal["public"] = "public"  # no authentication at all
SIGNED_IN: Literal["signed_in"] = "signed_in"  # any authenticated caller
Need = Permission | Literal["public", "signed_in"]

# --- who calls -------------------------------------------------------------------------------------

# What every caller may do. `other_agent` is an agent of another team: the same permissions as
# `agent`, but the row-level rules hide the test team's task and account from it.
CAN: dict[str, frozenset[Permission]] = {
    "anonymous": frozenset(),
    "payments_token": frozenset({P.PAYMENTS_WRITE}),
    "ops": frozenset(
        {P.CAMPAIGNS_READ, P.CAMPAIGNS_WRITE, P.ACCOUNTS_READ, P.PAYMENTS_WRITE, P.TASKS_READ}
    ),
    "agent": frozenset({P.TASKS_READ, P.TASKS_WORK, P.ACCOUNTS_READ}),
    "other_agent": frozenset({P.TASKS_READ, P.TASKS_WORK, P.ACCOUNTS_READ}),
    "supervisor": frozenset({P.TASKS_READ, P.TASKS_WORK, P.TASKS_ASSIGN, P.ACCOUNTS_READ}),
    "auditor": frozenset({P.CAMPAIGNS_READ, P.ACCOUNTS_READ, P.TASKS_READ, P.AUDIT_READ}),
    "admin": frozenset(Permission),
}
CALLERS = tuple(CAN)
ROW_HIDDEN = {"other_agent": 404}  # another team's task: as if it did not exist
# Holds the test task, so every claim, release and completion in the matrix is refused.
HOLDER = "web-gestor-titular"
NOBODY = "nadie-registrado"  # no such agent: a reassignment to it is refused
BAD_CSV = b"account_id\nsolo-una-columna\n"  # missing columns: rejected, nothing imported
UNKNOWN_ACCOUNT = "acceso-sin-cobranza"


@dataclass(frozen=True)
class Case:
    """One route: what it needs, the request the matrix makes, what an allowed caller gets."""

    method: str
    route: str  # the path template, as in app.routes; {task_id} etc. are filled with real ids
    need: Need
    ok: frozenset[int] = frozenset({200})
    override: Mapping[str, int] = field(default_factory=dict)
    url: str | None = None  # when the request path is not the template (static files)
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    upload: bytes | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


def ok(*statuses: int) -> frozenset[int]:
    return frozenset(statuses)


CASES: tuple[Case, ...] = (
    # --- the JSON API ---
    Case("GET", "/api/accounts/{account_id}", P.ACCOUNTS_READ, override={"other_agent": 403}),
    Case(
        "POST",
        "/api/payments",
        P.PAYMENTS_WRITE,
        ok(404),
        json={"account_id": UNKNOWN_ACCOUNT, "amount_cop": 1000, "reference": "ACCESO-1"},
    ),
    Case("GET", "/api/tasks", P.TASKS_READ),
    Case("GET", "/api/tasks/{task_id}", P.TASKS_READ, override=ROW_HIDDEN),
    Case("POST", "/api/tasks/{task_id}/claim", P.TASKS_WORK, ok(409), ROW_HIDDEN),
    Case("POST", "/api/tasks/{task_id}/release", P.TASKS_WORK, ok(409), ROW_HIDDEN),
    Case(
        "POST", "/api/tasks/{task_id}/reassign", P.TASKS_ASSIGN, ok(409), json={"agent_id": NOBODY}
    ),
    Case(
        "POST",
        "/api/tasks/{task_id}/complete",
        P.TASKS_WORK,
        ok(409),
        ROW_HIDDEN,
        json={"outcome": "no_answer"},
    ),
    Case("GET", "/api/campaigns", P.CAMPAIGNS_READ),
    Case("POST", "/api/campaigns", P.CAMPAIGNS_WRITE, ok(422), upload=BAD_CSV),
    Case("GET", "/api/campaigns/{campaign_id}", P.CAMPAIGNS_READ),
    Case(
        "POST",
        "/api/campaigns/{campaign_id}/control",
        P.CAMPAIGNS_WRITE,
        ok(409),  # imported, not started
        json={"action": "pause", "reason": "matriz de acceso"},
    ),
    Case("GET", "/api/audit/{account_id}", P.AUDIT_READ),
    Case("GET", "/api/audit/{account_id}/verify", P.AUDIT_READ),
    Case("GET", "/api/audit/{account_id}/export", P.AUDIT_READ),
    # --- public: the API's documentation and the stylesheet ---
    Case("GET", "/openapi.json", PUBLIC),
    Case("GET", "/api/docs", PUBLIC),
    Case("GET", "/docs/oauth2-redirect", PUBLIC),
    Case("GET", "/static", PUBLIC, url="/static/style.css"),
    # --- pages ---
    Case("GET", "/", SIGNED_IN, ok(303)),  # to the caller's home
    Case("GET", "/login", PUBLIC, ok(303), {"anonymous": 200}),  # signed in: sent home
    Case("GET", "/campaigns", P.CAMPAIGNS_READ),
    Case("GET", "/campaigns/new", P.CAMPAIGNS_WRITE),
    Case("POST", "/campaigns/new", P.CAMPAIGNS_WRITE, ok(422), upload=BAD_CSV),
    Case("GET", "/campaigns/{campaign_id}", P.CAMPAIGNS_READ),
    Case(
        "POST",
        "/campaigns/{campaign_id}/control",
        P.CAMPAIGNS_WRITE,
        ok(409),
        form={"action": "pause", "reason": "matriz de acceso"},
    ),
    # The admin holds every permission but is no registered agent: it has no worklist.
    Case("GET", "/tasks", P.TASKS_WORK, override={"admin": 403}),
    Case("GET", "/tasks/{task_id}", P.TASKS_READ, override=ROW_HIDDEN),
    Case("POST", "/tasks/{task_id}/claim", P.TASKS_WORK, ok(409), ROW_HIDDEN),
    Case("POST", "/tasks/{task_id}/release", P.TASKS_WORK, ok(409), ROW_HIDDEN),
    Case("POST", "/tasks/{task_id}/reassign", P.TASKS_ASSIGN, ok(409), form={"agent_id": NOBODY}),
    Case(
        "POST",
        "/tasks/{task_id}/complete",
        P.TASKS_WORK,
        ok(422),  # the form comes back with the refusal
        ROW_HIDDEN,
        form={"outcome": "no_answer"},
    ),
    Case("GET", "/team", P.TASKS_ASSIGN),
    Case("GET", "/audit", P.AUDIT_READ),
    Case("GET", "/audit/{account_id}", P.AUDIT_READ),
    Case("GET", "/audit/{account_id}/bundle", P.AUDIT_READ),
)
# Routes whose every caller cannot share one request (they change the caller's session).
ELSEWHERE: dict[tuple[str, str], str] = {
    ("POST", "/login"): "test_login_is_refused_without_the_csrf_token and support.login",
    ("POST", "/logout"): "test_logout_ends_the_session_only_with_the_csrf_token",
}


def expected(case: Case, caller: str) -> frozenset[int]:
    if caller in case.override:
        return ok(case.override[caller])
    if case.need == PUBLIC:
        return case.ok
    if caller == "anonymous":
        return ok(401)
    if case.need == SIGNED_IN or case.need in CAN[caller]:
        return case.ok
    return ok(403)


def served_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; a mount counts as GET."""
    app = create_app(Settings())
    return {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in (getattr(route, "methods", None) or {"GET"})
        if method != "HEAD"
    }


def test_the_matrix_covers_every_route() -> None:
    listed = [(c.method, c.route) for c in CASES] + list(ELSEWHERE)
    assert len(listed) == len(set(listed)), "a route is listed twice"
    served = served_routes()
    assert served - set(listed) == set(), "routes with no entry in the access matrix"
    assert set(listed) - served == set(), "matrix entries for routes that no longer exist"


def test_allowed_callers_are_never_told_401_or_403_by_the_table() -> None:
    """A typo guard: `ok` is a business outcome; only `override` may deny an allowed caller."""
    for case in CASES:
        assert not case.ok & {401, 403}, case


# --- fixtures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    account_id: str
    task_id: str
    campaign_id: str

    def fill(self, route: str) -> str:
        return route.format(
            account_id=self.account_id, task_id=self.task_id, campaign_id=self.campaign_id
        )


@pytest_asyncio.fixture(scope="module")
async def held(dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, web_queue: str) -> Ids:
    """An account whose call task (of the test agent's team) a third agent holds."""
    account = await account_with_task(dev_env, pool, web_queue)
    await add_agent(pool, agent_id=HOLDER, full_name="Titular de la tarea", team=TEAM)
    await claim_task(pool, account.task.task_id, HOLDER)
    assert account.task.campaign_id is not None
    return Ids(account.account_id, account.task.task_id, account.task.campaign_id)


@pytest_asyncio.fixture(scope="module")
async def callers(
    web: WebServer, tokens: dict[str, str]
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One client per caller; the signed-in ones send their session's CSRF token."""
    clients: dict[str, httpx.AsyncClient] = {
        "anonymous": httpx.AsyncClient(base_url=web.base_url, timeout=60),
        "payments_token": httpx.AsyncClient(
            base_url=web.base_url,
            timeout=60,
            headers={"authorization": f"Bearer {tokens['payments']}"},
        ),
    }
    for caller, username in USERS.items():
        clients[caller] = await login(web.base_url, username)
    assert set(clients) == set(CALLERS)
    yield clients
    for client in clients.values():
        await client.aclose()


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    upload: bytes | None = None,
) -> httpx.Response:
    files = {"file": ("cartera.csv", upload, "text/csv")} if upload is not None else None
    return await client.request(method, url, json=json, data=form, files=files)


# --- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("caller", CALLERS)
async def test_access(
    caller: str, case: Case, callers: dict[str, httpx.AsyncClient], held: Ids
) -> None:
    url = case.url or held.fill(case.route)
    response = await send(
        callers[caller], case.method, url, json=case.json, form=case.form, upload=case.upload
    )
    want = expected(case, caller)
    assert response.status_code in want, (
        f"{caller} {case.method} {url}: got {response.status_code}, want {sorted(want)}: "
        f"{response.text[:300]}"
    )
    is_api = url.startswith("/api/")
    if response.status_code == 401:
        if is_api:
            assert response.headers["www-authenticate"] == "Bearer"
            assert "autenticación requerida" in response.json()["detail"]
        else:  # the login form, so a browser can sign in and come back
            assert 'name="password"' in response.text
    elif response.status_code == 403:
        if is_api:
            assert response.json()["detail"]
        else:
            assert "Acceso denegado" in response.text


async def test_the_matrix_changed_nothing(pool: AsyncConnectionPool, held: Ids) -> None:
    """Every write above was refused by the business rules after passing authorization."""
    task = await get_task(pool, held.task_id)
    assert task is not None and (task.status, task.assigned_to) == ("claimed", HOLDER)
    campaign = await get_campaign(pool, held.campaign_id)
    assert campaign is not None and campaign.status == "imported"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM payments WHERE account_id = %s", (UNKNOWN_ACCOUNT,)
        )
        assert await cur.fetchone() == (0,)
        cur = await conn.execute(
            "SELECT count(*) FROM task_notes WHERE task_id = %s", (held.task_id,)
        )
        assert await cur.fetchone() == (0,)
        cur = await conn.execute(
            "SELECT event FROM agent_task_events WHERE task_id = %s ORDER BY id", (held.task_id,)
        )
        events = [row[0] for row in await cur.fetchall()]
    assert "claimed" in events and not {"released", "reassigned", "completed"} & set(events)


async def test_an_agent_cannot_list_another_teams_tasks(
    callers: dict[str, httpx.AsyncClient], held: Ids
) -> None:
    other = await callers["other_agent"].get("/api/tasks", params={"team": TEAM})
    own = await callers["other_agent"].get("/api/tasks")
    mates = await callers["agent"].get("/api/tasks")
    assert other.status_code == 403
    assert own.status_code == 200 and held.task_id not in {t["task_id"] for t in own.json()}
    assert mates.status_code == 200 and held.task_id in {t["task_id"] for t in mates.json()}


async def test_controlling_an_unknown_campaign_is_404_on_the_page_and_the_api(
    callers: dict[str, httpx.AsyncClient],
) -> None:
    page = await callers["ops"].post("/campaigns/no-existe/control", data={"action": "pause"})
    api = await callers["ops"].post("/api/campaigns/no-existe/control", json={"action": "pause"})
    assert page.status_code == 404 and "la campaña &#39;no-existe&#39; no existe" in page.text
    assert api.status_code == 404 and api.json()["detail"] == "la campaña 'no-existe' no existe"


# --- CSRF ------------------------------------------------------------------------------------------


def portfolio_csv(campaign_rows: int = 2) -> bytes:
    """A valid portfolio: were its upload accepted, it would start a campaign."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REQUIRED_FIELDS + OPTIONAL_FIELDS)
    for line in range(2, campaign_rows + 2):
        row = make_row(line)
        writer.writerow(
            [
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
        )
    return out.getvalue().encode()


FORGED_CAMPAIGN = f"csrf-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Forged:
    """An unsafe request by a caller who holds the permission, but without the CSRF token.
    Had it been accepted it would have changed something."""

    caller: str
    method: str
    route: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    portfolio: bool = False  # upload a valid portfolio file

    def __str__(self) -> str:
        return f"{self.caller} {self.method} {self.route}"


FORGED: tuple[Forged, ...] = (
    # Form posts from the pages.
    Forged("ops", "POST", "/campaigns/new", form={"campaign_id": FORGED_CAMPAIGN}, portfolio=True),
    Forged("ops", "POST", "/campaigns/{campaign_id}/control", form={"action": "cancel"}),
    Forged("agent", "POST", "/tasks/{task_id}/claim", form={}),
    Forged("agent", "POST", "/tasks/{task_id}/release", form={}),
    Forged("supervisor", "POST", "/tasks/{task_id}/reassign", form={"agent_id": USERS["agent"]}),
    Forged("agent", "POST", "/tasks/{task_id}/complete", form={"outcome": "no_answer"}),
    Forged("agent", "POST", "/logout", form={}),
    # The API with the session cookie and no X-CSRF-Token header.
    Forged(
        "ops",
        "POST",
        "/api/payments",
        json={"account_id": "{account_id}", "amount_cop": 50_000, "reference": "CSRF-1"},
    ),
    Forged("ops", "POST", "/api/campaigns", form={"campaign_id": FORGED_CAMPAIGN}, portfolio=True),
    Forged("ops", "POST", "/api/campaigns/{campaign_id}/control", json={"action": "cancel"}),
    Forged("agent", "POST", "/api/tasks/{task_id}/claim"),
    Forged("agent", "POST", "/api/tasks/{task_id}/release"),
    Forged("supervisor", "POST", "/api/tasks/{task_id}/reassign", json={"agent_id": "web-gestor"}),
    Forged("agent", "POST", "/api/tasks/{task_id}/complete", json={"outcome": "no_answer"}),
)


def test_every_unsafe_route_has_a_csrf_case() -> None:
    unsafe = {(m, path) for m, path in served_routes() if m not in ("GET", "HEAD", "OPTIONS")}
    covered = {(f.method, f.route) for f in FORGED} | {("POST", "/login")}
    assert unsafe == covered


@pytest_asyncio.fixture(scope="module")
async def open_task(dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, web_queue: str) -> Ids:
    """An account whose call task is open: any accepted claim or reassignment would show."""
    account = await account_with_task(dev_env, pool, web_queue)
    assert account.task.campaign_id is not None
    return Ids(account.account_id, account.task.task_id, account.task.campaign_id)


async def last_action_id(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(max(id), 0) FROM web_actions")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("forged", FORGED, ids=str)
@pytest.mark.parametrize("token", ["missing", "another session's"])
async def test_unsafe_requests_without_the_csrf_token_are_refused_and_change_nothing(
    forged: Forged, token: str, web: WebServer, pool: AsyncConnectionPool, open_task: Ids
) -> None:
    client = await login(web.base_url, USERS[forged.caller])
    other = await login(web.base_url, USERS[forged.caller])
    before = await last_action_id(pool)
    try:
        if token == "missing":
            del client.headers["x-csrf-token"]
        else:  # valid, but for the other session
            client.headers["x-csrf-token"] = other.headers["x-csrf-token"]
        json = (
            {k: open_task.fill(v) if isinstance(v, str) else v for k, v in forged.json.items()}
            if forged.json
            else None
        )
        upload = portfolio_csv() if forged.portfolio else None
        response = await send(
            client,
            forged.method,
            open_task.fill(forged.route),
            json=json,
            form=forged.form,
            upload=upload,
        )
        still_signed_in = await client.get("/")
    finally:
        await client.aclose()
        await other.aclose()
    assert response.status_code == 403, response.text[:300]
    assert "falta el token CSRF o no es válido" in response.text
    assert still_signed_in.status_code == 303  # the logout did not happen either

    # Nothing was read or written: not even a refusal was recorded.
    assert await last_action_id(pool) == before
    task = await get_task(pool, open_task.task_id)
    assert task is not None and (task.status, task.assigned_to) == ("open", None)
    assert await get_campaign(pool, FORGED_CAMPAIGN) is None
    campaign = await get_campaign(pool, open_task.campaign_id)
    assert campaign is not None and campaign.status == "imported"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM payments WHERE account_id = %s", (open_task.account_id,)
        )
        assert await cur.fetchone() == (0,)


async def test_login_is_refused_without_the_csrf_token(
    web: WebServer, pool: AsyncConnectionPool
) -> None:
    before = await last_action_id(pool)
    async with httpx.AsyncClient(base_url=web.base_url, timeout=60) as browser:
        await browser.get("/login")  # a session, but its token is not sent
        refused = await browser.post(
            "/login", data={"username": USERS["admin"], "password": PASSWORD}
        )
        home = await browser.get("/")
        # A token from another browser's session does not do either.
        async with httpx.AsyncClient(base_url=web.base_url, timeout=60) as elsewhere:
            stolen = csrf_of((await elsewhere.get("/login")).text)
        forged = await browser.post(
            "/login",
            data={"username": USERS["admin"], "password": PASSWORD, "csrf_token": stolen},
        )
        home_again = await browser.get("/")
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert forged.status_code == 403
    assert home.status_code == 401 and home_again.status_code == 401  # still anonymous
    assert await last_action_id(pool) == before  # no login attempt was even recorded


async def test_logout_ends_the_session_only_with_the_csrf_token(web: WebServer) -> None:
    client = await login(web.base_url, USERS["auditor"])
    try:
        token = client.headers.pop("x-csrf-token")
        refused = await client.post("/logout")
        assert refused.status_code == 403
        assert (await client.get("/audit")).status_code == 200
        done = await client.post("/logout", data={"csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == "/login"
        assert (await client.get("/audit")).status_code == 401
    finally:
        await client.aclose()
