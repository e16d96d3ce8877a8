"""Replay histories with the current workflow code: every decision must come out the same."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult


class ReplayOutcome(BaseModel):
    workflow_id: str
    run_id: str
    passed: bool
    error: str | None = None

    def describe(self) -> str:
        if self.passed:
            return f"run {self.run_id}: reproduce todas las decisiones"
        return f"run {self.run_id}: NO reproduce el historial: {self.error}"


def _registered_workflows() -> list[type[Any]]:
    # The same list the worker registers, so new workflows are replayed too.
    from cobranza.temporal import WORKFLOWS

    return list(WORKFLOWS)


def make_replayer(workflows: Sequence[type[Any]] | None = None) -> Replayer:
    return Replayer(
        workflows=list(workflows) if workflows is not None else _registered_workflows(),
        data_converter=pydantic_data_converter,
    )


async def replay_histories(
    histories: Iterable[WorkflowHistory], replayer: Replayer | None = None
) -> list[ReplayOutcome]:
    """One outcome per history; a failing run never stops the others from being checked."""
    histories = list(histories)
    if not histories:
        return []
    replayer = replayer or make_replayer()
    outcomes: list[ReplayOutcome] = []

    async def feed() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    async with replayer.workflow_replay_iterator(feed()) as results:
        async for result in results:
            outcomes.append(_outcome(result))
    return outcomes


def _outcome(result: WorkflowReplayResult) -> ReplayOutcome:
    failure = result.replay_failure
    return ReplayOutcome(
        workflow_id=result.history.workflow_id,
        run_id=result.history.run_id,
        passed=failure is None,
        error=None if failure is None else f"{type(failure).__name__}: {failure}",
    )


class ReplayService:
    """One long-lived replay worker shared by many concurrent callers.

    Starting a replay worker costs more than replaying a short history, so a campaign audit feeds
    every account's runs through one worker (histories replay one at a time, in arrival order).
    """

    def __init__(self, replayer: Replayer | None = None) -> None:
        self._replayer = replayer or make_replayer()
        self._queue: asyncio.Queue[tuple[WorkflowHistory, asyncio.Future[ReplayOutcome]] | None]
        self._queue = asyncio.Queue()
        self._waiting: deque[asyncio.Future[ReplayOutcome]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReplayService:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._queue.put(None)
        if self._task is not None:
            await self._task

    async def _feed(self) -> AsyncIterator[WorkflowHistory]:
        while (item := await self._queue.get()) is not None:
            history, future = item
            self._waiting.append(future)
            yield history

    async def _run(self) -> None:
        try:
            async with self._replayer.workflow_replay_iterator(self._feed()) as results:
                async for result in results:
                    self._waiting.popleft().set_result(_outcome(result))
        except Exception as err:
            for future in self._waiting:
                if not future.done():
                    future.set_exception(err)
            raise

    async def replay(self, histories: Iterable[WorkflowHistory]) -> list[ReplayOutcome]:
        if self._task is None or self._task.done():
            raise RuntimeError("ReplayService is not running (use 'async with')")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[ReplayOutcome]] = []
        for history in histories:
            future: asyncio.Future[ReplayOutcome] = loop.create_future()
            futures.append(future)
            await self._queue.put((history, future))
        return [await future for future in futures]
