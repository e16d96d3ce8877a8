"""The shared vocabulary of collections: channels, stages, outcomes, documents.

Enum values are the wire and database form (English, lower case); Spanish labels are for people.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

BOGOTA = ZoneInfo("America/Bogota")


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    CALL = "call"
    LETTER = "letter"
    VISIT = "visit"


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.SMS: "SMS",
    Channel.EMAIL: "correo electrónico",
    Channel.WHATSAPP: "WhatsApp",
    Channel.CALL: "llamada",
    Channel.LETTER: "carta",
    Channel.VISIT: "visita",
}


class Stage(StrEnum):
    PREVENTIVA = "preventiva"
    ADMINISTRATIVA = "administrativa"
    PREJURIDICA = "prejuridica"
    JURIDICA = "juridica"

    @property
    def rank(self) -> int:
        return list(Stage).index(self)


STAGE_LABELS: dict[Stage, str] = {
    Stage.PREVENTIVA: "preventiva",
    Stage.ADMINISTRATIVA: "administrativa",
    Stage.PREJURIDICA: "prejurídica",
    Stage.JURIDICA: "jurídica",
}


class Outcome(StrEnum):
    PAID = "paid"
    SETTLED = "settled"
    HANDED_TO_LEGAL = "handed_to_legal"
    CANCELLED = "cancelled"
    EXHAUSTED = "exhausted"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.PAID: "pagada",
    Outcome.SETTLED: "acuerdo cumplido",
    Outcome.HANDED_TO_LEGAL: "entregada a jurídico",
    Outcome.CANCELLED: "cancelada",
    Outcome.EXHAUSTED: "estrategia agotada",
}


class DocumentType(StrEnum):
    CC = "CC"  # cédula de ciudadanía
    CE = "CE"  # cédula de extranjería
    NIT = "NIT"  # número de identificación tributaria (with check digit)
    PP = "PP"  # pasaporte
    TI = "TI"  # tarjeta de identidad


class RecipientRole(StrEnum):
    """Who a contact is addressed to; Ley 2300 Art. 4 allows only the first three."""

    DEBTOR = "debtor"
    CO_DEBTOR = "co_debtor"
    GUARANTOR = "guarantor"
    REFERENCE = "reference"
    EMPLOYER = "employer"
    FAMILY = "family"
    THIRD_PARTY = "third_party"


class MessagePurpose(StrEnum):
    """Why a message is sent; Ley 2300 Art. 8 exempts the last three from the caps."""

    COLLECTION = "collection"
    OPERATION_CONFIRMATION = "operation_confirmation"
    REQUESTED_INFORMATION = "requested_information"
    FRAUD_ALERT = "fraud_alert"


class TaskKind(StrEnum):
    """What a human task asks of an agent (gestor) or a supervisor."""

    CALL = "call"
    NEGOTIATE = "negotiate"
    VERIFY_PAYMENT = "verify_payment"
    REVIEW_DISPUTE = "review_dispute"
    # Opened by the workflow only (deceased, bankrupt): collection held until a supervisor decides.
    SUPERVISOR_REVIEW = "supervisor_review"


TASK_KIND_LABELS: dict[TaskKind, str] = {
    TaskKind.CALL: "llamada",
    TaskKind.NEGOTIATE: "negociación",
    TaskKind.VERIFY_PAYMENT: "verificación de pago",
    TaskKind.REVIEW_DISPUTE: "revisión de reclamo",
    TaskKind.SUPERVISOR_REVIEW: "revisión de supervisor",
}


class TaskOutcome(StrEnum):
    """The result an agent records when completing a task (codes; labels below for people)."""

    # Calls and negotiations.
    PROMISE_TO_PAY = "promise_to_pay"
    PAYMENT_AGREEMENT = "payment_agreement"
    ALREADY_PAID = "already_paid"
    DISPUTE = "dispute"
    WRONG_NUMBER = "wrong_number"
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    CALL_BACK = "call_back"
    REFUSES = "refuses"
    DECEASED = "deceased"
    BANKRUPT = "bankrupt"
    # Payment verification.
    PAYMENT_CONFIRMED = "payment_confirmed"
    PAYMENT_NOT_FOUND = "payment_not_found"
    # Dispute review.
    DISPUTE_UPHELD = "dispute_upheld"
    DISPUTE_REJECTED = "dispute_rejected"
    # Supervisor review of a held collection.
    RESUME_COLLECTION = "resume_collection"
    CLOSE_COLLECTION = "close_collection"
    HAND_TO_LEGAL = "hand_to_legal"


TASK_OUTCOME_LABELS: dict[TaskOutcome, str] = {
    TaskOutcome.PROMISE_TO_PAY: "promesa de pago",
    TaskOutcome.PAYMENT_AGREEMENT: "acuerdo de pago",
    TaskOutcome.ALREADY_PAID: "dice que ya pagó",
    TaskOutcome.DISPUTE: "reclamo (disputa la deuda)",
    TaskOutcome.WRONG_NUMBER: "número equivocado",
    TaskOutcome.NO_ANSWER: "no contesta",
    TaskOutcome.LEFT_MESSAGE: "se dejó mensaje",
    TaskOutcome.CALL_BACK: "volver a llamar",
    TaskOutcome.REFUSES: "se niega a pagar",
    TaskOutcome.DECEASED: "deudor fallecido",
    TaskOutcome.BANKRUPT: "deudor en insolvencia",
    TaskOutcome.PAYMENT_CONFIRMED: "pago confirmado",
    TaskOutcome.PAYMENT_NOT_FOUND: "pago no encontrado",
    TaskOutcome.DISPUTE_UPHELD: "reclamo procedente",
    TaskOutcome.DISPUTE_REJECTED: "reclamo improcedente",
    TaskOutcome.RESUME_COLLECTION: "reanudar la cobranza",
    TaskOutcome.CLOSE_COLLECTION: "cerrar la cobranza",
    TaskOutcome.HAND_TO_LEGAL: "entregar a jurídico",
}

_CALL_OUTCOMES = frozenset(
    {
        TaskOutcome.PROMISE_TO_PAY,
        TaskOutcome.PAYMENT_AGREEMENT,
        TaskOutcome.ALREADY_PAID,
        TaskOutcome.DISPUTE,
        TaskOutcome.WRONG_NUMBER,
        TaskOutcome.NO_ANSWER,
        TaskOutcome.LEFT_MESSAGE,
        TaskOutcome.CALL_BACK,
        TaskOutcome.REFUSES,
        TaskOutcome.DECEASED,
        TaskOutcome.BANKRUPT,
    }
)

# The outcomes an agent may record for each kind of task.
TASK_OUTCOMES_BY_KIND: dict[TaskKind, frozenset[TaskOutcome]] = {
    TaskKind.CALL: _CALL_OUTCOMES,
    TaskKind.NEGOTIATE: _CALL_OUTCOMES,
    TaskKind.VERIFY_PAYMENT: frozenset(
        {TaskOutcome.PAYMENT_CONFIRMED, TaskOutcome.PAYMENT_NOT_FOUND}
    ),
    TaskKind.REVIEW_DISPUTE: frozenset({TaskOutcome.DISPUTE_UPHELD, TaskOutcome.DISPUTE_REJECTED}),
    TaskKind.SUPERVISOR_REVIEW: frozenset(
        {TaskOutcome.RESUME_COLLECTION, TaskOutcome.CLOSE_COLLECTION, TaskOutcome.HAND_TO_LEGAL}
    ),
}
