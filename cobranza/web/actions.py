"""Every write made through the console or the API, attributed: the one wrapper pages and API
routes run their writes in, so each is recorded in `web_actions` whether it was accepted or
refused (the refusal's Spanish reason included)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from cobranza.web.security import Principal
from cobranza.web.users import record_action

T = TypeVar("T")


async def attributed(
    pool: AsyncConnectionPool,
    who: Principal,
    action: str,
    target: str | None,
    work: Awaitable[T],
    *,
    refusals: tuple[type[Exception], ...],
    detail: Callable[[T], dict[str, Any]] | None = None,
) -> T:
    """Await `work` for `who`; record it as ok, or as refused when it raises one of `refusals`
    (which is then raised again for the caller to answer)."""
    try:
        result = await work
    except refusals as err:
        await record_action(
            pool,
            actor=who.actor,
            action=action,
            target=target,
            outcome="refused",
            detail={"reason": str(err)},
        )
        raise
    await record_action(
        pool,
        actor=who.actor,
        action=action,
        target=target,
        outcome="ok",
        detail=detail(result) if detail else None,
    )
    return result
