"""Replay safety: every recorded history (tests/histories) replays with the current code.

Histories are recorded by `scripts/record_histories.py`, one folder per engine version. A change
to the workflow that would make an in-flight collection decide differently fails here; it must go
behind a new engine version (`ENGINE_VERSION`, carried in the run's input) or `workflow.patched`,
then be recorded so the new shape is covered too. The last test shows the check has teeth: a
workflow that orders its steps differently, registered under the same name, fails to replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from cobranza.audit.replay import replay_histories
from cobranza.models import ENGINE_VERSION, CollectionInput
from cobranza.temporal import WORKFLOWS
from tests.integration.reordered_workflow import (
    ContactFirstCollectionWorkflow,
    ReorderedCollectionWorkflow,
)

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
SCENARIOS = {
    "paid_during_wait",
    "promise_kept",
    "promise_broken_escalation",
    "default_to_legal",
    "pause_resume",
    "cancel",
}


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def _files() -> list[Path]:
    return sorted(HISTORIES.glob("engine*/*.json"))


@pytest.mark.parametrize("engine", range(1, ENGINE_VERSION + 1))
def test_every_engine_version_has_every_scenario_recorded(engine: int) -> None:
    recorded = {path.name.split(".")[0] for path in (HISTORIES / f"engine{engine}").glob("*.json")}
    assert recorded >= SCENARIOS, (
        f"re-run scripts/record_histories.py: engine {engine} misses {SCENARIOS - recorded}"
    )


def test_recorded_inputs_carry_their_engine_version() -> None:
    """An engine 1 recording has no version in its input and must read as 1; a new one says so."""
    for path in _files():
        history = _load(path)
        started = history.events[0].workflow_execution_started_event_attributes
        if started.workflow_type.name != "CollectionWorkflow":
            continue
        (data,) = started.input.payloads
        parsed = CollectionInput.model_validate_json(data.data)
        assert f"engine{parsed.engine_version}" == path.parent.name, path


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
async def test_history_replays_with_current_code(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    # Raises (NondeterminismError and the like) when the code no longer reproduces the history.
    await replayer.replay_workflow(_load(path))


@pytest.mark.parametrize(
    "altered",
    [ReorderedCollectionWorkflow, ContactFirstCollectionWorkflow],
    ids=lambda c: c.__name__,
)
async def test_replay_fails_when_the_step_order_changes(altered: type) -> None:
    histories = [_load(path) for path in _files()]
    replayer = Replayer(workflows=[altered], data_converter=pydantic_data_converter)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(histories[0])
    # The audit's replay check reports every run as failed, naming the error.
    outcomes = await replay_histories(histories, replayer)
    assert len(outcomes) == len(histories) and not any(o.passed for o in outcomes)
    assert all("Nondeterminism" in (o.error or "") for o in outcomes)
