"""What every command shares: consoles, Spanish errors, settings, connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import typer
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from temporalio.client import Client

from cobranza import localstack
from cobranza.db import open_pool
from cobranza.domain import BOGOTA
from cobranza.money import parse_cop
from cobranza.settings import Settings
from cobranza.temporal import connect

# soft_wrap: long messages and URLs stay on one line, so they can be copied and grepped.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a Spanish error and return the Exit to raise (1: refused, 2: bad input)."""
    err_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings() -> Settings:
    return Settings.from_env()


def database_url(current: Settings) -> str:
    if current.database_url:
        return current.database_url
    state = localstack.read_state(current)
    if state is not None:
        return state.database_url
    raise fail(
        "no hay base de datos configurada: exporte DATABASE_URL o ejecute 'cobranza up --detach'"
    )


async def temporal_client(current: Settings) -> Client:
    try:
        return await connect(current)
    except RuntimeError as err:
        raise fail(
            f"no se pudo conectar a Temporal en {current.temporal_address}: {err}. "
            "¿Ejecutó 'cobranza up --detach'?"
        ) from err


@contextlib.asynccontextmanager
async def db_pool(current: Settings) -> AsyncIterator[AsyncConnectionPool]:
    async with open_pool(database_url(current), current.db_pool_max) as pool:
        yield pool


@contextlib.asynccontextmanager
async def session(current: Settings) -> AsyncIterator[tuple[Client, AsyncConnectionPool]]:
    url = database_url(current)
    client = await temporal_client(current)
    async with open_pool(url, current.db_pool_max) as pool:
        yield client, pool


def amount(text: str, field: str) -> int:
    """A positive COP amount written the Colombian way, or a Spanish error naming the option."""
    try:
        value = parse_cop(text)
    except ValueError as err:
        raise fail(f"{field}: {err}", 2) from err
    if value <= 0:
        raise fail(f"{field}: el monto debe ser mayor que cero", 2)
    return value


def local_time(value: datetime | None) -> str:
    return value.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S") if value else "—"
