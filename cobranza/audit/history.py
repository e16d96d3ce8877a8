"""Every run of every collection of one account, straight from Temporal.

One workflow id (`collection-<account_id>`) may hold several collections over time (a campaign
closes one, a later campaign opens another); each collection is named by its first run id (the
`collection_id` of its log rows) and may span several runs chained by continue-as-new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from cobranza.models import workflow_id_for

# How a run ended, by its last event (Spanish, for reports).
_CLOSE_LABELS: dict[int, str] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completada",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continuada (continue-as-new)",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "fallida",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "vencida (timeout)",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "cancelada en Temporal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminada a la fuerza",
}


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def event_type_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


@dataclass(frozen=True)
class RunHistory:
    """One run's full history plus what visibility says about it (search attributes, memo)."""

    history: WorkflowHistory
    # Visibility's view of the run (JSON form of the protos); empty when not available.
    search_attributes: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def workflow_id(self) -> str:
        return self.history.workflow_id

    @property
    def run_id(self) -> str:
        return self.history.run_id

    @property
    def started(self) -> HistoryEvent:
        return self.history.events[0]

    @property
    def collection_id(self) -> str:
        return first_run_id(self.history)

    @property
    def started_at(self) -> datetime:
        return event_time(self.started)

    @property
    def last(self) -> HistoryEvent:
        return self.history.events[-1]

    @property
    def closed(self) -> bool:
        return self.last.event_type in _CLOSE_LABELS

    @property
    def status_label(self) -> str:
        return _CLOSE_LABELS.get(self.last.event_type, "en curso")

    @property
    def next_run_id(self) -> str | None:
        last = self.last
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        return None


@dataclass(frozen=True)
class CollectionHistory:
    collection_id: str
    runs: list[RunHistory]

    @property
    def open(self) -> bool:
        return not self.runs[-1].closed

    @property
    def started_at(self) -> datetime:
        return self.runs[0].started_at


@dataclass(frozen=True)
class AccountHistory:
    account_id: str
    workflow_id: str
    collections: list[CollectionHistory]
    # Collection ids named by Postgres (or visibility) whose first run Temporal does not have.
    missing_collections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[RunHistory]:
        return [run for collection in self.collections for run in collection.runs]


def first_run_id(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.first_execution_run_id or history.run_id


async def decode_payloads(
    payloads: Payloads | Sequence[Payload],
    type_hints: list[type] | None = None,
    converter: DataConverter = pydantic_data_converter,
) -> list[Any]:
    """Payloads as the workflow saw them (codec first, when the converter has one)."""
    items = list(payloads.payloads) if isinstance(payloads, Payloads) else list(payloads)
    if converter.payload_codec is not None:
        items = await converter.payload_codec.decode(items)
    return converter.payload_converter.from_payloads(items, type_hints)


def _account_of(workflow_id: str) -> str:
    return workflow_id.removeprefix("collection-")


def collection_from_runs(runs: Iterable[RunHistory]) -> list[CollectionHistory]:
    """Group loose runs (e.g. read from files) into collections, each in chain order."""
    by_collection: dict[str, list[RunHistory]] = {}
    for run in runs:
        by_collection.setdefault(run.collection_id, []).append(run)
    collections: list[CollectionHistory] = []
    for collection_id, members in by_collection.items():
        by_id = {run.run_id: run for run in members}
        ordered: list[RunHistory] = []
        current = by_id.get(collection_id)
        while current is not None and current not in ordered:
            ordered.append(current)
            current = by_id.get(current.next_run_id or "")
        # Runs the chain does not reach (their predecessor is missing) go last, by start time.
        rest = sorted((r for r in members if r not in ordered), key=lambda r: r.started_at)
        collections.append(CollectionHistory(collection_id, ordered + rest))
    return sorted(collections, key=lambda c: c.started_at)


async def fetch_account_history(
    client: Client,
    account_id: str,
    *,
    collection_ids: Iterable[str] = (),
    use_visibility: bool = True,
) -> AccountHistory:
    """All collections of an account: those Postgres names, the latest run's, and visibility's.

    Each collection is read from its first run, following continue-as-new to the last run.
    """
    workflow_id = workflow_id_for(account_id)
    cache: dict[str, WorkflowHistory] = {}
    visible: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    firsts: dict[str, None] = dict.fromkeys(collection_ids)
    notes: list[str] = []

    try:
        latest = await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        if latest.events:
            cache[latest.run_id] = latest
            firsts[first_run_id(latest)] = None

    if use_visibility:
        try:
            async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
                info = execution.raw_info
                visible[execution.run_id] = (
                    MessageToDict(info.search_attributes),
                    MessageToDict(info.memo),
                )
                if info.first_run_id:
                    firsts[info.first_run_id] = None
        except RPCError as err:
            # The time-skipping test server has no visibility API.
            notes.append(f"visibilidad de Temporal no disponible ({err.status.name})")

    async def fetch(run_id: str) -> WorkflowHistory | None:
        if run_id in cache:
            return cache[run_id]
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise
        cache[run_id] = history
        return history

    async def chain(first: str) -> CollectionHistory | None:
        runs: list[RunHistory] = []
        run_id: str | None = first
        while run_id is not None and all(r.run_id != run_id for r in runs):
            history = await fetch(run_id)
            if history is None or not history.events:
                break
            attributes, memo = visible.get(run_id, ({}, {}))
            run = RunHistory(history, attributes, memo)
            runs.append(run)
            run_id = run.next_run_id
        return CollectionHistory(first, runs) if runs else None

    found = await asyncio.gather(*(chain(first) for first in firsts))
    collections = sorted((c for c in found if c is not None), key=lambda c: c.started_at)
    missing = [first for first, got in zip(firsts, found, strict=True) if got is None]
    return AccountHistory(account_id, workflow_id, collections, missing, notes)


async def fetch_latest_chain(client: Client, workflow_id: str) -> list[RunHistory]:
    """Any workflow's latest run and the runs it continued from (e.g. a CampaignWorkflow)."""
    runs: list[RunHistory] = []
    run_id: str | None = None
    while True:
        try:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            history = await handle.fetch_history()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                break
            raise
        if not history.events:
            break
        runs.insert(0, RunHistory(history))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None or any(r.run_id == run_id for r in runs):
            break
    return runs


def account_from_runs(workflow_id: str, runs: Iterable[RunHistory]) -> AccountHistory:
    return AccountHistory(_account_of(workflow_id), workflow_id, collection_from_runs(runs))
