"""The console under test: a real uvicorn server in a thread (its own event loop, its own
Temporal client and pool, as in production), a worker on the dev server, users of every role."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from cobranza.settings import Settings
from cobranza.web.app import create_app

PASSWORD = "clave-de-prueba-2026"
# role -> username; agents of the team that gets the test tasks, and one of another team.
USERS: dict[str, str] = {
    "ops": "web-ops",
    "agent": "web-gestor",
    "other_agent": "web-gestor-b",
    "supervisor": "web-super",
    "auditor": "web-auditor",
    "admin": "web-admin",
}
TEAM = "preventiva"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WebServer:
    settings: Settings
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings) -> WebServer:
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.web_port,
            log_level="warning",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="web", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        # Readiness of a server we just started (sockets bound, lifespan done), not a test wait.
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web console did not start")
            time.sleep(0.05)
        return cls(settings, f"http://127.0.0.1:{settings.web_port}", server, thread)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def login(base_url: str, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A browser-like client with a logged-in session (cookie jar) and its CSRF token."""
    client = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=60)
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    home = await client.get(response.headers["location"])
    client.headers["x-csrf-token"] = csrf_of(home.text)
    return client


def form_csrf(client: httpx.AsyncClient) -> dict[str, Any]:
    return {"csrf_token": client.headers["x-csrf-token"]}
