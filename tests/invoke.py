"""`reconcile ARGS` run in this process (click's runner) and answered as a finished
subprocess: the same command, output and exit code, without a Python start-up each time."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner

from reconcile.cli import cli


def run(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`reconcile ARGS` with exactly `env` as its environment, in `cwd`: its exit code,
    stdout and stderr (its logs included). An exception the command does not handle fails
    the caller, as a process would print it; the logging it set up is undone."""
    environment: dict[str, str | None] = dict.fromkeys(os.environ)
    environment.update(env)
    root = logging.getLogger()
    handlers, level, here = root.handlers[:], root.level, Path.cwd()
    try:
        os.chdir(cwd or here)
        done = CliRunner().invoke(cli, list(args), env=environment, prog_name="reconcile")
    finally:
        os.chdir(here)
        root.handlers[:] = handlers
        root.setLevel(level)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return subprocess.CompletedProcess(
        ["reconcile", *args], done.exit_code, done.stdout, done.stderr
    )
