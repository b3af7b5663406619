"""`reconcile init`: a working inventory folder in one's own repository, never overwriting."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from reconcile.core.errors import UsageError
from reconcile.inventory import project
from reconcile.inventory.schema import schema_text

EXAMPLE = Path(project.INVENTORY_DIR, "example.yaml")
SCHEMA = Path(project.INVENTORY_DIR, "inventory.schema.json")  # the example's modeline
WORKFLOW = Path(".github", "workflows", "reconcile.yml")
IGNORED = f"{project.STATE_DIR}/"


def _template(name: str) -> str:
    return resources.files("reconcile").joinpath(f"data/init/{name}").read_text("utf-8")


@click.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option(
    "--github",
    is_flag=True,
    help=f"Also write {WORKFLOW}: plan on pull requests, apply after the merge, drift daily.",
)
def init(folder: Path, github: bool) -> None:
    """Start an inventory in FOLDER (default: here): an example automation, its schema for
    editors, and `.reconcile/` in .gitignore. Never overwrites a file.

    \b
    Examples:
      reconcile init
      reconcile init --github     # also the GitHub workflow
    """
    files = {EXAMPLE: _template("example.yaml"), SCHEMA: schema_text()}
    if github:
        files[WORKFLOW] = _template("workflow.yml")
    there = [path for path in files if (folder / path).exists()]
    if there:
        names = ", ".join(project.shown(folder / path) for path in there)
        raise UsageError(
            f"{names} already exist{'s' if len(there) == 1 else ''}; init never overwrites "
            "a file: move it away, or edit it instead"
        )
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, "utf-8")
        click.echo(f"created {project.shown(folder / path)}")
    click.echo(_ignore(folder / ".gitignore"))
    click.echo(
        "next: edit the example, then `reconcile validate`, `reconcile plan` and "
        "`WEBHOOK_SECRET=... reconcile apply --auto-approve` (the README's first steps)"
    )


def _ignore(path: Path) -> str:
    """Add `.reconcile/` (the embedded server's database and keys) to .gitignore."""
    text = path.read_text("utf-8") if path.exists() else ""
    lines = {line.strip() for line in text.splitlines()}
    if lines & {IGNORED, project.STATE_DIR, f"/{IGNORED}", f"/{project.STATE_DIR}"}:
        return f"{project.shown(path)} already ignores {IGNORED}"
    separator = "" if not text or text.endswith("\n") else "\n"
    path.write_text(f"{text}{separator}{_template('gitignore')}", "utf-8")
    return f"{'updated' if text else 'created'} {project.shown(path)} (ignores {IGNORED})"


COMMANDS = (init,)
