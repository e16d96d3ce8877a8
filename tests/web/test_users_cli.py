"""`cobranza user ...` and `cobranza token ...`: what an admin types, against real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from cobranza.web.users import authenticate, token_for
from starter import app

pytestmark = pytest.mark.integration


def _flat(text: str) -> str:
    return " ".join(text.split())


async def test_admin_manages_users_and_tokens(database_url: str, pool: AsyncConnectionPool) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "COLUMNS": "200"}
    suffix = uuid.uuid4().hex[:6]

    async def cli(*args: str, stdin: str | None = None) -> Any:
        return await asyncio.to_thread(runner.invoke, app, list(args), env=env, input=stdin)

    agent = f"gestor-{suffix}"
    added = await cli(
        "user",
        "add",
        agent,
        "--role",
        "agent",
        "--team",
        "preventiva",
        "--name",
        "Pilar Rojas",
        "--password-stdin",
        stdin="una-clave-larga-1\n",
    )
    assert added.exit_code == 0, added.output
    assert "rol gestor, equipo preventiva" in _flat(added.stdout)
    user = await authenticate(pool, agent, "una-clave-larga-1")
    assert user is not None and user.team == "preventiva"
    # The password is stored as an argon2 hash, never as typed.
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT password_hash FROM web_users WHERE username = %s", (agent,)
        )
        (stored,) = await cur.fetchone()  # type: ignore[misc]
    assert stored.startswith("$argon2id$") and "una-clave" not in stored

    short = await cli(
        "user", "add", f"ops-{suffix}", "--role", "ops", "--password-stdin", stdin="corta\n"
    )
    assert short.exit_code == 2 and "al menos 10 caracteres" in _flat(short.stderr)
    orphan = await cli(
        "user",
        "add",
        f"nadie-{suffix}",
        "--role",
        "agent",
        "--password-stdin",
        stdin="una-clave-larga-1\n",
    )
    assert orphan.exit_code == 2 and "no es un gestor registrado" in _flat(orphan.stderr)
    bad_role = await cli(
        "user", "add", f"x-{suffix}", "--role", "jefe", "--password-stdin", stdin="x\n"
    )
    assert bad_role.exit_code == 2

    listed = await cli("user", "list")
    assert listed.exit_code == 0 and agent in listed.stdout
    disabled = await cli("user", "disable", agent)
    assert disabled.exit_code == 0
    assert await authenticate(pool, agent, "una-clave-larga-1") is None
    missing = await cli("user", "disable", f"nadie-{suffix}")
    assert missing.exit_code == 1 and "no existe" in _flat(missing.stderr)

    name = f"pasarela-{suffix}"
    token = await cli("token", "add", name, "--scope", "payments:write")
    assert token.exit_code == 0, token.output
    text = token.stdout.strip().splitlines()[-1]
    assert text.startswith("cbz_")
    found = await token_for(pool, text)
    assert found is not None and [s.value for s in found.scopes] == ["payments:write"]
    people_only = await cli("token", "add", f"t2-{suffix}", "--scope", "tasks:work")
    assert people_only.exit_code == 2 and "de personas" in _flat(people_only.stderr)
    listed_tokens = await cli("token", "list")
    assert name in listed_tokens.stdout and text not in listed_tokens.stdout
    revoked = await cli("token", "revoke", name)
    assert revoked.exit_code == 0
    assert await token_for(pool, text) is None
