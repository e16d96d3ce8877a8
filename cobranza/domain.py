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
