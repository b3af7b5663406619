"""S13: no credential in any log line, at any level, of the server or the CLI.

Canaries (a token, a signing secret, a Slack incoming-webhook URL, and a webhook URL's
path and query read with `from_env`) are driven through real deliveries: by
`reconcile serve` (a subprocess on 127.0.0.1) at every `--log-level`, and by the
in-process `reconcile emit` at every verbosity. The receiver fails each first attempt
with an answer that echoes the Authorization header, the signature and the request
path, so retries, error answers and their excerpts are on the way too. Every line the
server and the CLI write (stdout and stderr) is scanned. The CLI's commands run in this
process (`tests/invoke.py`: their stdout, stderr and logs, as a process writes them);
`serve` runs as a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.server.admin.commands import admin_key_path
from tests import invoke
from tests.conftest import WriteFiles
from tests.runtime.faults import Received
from tests.server.admin.test_commands import _wait_healthy
from tests.server.runtime.receiver import Receiver

TOKEN = "tok-s13-canary-8d1f2a"
SIGNING = "sig-s13-canary-4b7e90"
PATH_CANARY = "s13-path-canary-61c3"
QUERY_CANARY = "s13-query-canary-0e5a"
SLACK_CANARY = "s13-slack-canary-9f27"
CANARIES = (TOKEN, SIGNING, PATH_CANARY, QUERY_CANARY, SLACK_CANARY)
TIMEOUT = 90.0

INVENTORY = """
entity: ml
secrets:
  - name: TOK
    from_env: S13_TOKEN
  - name: KEY
    from_env: S13_KEY
webhooks:
  - name: hook
    url: {from_env: S13_URL}
    access_token: TOK
    secret: KEY
automations:
  - name: to-hook
    scope: {registry: model, collection: fraud}
    when: {alias_added: {alias: ^production$}}
    then:
      webhook:
        to: hook
        payload:
          token: "${ACCESS_TOKEN}"
          version: ${artifact_version_string}
  - name: to-slack
    scope: {registry: model, collection: fraud}
    when: {alias_added: {alias: ^production$}}
    then:
      slack:
        channel: "#alerts"
        title: promoted
        message: a model is in production
"""
ALIAS = [
    "--type", "alias_added", "--entity", "ml", "--registry", "model",
    "--collection", "fraud", "--version", "3", "--alias", "production",
]  # fmt: skip


class Echoing(Receiver):
    """Fails the first attempt of each delivery, echoing what was sent it; then 200."""

    async def _answer(self, got: Received, writer: object) -> bool:
        message_id = got.headers.get("webhook-id", "")
        self.attempts[message_id] += 1
        if self.attempts[message_id] > 1:
            got = Received(got.method, "/ok", got.headers, got.body)
            return await super()._answer(got, writer)  # type: ignore[arg-type]
        echoed = " ".join(
            [got.headers.get("authorization", ""), got.headers.get("x-wandb-signature", "")]
        )
        body = f"refused {echoed} at {got.path} with {got.body.decode()}".encode()
        bare = got.headers.get("authorization", "").removeprefix("Bearer ")  # the token alone
        head = f"HTTP/1.1 500 X\r\nX-Echo: {bare}\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)  # type: ignore[attr-defined]
        await writer.drain()  # type: ignore[attr-defined]
        return True


@pytest.fixture
def receiver() -> Iterator[Echoing]:
    with Echoing() as running:
        yield running


@pytest.fixture
def env(receiver: Echoing, tmp_path: Path) -> dict[str, str]:
    drop = ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY")
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return {
        **base,
        "S13_TOKEN": TOKEN,
        "S13_KEY": SIGNING,
        "S13_URL": receiver.url(f"/flaky/{PATH_CANARY}?key={QUERY_CANARY}"),
        "S13_SLACK": receiver.url(f"/flaky/T0S13/B0S13/{SLACK_CANARY}"),
        "RECONCILE_DELIVERY_TIME_SCALE": "0.2",  # a retry 1 s later, a 3 s deadline
        "NO_COLOR": "1",
    }


@pytest.fixture
def db(write_files: WriteFiles, env: dict[str, str], tmp_path: Path) -> Path:
    """The inventory applied to a database of its own, the Slack channel's URL set."""
    write_files({"ml.yaml": INVENTORY})
    path = tmp_path / "s13.db"
    _ok(_cli(env, "-vv", "apply", "--db", str(path), "--auto-approve"))
    _ok(_cli(env, "-vv", "server", "--db", str(path), "create-slack-integration", "ml", "alerts",
             "--url-env", "S13_SLACK"))  # fmt: skip
    return path


Outputs = list[str]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return invoke.run(args, env)


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_clean(done.stdout, done.stderr)
    return done


def _assert_clean(*outputs: str) -> None:
    for output in outputs:
        for line in output.splitlines():
            for canary in CANARIES:
                assert canary not in line, line


def _delivered_twice(receiver: Echoing, emitted: subprocess.CompletedProcess[str]) -> None:
    """Both automations fired and were delivered after a failed first attempt, which
    the receiver answered with the canaries."""
    assert emitted.stdout.count(": delivered after") == 2, emitted.stdout
    hook = [r for r in receiver.requests if PATH_CANARY in r.path]
    slack = [r for r in receiver.requests if SLACK_CANARY in r.path]
    assert hook[0].path == f"/flaky/{PATH_CANARY}?key={QUERY_CANARY}"
    assert hook[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(hook[0].body)["token"] == TOKEN
    assert (len(hook), len(slack)) == (2, 2)  # a 500 first, then a 2xx


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_s13_the_in_process_emit_logs_no_credential(
    db: Path, env: dict[str, str], receiver: Echoing, verbosity: list[str]
) -> None:
    emitted = _ok(
        _cli(env, *verbosity, "emit", "--db", str(db), *ALIAS, "--allow-delivery-to", "127.0.0.1")
    )
    _delivered_twice(receiver, emitted)
    if verbosity:  # the logs were on: a line per attempt (the delivery client logs none)
        lines = emitted.stderr.splitlines()
        assert lines.count("INFO reconcile.server.runtime.worker: delivery attempt") == 4
    _ok(_cli(env, *verbosity, "history", "--db", str(db)))
    _ok(_cli(env, *verbosity, "history", "--db", str(db), "--format", "json"))


def test_s13_webhook_test_shows_no_credential(
    db: Path, env: dict[str, str], receiver: Echoing
) -> None:
    tried = _cli(env, "-vv", "webhook", "test", "hook", "--allow-private")
    assert tried.returncode == 1, tried.stdout + tried.stderr  # the receiver's 500
    assert "HTTP 500" in tried.stdout
    _assert_clean(tried.stdout, tried.stderr)
    assert receiver.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_s13_the_server_logs_no_credential(
    db: Path, env: dict[str, str], receiver: Echoing, tmp_path: Path, level: str
) -> None:
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "reconcile", "serve", "--db", str(db), "--port", "0"]
    command += ["--allow-delivery-to", "127.0.0.1", "--log-level", level]
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        first = _first_line(proc)
        url = first.split()[2].removesuffix("/graphql")
        _wait_healthy(url, proc)
        key = admin_key_path(db).read_text("utf-8").strip()
        served = {**env, "WANDB_API_KEY": key}
        emitted = _ok(_cli(served, "-vv", "emit", "--server", url, *ALIAS))
        _delivered_twice(receiver, emitted)
        _ok(_cli(served, "-vv", "history", "--server", url, "--format", "json"))
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=TIMEOUT)
    logged = log.read_text("utf-8")
    _assert_clean(first, rest, logged)
    # The delivery client (runtime/http11.py) logs nothing of its own, at any level:
    # the worker's line per attempt names the endpoint only.
    assert "httpcore" not in logged
    assert f"127.0.0.1:{receiver.port}/" not in logged
    attempts = [json.loads(line) for line in logged.splitlines() if "delivery attempt" in line]
    assert len(attempts) == (4 if level in ("debug", "info") else 0)
    endpoint = f"http://127.0.0.1:{receiver.port}"
    assert [a["endpoint"] for a in attempts] == [endpoint] * len(attempts)


def _first_line(proc: subprocess.Popen[str]) -> str:
    """The line `serve` prints first (its address), read within TIMEOUT."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(TIMEOUT)
    assert line, proc.poll()
    assert line[0].startswith("Serving on "), line
    return line[0]
