"""The web console and HTTP API (FastAPI): `create_app` wires settings, Temporal, Postgres, the
session codec and the templates, and mounts the pages and the `/api` routes.

Pages are rendered on the server (Jinja2, Spanish) and work without JavaScript; charts are SVG
drawn here. Every handler goes through the same functions as the CLI (cobranza.tasks,
cobranza.campaigns, cobranza.operations, cobranza.audit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg_pool import AsyncConnectionPool
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RPCError

from cobranza.db import apply_migrations, open_pool
from cobranza.settings import Settings
from cobranza.temporal import connect
from cobranza.web import formatting
from cobranza.web.security import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    Forbidden,
    NotAuthenticated,
    Principal,
    SessionCodec,
    session_of,
)

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent
API_PREFIX = "/api"
# Strict: no inline scripts or styles anywhere, so an injected tag can do nothing.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@dataclass
class Services:
    settings: Settings
    client: Client
    pool: AsyncConnectionPool
    sessions: SessionCodec
    templates: Jinja2Templates


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def web_secret(settings: Settings) -> str:
    """COBRANZA_WEB_SECRET, else a random secret kept (0600) in the state folder, so sessions
    survive a restart of the console on the same machine."""
    if settings.web_secret:
        return settings.web_secret
    path = settings.state_dir / "web-secret"
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise PydanticCustomError("nul_character", "el texto no puede contener el carácter nulo")
    return value


# Postgres text cannot hold NUL: free text that reaches it is refused as bad input (422).
NoNul = AfterValidator(_no_nul)


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path == "/openapi.json"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    services = services_of(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    values = {
        "principal": principal,
        "csrf_token": services.sessions.csrf_token(session_of(request)),
        "temporal_ui": services.settings.temporal_ui_url.rstrip("/"),
        "namespace": services.settings.temporal_namespace,
    }
    values.update(context or {})
    return services.templates.TemplateResponse(request, name, values, status_code=status_code)


def error_page(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    formatting.install(templates.env)
    return templates


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    pool: AsyncConnectionPool | None = None,
) -> FastAPI:
    """The console. Given a client and an open pool (tests) it uses them; otherwise it connects
    at start (and applies pending migrations, as the worker does) and closes at stop."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_pool: AsyncConnectionPool | None = None
        the_pool = pool
        if the_pool is None:
            if not settings.database_url:
                raise RuntimeError("DATABASE_URL is required by the web console")
            await asyncio.to_thread(apply_migrations, settings.database_url)
            owned_pool = the_pool = open_pool(settings.database_url, settings.db_pool_max)
            await owned_pool.open()
        the_client = client or await connect(settings)
        app.state.services = Services(
            settings=settings,
            client=the_client,
            pool=the_pool,
            sessions=SessionCodec(web_secret(settings)),
            templates=_templates(),
        )
        log.info("web_started", port=settings.web_port)
        try:
            yield
        finally:
            if owned_pool is not None:
                await owned_pool.close()

    app = FastAPI(
        title="Cobranza API",
        version="1.0",
        description=(
            "API de Cobranza: estado de cuentas, pagos (idempotentes por referencia), tareas de "
            "gestión, campañas y auditoría. Autenticación: token Bearer (`cobranza token add`) "
            "o la sesión de la consola web con el encabezado X-CSRF-Token."
        ),
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )

    @app.middleware("http")
    async def sessions(request: Request, call_next: Any) -> Response:
        codec: SessionCodec = request.app.state.services.sessions
        raw = request.cookies.get(SESSION_COOKIE)
        session = codec.loads(raw) if raw else None
        request.state.session = session or codec.new()
        request.state.session_changed = session is None
        response: Response = await call_next(request)
        if request.state.session_changed and not getattr(request.state, "via_token", False):
            response.set_cookie(
                SESSION_COOKIE,
                codec.dumps(request.state.session),
                max_age=SESSION_MAX_AGE_S,
                httponly=True,
                samesite="lax",
                secure=settings.web_secure_cookies,
                path="/",
            )
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _: NotAuthenticated) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "autenticación requerida: token Bearer o sesión de la consola"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        next_path = request.url.path if request.method == "GET" else "/"
        return render(request, "login.html", {"next": next_path, "error": None}, 401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, err: Forbidden) -> Response:
        return error_page(request, 403, err.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        message = err.detail if isinstance(err.detail, str) else "solicitud rechazada"
        if err.status_code == 404 and message == "Not Found":
            message = "la página no existe"
        if err.status_code == 405:
            message = "método no permitido"
        if err.status_code == 400:  # FastAPI and Starlette could not parse the body (English)
            message = "no se pudo leer el cuerpo de la solicitud: envíe JSON o un formulario válido"
        response = error_page(request, err.status_code, message)
        if err.headers:
            response.headers.update(err.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> Response:
        problems = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "message": e["msg"],
            }
            for e in err.errors()
        ]
        if is_api(request):
            return JSONResponse(
                {"detail": "solicitud inválida", "problems": problems}, status_code=422
            )
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return error_page(request, 422, f"solicitud inválida: {text}")

    @app.exception_handler(RPCError)
    async def temporal_down(request: Request, err: RPCError) -> Response:
        log.warning("temporal_error", status=str(err.status), path=request.url.path)
        return error_page(
            request, 503, "el servidor de Temporal no respondió; intente de nuevo en un momento"
        )

    from cobranza.web import api, pages_agent, pages_audit, pages_auth, pages_ops

    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(pages_auth.router)
    app.include_router(pages_ops.router)
    app.include_router(pages_agent.router)
    app.include_router(pages_audit.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
