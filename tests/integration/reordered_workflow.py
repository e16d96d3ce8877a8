"""A deliberately incompatible CollectionWorkflow for the replay test (its own module, so the
workflow sandbox can import it without the test's imports)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cobranza.models import CollectionInput, CollectionResult
    from workflows.collection import CollectionWorkflow


@workflow.defn(name="CollectionWorkflow")
class ReorderedCollectionWorkflow(CollectionWorkflow):
    """A careless edit: a pause before the first step, so the commands come in another order."""

    @workflow.run
    async def run(self, input: CollectionInput) -> CollectionResult:
        await workflow.sleep(timedelta(minutes=1))
        return await super().run(input)


@workflow.defn(name="CollectionWorkflow")
class ContactFirstCollectionWorkflow(CollectionWorkflow):
    """Another careless edit: the first contact goes out before the collection is logged open."""

    @workflow.run
    async def run(self, input: CollectionInput) -> CollectionResult:
        if self._state.opened_at is None:
            self._state.opened_at = workflow.now()  # skips the "opened" step
        return await super().run(input)
