"""Who is asking and what they may do: signed session cookies, CSRF tokens, bearer tokens.

The session cookie holds only `{username, session_version, nonce}`, signed (itsdangerous) with the
server secret; it is HttpOnly and SameSite=Lax, and Secure when the console is served over HTTPS.
Every request reloads the user, so a disabled user (whose session_version was bumped) is logged
out at once. The CSRF token of a session is an HMAC of its nonce: every form carries it, and a
cookie-authenticated API call must send it as `X-CSRF-Token`. Bearer tokens need no CSRF token:
a browser never sends them by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel

from cobranza.web.users import (
    ROLE_PERMISSIONS,
    TEAM_SCOPED,
    Permission,
    Role,
    WebUser,
    get_user,
    token_for,
)

SESSION_COOKIE = "cobranza_session"
SESSION_MAX_AGE_S = 12 * 3600  # one working day
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Session(BaseModel):
    username: str | None = None
    version: int = 0
    nonce: str


class Principal(BaseModel):
    """An authenticated caller: a person (cookie) or a system (bearer token)."""

    kind: Literal["user", "token"]
    name: str
    role: Role | None = None
    permissions: frozenset[Permission]
    team: str | None = None

    @property
    def actor(self) -> str:
        """How the collection log and web_actions name this caller (no personal data)."""
        return f"web:{self.name}" if self.kind == "user" else f"api:{self.name}"

    @property
    def team_scoped(self) -> bool:
        return self.role in TEAM_SCOPED

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


class NotAuthenticated(Exception):
    """No valid session or token: 401 (the API) or the login page (pages)."""


class Forbidden(Exception):
    """Authenticated but not allowed: 403."""

    def __init__(self, message: str = "no tiene permiso para esta acción") -> None:
        super().__init__(message)
        self.message = message


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="cobranza-session")

    def new(self, username: str | None = None, version: int = 0) -> Session:
        return Session(username=username, version=version, nonce=secrets.token_urlsafe(18))

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps(session.model_dump())

    def loads(self, value: str) -> Session | None:
        try:
            data = self._serializer.loads(value, max_age=SESSION_MAX_AGE_S)
            return Session.model_validate(data)
        except (BadSignature, ValueError):
            return None

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._secret, f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def replace_session(request: Request, session: Session) -> None:
    """Log in or out: a new nonce, so a token or cookie from before stops working."""
    request.state.session = session
    request.state.session_changed = True


def user_principal(user: WebUser) -> Principal:
    return Principal(
        kind="user",
        name=user.username,
        role=user.role,
        permissions=ROLE_PERMISSIONS[user.role],
        team=user.team,
    )


async def resolve_principal(request: Request) -> Principal | None:
    """The caller of this request, or None when anonymous; cached on the request."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    services = request.app.state.services
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated()
        token = await token_for(services.pool, value.strip())
        if token is None:
            raise NotAuthenticated()
        principal = Principal(kind="token", name=token.name, permissions=frozenset(token.scopes))
        request.state.via_token = True
    else:
        session = session_of(request)
        if session.username is not None:
            user = await get_user(services.pool, session.username)
            if user is not None and user.active and user.session_version == session.version:
                principal = user_principal(user)
            else:
                # Disabled, password changed or removed: back to an anonymous session.
                replace_session(request, services.sessions.new())
    request.state.principal = principal
    return principal


async def require_principal(request: Request) -> Principal:
    principal = await resolve_principal(request)
    if principal is None:
        raise NotAuthenticated()
    return principal


def require(permission: Permission):  # type: ignore[no-untyped-def]
    """A dependency: the caller, who must hold `permission` (401 anonymous, 403 otherwise).

    Unsafe methods made with the session cookie must carry the session's CSRF token (form field
    or header); the check runs before anything is read or written.
    """

    async def dependency(request: Request) -> Principal:
        principal = await require_principal(request)
        if request.method not in SAFE_METHODS and not getattr(request.state, "via_token", False):
            await check_csrf(request)
        if not principal.can(permission):
            raise Forbidden()
        return principal

    return dependency


async def check_csrf(request: Request) -> None:
    services = request.app.state.services
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not services.sessions.csrf_ok(session_of(request), token):
        raise HTTPException(status_code=403, detail="falta el token CSRF o no es válido")
