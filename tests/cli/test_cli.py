"""The command line: exit codes, output formats, and no tracebacks for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.inventory.schema import schema_text
from tests.conftest import WriteFiles

VALID = """
entity: ml
secrets:
  - name: TOKEN
webhooks:
  - name: hook
    url: https://example.com/hook
    access_token: TOKEN
"""
BROKEN = """
entity: ml
webhooks:
  - name: hook
    url: http://example.com/x
  - name: other
    url: https://example.com/y
    secret: 1
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_validate_defaults_to_automations_and_exits_0(write_files: WriteFiles) -> None:
    write_files({"a.yaml": VALID})
    assert run("validate") == (0, "valid: 1 secret, 1 webhook, 0 automations\n")


def test_validate_reports_every_problem_and_exits_1(write_files: WriteFiles) -> None:
    write_files({"a.yaml": BROKEN})
    code, output = run("validate")
    assert code == 1
    assert output == (
        "automations/a.yaml:4:10: webhooks[0].url: plain http is allowed only for loopback hosts; "
        "use https for 'example.com'\n"
        "automations/a.yaml:7:13: webhooks[1].secret: expected a string, got the number 1; "
        "quote it to keep it a string\n"
        "2 problems found\n"
    )


def test_validate_json_format(write_files: WriteFiles) -> None:
    write_files({"a.yaml": "entity: ml\nsecrets: {}\n"})
    code, output = run("validate", "--format", "json")
    assert code == 1
    assert json.loads(output) == {
        "valid": False,
        "errors": [
            {
                "path": "automations/a.yaml",
                "line": 2,
                "col": 10,
                "message": "secrets: expected a list, got a mapping",
            }
        ],
        "warnings": [],
    }


def test_validate_json_format_when_valid(write_files: WriteFiles) -> None:
    write_files({"a.yaml": VALID})
    code, output = run("validate", "--format", "json")
    assert (code, json.loads(output)) == (0, {"valid": True, "errors": [], "warnings": []})


def test_validate_github_annotations_escape_their_fields(write_files: WriteFiles) -> None:
    write_files({"a,b.yaml": "entity: ml\nsecrets: {}\n"})
    code, output = run("validate", "--format", "github")
    assert code == 1
    assert output.splitlines() == [
        "::error file=automations/a%2Cb.yaml,line=2,col=10::"
        "secrets: expected a list, got a mapping",
        "1 problem found",
    ]


def test_missing_path_is_a_usage_error(write_files: WriteFiles) -> None:
    write_files({})
    result = CliRunner().invoke(cli, ["validate", "nowhere"])
    assert result.exit_code == 2
    assert result.output == "error: nowhere: no such file or directory\n"


def test_an_empty_folder_says_how_to_start_an_inventory(write_files: WriteFiles) -> None:
    write_files({})
    result = CliRunner().invoke(cli, ["validate"])
    assert (result.exit_code, result.output) == (
        2,
        "error: automations: no such file or directory; `reconcile init` makes automations "
        "with an example to start from\n",
    )


def test_unknown_format_is_a_usage_error() -> None:
    code, output = run("validate", "--format", "xml")
    assert code == 2
    assert "Invalid value for '--format'" in output


def test_schema_command_prints_the_schema() -> None:
    code, output = run("schema")
    assert code == 0
    assert output == schema_text()
    assert json.loads(output)["title"] == "reconcile inventory"


def test_hostile_input_never_shows_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "automations").mkdir()
    (tmp_path / "automations" / "bomb.yaml").write_text(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n"
            for p, n in zip("abcdefg", "bcdefgh", strict=True)
        )
    )
    (tmp_path / "automations" / "bytes.yaml").write_bytes(b"entity: \xff\xfe\n")
    (tmp_path / "automations" / "tag.yaml").write_text(
        "entity: !!python/object/apply:os.system [id]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "reconcile", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "automations/bomb.yaml:1:1: aliases expand 27 nodes to 123,456,797; refusing a document "
        "that aliases grow more than 10x",
        "automations/bytes.yaml:1:9: not valid UTF-8 (byte 0xff); save the file as UTF-8",
        "automations/tag.yaml:1:9: the tag !!python/object/apply:os.system is not allowed: only "
        "strings, numbers, booleans, null, mappings and lists",
        "3 problems found",
    ]


def test_shell_completion_works_as_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    assert 'eval "$(_RECONCILE_COMPLETE=bash_source reconcile)"' in readme
    script = Path(sys.executable).with_name("reconcile")

    def complete(words: str, cword: int) -> str:
        env = {**os.environ, "_RECONCILE_COMPLETE": "bash_complete"}
        env.update(COMP_WORDS=words, COMP_CWORD=str(cword))
        done = subprocess.run(
            [script], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    assert complete("reconcile pl", 1) == "plain,plan\n"
    assert complete("reconcile server create-c", 2) == "plain,create-collection\n"
    source = subprocess.run(
        [script],
        env={**os.environ, "_RECONCILE_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "complete -o nosort -F _reconcile_completion reconcile" in source.stdout


def test_the_apply_progress_label_escapes_names_from_the_server() -> None:
    """A name holding a line break or an ANSI escape cannot redraw the terminal."""
    import io

    import click

    from reconcile.cli import plan as cli_module
    from reconcile.core.model import ResourceKey
    from reconcile.plan.compute import Change

    drawn = io.StringIO()
    bar = cli_module._Bar()
    bar.bar = click.progressbar(length=2, file=drawn, label="applying")
    bar.bar.__enter__()
    name = "x\n\x1b[2Kapplied create automation ml/forged"
    bar.step(Change("delete", ResourceKey("automation", "ml", name)), "applied")
    assert bar.bar.label == (
        'applied automation ml/"x\\n\\u001b[2Kapplied create automation ml/forged"'
    )
    bar.close()
    assert "\x1b" not in drawn.getvalue()


def test_verbose_after_the_command_is_taken_as_before_it(write_files: WriteFiles) -> None:
    import logging

    write_files({"a.yaml": "entity: ml\n"})
    levels = []
    for args in (["validate", "-vv"], ["validate", "--verbose"], ["-v", "validate"], ["validate"]):
        result = CliRunner().invoke(cli, args)
        assert (result.exit_code, result.output) == (
            0,
            "valid: 0 secrets, 0 webhooks, 0 automations\n",
        )
        levels.append(logging.getLogger().level)
    assert levels == [logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING]
    refused = CliRunner().invoke(cli, ["render", "--", "-v"])  # after `--`: an argument
    assert refused.exit_code == 2
    assert refused.output.splitlines()[-1] == "error: no automation '-v' in the inventory"


def test_version_is_the_packages_own() -> None:
    """The version pinned installs report (`pipx install ...@TAG`, the action's `uses:`)."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (
        0,
        f"reconcile, version {pyproject['project']['version']}\n",
    )


def test_each_command_loads_from_the_module_that_declares_it() -> None:
    import importlib

    from reconcile.cli.app import COMMAND_MODULES

    declared = {}
    for module_name in set(COMMAND_MODULES.values()) - {"reconcile.server.admin.commands"}:
        module = importlib.import_module(module_name)
        declared.update({command.name: module_name for command in module.COMMANDS})
    server = {name for name, module in COMMAND_MODULES.items() if module.endswith("commands")}
    assert server == {"serve", "server"}
    assert {k: v for k, v in COMMAND_MODULES.items() if k not in server} == declared


def test_validate_loads_neither_the_http_client_nor_the_server(write_files: WriteFiles) -> None:
    """A cold `reconcile validate` imports only what checking needs (bench_validate.py)."""
    write_files({"team.yaml": VALID})
    probe = (
        "import sys\nfrom reconcile.cli import cli\n"
        "try:\n    cli(['validate', 'automations'])\nexcept SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(sorted(m for m in ('httpx', 'reconcile.apply.session', 'reconcile.server',"
        " 'reconcile.client', 'jsonschema') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_the_command_line_does_not_import_httpxs_own_command_line() -> None:
    """httpx imports rich and pygments for its command-line tool when they are installed
    (they are here: import-linter needs rich): 0.05 s of every command that talks HTTP."""
    import importlib.util

    assert importlib.util.find_spec("rich") is not None  # else this proves nothing
    probe = (
        "import sys\nimport reconcile.cli\nimport httpx\n"
        "print(sorted(m for m in ('rich', 'pygments', 'httpx._main') if sys.modules.get(m)))\n"
        "print(httpx.AsyncClient.__name__, callable(httpx.main))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "AsyncClient True"]


def test_a_commands_async_result_is_returned_without_its_repr() -> None:
    """Python 3.11's `asyncio.run` formats its main task (with the task's result) when
    it puts the SIGINT handler back; a plan's result is large, so `run` keeps it apart."""
    from reconcile.cli.options import run

    class Large:
        shown = 0

        def __repr__(self) -> str:
            Large.shown += 1
            return "Large()"

    async def plan() -> Large:
        return Large()

    assert isinstance(run(plan()), Large)
    assert Large.shown == 0
