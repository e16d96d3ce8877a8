"""Console access: `cobranza user add|list|disable`, `cobranza token add|list|revoke`, and
`cobranza web` (the console itself)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from cobranza.cli.common import console, database_url, db_pool, fail, local_time, run
from cobranza.cli.common import settings as load_settings
from cobranza.web.users import (
    ROLE_LABELS,
    Role,
    UserError,
    add_user,
    create_token,
    disable_user,
    list_tokens,
    list_users,
    parse_scopes,
    revoke_token,
)

user_app = typer.Typer(help="Usuarios de la consola web y sus roles.")
token_app = typer.Typer(help="Tokens de la API para integraciones (pasarelas, core bancario).")
app = typer.Typer()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first: str = typer.prompt("Contraseña", hide_input=True)
    again: str = typer.prompt("Repita la contraseña", hide_input=True)
    if first != again:
        raise fail("las contraseñas no coinciden", 2)
    return first


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Usuario (para gestores: su código de gestor).")],
    role: Annotated[Role, typer.Option("--role", help="ops, agent, supervisor, auditor o admin.")],
    team: Annotated[str | None, typer.Option("--team", help="Equipo (gestores).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Nombre (gestores).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Leer la contraseña de la entrada estándar.")
    ] = False,
) -> None:
    """Crea un usuario (o restablece su rol y contraseña y lo reactiva)."""
    settings = load_settings()
    password = _password(password_stdin)

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                user = await add_user(
                    pool, username=username, role=role, password=password, team=team, full_name=name
                )
            except UserError as err:
                raise fail(str(err), 2) from err
        team_text = f", equipo {user.team}" if user.team else ""
        console.print(
            f"Usuario {user.username} listo: rol {ROLE_LABELS[user.role]}{team_text}.",
            highlight=False,
        )

    run(main())


@user_app.command("list")
def user_list() -> None:
    """Lista los usuarios, su rol y su último ingreso."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            users = await list_users(pool)
        table = Table(title="Usuarios de la consola")
        for column in ("Usuario", "Rol", "Equipo", "Estado", "Último ingreso (Bogotá)"):
            table.add_column(column)
        for user in users:
            table.add_row(
                user.username,
                ROLE_LABELS[user.role],
                user.team or "—",
                "activo" if user.active else "deshabilitado",
                local_time(user.last_login_at),
            )
        console.print(table)

    run(main())


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Deshabilita un usuario; sus sesiones abiertas terminan en su siguiente solicitud."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                await disable_user(pool, username)
            except UserError as err:
                raise fail(str(err)) from err
        console.print(f"Usuario {username} deshabilitado.", highlight=False)

    run(main())


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="Nombre de la integración, p. ej. pasarela-pse.")],
    scope: Annotated[
        str,
        typer.Option("--scope", help="Alcances separados por comas, p. ej. payments:write."),
    ],
) -> None:
    """Crea un token de API; se muestra una sola vez."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                token, text = await create_token(pool, name=name, scopes=parse_scopes(scope))
            except UserError as err:
                raise fail(str(err), 2) from err
        console.print(
            f"Token {token.name} ({', '.join(token.scopes)}). Guárdelo ahora; no se vuelve a mostrar:",
            highlight=False,
        )
        print(text)

    run(main())


@token_app.command("list")
def token_list() -> None:
    """Lista los tokens (nunca su secreto)."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            tokens = await list_tokens(pool)
        table = Table(title="Tokens de la API")
        for column in ("Nombre", "Alcances", "Estado", "Creado", "Último uso (Bogotá)"):
            table.add_column(column)
        for token in tokens:
            table.add_row(
                token.name,
                ", ".join(token.scopes),
                "activo" if token.active else "revocado",
                local_time(token.created_at),
                local_time(token.last_used_at),
            )
        console.print(table)

    run(main())


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoca un token: deja de funcionar de inmediato."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                await revoke_token(pool, name)
            except UserError as err:
                raise fail(str(err)) from err
        console.print(f"Token {name} revocado.", highlight=False)

    run(main())


@app.command()
def web(
    host: Annotated[
        str | None, typer.Option("--host", help="Interfaz (COBRANZA_WEB_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Puerto (COBRANZA_WEB_PORT).")] = None,
) -> None:
    """Sirve la consola web y la API (por defecto en http://127.0.0.1:8000)."""
    from cobranza.logging import configure_logging
    from cobranza.web.server import serve

    configure_logging()
    settings = load_settings()
    update: dict[str, object] = {"database_url": database_url(settings)}
    if host is not None:
        update["web_host"] = host
    if port is not None:
        update["web_port"] = port
    settings = settings.model_copy(update=update)
    console.print(
        f"Consola web en http://{settings.web_host}:{settings.web_port} (Ctrl-C para detener).",
        highlight=False,
    )
    run(serve(settings))
