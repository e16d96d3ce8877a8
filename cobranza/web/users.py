"""Console users, roles and API tokens: who may log in, what each role may do, which scopes a
token carries. Passwords are hashed with argon2id; a token's secret is kept only as its SHA-256
(it is long and random, so a slow hash adds nothing).

The CLI (`cobranza user ...`, `cobranza token ...`) and the web app share these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from cobranza.tasks import TaskError, add_agent


class Role(StrEnum):
    OPS = "ops"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.OPS: "operaciones",
    Role.AGENT: "gestor",
    Role.SUPERVISOR: "supervisor",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "administrador",
}


class Permission(StrEnum):
    ACCOUNTS_READ = "accounts:read"
    PAYMENTS_WRITE = "payments:write"
    TASKS_READ = "tasks:read"
    TASKS_WORK = "tasks:work"  # claim, release, complete: a person with an agent code
    TASKS_ASSIGN = "tasks:assign"  # supervisors reassign
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    AUDIT_READ = "audit:read"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPS: frozenset(
        {P.CAMPAIGNS_READ, P.CAMPAIGNS_WRITE, P.ACCOUNTS_READ, P.PAYMENTS_WRITE, P.TASKS_READ}
    ),
    Role.AGENT: frozenset({P.TASKS_READ, P.TASKS_WORK, P.ACCOUNTS_READ}),
    Role.SUPERVISOR: frozenset({P.TASKS_READ, P.TASKS_WORK, P.TASKS_ASSIGN, P.ACCOUNTS_READ}),
    # Auditors read everything and change nothing.
    Role.AUDITOR: frozenset({P.CAMPAIGNS_READ, P.ACCOUNTS_READ, P.TASKS_READ, P.AUDIT_READ}),
    Role.ADMIN: frozenset(Permission),
}
# Agents and supervisors are limited to their team's tasks and accounts.
TEAM_SCOPED: frozenset[Role] = frozenset({Role.AGENT, Role.SUPERVISOR})
# A token acts for a system, never for a person, so it cannot work tasks (that needs an agent).
TOKEN_SCOPES: frozenset[Permission] = frozenset(Permission) - {P.TASKS_WORK, P.TASKS_ASSIGN}
TOKEN_PREFIX = "cbz_"

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong username costs the same time.
_DUMMY_HASH = _hasher.hash("cobranza-no-such-user")
MIN_PASSWORD = 10


class UserError(ValueError):
    """A refused user or token request; the message is Spanish and nothing was changed."""


class WebUser(BaseModel):
    username: str
    role: Role
    active: bool
    session_version: int
    created_at: datetime
    last_login_at: datetime | None
    # From the agents table, for agents and supervisors.
    team: str | None = None
    full_name: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]


class ApiToken(BaseModel):
    token_id: str
    name: str
    scopes: list[Permission]
    active: bool
    created_at: datetime
    last_used_at: datetime | None


_USER_SELECT = """SELECT u.username, u.role, u.active, u.session_version, u.created_at,
    u.last_login_at, a.team, a.full_name
    FROM web_users u LEFT JOIN agents a ON a.agent_id = u.username"""
_USER_FIELDS = (
    "username",
    "role",
    "active",
    "session_version",
    "created_at",
    "last_login_at",
    "team",
    "full_name",
)


def _user(row: tuple[object, ...]) -> WebUser:
    return WebUser.model_validate(dict(zip(_USER_FIELDS, row, strict=True)))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"la contraseña debe tener al menos {MIN_PASSWORD} caracteres")
    if password.strip() != password:
        raise UserError("la contraseña no puede empezar ni terminar con espacios")


async def add_user(
    pool: AsyncConnectionPool,
    *,
    username: str,
    role: Role,
    password: str,
    team: str | None = None,
    full_name: str | None = None,
) -> WebUser:
    """Create a user (or reset an existing one's role and password and re-enable it).

    Agents and supervisors need an agent record: given a team and name it is created or updated
    through the worklist's own `add_agent`; without them an existing agent record is used.
    """
    check_password_strength(password)
    password_hash = _hasher.hash(password)
    if role in TEAM_SCOPED:
        if team is not None or full_name is not None:
            if team is None or full_name is None:
                raise UserError("para un gestor o supervisor indique --team y --name juntos")
            try:
                await add_agent(
                    pool,
                    agent_id=username,
                    full_name=full_name,
                    team=team,
                    role="supervisor" if role is Role.SUPERVISOR else "agent",
                )
            except TaskError as err:
                raise UserError(str(err)) from err
        else:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT role FROM agents WHERE agent_id = %s AND active", (username,)
                )
                found = await cur.fetchone()
            if found is None:
                raise UserError(
                    f"{username!r} no es un gestor registrado: indique --team y --name "
                    "(o regístrelo con 'cobranza agent add')"
                )
            if (found[0] == "supervisor") != (role is Role.SUPERVISOR):
                raise UserError(
                    f"{username!r} está registrado como {found[0]}: use --role {found[0]}"
                )
    elif team is not None:
        raise UserError("--team solo aplica a gestores y supervisores")
    async with pool.connection() as conn:
        try:
            await conn.execute(
                """INSERT INTO web_users (username, role, password_hash) VALUES (%s, %s, %s)
                   ON CONFLICT (username) DO UPDATE SET role = EXCLUDED.role,
                       password_hash = EXCLUDED.password_hash, active = true,
                       session_version = web_users.session_version + 1, updated_at = now()""",
                (username, role.value, password_hash),
            )
        except Exception as err:  # the CHECK on the username
            if "web_users_username_check" in str(err):
                raise UserError(
                    f"usuario inválido {username!r}: letras, dígitos, '.', '_' o '-' (hasta 64)"
                ) from err
            raise
    user = await get_user(pool, username)
    assert user is not None
    return user


async def get_user(pool: AsyncConnectionPool, username: str) -> WebUser | None:
    async with pool.connection() as conn:
        cur = await conn.execute(f"{_USER_SELECT} WHERE u.username = %s", (username,))
        row = await cur.fetchone()
    return _user(row) if row else None


async def list_users(pool: AsyncConnectionPool) -> list[WebUser]:
    async with pool.connection() as conn:
        cur = await conn.execute(f"{_USER_SELECT} ORDER BY u.role, u.username")
        return [_user(row) for row in await cur.fetchall()]


async def disable_user(pool: AsyncConnectionPool, username: str) -> WebUser:
    """Disable a login; its open sessions end at their next request."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """UPDATE web_users SET active = false, session_version = session_version + 1,
                   updated_at = now() WHERE username = %s RETURNING username""",
            (username,),
        )
        if await cur.fetchone() is None:
            raise UserError(f"el usuario {username!r} no existe")
    user = await get_user(pool, username)
    assert user is not None
    return user


async def authenticate(pool: AsyncConnectionPool, username: str, password: str) -> WebUser | None:
    """The active user with this password, or None (same answer and cost for every failure)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT password_hash, active FROM web_users WHERE username = %s", (username,)
        )
        row = await cur.fetchone()
    stored, active = (row[0], bool(row[1])) if row else (_DUMMY_HASH, False)
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not active:
        return None
    async with pool.connection() as conn:
        if _hasher.check_needs_rehash(stored):
            await conn.execute(
                "UPDATE web_users SET password_hash = %s WHERE username = %s",
                (_hasher.hash(password), username),
            )
        await conn.execute(
            "UPDATE web_users SET last_login_at = now() WHERE username = %s", (username,)
        )
    return await get_user(pool, username)


# --- API tokens ------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> list[Permission]:
    scopes: list[Permission] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            scope = Permission(part)
        except ValueError as err:
            allowed = ", ".join(sorted(s.value for s in TOKEN_SCOPES))
            raise UserError(f"alcance desconocido {part!r}; use: {allowed}") from err
        if scope not in TOKEN_SCOPES:
            raise UserError(
                f"el alcance {part!r} es de personas (un gestor con su código), no de tokens"
            )
        if scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise UserError("indique al menos un alcance (--scope)")
    return scopes


async def create_token(
    pool: AsyncConnectionPool, *, name: str, scopes: list[Permission]
) -> tuple[ApiToken, str]:
    """A new token and its full text (`cbz_<id>_<secret>`), which is shown once and never kept."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        try:
            await conn.execute(
                """INSERT INTO api_tokens (token_id, name, scopes, secret_sha256)
                   VALUES (%s, %s, %s, %s)""",
                (token_id, name, [s.value for s in scopes], _digest(secret)),
            )
        except Exception as err:
            if "api_tokens_name_key" in str(err):
                raise UserError(f"ya existe un token llamado {name!r}") from err
            if "api_tokens_name_check" in str(err):
                raise UserError(
                    f"nombre de token inválido {name!r}: letras, dígitos, '.', '_' o '-'"
                ) from err
            raise
    tokens = {t.token_id: t for t in await list_tokens(pool)}
    return tokens[token_id], f"{TOKEN_PREFIX}{token_id}_{secret}"


async def list_tokens(pool: AsyncConnectionPool) -> list[ApiToken]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT token_id, name, scopes, active, created_at, last_used_at
               FROM api_tokens ORDER BY name"""
        )
        rows = await cur.fetchall()
    return [
        ApiToken(
            token_id=r[0],
            name=r[1],
            scopes=[Permission(s) for s in r[2]],
            active=r[3],
            created_at=r[4],
            last_used_at=r[5],
        )
        for r in rows
    ]


async def revoke_token(pool: AsyncConnectionPool, name: str) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE api_tokens SET active = false WHERE name = %s RETURNING name", (name,)
        )
        if await cur.fetchone() is None:
            raise UserError(f"el token {name!r} no existe")


async def token_for(pool: AsyncConnectionPool, text: str) -> ApiToken | None:
    """The active token this bearer text names, or None."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, _, secret = text.removeprefix(TOKEN_PREFIX).partition("_")
    if len(token_id) != 12 or not secret:
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(
            """UPDATE api_tokens SET last_used_at = now() WHERE token_id = %s AND active
               RETURNING secret_sha256""",
            (token_id,),
        )
        row = await cur.fetchone()
    if row is None or not hmac.compare_digest(row[0], _digest(secret)):
        return None
    tokens = {t.token_id: t for t in await list_tokens(pool)}
    return tokens.get(token_id)


ActionOutcome = Literal["ok", "refused"]


async def record_action(
    pool: AsyncConnectionPool,
    *,
    actor: str,
    action: str,
    target: str | None,
    outcome: ActionOutcome,
    detail: dict[str, object] | None = None,
) -> None:
    """One row in web_actions: who did what through the console or the API (no personal data)."""
    from psycopg.types.json import Jsonb

    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO web_actions (actor, action, target, outcome, detail)
               VALUES (%s, %s, %s, %s, %s)""",
            (actor, action, target, outcome, Jsonb(detail or {})),
        )
