"""Search attributes for ops and auditors (Temporal UI, `temporal workflow list --query`).

Coarse, internal values only: workflow ids and search attributes bypass payload codecs, so no PII.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
COLLECTION_STAGE = SearchAttributeKey.for_keyword("CollectionStage")
COLLECTION_OUTCOME = SearchAttributeKey.for_keyword("CollectionOutcome")
DAYS_PAST_DUE = SearchAttributeKey.for_int("DaysPastDue")

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    CAMPAIGN_ID,
    COLLECTION_STAGE,
    COLLECTION_OUTCOME,
    DAYS_PAST_DUE,
)

INDEXED_TYPES: dict[str, IndexedValueType.ValueType] = {
    "CampaignId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CollectionStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CollectionOutcome": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DaysPastDue": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
