"""Row-level rules on top of role permissions: an agent sees only their own and their team's
tasks, and only the accounts those tasks are about. Supervisors, ops, auditors and admins see all.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from cobranza.tasks import TaskRow, get_task
from cobranza.web.security import Forbidden, Principal
from cobranza.web.users import Role


class NotFound(LookupError):
    """The thing does not exist, or (for a team-scoped caller) is not theirs to know about."""


def task_visible(principal: Principal, task: TaskRow) -> bool:
    if principal.role is not Role.AGENT:
        return True
    return task.assigned_to == principal.name or task.team == principal.team


async def visible_task(pool: AsyncConnectionPool, principal: Principal, task_id: str) -> TaskRow:
    """The task, or NotFound: an agent cannot even learn that another team's task exists."""
    task = await get_task(pool, task_id)
    if task is None or not task_visible(principal, task):
        raise NotFound(f"la tarea {task_id!r} no existe o no es de su equipo")
    return task


async def check_account(pool: AsyncConnectionPool, principal: Principal, account_id: str) -> None:
    """Agents read an account only when it has a task of theirs or their team's."""
    if principal.role is not Role.AGENT:
        return
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT 1 FROM agent_tasks WHERE account_id = %s
                 AND (assigned_to = %s OR team = %s)
               LIMIT 1""",
            (account_id, principal.name, principal.team),
        )
        if await cur.fetchone() is None:
            raise Forbidden(f"la cuenta {account_id!r} no tiene tareas de su equipo")


__all__ = ["Forbidden", "NotFound", "check_account", "task_visible", "visible_task"]
