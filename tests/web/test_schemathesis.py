"""Property-based tests of the JSON API from its own OpenAPI document (schemathesis): valid and
invalid requests to every operation, with a bearer token that holds every token scope, must never
get a server error. The examples are derandomized, so a run in CI is the same every time.

The document is the one the app serves at /openapi.json: it is built here from the same app at
collection time, so every operation is its own test, and compared with the served one. (The
lazy `schemathesis.pytest.from_fixture` loader does not run on pytest 9: it sets
`request.node._nodeid`, which pytest 9 no longer has.)

Then the bad inputs the fuzzer may miss in a short run, each once a server error: a NUL
character (Postgres text cannot hold it) and a body that cannot be parsed get a 4xx in Spanish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cobranza.settings import Settings
from cobranza.web.app import create_app
from tests.web.support import USERS, WebServer, csrf_of, login

pytestmark = pytest.mark.integration

DOCUMENT: dict[str, Any] = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


async def test_the_fuzzed_document_is_the_served_one(web: WebServer) -> None:
    async with httpx.AsyncClient(base_url=web.base_url, timeout=60) as http:
        served = await http.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, web: WebServer, tokens: dict[str, str]
) -> None:
    response = case.call(
        base_url=web.base_url, headers={"Authorization": f"Bearer {tokens['all']}"}, timeout=60
    )
    case.validate_response(response, checks=[not_a_server_error])


# --- bad input the fuzzer may not reach in 30 examples ---------------------------------------------

NUL = "nada\x00más"
NO_TASK = "T-0000000000000000"  # the body is refused before the task is looked up
NUL_REFUSED = "el texto no puede contener el carácter nulo"
UNREADABLE = "no se pudo leer el cuerpo de la solicitud: envíe JSON o un formulario válido"


@dataclass(frozen=True)
class Bad:
    caller: str  # "token" (every token scope), "anonymous" or a key of USERS
    method: str
    url: str
    field: str
    says: str
    status: int = 422
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    raw: tuple[str, bytes] | None = None  # content type, body

    def __str__(self) -> str:
        return f"{self.caller} {self.method} {self.url} {self.field}"


BAD_INPUT: tuple[Bad, ...] = (
    Bad("token", "GET", "/api/tasks?team=nada%00mas", "team", "team"),
    Bad("token", "GET", "/api/tasks?campaign_id=nada%00mas", "campaign_id", "campaign_id"),
    Bad(
        "token",
        "POST",
        "/api/campaigns/no-existe/control",
        "reason",
        NUL_REFUSED,
        json={"action": "pause", "reason": NUL},
    ),
    Bad(
        "agent",
        "POST",
        f"/api/tasks/{NO_TASK}/complete",
        "note",
        NUL_REFUSED,
        json={"outcome": "no_answer", "note": NUL},
    ),
    Bad(
        "agent",
        "POST",
        f"/tasks/{NO_TASK}/complete",
        "note",
        NUL_REFUSED,
        form={"outcome": "no_answer", "note": NUL},
    ),
    Bad(
        "supervisor",
        "POST",
        f"/tasks/{NO_TASK}/reassign",
        "agent_id",
        NUL_REFUSED,
        form={"agent_id": NUL},
    ),
    Bad(
        "ops",
        "POST",
        "/campaigns/no-existe/control",
        "reason",
        NUL_REFUSED,
        form={"action": "pause", "reason": NUL},
    ),
    Bad(
        "anonymous",
        "POST",
        "/login",
        "username",
        NUL_REFUSED,
        form={"username": NUL, "password": "x" * 12},
    ),
    Bad(
        "token",
        "POST",
        "/api/payments",
        "body",
        UNREADABLE,
        400,
        raw=("application/json", b"\xf4\x1a\xb1"),
    ),
    Bad(
        "token",
        "POST",
        "/api/campaigns",
        "body",
        UNREADABLE,
        400,
        raw=("multipart/form-data", b"--x--"),
    ),
)


@pytest.mark.parametrize("bad", BAD_INPUT, ids=str)
async def test_bad_input_gets_a_clear_4xx_in_spanish(
    bad: Bad, web: WebServer, tokens: dict[str, str]
) -> None:
    form = dict(bad.form) if bad.form is not None else None
    if bad.caller == "token":
        bearer = {"authorization": f"Bearer {tokens['all']}"}
        client = httpx.AsyncClient(base_url=web.base_url, timeout=60, headers=bearer)
    elif bad.caller == "anonymous":
        client = httpx.AsyncClient(base_url=web.base_url, timeout=60)
        assert form is not None
        form["csrf_token"] = csrf_of((await client.get("/login")).text)
    else:
        client = await login(web.base_url, USERS[bad.caller])
    try:
        if bad.raw is not None:
            content_type, body = bad.raw
            response = await client.request(
                bad.method, bad.url, content=body, headers={"content-type": content_type}
            )
        else:
            response = await client.request(bad.method, bad.url, json=bad.json, data=form)
    finally:
        await client.aclose()
    assert response.status_code == bad.status, response.text[:300]
    assert bad.says in response.text
    if bad.url.startswith("/api/"):
        assert response.json()["detail"] in ("solicitud inválida", UNREADABLE)
