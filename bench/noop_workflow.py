"""The baseline for bench/steps.py: a workflow that runs N no-op activities, nothing else."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

# The collection workflow's own activity timeout (bench/steps.py checks they agree): the server
# keeps a timeout timer per activity, so the two phases carry the same timers.
NOOP_ACTIVITY_TIMEOUT = timedelta(seconds=30)


@activity.defn
async def noop_activity(index: int) -> int:
    return index


@workflow.defn
class NoopWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        for index in range(activities):
            await workflow.execute_activity(
                noop_activity, index, start_to_close_timeout=NOOP_ACTIVITY_TIMEOUT
            )
        return activities
