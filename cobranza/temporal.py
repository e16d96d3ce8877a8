"""Temporal client and worker wiring shared by the worker, the CLI and the tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypedDict

import structlog
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from activities.bureau import BureauActivities
from activities.campaign import CampaignActivities
from activities.channels import ChannelAdapter, SimulatedProvider, SimulatedProviderConfig
from activities.contact import ContactActivities
from activities.portfolio_import import InboxActivities
from activities.steplog import AfterCommit, StepLogActivities
from activities.tasks import TaskActivities
from cobranza.sandbox_code import cache_workflow_code
from cobranza.search_attributes import INDEXED_TYPES
from cobranza.settings import Settings
from workflows.campaign import CampaignInboxWorkflow, CampaignWorkflow
from workflows.collection import CollectionWorkflow

log = structlog.get_logger(__name__)


class WorkerTuning(TypedDict):
    max_concurrent_workflow_task_polls: int
    max_concurrent_activity_task_polls: int
    max_concurrent_activities: int


# Measured on the dev server with bench/steps.py, which gives its no-op baseline the same tuning:
# - more pollers than the default raise throughput ~20%;
# - activity slots: a workflow task's completion asks the server to hand its new activity straight
#   back (eager execution) only while the worker has a free activity slot, and each one handed
#   back saves the server a matching round trip (add, poll, record started). An activity waits in
#   the SDK's queue until the event loop picks it up, holding its slot; with the default 100
#   slots a busy worker ran every collection step through matching, with 500 almost none.
#   500 queued activities at ~130 steps/s is ~4 s, well inside the 30 s start-to-close timeout.
WORKER_TUNING = WorkerTuning(
    max_concurrent_workflow_task_polls=20,
    max_concurrent_activity_task_polls=20,
    max_concurrent_activities=500,
)

WORKFLOWS = [CollectionWorkflow, CampaignWorkflow, CampaignInboxWorkflow]


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register our search attributes if missing; idempotent on any server."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list them; adding is still idempotent there.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {name: kind for name, kind in INDEXED_TYPES.items() if name not in known}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        log.info("search_attributes_registered", names=sorted(missing))
    return sorted(missing)


def build_worker(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    adapter: ChannelAdapter | None = None,
    after_commit: AfterCommit | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    adapter = adapter or SimulatedProvider(
        SimulatedProviderConfig(
            seed=settings.sim_seed,
            failure_rate=settings.sim_failure_rate,
            reply_rate=settings.sim_reply_rate,
        )
    )
    steplog = StepLogActivities(pool, after_commit=after_commit)
    contact = ContactActivities(pool, adapter, after_commit=after_commit)
    tasks = TaskActivities(pool, after_commit=after_commit)
    bureau = BureauActivities(pool)
    campaigns = CampaignActivities(pool, client)
    inbox = InboxActivities(pool, client)
    # The sandbox re-imports workflow modules for every run; compile them once (sandbox_code.py).
    cache_workflow_code(WORKFLOWS)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[
            steplog.record_step,
            contact.send_contact,
            bureau.record_bureau_message,
            tasks.record_task_step,
            *campaigns.all(),
            *inbox.all(),
        ],
        **WORKER_TUNING,
        activity_executor=executor,
        interceptors=[LogContextInterceptor()],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


class LogContextInterceptor(Interceptor):
    """Binds the workflow and account id to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        wf = info.workflow_id or ""
        # Internal ids only: collection-<account_id>, campaign-<campaign_id>.
        account_id = wf.removeprefix("collection-") if wf.startswith("collection-") else None
        campaign_id = wf.removeprefix("campaign-") if wf.startswith("campaign-") else None
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            account_id=account_id,
            campaign_id=campaign_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            return await super().execute_activity(input)
