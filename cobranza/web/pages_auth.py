"""Logging in and out, and the home page that sends each role to its own work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from cobranza.web.app import NoNul, render, services_of
from cobranza.web.security import (
    Principal,
    check_csrf,
    replace_session,
    require_principal,
    resolve_principal,
)
from cobranza.web.users import Role, authenticate, record_action

router = APIRouter(include_in_schema=False)

HOME: dict[Role, str] = {
    Role.OPS: "/campaigns",
    Role.AGENT: "/tasks",
    Role.SUPERVISOR: "/team",
    Role.AUDITOR: "/audit",
    Role.ADMIN: "/campaigns",
}


def safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/")
async def home(principal: Annotated[Principal, Depends(require_principal)]) -> Response:
    return RedirectResponse(HOME[principal.role] if principal.role else "/api/docs", 303)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if await resolve_principal(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64), NoNul],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    await check_csrf(request)
    services = services_of(request)
    user = await authenticate(services.pool, username.strip(), password)
    if user is None:
        await record_action(
            services.pool,
            actor=f"web:{username.strip()[:60]}",
            action="login",
            target=None,
            outcome="refused",
        )
        return render(
            request,
            "login.html",
            {
                "next": safe_next(next),
                "error": "usuario o contraseña incorrectos",
                "username": username,
            },
            401,
        )
    replace_session(request, services.sessions.new(user.username, user.session_version))
    await record_action(
        services.pool, actor=f"web:{user.username}", action="login", target=None, outcome="ok"
    )
    destination = safe_next(next)
    return RedirectResponse(HOME[user.role] if destination == "/" else destination, 303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await check_csrf(request)
    services = services_of(request)
    replace_session(request, services.sessions.new())
    return RedirectResponse("/login", 303)
