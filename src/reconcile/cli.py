"""The `reconcile` command line: the only module that prints or exits."""

from __future__ import annotations

import click

from reconcile import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
def cli() -> None:
    """Webhook automations as code for Weights & Biases."""


def main() -> None:
    """Console-script entry point."""
    cli()
