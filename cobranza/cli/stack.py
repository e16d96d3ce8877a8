"""The local stack: `cobranza up`, `down`, `worker`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import Annotated

import typer

from cobranza import localstack
from cobranza.cli.common import (
    console,
    database_url,
    fail,
)
from cobranza.cli.common import settings as load_settings
from cobranza.logging import configure_logging

app = typer.Typer()


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", help="Dejar el stack corriendo.")] = False,
) -> None:
    """Inicia el stack local: Temporal (UI en :8233), Postgres, un worker y la consola web (:8000)."""
    settings = load_settings()
    if detach:
        try:
            state = localstack.up_detached(settings)
        except localstack.StackBusyError as err:
            raise fail(str(err)) from err
        console.print("[green]Stack local iniciado.[/green]")
        console.print(f"  Temporal: {state.temporal_address}  (UI: http://localhost:8233)")
        console.print(f"  Consola web: http://localhost:{settings.web_port}")
        console.print(f"  Postgres: {state.database_url}")
        console.print("  Detener con: cobranza down")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with localstack.stack(settings, with_web=True) as state:
            console.print("[green]Stack local corriendo[/green] (Ctrl-C para detener).")
            console.print(
                f"  UI de Temporal: http://localhost:8233 · Postgres: {state.database_url}"
            )
            console.print(f"  Consola web: http://localhost:{settings.web_port}")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    except localstack.StackBusyError as err:
        raise fail(str(err)) from err


@app.command()
def down() -> None:
    """Detiene lo que inició 'cobranza up --detach'."""
    state = localstack.down(load_settings())
    if state is None:
        console.print("No hay un stack local iniciado con --detach.")
    else:
        console.print("[green]Stack local detenido.[/green]")


@app.command()
def worker() -> None:
    """Ejecuta un worker en primer plano (TEMPORAL_ADDRESS, DATABASE_URL)."""
    from worker import run_worker

    configure_logging()
    settings = load_settings()
    settings = settings.model_copy(update={"database_url": database_url(settings)})
    asyncio.run(run_worker(settings))


# --- campaigns -------------------------------------------------------------------------------------
