"""The contact step: log row and outbox message in one transaction, then one provider send."""

from __future__ import annotations

import json

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.channels import ChannelAdapter, OutboundMessage
from activities.contact_gate import reserve_contact
from activities.steplog import AfterCommit, insert_log_row
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
        key = idempotency_key(command)
        column = _DESTINATION_COLUMN[command.channel]
        async with self._pool.connection() as conn, conn.transaction():
            # The person's gate first, under the debtor's row lock: a deferred or refused contact
            # writes nothing, and a granted one holds its reservation, row and message together.
            # The gate's lock statement also reads where the message goes (`recipient`).
            gate, recipient = await reserve_contact(conn, command.reservation, column)
            if not gate.granted:
                return ContactResult(
                    status="refused" if gate.decision.verdict == "refuse" else "deferred",
                    inserted=False,
                    logged=False,
                    decision=gate.decision,
                )
            receipt = await insert_log_row(conn, entry)
            destination = recipient.destination
            body = render(
                command.template,
                name=recipient.full_name,
                product=recipient.product,
                balance_cop=entry.balance_cop,
            )
            cur = await conn.execute(
                """INSERT INTO contact_outbox (idempotency_key, account_id, workflow_id, seq,
                       channel, template, destination, body, status)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (idempotency_key) DO NOTHING
                   RETURNING status, provider_message_id, reply""",
                (
                    key,
                    entry.account_id,
                    entry.workflow_id,
                    entry.seq,
                    command.channel.value,
                    command.template,
                    destination,
                    body,
                    "pending" if destination else "no_destination",
                ),
            )
            queued = await cur.fetchone()
            if queued is None:
                # A retry: the message was queued by an earlier attempt; read how it went.
                cur = await conn.execute(
                    "SELECT status, provider_message_id, reply FROM contact_outbox"
                    " WHERE idempotency_key = %s",
                    (key,),
                )
                queued = await cur.fetchone()
            status, message_id, reply = queued  # type: ignore[misc]
        if self._after_commit is not None:
            self._after_commit(entry)
        if status != "pending":
            # Already answered by an earlier attempt (or nothing to send): never send again.
            return ContactResult(
                status=status,
                provider_message_id=message_id,
                reply=DebtorReply.model_validate(reply) if reply else None,
                inserted=receipt.inserted,
            )
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
            inserted=receipt.inserted,
        )
