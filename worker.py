"""The worker process: runs collection workflows and their activities.

Configuration (environment): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL, plus the optional
COBRANZA_* settings in cobranza/settings.py. Applies migrations and registers search attributes at
start (both idempotent), then polls until SIGTERM or SIGINT, finishing in-flight tasks first.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from cobranza.db import apply_migrations, open_pool
from cobranza.logging import configure_logging
from cobranza.settings import Settings
from cobranza.temporal import build_worker, connect, ensure_search_attributes

log = structlog.get_logger("worker")


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is required for the worker")
    await asyncio.to_thread(apply_migrations, settings.database_url)
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_pool(settings.database_url, settings.db_pool_max) as pool:
        worker = build_worker(client, pool, settings)
        log.info(
            "worker_started",
            task_queue=settings.task_queue,
            namespace=settings.temporal_namespace,
            temporal_address=settings.temporal_address,
        )
        async with worker:
            await stop.wait()
            log.info("worker_stopping")
    log.info("worker_stopped")


def main() -> None:
    configure_logging()
    asyncio.run(run_worker(Settings.from_env()))


if __name__ == "__main__":
    main()
