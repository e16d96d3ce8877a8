"""The engine version a collection runs with: new inputs get the current one, old recordings 1."""

from __future__ import annotations

import json

from cobranza.models import ENGINE_VERSION, CollectionInput
from cobranza.strategy import load_strategy


def new_input() -> CollectionInput:
    return CollectionInput(
        account_id="acc-1",
        strategy=load_strategy("default"),
        balance_cop=1_000_000,
        days_past_due=10,
        product="tarjeta_credito",
    )


def test_an_input_built_in_code_runs_the_current_engine() -> None:
    assert new_input().engine_version == ENGINE_VERSION


def test_the_version_travels_in_the_serialized_input() -> None:
    data = new_input().model_dump_json()
    assert f'"engine_version":{ENGINE_VERSION}' in data
    assert CollectionInput.model_validate_json(data).engine_version == ENGINE_VERSION


def test_an_input_recorded_before_versions_existed_reads_as_engine_1() -> None:
    data = new_input().model_dump(mode="json")
    del data["engine_version"]
    assert CollectionInput.model_validate_json(json.dumps(data)).engine_version == 1
