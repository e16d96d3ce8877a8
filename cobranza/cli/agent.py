"""Agents (gestores) and their worklist: `cobranza agent ...` and `cobranza task ...`.

Every command goes through cobranza.tasks, the code path the web console will share.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cobranza.cli.common import console, db_pool, fail, local_time, run, session
from cobranza.cli.common import settings as load_settings
from cobranza.domain import (
    TASK_KIND_LABELS,
    TASK_OUTCOME_LABELS,
    TASK_OUTCOMES_BY_KIND,
    TaskOutcome,
)
from cobranza.money import format_cop
from cobranza.task_input import CompletionInputError, build_completion
from cobranza.tasks import (
    EFFECT_LABELS,
    OUTCOME_EFFECTS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    TaskError,
    TaskRow,
    TaskSummary,
    add_agent,
    claim_task,
    complete_task,
    list_agents,
    list_tasks,
    reassign_task,
    release_task,
    task_summary,
)

agent_app = typer.Typer(help="Gestores de cobranza y sus equipos.")
task_app = typer.Typer(help="Tareas de gestión: lista de trabajo, tomar, liberar, completar.")


# --- agents ----------------------------------------------------------------------------------------


@agent_app.command("add")
def agent_add(
    agent_id: Annotated[str, typer.Argument(help="Código del gestor (no su nombre).")],
    name: Annotated[str, typer.Option("--name", help="Nombre del gestor.")],
    team: Annotated[str, typer.Option("--team", help="Equipo, p. ej. preventiva.")],
    supervisor: Annotated[
        bool, typer.Option("--supervisor", help="Puede reasignar tareas.")
    ] = False,
) -> None:
    """Registra (o actualiza) un gestor en un equipo."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                created = await add_agent(
                    pool,
                    agent_id=agent_id,
                    full_name=name,
                    team=team,
                    role="supervisor" if supervisor else "agent",
                )
            except TaskError as err:
                raise fail(str(err), 2) from err
        role = "supervisor" if supervisor else "gestor"
        verb = "registrado" if created else "actualizado"
        console.print(f"{role.capitalize()} {agent_id} {verb} en el equipo {team}.")

    run(main())


@agent_app.command("list")
def agent_list(
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Lista los gestores, su equipo y cuántas tareas tienen tomadas."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            agents = await list_agents(pool)
        if as_json:
            print(json.dumps([a.model_dump() for a in agents], ensure_ascii=False, indent=2))
            return
        table = Table(title="Gestores")
        for column in ("Código", "Nombre", "Equipo", "Rol", "Activo", "Tareas tomadas"):
            table.add_column(column)
        for a in agents:
            table.add_row(
                a.agent_id,
                a.full_name,
                a.team,
                "supervisor" if a.role == "supervisor" else "gestor",
                "sí" if a.active else "no",
                str(a.claimed_tasks),
            )
        console.print(table)

    run(main())


# --- the worklist ----------------------------------------------------------------------------------


def _task_json(task: TaskRow) -> dict[str, object]:
    return dict(json.loads(task.model_dump_json()))


@task_app.command("list")
def task_list(
    agent: Annotated[
        str | None, typer.Option("--agent", help="Las tareas de este gestor y de su equipo.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Solo este equipo.")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Solo esta campaña.")] = None,
    include_done: Annotated[
        bool, typer.Option("--all", help="Incluye completadas, vencidas y cerradas.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Lista de trabajo, la más urgente primero (prioridad, saldo, mora, vencimiento)."""
    settings = load_settings()
    statuses = (
        ("open", "claimed", "completed", "expired", "closed")
        if include_done
        else ("open", "claimed")
    )

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                tasks = await list_tasks(
                    pool, agent_id=agent, team=team, campaign_id=campaign, statuses=statuses
                )
            except TaskError as err:
                raise fail(str(err)) from err
        if as_json:
            print(json.dumps([_task_json(t) for t in tasks], ensure_ascii=False, indent=2))
            return
        table = Table(title=f"Tareas ({len(tasks)})")
        for column in ("Tarea", "Cuenta", "Tipo", "Estado", "Asignada a", "Prioridad", "Vence"):
            table.add_column(column)
        table.add_column("Saldo", justify="right")
        for t in tasks:
            due = local_time(t.due_at)
            if t.not_before is not None:
                due = f"desde {local_time(t.not_before)}"
            table.add_row(
                t.task_id,
                t.account_id,
                TASK_KIND_LABELS[t.kind],
                STATUS_LABELS[t.status],
                t.assigned_to or "—",
                f"{PRIORITY_LABELS.get(t.priority, t.priority)} ({t.score})",
                due,
                format_cop(t.balance_cop) if t.balance_cop is not None else "—",
            )
        console.print(table)

    run(main())


@task_app.command("claim")
def task_claim(
    task_id: str,
    agent: Annotated[str, typer.Option("--agent", help="Gestor que la toma.")],
) -> None:
    """Toma una tarea abierta de su equipo (si dos la toman a la vez, solo uno la obtiene)."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                task = await claim_task(pool, task_id, agent)
            except TaskError as err:
                raise fail(str(err)) from err
        console.print(
            f"Tarea {task.task_id} ({TASK_KIND_LABELS[task.kind]}, cuenta {task.account_id}) "
            f"tomada por {agent}; vence {local_time(task.due_at)}."
        )

    run(main())


@task_app.command("release")
def task_release(
    task_id: str,
    agent: Annotated[str, typer.Option("--agent", help="Gestor que la tiene.")],
) -> None:
    """Devuelve una tarea tomada a la cola de su equipo."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                task = await release_task(pool, task_id, agent)
            except TaskError as err:
                raise fail(str(err)) from err
        console.print(f"Tarea {task.task_id} devuelta a la cola del equipo {task.team}.")

    run(main())


@task_app.command("reassign")
def task_reassign(
    task_id: str,
    to: Annotated[str, typer.Option("--to", help="Gestor que la recibe.")],
    by: Annotated[str, typer.Option("--by", help="Supervisor que reasigna.")],
) -> None:
    """Un supervisor asigna una tarea abierta o tomada a otro gestor."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            try:
                task = await reassign_task(pool, task_id, to, by)
            except TaskError as err:
                raise fail(str(err)) from err
        console.print(f"Tarea {task.task_id} asignada a {to} por {by}.")

    run(main())


@task_app.command("outcomes")
def task_outcomes() -> None:
    """Los códigos de resultado por tipo de tarea y su efecto en la cobranza."""
    table = Table(title="Resultados de una tarea")
    for column in ("Código", "Resultado", "Tareas", "Efecto"):
        table.add_column(column)
    for outcome in TaskOutcome:
        kinds = ", ".join(
            TASK_KIND_LABELS[kind]
            for kind, allowed in TASK_OUTCOMES_BY_KIND.items()
            if outcome in allowed
        )
        table.add_row(
            outcome.value,
            TASK_OUTCOME_LABELS[outcome],
            kinds,
            EFFECT_LABELS[OUTCOME_EFFECTS[outcome]],
        )
    console.print(table)


@task_app.command("complete")
def task_complete(
    task_id: str,
    agent: Annotated[str, typer.Option("--agent", help="Gestor que la tiene tomada.")],
    outcome: Annotated[
        str, typer.Option("--outcome", help="Código de resultado (cobranza task outcomes).")
    ],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Monto en COP (promesa, total del acuerdo).")
    ] = None,
    due: Annotated[
        str | None, typer.Option("--due", help="Fecha de pago prometida AAAA-MM-DD.")
    ] = None,
    installments: Annotated[
        str | None,
        typer.Option("--installments", help="Cuotas: AAAA-MM-DD:COP,AAAA-MM-DD:COP,..."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Volver a llamar: AAAA-MM-DDTHH:MM (Bogotá).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Referencia del pago verificado.")
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="Nota libre (queda solo en Postgres).")
    ] = None,
) -> None:
    """Registra el resultado de una tarea tomada; la cobranza actúa según el resultado."""
    settings = load_settings()
    try:
        completion = build_completion(
            task_id=task_id,
            agent_id=agent,
            outcome=outcome,
            amount=amount,
            due=due,
            installments=installments,
            at=at,
            reference=reference,
        )
    except CompletionInputError as err:
        raise fail(str(err), 2) from err
    code = completion.outcome

    async def main() -> None:
        async with session(settings) as (client, pool):
            try:
                await complete_task(client, pool, completion, note=note)
            except TaskError as err:
                raise fail(str(err)) from err
        effect = EFFECT_LABELS[OUTCOME_EFFECTS[code]]
        console.print(
            f"Tarea {completion.task_id} completada: {TASK_OUTCOME_LABELS[code]}; {effect}."
        )

    run(main())


def print_task_summary(summary: TaskSummary, out: Console = console) -> None:
    """The agents' part of a campaign report (the demo prints it after the campaign's)."""
    table = Table(title=f"Gestión de agentes: {summary.tasks_total} tareas")
    table.add_column("Indicador")
    table.add_column("Valor", justify="right")
    for status, label in STATUS_LABELS.items():
        table.add_row(f"Tareas {label}s", str(summary.tasks_by_status.get(status, 0)))
    for outcome in TaskOutcome:
        count = summary.completed_by_outcome.get(outcome.value, 0)
        if count:
            table.add_row(f"  {TASK_OUTCOME_LABELS[outcome]}", str(count))
    table.add_row("Promesas de pago de agentes", str(summary.agent_promises))
    table.add_row("Acuerdos de pago", str(summary.agreements_registered))
    table.add_row("Acuerdos cumplidos", str(summary.agreements_kept))
    table.add_row("Acuerdos incumplidos", str(summary.agreements_broken))
    table.add_row("Cuentas en espera (reclamo, fallecido, insolvencia)", str(summary.holds_started))
    out.print(table)


@task_app.command("summary")
def task_summary_cmd(
    campaign: Annotated[str, typer.Option("--campaign", help="Campaña.")],
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Resumen de las tareas de una campaña: resultados, promesas y acuerdos."""
    settings = load_settings()

    async def main() -> None:
        async with db_pool(settings) as pool:
            summary = await task_summary(pool, campaign)
        if as_json:
            print(summary.model_dump_json(indent=2))
        else:
            print_task_summary(summary)

    run(main())
