"""`reconcile serve` as a real process, and the `reconcile server ...` admin commands."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from reconcile.apply.target import embedded_key
from reconcile.server.admin import tasks as admin
from reconcile.server.admin.commands import admin_key_path, serve, server
from reconcile.server.api.ids import decode_id
from reconcile.server.app import create_app
from reconcile.server.store import automations as hooks
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database
from tests.server.helpers import InProcess, basic, build_world
from tests.server.live import announced, free_port, running
from tests.server.runtime.support import alias_automation, alias_event, hook_with_secrets

SERVE = "from reconcile.server.admin.commands import serve; serve()"


def _cli() -> click.Group:
    group = click.Group("reconcile")
    group.add_command(serve)
    group.add_command(server)
    return group


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120  # a bound against a hang: returns once healthy
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def _start(db: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", SERVE, "--db", str(db), "--port", str(port), "--team", "acme"]
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_serve_bootstraps_answers_and_stops_gracefully(tmp_path: Path) -> None:
    db = tmp_path / "state" / "server.db"
    proc = _start(db, 0, {"RECONCILE_ADMIN_KEY": ""})
    printed: list[str] = []
    try:
        url, printed = announced(proc)
        _wait_healthy(url, proc)
        key_file = admin_key_path(db)
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        viewer = httpx.post(
            f"{url}/graphql", json={"query": "{ viewer { username entity } }"}, headers=basic(key)
        )
        assert viewer.json() == {"data": {"viewer": {"username": "admin", "entity": "acme"}}}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    out = "".join(printed) + out
    # uvicorn finishes in-flight work, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete." in err
    assert str(key_file) in out
    assert key not in out + err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e["message"] == "graphql request" and e["user"] == "admin" for e in logs)


def test_serve_takes_the_admin_key_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    key = "local-" + "e" * 40
    proc = _start(db, 0, {"RECONCILE_ADMIN_KEY": key})
    printed: list[str] = []
    try:
        url, printed = announced(proc)
        _wait_healthy(url, proc)
        viewer = httpx.post(
            f"{url}/graphql", json={"query": "{ viewer { id } }"}, headers=basic(key)
        )
        assert viewer.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    out = "".join(printed) + out
    assert not admin_key_path(db).exists()
    assert key not in out + err


def test_admin_commands_build_a_team(tmp_path: Path) -> None:
    runner, db = CliRunner(), str(tmp_path / "server.db")
    where = f" in the database {db}"

    def run(*args: str) -> str:
        result = runner.invoke(_cli(), ["server", "--db", db, *args])
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    assert run("create-team", "acme") == (
        f"team acme{where}\n"
        "add a user to it with `reconcile server set-role acme USER member` (or admin)"
    )
    assert run("create-user", "mia", "--team", "acme", "--role", "admin") == (
        f"user mia (admin of acme){where}"
    )
    created = runner.invoke(_cli(), ["server", "--db", db, "create-key", "mia"])
    assert created.stdout.startswith("local-")
    assert created.stdout.count("\n") == 1  # the key alone on stdout, for scripts
    assert created.stderr == f"(create-key{where})\n"
    assert run("create-registry", "acme", "models", "--admin", "mia") == (
        f"registry acme-org/wandb-registry-models{where}"
    )
    assert run("create-collection", "acme", "wandb-registry-models", "prod") == (
        f"collection acme-org/wandb-registry-models/prod{where}"
    )
    assert run("create-collection", "acme", "--registry", "models", "staging") == (
        f"collection acme-org/wandb-registry-models/staging{where}"
    )
    assert run("create-team", "vision-team", "--organization", "acme").splitlines()[0] == (
        f"team vision-team{where}"
    )
    assert run("create-registry", "vision-team", "models") == (
        f"registry acme-org/wandb-registry-models{where}"
    )
    assert run("create-project", "acme", "vision") == f"project acme/vision{where}"
    assert run("set-role", "acme", "mia", "member") == f"user mia is a member of acme{where}"
    assert run("set-role", "acme", "mia", "viewer") == f"user mia is a viewer of acme{where}"
    assert run("set-role", "acme", "mia", "member") == f"user mia is a member of acme{where}"
    failed = runner.invoke(_cli(), ["server", "--db", db, "create-key", "nobody"])
    assert (failed.exit_code, failed.output.strip()) == (
        1,
        "Error: user 'nobody' not found; `reconcile server create-user nobody` creates it",
    )
    failed = runner.invoke(_cli(), ["server", "--db", db, "create-project", "nope", "p"])
    assert (failed.exit_code, failed.output.strip()) == (
        1,
        "Error: entity 'nope' not found; `reconcile server create-team nope` creates it",
    )


def test_serve_on_port_0_prints_the_port_it_listens_on(tmp_path: Path) -> None:
    proc = _start(tmp_path / "server.db", 0, {"RECONCILE_ADMIN_KEY": "local-" + "e" * 40})
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "serve printed nothing"
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"Serving on (http://127\.0\.0\.1:(\d+))/graphql \(database .*\)\n", line
        )
        assert match is not None, line
        assert int(match.group(2)) != 0
        base = match.group(1)
        assert proc.stdout.readline() == (
            f"Point commands at it with --server {base} (or RECONCILE_SERVER={base}).\n"
        )
        _wait_healthy(base, proc)  # the port printed is the one that answers
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_serve_on_a_busy_port_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = [
            sys.executable,
            "-c",
            SERVE,
            "--db",
            str(tmp_path / "server.db"),
            "--port",
            str(port),
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )
    assert not (tmp_path / "server.db").exists()  # nothing was started or created


def test_create_collection_takes_a_registry_by_its_short_name(tmp_path: Path) -> None:
    runner, db = CliRunner(), str(tmp_path / "server.db")

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(_cli(), ["server", "--db", db, *args])
        return result.exit_code, result.output.strip()

    assert run("create-team", "acme")[1].splitlines()[0] == f"team acme in the database {db}"
    assert run("create-registry", "acme", "model") == (
        0,
        f"registry acme-org/wandb-registry-model in the database {db}",
    )
    assert run("create-collection", "acme", "--registry", "model", "fraud") == (
        0,
        f"collection acme-org/wandb-registry-model/fraud in the database {db}",
    )
    code, output = run("create-collection", "acme", "--registry", "model", "proj", "fraud")
    assert code == 2
    assert output.endswith("Error: give TEAM PROJECT NAME, or TEAM --registry REGISTRY NAME")


def test_serve_listens_on_a_socket_whose_connections_send_without_delay() -> None:
    """asyncio disables Nagle's algorithm only on sockets created as IPPROTO_TCP;
    otherwise every small answer waits for the client's delayed ACK (about 40 ms)."""
    import asyncio

    from reconcile.server.admin.commands import _listen

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                option = transport.get_extra_info("socket").getsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY
                )
                seen.set_result(option)

        sock = _listen("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        port = sock.getsockname()[1]
        async with server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            result = await asyncio.wait_for(seen, 60)
            writer.close()
        return result

    assert asyncio.run(accepted_nodelay()) == 1


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [
        ("RECONCILE_DELIVERY_TIME_SCALE", "abc", "a number greater than 0 (1 is real time)"),
        ("RECONCILE_EVENTS_QUEUE", "2k", "a whole number greater than 0"),
        ("RECONCILE_DELIVERY_BACKLOG", "0", "a whole number greater than 0"),
        ("RECONCILE_DELIVERY_LAG", "soon", "a number greater than 0 (seconds)"),
        ("RECONCILE_RUN_CRASH_SECONDS", "inf", "a number greater than 0 (seconds)"),
    ],
)
def test_serve_refuses_a_bad_setting_naming_it_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, wanted: str
) -> None:
    monkeypatch.setenv(name, value)
    db = tmp_path / "server.db"
    result = CliRunner().invoke(_cli(), ["serve", "--db", str(db), "--port", "0"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        2,
        f"Error: {name}={value!r}: give {wanted}",
    )
    assert not db.exists()  # refused before the database is made


def test_serve_refuses_a_malformed_allow_list_entry_before_it_listens(tmp_path: Path) -> None:
    port = free_port()
    args = [sys.executable, "-c", SERVE, "--db", str(tmp_path / "server.db")]
    args += ["--port", str(port), "--allow-delivery-to", "127.0.0.1:99999"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "Error: Invalid value for --allow-delivery-to: '127.0.0.1:99999': the port must "
        "be a number from 1 to 65535 (got '99999')"
    )
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # it never listened, nor created an admin
    assert not (tmp_path / "server.db").exists()


def _own_address_attempts(tmp_path: Path, allow: str, port: int) -> list[tuple[object, ...]]:
    """Serve on `port` with `--allow-delivery-to allow`; an automation whose webhook is
    this server's own /graphql fires once: the attempts of its delivery."""
    db = tmp_path / "server.db"
    app = create_app(db)
    try:
        world = build_world(InProcess(app))
        hook = hook_with_secrets(world, f"http://127.0.0.1:{port}/graphql")
        alias_automation(world.admin, world.project_id, hook)
        key = world.admin.key
    finally:
        app.state.service.close()
    args = [sys.executable, "-c", SERVE, "--db", str(db), "--port", str(port)]
    proc = subprocess.Popen(
        [*args, "--allow-delivery-to", allow, "--log-level", "warning"],
        env={**os.environ, "RECONCILE_ADMIN_KEY": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        sent = httpx.post(f"{url}/api/v1/events", json=alias_event("own"), headers=basic(key))
        assert sent.status_code == 202, sent.text
        for _ in range(600):  # bounded: 60 s at most
            history = httpx.get(f"{url}/api/v1/deliveries", headers=basic(key)).json()
            (delivery,) = history["deliveries"]
            if delivery["status"] != "pending":
                return [(a["status"], a["error"], a["detail"]) for a in delivery["attempts"]]
            time.sleep(0.1)
        raise AssertionError("the delivery never settled")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_serve_never_delivers_to_its_own_address_unless_named_with_its_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    assert _own_address_attempts(tmp_path / "a", "127.0.0.1", port) == [
        (
            None,
            "blocked",
            f"127.0.0.1, port {port}, is this server's own address: deliveries go there "
            f"only when allow-listed with its port (add --allow-delivery-to 127.0.0.1:{port})",
        )
    ]
    # Named with its port: sent (our own API refuses a request without its key).
    attempts = _own_address_attempts(tmp_path / "b", f"127.0.0.1:{port}", port)
    assert attempts == [(401, "status", "HTTP 401")]


def test_admin_commands_with_server_change_the_running_server_through_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, elsewhere = tmp_path / "served.db", tmp_path / "other.db"
    key = embedded_key(served)
    runner = CliRunner()
    with running(served) as live:

        def run(*args: str) -> Result:
            return runner.invoke(_cli(), ["server", "--server", f"{live.url}/graphql", *args])

        monkeypatch.setenv("WANDB_API_KEY", key)
        monkeypatch.chdir(tmp_path)
        on = f" on the server {live.url}"
        made = run("create-project", "local", "model-training")
        assert (made.exit_code, made.output) == (0, f"project local/model-training{on}\n")
        made = run("create-registry", "local", "model")
        assert (made.exit_code, made.output) == (
            0,
            f"registry local-org/wandb-registry-model{on}\n",
        )
        made = run("create-collection", "local", "--registry", "model", "clf")
        assert made.output == f"collection local-org/wandb-registry-model/clf{on}\n"
        made = run("create-collection", "local", "model-training", "clf")
        assert made.output == f"collection local/model-training/clf{on}\n"
        # The server's own role checks hold: a member's key cannot create projects.
        db = Database(served)
        admin.create_user(db, "mia")
        admin.set_role(db, "local", "mia", "member")
        monkeypatch.setenv("WANDB_API_KEY", admin.create_api_key(db, "mia"))
        db.close()
        denied = run("create-project", "local", "other")
        assert (denied.exit_code, denied.output) == (
            1,
            "Error: permission denied: only admins of team local create projects\n",
        )
    db = Database(served)
    try:
        with db.read() as con:
            names = [r["name"] for r in con.execute("SELECT name FROM projects ORDER BY name")]
    finally:
        db.close()
    assert names == ["model-training", "wandb-registry-model"]
    assert not elsewhere.exists()
    assert not (tmp_path / ".reconcile").exists()  # nothing written to a local database


def test_instance_admin_commands_with_server_change_users_teams_and_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.db"
    monkeypatch.setenv("WANDB_API_KEY", embedded_key(served))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with running(served) as live:

        def run(*args: str) -> Result:
            return runner.invoke(_cli(), ["server", "--server", live.url, *args])

        on, cmd = f" on the server {live.url}", f"reconcile server --server {live.url}"
        made = run("create-team", "vision", "--organization", "acme")
        assert (made.exit_code, made.stdout) == (
            0,
            f"team vision{on}\nadmin is its admin; add a user to it with "
            f"`{cmd} set-role vision USER member` (or admin)\n",
        )
        again = run("create-team", "vision")
        assert again.stdout == (
            f"team vision{on}\nadd a user to it with "
            f"`{cmd} set-role vision USER member` (or admin)\n"
        )
        made = run("create-user", "mia", "--email", "mia@example.com", "--team", "vision")
        assert (made.exit_code, made.stdout) == (0, f"user mia (member of vision){on}\n")
        made = run("set-role", "vision", "mia", "admin")
        assert (made.exit_code, made.stdout) == (0, f"user mia is an admin of vision{on}\n")
        key = run("create-key", "mia", "--description", "ci")
        assert (key.exit_code, key.stderr) == (0, f"(create-key{on})\n")
        mia_key = key.stdout.strip()
        assert re.fullmatch(r"local-[A-Za-z0-9_]{40}", mia_key)
        listed = run("list-keys", "mia")
        assert (listed.exit_code, listed.stderr) == (0, "")
        assert re.fullmatch(r"2\tmia\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\tci\n", listed.stdout)
        viewer = httpx.post(
            f"{live.url}/graphql", json={"query": "{ viewer { username } }"}, headers=basic(mia_key)
        )
        assert viewer.json() == {"data": {"viewer": {"username": "mia"}}}
        missing = run("set-role", "vision", "noone", "member")
        assert (missing.exit_code, missing.stderr) == (
            1,
            f"Error: user 'noone' not found; `{cmd} create-user noone` creates it\n",
        )
        gone = run("delete-key", "2")
        assert (gone.exit_code, gone.stdout) == (0, f"key 2 of mia revoked{on}\n")
        again = run("delete-key", "2")
        assert (again.exit_code, again.stderr) == (1, "Error: no API key with id 2\n")
    db = Database(served)
    try:
        with db.read() as con:
            team, user = teams.get_team(con, "vision"), teams.find_user(con, "mia")
            assert user is not None
            assert (user.email, teams.member_role(con, team.id, user.id)) == (
                "mia@example.com",
                "admin",
            )
            assert [k.username for k in teams.api_keys(con)] == ["admin"]
    finally:
        db.close()
    assert not (tmp_path / ".reconcile").exists()  # nothing written to a local database


def test_instance_admin_commands_with_server_refuse_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.db"
    embedded_key(served)
    db = Database(served)
    admin.create_user(db, "mia")
    admin.set_role(db, "local", "mia", "admin")  # a team admin, not the instance's admin
    monkeypatch.setenv("WANDB_API_KEY", admin.create_api_key(db, "mia"))
    db.close()
    runner = CliRunner()
    with running(served) as live:

        def refused(*args: str) -> str:
            result = runner.invoke(_cli(), ["server", "--server", live.url, *args])
            assert (result.exit_code, result.stdout) == (1, "")
            return result.stderr

        denied = "Error: permission denied: only the instance's admin can"
        assert refused("create-team", "other") == f"{denied} create teams\n"
        assert refused("create-user", "eve") == f"{denied} create users\n"
        assert refused("create-key", "admin") == f"{denied} create keys of other users\n"
        assert refused("list-keys") == f"{denied} list keys\n"
        assert refused("delete-key", "1") == f"{denied} revoke keys of others\n"
        # A team admin sets roles in its own team only.
        made = runner.invoke(
            _cli(), ["server", "--server", live.url, "set-role", "local", "mia", "member"]
        )
        assert made.stdout == f"user mia is a member of local on the server {live.url}\n"
        assert refused("set-role", "local", "mia", "admin") == (
            "Error: permission denied: only admins of team local can set roles\n"
        )
        monkeypatch.setenv("WANDB_API_KEY", "local-" + "x" * 40)
        assert refused("create-team", "other") == "Error: invalid API key\n"
    db = Database(served)
    try:
        with db.read() as con:
            assert [t.name for t in teams.teams_of(con, 1)] == ["local"]
            assert teams.find_user(con, "eve") is None
            assert [k.username for k in teams.api_keys(con)] == ["admin", "mia"]
    finally:
        db.close()


def test_admin_commands_with_server_need_an_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    url = f"http://127.0.0.1:{free_port()}/graphql"
    result = CliRunner().invoke(_cli(), ["server", "--server", url, "create-project", "a", "b"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        2,
        f"Error: set WANDB_API_KEY to the API key of an admin of {url.removesuffix('/graphql')}",
    )


def test_create_team_makes_the_instance_admin_its_admin(tmp_path: Path) -> None:
    db_path = tmp_path / "server.db"
    embedded_key(db_path)  # the instance's admin, as plan and apply make it
    result = CliRunner().invoke(_cli(), ["server", "--db", str(db_path), "create-team", "acme-ml"])
    assert result.output == (
        f"team acme-ml in the database {db_path}\n"
        "admin is its admin; add a user to it with "
        "`reconcile server set-role acme-ml USER member` (or admin)\n"
    )
    db = Database(db_path)
    try:
        with db.read() as con:
            team = teams.get_team(con, "acme-ml")
            user = teams.find_user(con, "admin")
            assert user is not None
            assert teams.member_role(con, team.id, user.id) == "admin"
    finally:
        db.close()


def _seal_of(db_path: Path, team: str, channel: str) -> bytes | None:
    db = Database(db_path)
    try:
        with db.read() as con:
            row = con.execute(
                "SELECT integrations.id FROM integrations JOIN entities "
                "ON entities.id = integrations.entity_id "
                "WHERE entities.name = ? AND channel_name = ?",
                (team, channel),
            ).fetchone()
            return None if row is None else hooks.slack_url_sealed(con, int(row["id"]))
    finally:
        db.close()


def test_members_users_and_slack_with_server_change_the_running_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.db"
    monkeypatch.setenv("WANDB_API_KEY", embedded_key(served))
    monkeypatch.chdir(tmp_path)
    slack_url = "https://hooks.slack.example/services/T0/B0/secret-part"
    monkeypatch.setenv("ALERTS_URL", slack_url)
    runner = CliRunner()
    with running(served) as live:

        def run(*args: str, code: int = 0) -> str:
            result = runner.invoke(_cli(), ["server", "--server", live.url, *args])
            assert result.exit_code == code, result.output
            return result.stdout if code == 0 else result.stderr

        on, cmd = f" on the server {live.url}", f"reconcile server --server {live.url}"
        run("create-team", "vision")
        run("create-user", "mia", "--team", "vision")
        mia_key = run("create-key", "mia").strip()
        assert run("remove-member", "vision", "mia") == f"user mia removed from vision{on}\n"
        assert run("remove-member", "vision", "mia", code=1) == (
            "Error: user 'mia' is not a member of vision\n"
        )
        assert run("remove-member", "vision", "nobody", code=1) == (
            f"Error: user 'nobody' not found; `{cmd} create-user nobody` creates it\n"
        )
        assert run("remove-member", "nope", "mia", code=1) == (
            f"Error: entity 'nope' not found; `{cmd} create-team nope` creates it\n"
        )
        made = run("create-slack-integration", "vision", "#alerts", "--url-env", "ALERTS_URL")
        integration_id, rest = made.split(" ", 1)
        assert decode_id(integration_id, "Integration")[0] == "Integration"
        assert rest == f"slack vision #alerts (incoming-webhook URL set){on}\n"
        assert run("create-slack-integration", "vision", "alerts") == (
            f"{integration_id} slack vision #alerts{on}\n"
        )
        assert run("create-slack-integration", "vision", "Bad Name", code=1) == (
            "Error: invalid Slack channel name 'Bad Name': "
            "1 to 80 of lowercase letters, digits, '-' and '_'\n"
        )
        assert run("create-slack-integration", "local-org", "alerts", code=1) == (
            "Error: local-org is an organization's entity; Slack belongs to its teams\n"
        )
        assert run("delete-user", "mia") == f"user mia deleted (1 API key(s) revoked){on}\n"
        viewer = httpx.post(
            f"{live.url}/graphql", json={"query": "{ viewer { username } }"}, headers=basic(mia_key)
        )
        assert viewer.status_code == 401
        assert run("delete-user", "mia", code=1) == (
            f"Error: user 'mia' not found; `{cmd} create-user mia` creates it\n"
        )
        assert run("delete-user", "admin", code=1) == (
            "Error: user 'admin' is the instance's admin and cannot be deleted "
            "(revoke a key of it with delete-key)\n"
        )
    sealed = _seal_of(served, "vision", "alerts")
    assert sealed is not None
    assert SecretBox(load_or_create_key(served)).open(sealed) == slack_url
    assert slack_url.encode() not in served.read_bytes()
    assert not (tmp_path / ".reconcile").exists()  # nothing written to a local database


def test_members_users_and_slack_with_server_hold_the_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.db"
    embedded_key(served)
    db = Database(served)
    for name, role in (("mia", "admin"), ("pat", "member"), ("olga", "member")):
        admin.create_user(db, name)
        admin.set_role(db, "local", name, role)  # mia: a team admin, not the instance's
    admin.ensure_team(db, "other")
    admin.set_role(db, "other", "olga", "member")
    mia_key, pat_key = admin.create_api_key(db, "mia"), admin.create_api_key(db, "pat")
    db.close()
    runner = CliRunner()
    with running(served) as live:

        def run(key: str, *args: str, code: int = 1) -> str:
            monkeypatch.setenv("WANDB_API_KEY", key)
            result = runner.invoke(_cli(), ["server", "--server", live.url, *args])
            assert result.exit_code == code, result.output
            return result.stdout if code == 0 else result.stderr

        on = f" on the server {live.url}"
        # A team admin removes members and connects Slack in its own team only.
        assert run(mia_key, "remove-member", "local", "olga", code=0) == (
            f"user olga removed from local{on}\n"
        )
        assert run(mia_key, "remove-member", "other", "olga") == (
            "Error: entity 'other' not found; "
            f"`reconcile server --server {live.url} create-team other` creates it\n"
        )
        made = run(mia_key, "create-slack-integration", "local", "alerts", code=0)
        assert made.endswith(f" slack local #alerts{on}\n")
        assert run(mia_key, "delete-user", "pat") == (
            "Error: permission denied: only the instance's admin can delete users\n"
        )
        # A member does none of it.
        assert run(pat_key, "remove-member", "local", "mia") == (
            "Error: permission denied: only admins of team local can remove members\n"
        )
        assert run(pat_key, "create-slack-integration", "local", "deploys") == (
            "Error: permission denied: only admins of team local can manage integrations\n"
        )
        assert run(pat_key, "delete-user", "mia") == (
            "Error: permission denied: only the instance's admin can delete users\n"
        )
        assert run("local-" + "x" * 40, "delete-user", "pat") == "Error: invalid API key\n"
    db = Database(served)
    try:
        with db.read() as con:
            local = teams.get_team(con, "local")
            assert [(u.username, r) for u, r in teams.members(con, local.id)] == [
                ("admin", "admin"),
                ("mia", "admin"),
                ("pat", "member"),
            ]
            other = teams.get_team(con, "other")
            assert [u.username for u, _ in teams.members(con, other.id)] == ["olga"]
            assert [k.username for k in teams.api_keys(con)] == ["admin", "mia", "pat"]
    finally:
        db.close()
    assert _seal_of(served, "local", "deploys") is None
