"""The contact step: log row and outbox message in one transaction, then one provider send."""

from __future__ import annotations

import json

import structlog
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import ChannelAdapter, OutboundMessage
from activities.contact_gate import commit_contact, judge, read_gate
from activities.steplog import AfterCommit
from cobranza.db import single_statement
from cobranza.domain import Channel
from cobranza.models import ContactCommand, ContactResult, DebtorReply
from cobranza.templates import render

_DESTINATION_COLUMN = {
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.CALL: "phone",
    Channel.EMAIL: "email",
    Channel.LETTER: "address",
    Channel.VISIT: "address",
}

log = structlog.get_logger(__name__)

# How many times one attempt judges a person whose state keeps changing under it before it
# gives up (retryably): each try lost to another account's contact that just committed.
_JUDGEMENTS = 5


def idempotency_key(command: ContactCommand) -> str:
    entry = command.entry
    return f"{entry.workflow_id}:{entry.collection_id}:{entry.seq}"


class ContactActivities:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        adapter: ChannelAdapter,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._pool = pool
        self._adapter = adapter
        self._after_commit = after_commit

    @activity.defn(name="send_contact")
    async def send_contact(self, command: ContactCommand) -> ContactResult:
        entry = command.entry
        request = command.reservation
        key = idempotency_key(command)
        point = _DESTINATION_COLUMN[command.channel]
        # Autocommit: the read and the commit are one statement each (migration 0007).
        async with single_statement(self._pool) as conn:
            for _ in range(_JUDGEMENTS):
                view = await read_gate(conn, request, point)
                gate = judge(view, request)
                if not gate.granted:
                    # Deferred or refused: nothing is written.
                    return ContactResult(
                        status="refused" if gate.decision.verdict == "refuse" else "deferred",
                        inserted=False,
                        logged=False,
                        decision=gate.decision,
                    )
                state = view.state
                message = render(
                    command.template,
                    name=state.full_name,
                    product=state.product,
                    balance_cop=entry.balance_cop,
                )
                committed = await commit_contact(
                    conn, view, request, entry, key=key, template=command.template, body=message
                )
                if committed.gate == "granted":
                    break
                if committed.gate == "unknown_account":
                    raise ApplicationError(
                        f"account {entry.account_id} not found",
                        type="UnknownAccount",
                        non_retryable=True,
                    )
                # 'stale': another contact to the person (or an edit of their record) committed
                # after the read. Judge again on the new state.
                log.info("contact_gate_stale", seq=entry.seq)
            else:
                # Retryable: the activity's retry policy backs off before the next try.
                raise ApplicationError(
                    f"the contact gate of account {entry.account_id} kept changing",
                    type="ContactGateContended",
                )
        _, inserted, status, message_id, reply, destination, body = committed
        if self._after_commit is not None:
            self._after_commit(entry)
        if status != "pending":
            # Already answered by an earlier attempt (or nothing to send): never send again.
            return ContactResult(
                status=status,
                provider_message_id=message_id,
                reply=DebtorReply.model_validate(reply) if reply else None,
                inserted=inserted,
            )
        assert destination is not None  # a missing destination is queued as no_destination
        # Send what is queued: on a retry, what the first attempt queued, whatever changed since.
        answer = await self._adapter.send(
            OutboundMessage(
                idempotency_key=key,
                channel=command.channel,
                template=command.template,
                destination=destination,
                body=body,
            )
        )
        # One statement, its own transaction: one round trip.
        async with single_statement(self._pool) as conn:
            await conn.execute(
                """UPDATE contact_outbox SET status = %s, provider_message_id = %s, reply = %s,
                       answered_at = now()
                   WHERE idempotency_key = %s AND status = 'pending'""",
                (
                    answer.status,
                    answer.provider_message_id,
                    json.dumps(answer.reply.model_dump()) if answer.reply else None,
                    key,
                ),
            )
        return ContactResult(
            status=answer.status,
            provider_message_id=answer.provider_message_id,
            reply=answer.reply,
            inserted=inserted,
        )
