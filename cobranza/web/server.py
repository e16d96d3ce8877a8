"""Running the console: uvicorn serving `create_app` (used by `cobranza web` and `cobranza up`)."""

from __future__ import annotations

import asyncio

import uvicorn

from cobranza.settings import Settings
from cobranza.web.app import create_app


async def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both and shuts down cleanly)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )
    await uvicorn.Server(config).serve()


def main() -> None:
    from cobranza.logging import configure_logging

    configure_logging()
    asyncio.run(serve(Settings.from_env()))


if __name__ == "__main__":
    main()
