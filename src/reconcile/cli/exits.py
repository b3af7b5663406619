"""Exit codes, and the one place that turns the package's exceptions into them.

0 success; 1 invalid inventory, failed apply or server error; 2 usage error (and, with
`plan --detailed-exitcode`, "there are changes"); 3 apply refused the plan (it changed
since review, has conflicts, or needs --force); 4 `render`: the automation would not
fire on an event (`cli.runtime.EXIT_WOULD_NOT_FIRE`). Only the command line prints or
exits.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from reconcile.core.errors import InvalidInventory, ReconcileError, UsageError
from reconcile.render import issues as issue_render

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_REFUSED = 3


class ExitCodes(click.Group):
    """Turns the package's exceptions into messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_USAGE)
        except InvalidInventory as invalid:
            text = issue_render.render(
                invalid.issues, "text", "the inventory is invalid", invalid.warnings
            )
            click.echo(text, err=True, nl=False)
            sys.exit(EXIT_INVALID)
        except ReconcileError as error:
            if _refused(error):
                click.echo(f"refused: {error}", err=True)
                sys.exit(EXIT_REFUSED)
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_INVALID)


def _refused(error: ReconcileError) -> bool:
    """Whether apply refused its plan. Its module is looked up, not imported: a command
    that never loaded it (`validate`) cannot have raised it, and need not pay for it."""
    session = sys.modules.get("reconcile.apply.session")
    return session is not None and isinstance(error, session.PlanRefused)
