"""Contact channel adapters: one interface, a simulated provider for running on one machine."""

from __future__ import annotations

import hashlib
import random
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cobranza.domain import Channel
from cobranza.models import DebtorReply


class OutboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    channel: Channel
    template: str
    destination: str
    body: str


class ProviderAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Literal["delivered", "failed"]
    provider_message_id: str
    reply: DebtorReply | None = None


class ChannelAdapter(Protocol):
    """Sends one message. Must be idempotent by `idempotency_key`: providers dedupe on it."""

    async def send(self, message: OutboundMessage) -> ProviderAnswer: ...


class SimulatedProviderConfig(BaseModel):
    seed: int = 2300
    failure_rate: float = Field(default=0.05, ge=0, le=1)
    reply_rate: float = Field(default=0.35, ge=0, le=1)
    # Among replies: the share that take the self-service promise offer, the rest acknowledge or
    # ask for information.
    promise_share: float = Field(default=0.6, ge=0, le=1)


class SimulatedProvider:
    """Answers like a provider and a debtor would, decided by seed and key: the same message
    always gets the same answer, so a retried send cannot produce a second, different outcome."""

    def __init__(self, config: SimulatedProviderConfig | None = None) -> None:
        self.config = config or SimulatedProviderConfig()

    async def send(self, message: OutboundMessage) -> ProviderAnswer:
        key = f"{self.config.seed}:{message.idempotency_key}"
        rng = random.Random(hashlib.sha256(key.encode()).digest())
        message_id = "sim-" + hashlib.sha256(key.encode()).hexdigest()[:20]
        if rng.random() < self.config.failure_rate:
            return ProviderAnswer(status="failed", provider_message_id=message_id)
        reply = None
        if rng.random() < self.config.reply_rate:
            roll = rng.random()
            if roll < self.config.promise_share:
                reply = DebtorReply(kind="promise_to_pay")
            elif roll < self.config.promise_share + (1 - self.config.promise_share) / 2:
                reply = DebtorReply(kind="acknowledged")
            else:
                reply = DebtorReply(kind="requests_information")
        return ProviderAnswer(status="delivered", provider_message_id=message_id, reply=reply)
