"""`reconcile render`, `webhook test` and `receive`: from the inventory, on this machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.runtime import signing
from tests.conftest import WriteFiles
from tests.runtime.faults import FaultServer

INVENTORY = """
entity: ml
secrets:
  - name: TOK
    from_env: HOOK_TOKEN
  - name: KEY
    from_env: HOOK_KEY
webhooks:
  - name: local
    url: {url}
    access_token: TOK
    secret: KEY
automations:
  - name: on-prod
    scope: {{registry: model, collection: fraud}}
    when: {{alias_added: {{alias: ^production$}}}}
    then:
      webhook:
        to: local
        payload:
          v: ${{artifact_version_string}}
          t: "Bearer ${{ACCESS_TOKEN}}"
          who: ${{event_author}}
  - name: on-fail
    scope: {{project: p}}
    when: {{run_state: {{states: [failed]}}}}
    then: {{slack: {{channel: "#ml", title: Failed, severity: error}}}}
"""
SECRETS = {"HOOK_TOKEN": "tok-canary-1234", "HOOK_KEY": "key-canary-5678"}


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def project(write_files: WriteFiles, faults: FaultServer) -> FaultServer:
    write_files({"team.yaml": INVENTORY.format(url=faults.url("/ok"))})
    return faults


def test_render_prints_the_exact_body_of_a_sample_event_with_secrets_masked(
    project: FaultServer,
) -> None:
    code, out, err = run("render", "on-prod", env=SECRETS)
    assert code == 0
    assert out == (
        '{"v":"ml/wandb-registry-model/fraud:v3","t":"Bearer ***","who":"sample-user"}\n'
    )
    assert err.startswith(
        f"a sample alias_added event -> POST {project.url('/ok')} (webhook local)"
    )
    assert "tok-canary" not in out + err


def test_render_with_an_event_file(project: FaultServer, tmp_path: Path) -> None:
    event = {
        "type": "alias_added",
        "entity": "ml",
        "registry": "model",
        "collection": "fraud",
        "artifact": {"version": 12},
        "alias": "production",
        "author": "ann",
    }
    (tmp_path / "e.json").write_text(json.dumps(event))
    code, out, _ = run("render", "on-prod", "--event", "e.json")
    assert (code, out) == (
        0,
        '{"v":"ml/wandb-registry-model/fraud:v12","t":"Bearer ***","who":"ann"}\n',
    )
    code, out, _ = run(
        "render", "on-prod", "--event", "-", stdin=json.dumps({"events": [event, event]})
    )
    assert (code, out.count("fraud:v12")) == (0, 2)


def test_render_refuses_a_bad_or_unrelated_event(project: FaultServer, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"type": "alias_added", "entity": "ml"}')
    code, _, err = run("render", "on-prod", "--event", "bad.json")
    assert code == 2
    assert err == (
        "error: --event bad.json: events[0].alias: required for alias_added events; "
        "events[0].artifact: required for alias_added events; events[0].collection: required "
        "for alias_added events; events[0].project: give exactly one of 'project' and "
        "'registry'\n"
    )
    run_event = {"type": "run_state", "entity": "ml", "project": "p", "run": {"id": "r"}}
    (tmp_path / "run.json").write_text(json.dumps({**run_event, "state": "failed"}))
    code, _, err = run("render", "on-prod", "--event", "run.json")
    assert (code, err) == (
        2,
        "error: --event run.json: events[0] is a run_state event; automation 'on-prod' listens "
        "to alias_added, fired by alias_added events\n",
    )
    assert run("render", "nope")[2] == (
        "error: no automation 'nope' in the inventory; known: on-fail, on-prod\n"
    )


def test_render_a_slack_notification(project: FaultServer) -> None:
    code, out, err = run("render", "on-fail")
    assert code == 0
    assert json.loads(out)["text"] == ":rotating_light: Failed"
    assert err == "a sample run_state event -> Slack notification to #ml (ml's Slack integration)\n"


def test_webhook_test_sends_the_wandb_request_and_exits_0_on_2xx(project: FaultServer) -> None:
    code, out, _ = run("webhook", "test", "local", "--allow-private", env=SECRETS)
    assert code == 0
    (got,) = project.requests
    assert got.headers["authorization"] == "Bearer tok-canary-1234"
    assert signing.verify_wandb("key-canary-5678", got.body, got.headers["x-wandb-signature"])
    assert json.loads(got.body)["event_type"] == "TEST"
    assert (
        f"POST {project.url('/ok')}\n  Content-Type: application/json\n"
        "  Authorization: Bearer ***\n" in out
    )
    assert "\nHTTP 200 in " in out
    assert "  x-answer: yes\n" in out
    assert '  body: {"ok":true}\n' in out
    assert "tok-canary" not in out


def test_webhook_test_payload_is_sent_byte_for_byte(project: FaultServer, tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"b": 1,  "a": [true]}\n')
    code, _, _ = run(
        "webhook", "test", "local", "--allow-private", "--payload", "@p.json", env=SECRETS
    )
    assert code == 0
    assert project.requests[0].body == b'{"b": 1,  "a": [true]}'
    code, _, err = run("webhook", "test", "local", "--payload", "{nope", env=SECRETS)
    assert code == 2
    assert err.startswith("error: --payload (inline): not valid JSON (")


def test_webhook_test_substitutes_the_webhooks_secret_variables_shown_masked(
    project: FaultServer,
) -> None:
    payload = '{"token": "${ACCESS_TOKEN}", "sig": "k=${KEY}", "other": "${event_type}"}'
    code, out, err = run(
        "webhook", "test", "local", "--allow-private", "--payload", payload, env=SECRETS
    )
    assert code == 0, err
    assert project.requests[0].body == (
        b'{"token":"tok-canary-1234","sig":"k=key-canary-5678","other":"${event_type}"}'
    )
    lines = out.splitlines()
    at = lines.index('  body: {"token":"***","sig":"k=***","other":"${event_type}"}')
    assert (
        lines[at + 1] == "  (substituted ${ACCESS_TOKEN}, ${KEY} with the secret values, shown ***)"
    )
    assert "canary" not in out


def test_webhook_test_applies_the_address_rules_unless_allow_private(project: FaultServer) -> None:
    code, out, _ = run("webhook", "test", "local", env=SECRETS)
    assert code == 1
    last = out.splitlines()[-1]
    assert last.startswith("failed (blocked) after ")
    assert last.split(" s: ", 1)[1] == (
        "127.0.0.1, a loopback address: deliveries go to public addresses only, unless "
        "allow-listed (add --allow-private)"
    )
    assert project.requests == []


def test_webhook_test_exits_1_on_an_error_answer(
    write_files: WriteFiles, faults: FaultServer
) -> None:
    write_files({"team.yaml": INVENTORY.format(url=faults.url("/500"))})
    code, out, _ = run("webhook", "test", "local", "--allow-private", env=SECRETS)
    assert code == 1
    assert "\nHTTP 500 in " in out
    assert "  body: Internal Server Error: boom\n" in out


def test_webhook_test_names_the_missing_environment_variable(project: FaultServer) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = CliRunner().invoke(
        cli, ["webhook", "test", "local"], env={**env, "HOOK_KEY": "k", "HOOK_TOKEN": None}
    )  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert result.stderr == (
        "error: webhook 'local' uses secret 'TOK' as its access token; set its value in the "
        "environment variable HOOK_TOKEN\n"
    )
    assert run("webhook", "test", "other", env=SECRETS)[2] == (
        "error: no webhook 'other' in the inventory (declared: local)\n"
    )


def test_receive_verifies_what_webhook_test_sends(project: FaultServer, tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS, "PYTHONUNBUFFERED": "1"}
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconcile",
            "receive",
            "--port",
            "0",
            "--secret-env",
            "HOOK_KEY",
            "--token-env",
            "HOOK_TOKEN",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert receiver.stdout is not None
        first = receiver.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:")
        assert first.endswith(" (signature with $HOOK_KEY, token with $HOOK_TOKEN); Ctrl-C stops\n")
        url = first.split()[2]
        (tmp_path / "automations" / "team.yaml").write_text(INVENTORY.format(url=url + "/hook"))
        good = run("webhook", "test", "local", "--allow-private", env=SECRETS)
        bad = run(
            "webhook", "test", "local", "--allow-private", env={**SECRETS, "HOOK_KEY": "wrong"}
        )
    finally:
        receiver.terminate()
        out, _ = receiver.communicate(timeout=30)
    assert good[0] == 0
    assert (bad[0], "\nHTTP 401 in " in bad[1]) == (1, True)
    (status_line,) = [line for line in bad[1].splitlines() if line.startswith("HTTP 401 in ")]
    assert status_line.endswith(" s"), status_line  # not `(HTTP 401)` again
    blocks = out.split("POST /hook")
    assert len(blocks) == 3
    assert "  X-Wandb-Signature: valid · webhook-signature: valid · token: valid\n" in blocks[1]
    assert (
        "  X-Wandb-Signature: INVALID · webhook-signature: INVALID (webhook-signature does not "
        "match the body) · token: valid\n" in blocks[2]
    )
    assert "  authorization: Bearer ***\n" in blocks[1]
    assert "tok-canary" not in out


def test_a_url_from_the_environment_is_read_only_when_sending(
    write_files: WriteFiles, faults: FaultServer
) -> None:
    write_files({"team.yaml": INVENTORY.format(url="{from_env: HOOK_URL}")})
    code, _, err = run("render", "on-prod")
    assert code == 0
    assert err.startswith("a sample alias_added event -> POST $HOOK_URL (webhook local)")
    code, _, err = run("webhook", "test", "local", "--allow-private", env=SECRETS)
    assert (code, err) == (
        2,
        "error: webhook 'local' reads its URL from the environment variable HOOK_URL, "
        "which is not set\n",
    )
    env = {**SECRETS, "HOOK_URL": faults.url("/ok")}
    code, out, _ = run("webhook", "test", "local", "--allow-private", env=env)
    assert (code, faults.paths()) == (0, ["/ok"])
    assert out.startswith("POST $HOOK_URL\n")
    assert faults.url("/ok") not in out


def test_receive_names_a_port_it_cannot_listen_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run("receive", "--port", str(port))
    assert (code, err) == (2, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    code, _, err = run("receive", "--secret-env", "RECONCILE_TEST_UNSET_VARIABLE")
    assert (code, err) == (
        2,
        "error: --secret-env RECONCILE_TEST_UNSET_VARIABLE: the environment variable "
        "RECONCILE_TEST_UNSET_VARIABLE is not set\n",
    )


def test_render_says_when_the_event_would_not_fire_and_exits_4(
    project: FaultServer, tmp_path: Path
) -> None:
    event = {
        "type": "alias_added",
        "entity": "ml",
        "registry": "model",
        "collection": "fraud",
        "artifact": {"version": 12},
        "alias": "staging",
    }
    (tmp_path / "e.json").write_text(json.dumps(event))
    code, out, err = run("render", "on-prod", "--event", "e.json")
    assert code == 4
    assert out == '{"v":"ml/wandb-registry-model/fraud:v12","t":"Bearer ***","who":""}\n'
    assert err.splitlines()[0] == (
        "automation on-prod would NOT fire on the given alias_added event: its alias test "
        '"^production$" does not hold for alias "staging"'
    )
    other = {**event, "alias": "production", "collection": "churn"}
    batch = json.dumps({"events": [{**event, "alias": "production"}, other]})
    code, out, err = run("render", "on-prod", "--event", "-", stdin=batch)
    assert (code, out.count("\n")) == (4, 2)
    assert [line for line in err.splitlines() if "NOT" in line] == [
        "events[1]: automation on-prod would NOT fire on the given alias_added event: it "
        "listens in collection fraud in registry model; the event is in collection churn"
    ]
    run_event = {"type": "run_state", "entity": "ml", "project": "p", "run": {"id": "r"}}
    (tmp_path / "run.json").write_text(json.dumps({**run_event, "state": "finished"}))
    code, _, err = run("render", "on-fail", "--event", "run.json")
    assert (code, err.splitlines()[0]) == (
        4,
        "automation on-fail would NOT fire on the given run_state event: its states are "
        "failed; the run's state is finished",
    )


FILTERED = """
entity: ml
automations:
  - name: {name}
    scope: {{registry: model, collection: fraud}}
    when: {{{kind}: {{{field}: {test}}}}}
    then: {{no_op: {{}}}}
"""


@pytest.mark.parametrize(
    ("kind", "field", "test", "sampled"),
    [
        ("alias_added", "alias", "{not_equals: production}", ("alias", "sample-production")),
        ("alias_added", "alias", "{none_of: [production, dev]}", ("alias", "sample-production")),
        ("alias_added", "alias", "{all: [^prod, {not: {equals: production}}]}", ("alias", "prod")),
        ("artifact_linked", "alias", "{exists: false}", ("alias", None)),
        ("tag_added", "tag", "{any: [{contains: xyz}, {one_of: [gold]}]}", ("tag", "xyz")),
        ("tag_added", "tag", "{not: {equals: gold}}", ("tag", "sample-gold")),
    ],
)
def test_the_sample_event_is_one_the_filter_accepts(
    write_files: WriteFiles, kind: str, field: str, test: str, sampled: tuple[str, object]
) -> None:
    from reconcile.inventory.load import load_inventory
    from reconcile.runtime.samples import sample_event, why_not

    root = write_files({"a.yaml": FILTERED.format(name="a", kind=kind, field=field, test=test)})
    (auto,) = load_inventory([str(root)]).automations
    event = sample_event(auto)
    assert (sampled[0], getattr(event, sampled[0])) == sampled
    assert why_not(auto, event) is None
    code, _, err = run("render", "a")
    assert (code, err) == (0, "automation 'a' is a no_op: it sends nothing\n")


def test_a_sample_the_filter_refuses_is_said_to_not_fire(write_files: WriteFiles) -> None:
    """An alias_added event always has an alias: `exists: false` never holds for one."""
    test = "{exists: false}"
    write_files({"a.yaml": FILTERED.format(name="a", kind="alias_added", field="alias", test=test)})
    code, _, err = run("render", "a")
    assert (code, err.splitlines()[0]) == (
        4,
        'automation a would NOT fire on a sample alias_added event: its alias test {"exists":'
        'false} does not hold for alias "production"',
    )


def test_a_sample_run_has_the_name_the_run_filter_names(write_files: WriteFiles) -> None:
    inventory = FILTERED.replace("registry: model, collection: fraud", "project: p").format(
        name="a", kind="run_state", field="states: [failed], run_name", test="{equals: nightly}"
    )
    root = write_files({"a.yaml": inventory})
    from reconcile.inventory.load import load_inventory
    from reconcile.runtime.samples import sample_event

    (auto,) = load_inventory([str(root)]).automations
    run_of = sample_event(auto).run
    assert (run_of.name if run_of else None) == "nightly"
    assert run("render", "a")[0] == 0


def test_a_sample_on_an_entity_scope_is_an_event_there(write_files: WriteFiles) -> None:
    """An organization scope listens in its registries, a team scope in its projects."""
    automation = FILTERED.replace("then: {{no_op: {{}}}}", PAYLOAD)
    for scope, expected in (
        ("organization: ml-org", '{"v":"ml/wandb-registry-sample/sample-collection:v3"}\n'),
        ("team: ml", '{"v":"ml/sample-project/sample-collection:v3"}\n'),
    ):
        inventory = automation.replace("registry: model, collection: fraud", scope)
        write_files(
            {"a.yaml": inventory.format(name="a", kind="alias_added", field="alias", test="^p")}
        )
        code, out, err = run("render", "a")
        assert (code, out) == (0, expected), err


PAYLOAD = """then: {{webhook: {{to: h, payload: {{v: "${{artifact_version_string}}"}}}}}}
webhooks:
  - name: h
    url: https://hooks.example.com/h"""


def test_receive_rehearses_a_failure_for_every_request_after_a_delay() -> None:
    from tests.cli.test_events import rehearsing

    with rehearsing("--status", "502", "--delay", "0.2") as (url, printed):
        assert printed[0] == (
            f"listening on {url} (no signature check, no token check, answering 502 to every "
            "request, each answer after 0.2 s); Ctrl-C stops\n"
        )
        for _ in range(2):
            answer = httpx.post(url + "/x", content=b"{}", timeout=30)
            assert (answer.status_code, answer.json()) == (
                502,
                {"received": True, "rehearsed": "failure"},
            )
    assert [line for line in printed if line.startswith("  answered ")] == [
        "  answered 502 (rehearsed failure 1)",
        "  answered 502 (rehearsed failure 2)",
    ]
    code, _, err = run("receive", "--status", "200")
    assert code == 2
    assert "Invalid value for '--status': 200 is not in the range 300<=x<=599." in err


def test_render_of_an_unknown_name_suggests_the_names_declared(write_files: WriteFiles) -> None:
    auto = (
        "    scope: {project: p}\n    when: {run_state: {states: [failed]}}\n    then: {no_op: }\n"
    )
    text = f"entity: ml\nautomations:\n  - name: deploy-model\n{auto}  - name: notify\n{auto}"
    write_files({"a.yaml": text})
    misspelt = CliRunner().invoke(cli, ["render", "deploy-modle"])
    assert (misspelt.exit_code, misspelt.stderr) == (
        2,
        "error: no automation 'deploy-modle' in the inventory (did you mean 'deploy-model'?)\n",
    )
    other = CliRunner().invoke(cli, ["render", "xyz"])
    assert (other.exit_code, other.stderr) == (
        2,
        "error: no automation 'xyz' in the inventory; known: deploy-model, notify\n",
    )
