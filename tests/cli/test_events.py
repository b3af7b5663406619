"""`reconcile emit`, `history` and `redeliver`, on the embedded database in-process and
against `reconcile serve` on 127.0.0.1, delivering to a loopback receiver."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.runtime import signing
from reconcile.server.admin.commands import admin_key_path
from tests.conftest import WriteFiles
from tests.runtime.faults import Received
from tests.server.admin.test_commands import _wait_healthy
from tests.server.live import announced
from tests.server.runtime.receiver import Receiver

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
"""
ENV = {
    "HOOK_TOKEN": "tok-canary-1234",
    "HOOK_KEY": "key-canary-5678",
    # Full-size deadlines (15 s an attempt): no test here waits for a retry, and a
    # compressed deadline would turn a slow answer on a loaded machine into a retry.
    "RECONCILE_DELIVERY_TIME_SCALE": "1",
}
ALIAS = [
    "--type", "alias_added", "--entity", "ml", "--registry", "model",
    "--collection", "fraud", "--version", "3", "--alias", "production",
]  # fmt: skip
ALLOW = ["--allow-delivery-to", "127.0.0.1"]


class Switchable(Receiver):
    """The test receiver, answering 404 to everything while `failing` is set (500 to
    each first attempt, as `/flaky`, while `flaky` is)."""

    failing = False
    flaky = False

    async def _answer(self, got: Received, writer: object) -> bool:
        if self.failing or self.flaky:
            got = Received(got.method, "/404" if self.failing else "/flaky", got.headers, got.body)
        return await super()._answer(got, writer)  # type: ignore[arg-type]


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    chosen: dict[str, str | None] = {**ENV, "RECONCILE_SERVER": None, "WANDB_BASE_URL": None}
    result = CliRunner().invoke(cli, list(args), env={**chosen, **(env or {})}, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def receiver() -> Iterator[Switchable]:
    with Switchable() as running:
        yield running


@pytest.fixture
def applied(write_files: WriteFiles, receiver: Switchable, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inventory applied to the embedded database, its webhook at the receiver."""
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = write_files({"ml.yaml": INVENTORY.format(url=receiver.url("/ok"))})
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, out + err
    return root.parent


def test_emit_from_flags_delivers_in_process_and_prints_outcome(
    applied: Path, receiver: Switchable
) -> None:
    code, out, err = run("emit", *ALIAS, "--id", "e-1", *ALLOW)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "event e-1: fired on-prod"
    assert lines[1] == "delivery 1 on-prod (ml, event e-1 alias_added): delivered after 1 attempt"
    assert lines[2].endswith("HTTP 200  answer: 'ok'")
    assert len(lines) == 3
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert signing.verify_wandb(ENV["HOOK_KEY"], got.body, got.headers["x-wandb-signature"])
    assert json.loads(got.body) == {
        "v": "ml-org/wandb-registry-model/fraud:v3",
        "t": f"Bearer {ENV['HOOK_TOKEN']}",
    }


def test_emit_repeat_id_fires_nothing_again(applied: Path, receiver: Switchable) -> None:
    assert run("emit", *ALIAS, "--id", "e-1", *ALLOW)[0] == 0
    code, out, _ = run("emit", *ALIAS, "--id", "e-1", *ALLOW)
    assert code == 0
    assert out.splitlines()[0] == "event e-1: fired on-prod"
    assert len(receiver.requests) == 1


def test_emit_without_allow_list_refuses_loopback_and_exits_1(
    applied: Path, receiver: Switchable
) -> None:
    code, out, _ = run("emit", *ALIAS, "--id", "e-2")
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == "delivery 1 on-prod (ml, event e-2 alias_added): failed after 1 attempt"
    assert lines[2].endswith(
        "no answer (blocked: 127.0.0.1, a loopback address: deliveries go to public addresses "
        f"only, unless allow-listed (add --allow-delivery-to 127.0.0.1:{receiver.port}))"
    )
    assert receiver.requests == []
    code, out, _ = run(
        "emit", *ALIAS, "--id", "e-3", "--allow-delivery-to", f"127.0.0.1:{receiver.port}"
    )
    assert code == 0, out
    assert len(receiver.requests) == 1


# A second webhook, always answering 404 (a final failure), and an automation calling it
# on the same event.
TWO_HOOKS = INVENTORY.replace(
    "automations:\n",
    "  - name: gone\n    url: {gone}\nautomations:\n"
    "  - name: also\n    scope: {{registry: model, collection: fraud}}\n"
    "    when: {{alias_added: {{alias: ^production$}}}}\n"
    "    then:\n      webhook:\n        to: gone\n        payload: {{v: x}}\n",
)


def test_emit_exits_1_when_any_delivery_failed_and_0_when_nothing_fired(
    write_files: WriteFiles, receiver: Switchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    urls = {"url": receiver.url("/ok"), "gone": receiver.url("/404")}
    write_files({"ml.yaml": TWO_HOOKS.format(**urls)})
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, out + err
    code, out, err = run("emit", *ALIAS, "--id", "both", *ALLOW)
    assert code == 1, out + err  # one of the two failed
    shown = sorted(re.findall(r"^delivery \d+ ([\w-]+) .*: (\w+) after", out, re.MULTILINE))
    assert shown == [("also", "failed"), ("on-prod", "delivered")]
    staging = [*ALIAS[:-1], "staging"]
    code, out, err = run("emit", *staging, "--id", "none", *ALLOW)
    assert (code, out, err) == (0, "event none: fired no automation\n", "")


def test_emit_allow_list_entries_may_name_a_port(applied: Path, receiver: Switchable) -> None:
    other = str(receiver.port % 65535 + 1)
    code, out, _ = run("emit", *ALIAS, "--id", "e-3", "--allow-delivery-to", f"127.0.0.1:{other}")
    assert code == 1
    assert "on-prod (ml, event e-3 alias_added): failed after 1 attempt" in out
    assert receiver.requests == []
    code, out, _ = run(
        "emit", *ALIAS, "--id", "e-4", "--allow-delivery-to", f"127.0.0.1:{receiver.port}"
    )
    assert code == 0, out
    assert len(receiver.requests) == 1


def test_emit_refuses_a_malformed_allow_list_entry(applied: Path, receiver: Switchable) -> None:
    code, out, err = run("emit", *ALIAS, "--allow-delivery-to", "localhost:http")
    assert (code, out) == (2, "")
    assert err == (
        "error: --allow-delivery-to: 'localhost:http': the port must be a number from 1 to "
        "65535 (got 'http')\n"
    )
    assert run("history", "--format", "json")[1] == '{\n  "deliveries": []\n}\n'


def test_emit_bad_file_names_event_index_and_field(applied: Path, tmp_path: Path) -> None:
    good = {"type": "alias_added", "entity": "ml", "registry": "model", "collection": "fraud",
            "artifact": {"version": 1}}  # fmt: skip
    bad = {k: v for k, v in good.items() if k != "collection"} | {"alias": 7}
    (tmp_path / "events.json").write_text(json.dumps({"events": [good | {"alias": "x"}, bad]}))
    code, out, err = run("emit", "events.json", *ALLOW)
    assert code == 2
    assert out == ""
    assert err.startswith("error: events.json: events[1].alias: must be a non-empty string")
    assert err.endswith("; events[1].collection: required for alias_added events\n")
    assert run("history", "--format", "json")[1] == '{\n  "deliveries": []\n}\n'


def test_emit_reads_stdin_and_no_wait_leaves_delivery_pending(
    applied: Path, receiver: Switchable
) -> None:
    event = {"id": "s-1", "type": "alias_added", "entity": "ml", "registry": "model",
             "collection": "fraud", "alias": "production",
             "artifact": {"type": "model", "version": 1}}  # fmt: skip
    code, out, _ = run("emit", "-", "--no-wait", *ALLOW, stdin=json.dumps(event))
    assert (code, out) == (0, "event s-1: fired on-prod\n")
    assert receiver.requests == []
    found = json.loads(run("history", "--status", "pending", "--format", "json")[1])
    assert [(d["event"]["id"], d["status"], d["attempts"]) for d in found["deliveries"]] == [
        ("s-1", "pending", [])
    ]


def test_history_shows_attempts_and_masked_body(applied: Path) -> None:
    run("emit", *ALIAS, "--id", "e-3", *ALLOW)
    code, out, _ = run("history", "on-prod")
    assert code == 0
    assert ENV["HOOK_TOKEN"] not in out
    lines = out.splitlines()
    assert lines[0] == "delivery 1 on-prod (ml, event e-3 alias_added): delivered after 1 attempt"
    assert lines[1].startswith("  attempt 1  ")
    assert json.loads(lines[2].removeprefix("  body: ")) == {
        "v": "ml-org/wandb-registry-model/fraud:v3",
        "t": "Bearer ***",
    }
    assert run("history", "other-automation") == (
        2,
        "",
        "error: no automation 'other-automation' in the inventory or the deliveries; known: "
        "on-prod\n",
    )
    assert run("history", "on-prd") == (
        2,
        "",
        "error: no automation 'on-prd' in the inventory or the deliveries (did you mean "
        "'on-prod'?)\n",
    )
    assert run("history", "on-prod", "--status", "failed") == (
        0,
        "no deliveries of automation 'on-prod' yet\n",
        "",
    )


def test_redeliver_sends_a_failed_delivery_again(applied: Path, receiver: Switchable) -> None:
    receiver.failing = True
    assert run("emit", *ALIAS, "--id", "e-4", *ALLOW)[0] == 1
    receiver.failing = False
    code, out, err = run("redeliver", "1", *ALLOW)
    assert code == 0, out + err
    assert out.splitlines()[:2] == [
        "delivery 1 queued again",
        "delivery 1 on-prod (ml, event e-4 alias_added): delivered after 2 attempts",
    ], out
    assert out.splitlines()[2].endswith(" s  HTTP 404  answer: 'boom Bearer ***'"), out
    assert "HTTP 200" in out.splitlines()[3]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    code, _, err = run("redeliver", "1", *ALLOW)
    assert code == 1
    assert err == ("error: delivery 1 is delivered, not failed or pending: nothing to re-send\n")


SERVE = "from reconcile.cli import main; main()"


@pytest.fixture
def served(
    write_files: WriteFiles, receiver: Switchable, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """`reconcile serve` on 127.0.0.1 (delivering to loopback), the inventory applied to
    it; the environment that selects it."""
    write_files({"ml.yaml": INVENTORY.format(url=receiver.url("/ok"))})
    db = tmp_path / "remote" / "server.db"
    args = ["--db", str(db), "--port", "0", "--team", "ml"]
    env = {**os.environ, **ENV, "RECONCILE_ADMIN_KEY": ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", *args, *ALLOW],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url, _ = announced(proc)
        _wait_healthy(url, proc)
        for made in (["create-registry", "ml", "model"], ["create-collection", "ml", "fraud",
                     "--registry", "model"]):  # fmt: skip
            assert run("server", "--db", str(db), *made)[0] == 0
        key = admin_key_path(db).read_text().strip()
        selected = {"RECONCILE_SERVER": url, "WANDB_API_KEY": key}
        code, out, err = run("apply", "--auto-approve", env=selected)
        assert code == 0, out + err
        yield selected
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_emit_and_history_against_reconcile_serve(
    served: dict[str, str], receiver: Switchable
) -> None:
    code, out, err = run("emit", *ALIAS, "--id", "r-1", env=served)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == [
        "event r-1: fired on-prod",
        "delivery 1 on-prod (ml, event r-1 alias_added): delivered after 1 attempt",
    ]
    assert len(receiver.requests) == 1
    found = json.loads(run("history", "--format", "json", env=served)[1])["deliveries"]
    assert [(d["automation"], d["status"], len(d["attempts"])) for d in found] == [
        ("on-prod", "delivered", 1)
    ]
    assert ENV["HOOK_TOKEN"] not in json.dumps(found)
    code, _, err = run("emit", *ALIAS, *ALLOW, env=served)
    assert code == 2
    assert "--allow-delivery-to is for the embedded target" in err


def test_emit_to_a_server_says_the_server_retries_what_is_pending(
    served: dict[str, str], receiver: Switchable
) -> None:
    receiver.flaky = True  # a 500 first: retried 4 to 6 s later, after the wait
    code, out, _ = run("emit", *ALIAS, "--id", "r-2", "--wait", "2", env=served)
    assert code == 1
    assert out.splitlines()[-1] == (
        "delivery 1 still pending: the server retries it on its schedule (`reconcile history "
        "--status pending` shows when); `reconcile redeliver 1` sends one now"
    )


def test_emit_refused_by_the_server_exits_1_naming_index(applied: Path) -> None:
    unknown = [a if a != "ml" else "nobody" for a in ALIAS]
    code, out, err = run("emit", *unknown, *ALLOW)
    assert (code, out) == (1, "")
    assert err.startswith("error: the server refused the events (404): events[0]: ")
    assert "nobody" in err


def test_emit_needs_events_and_metric_flags_are_numbers(applied: Path) -> None:
    assert run("emit")[0] == 2
    code, _, err = run("emit", "--type", "run_logged", "--entity", "ml", "--project", "p",
                       "--run-id", "r", "--metric", "loss=low")  # fmt: skip
    assert code == 2
    assert err == "error: --metric loss=low: expected NAME=NUMBER\n"


def test_history_reads_every_page_up_to_its_limit(
    applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconcile.server.runtime import history

    for number in range(3):
        assert run("emit", *ALIAS, "--id", f"h-{number}", "--no-wait")[0] == 0
    monkeypatch.setattr(history, "PAGE_BYTES", 1)  # the server answers one delivery a page
    every = json.loads(run("history", "--format", "json")[1])["deliveries"]
    assert [d["event"]["id"] for d in every] == ["h-2", "h-1", "h-0"]
    two = json.loads(run("history", "--format", "json", "--limit", "2")[1])["deliveries"]
    assert [d["event"]["id"] for d in two] == ["h-2", "h-1"]


def test_a_servers_deliveries_are_read_through_its_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from reconcile.runtime.remote import RemoteRuntime
    from reconcile.server.runtime import history
    from tests.server.helpers import InProcess, basic, build_world
    from tests.server.live import running
    from tests.server.runtime.support import (
        alias_automation,
        alias_event,
        emit,
        hook_with_secrets,
    )

    with running(tmp_path / "server.db") as live:
        world = build_world(InProcess(live.app))
        hook = hook_with_secrets(world, "https://a.example")
        alias_automation(world.admin, world.project_id, hook)
        for number in range(3):
            assert emit(world, alias_event(f"r-{number}")).status_code == 202
        monkeypatch.setattr(history, "PAGE_BYTES", 1)

        async def read(limit: str) -> list[str]:
            remote = RemoteRuntime(live.url, basic(world.admin.key)["Authorization"])
            try:
                found = await remote.deliveries({"limit": limit})
            finally:
                await remote.aclose()
            return [d["event"]["id"] for d in found]

        assert asyncio.run(read("100")) == ["r-2", "r-1", "r-0"]
        assert asyncio.run(read("2")) == ["r-2", "r-1"]


FORMS = {  # each new filter form of the inventory, on the registry collection model/fraud
    "ne": ("alias_added", "alias", "{not_equals: production}"),
    "nin": ("alias_added", "alias", "{none_of: [production, staging]}"),
    "unset": ("artifact_linked", "alias", "{exists: false}"),
    "any": ("alias_added", "alias", "{any: [^prod, {equals: canary}]}"),
    "not": ("alias_added", "alias", "{not: {contains: tmp}}"),
}
FORMS_INVENTORY = "entity: ml\nautomations:\n" + "".join(
    f"  - name: {name}\n    scope: {{registry: model, collection: fraud}}\n"
    f"    when: {{{kind}: {{{field}: {test}}}}}\n    then: {{no_op: {{}}}}\n"
    for name, (kind, field, test) in FORMS.items()
)


def test_each_filter_form_fires_through_emit_exactly_when_the_evaluator_says(
    write_files: WriteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconcile.inventory.load import load_inventory
    from reconcile.runtime.incoming import parse_document
    from reconcile.runtime.samples import why_not

    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = write_files({"ml.yaml": FORMS_INVENTORY})
    assert run("apply", "--auto-approve")[0] == 0
    where = {"entity": "ml", "registry": "model", "collection": "fraud", "artifact": {"version": 1}}
    aliases = ["production", "staging", "canary", "prod-eu", "tmp-1", "dev"]
    events = [{"id": f"a-{a}", "type": "alias_added", "alias": a, **where} for a in aliases]
    events += [
        {"id": "link-prod", "type": "artifact_linked", "alias": "production", **where},
        {"id": "link-bare", "type": "artifact_linked", **where},
    ]
    code, out, err = run("emit", "-", "--no-wait", stdin=json.dumps({"events": events}))
    assert code == 0, err
    fired = {
        event: ", ".join(sorted(names.split(", ")))
        for event, names in (
            line.removeprefix("event ").split(": fired ") for line in out.splitlines()
        )
    }
    autos = load_inventory([str(root)]).automations
    said = {
        event.id: ", ".join(sorted(a.name for a in autos if why_not(a, event) is None))
        or "no automation"
        for event in parse_document({"events": events})
    }
    assert fired == said
    assert fired == {  # what the evaluator says, spelled out
        "a-production": "any, not",
        "a-staging": "ne, not",
        "a-canary": "any, ne, nin, not",
        "a-prod-eu": "any, ne, nin, not",
        "a-tmp-1": "ne, nin",
        "a-dev": "ne, nin, not",
        "link-prod": "no automation",
        "link-bare": "unset",
    }


@contextlib.contextmanager
def rehearsing(*args: str) -> Iterator[tuple[str, list[str]]]:
    """`reconcile receive --port 0 ARGS` in a subprocess: its URL, and what it printed
    (the first line at once, the rest once it stopped)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "reconcile", "receive", "--port", "0", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    printed = [proc.stdout.readline()]
    try:
        yield printed[0].split()[2], printed
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
        printed += rest.splitlines()


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


SLOW = {"RECONCILE_DELIVERY_TIME_SCALE": "20"}  # retries minutes apart: any wait ends first


def test_a_failing_receiver_leaves_a_pending_delivery_explained_and_redeliver_sends_it_now(
    write_files: WriteFiles,
) -> None:
    with rehearsing("--status", "503", "--fail-first", "2") as (url, printed):
        assert printed[0] == (
            f"listening on {url} (no signature check, no token check, answering 503 to the "
            "first 2); Ctrl-C stops\n"
        )
        write_files({"ml.yaml": INVENTORY.format(url=url + "/hook")})
        assert run("apply", "--auto-approve")[0] == 0
        code, out, _ = run("emit", *ALIAS, "--id", "p-1", *ALLOW, env=SLOW)
        assert code == 1
        (pending,) = json.loads(run("history", "--format", "json", env=SLOW)[1])["deliveries"]
        first = pending["attempts"][0]
        assert (pending["status"], len(pending["attempts"]), first["status"]) == ("pending", 1, 503)
        assert pending["attempts_left"] == 14
        # The first retry: 5 s +-20 %, scaled by 20, after the first attempt ended.
        wait = _seconds(pending["next_attempt_at"]) - _seconds(first["at"])
        assert 80 <= wait <= 120 + first["duration"] + 0.01
        day = _seconds(pending["give_up_at"]) - _seconds(first["at"])
        assert abs(day - 24 * 3600 * 20) < 0.002
        advice = (
            "delivery 1 still pending: nothing sends it once this command ends. Continue on its "
            "retry schedule with `reconcile deliver --allow-delivery-to 127.0.0.1` (or `reconcile "
            "serve` on this database), or send one now with `reconcile redeliver 1 "
            "--allow-delivery-to 127.0.0.1`"
        )
        lines = out.splitlines()
        assert lines[:2] == [
            "event p-1: fired on-prod",
            "delivery 1 on-prod (ml, event p-1 alias_added): pending after 1 attempt",
        ]
        assert lines[2].endswith('HTTP 503  answer: \'{"received":true,"rehearsed":"failure"}\'')
        assert re.fullmatch(
            re.escape(f"  next attempt {pending['next_attempt_at']} (in ")
            + r"[12] min"
            + re.escape(f"); at most 14 more attempts, none after {pending['give_up_at']}"),
            lines[3],
        ), lines[3]
        assert lines[4:] == [advice]

        code, out, _ = run("redeliver", "1", *ALLOW, env=SLOW)
        assert code == 1
        lines = out.splitlines()
        assert lines[:2] == [
            "delivery 1 was pending: sending it now",
            "delivery 1 on-prod (ml, event p-1 alias_added): pending after 2 attempts",
        ]
        assert "; at most 13 more attempts, none after " in lines[4]
        assert lines[5:] == [advice]

        code, out, _ = run("redeliver", "1", *ALLOW, env=SLOW)
        assert code == 0, out
        assert out.splitlines()[:2] == [
            "delivery 1 was pending: sending it now",
            "delivery 1 on-prod (ml, event p-1 alias_added): delivered after 3 attempts",
        ]
        assert len(out.splitlines()) == 5  # three attempts; no next attempt, no advice
        (done,) = json.loads(run("history", "--format", "json")[1])["deliveries"]
        assert (done["next_attempt_at"], done["attempts_left"], done["give_up_at"]) == (
            None,
            0,
            None,
        )
    answers = [line for line in printed if line.startswith("  answered ")]
    assert answers == [
        "  answered 503 (rehearsed failure 1 of 2)",
        "  answered 503 (rehearsed failure 2 of 2)",
        "  answered 200",
    ]


def test_deliver_continues_pending_deliveries_on_their_schedule(write_files: WriteFiles) -> None:
    fast = {"RECONCILE_DELIVERY_TIME_SCALE": "0.5"}  # the first retry 2-3 s after the first
    with rehearsing("--fail-first", "1") as (url, printed):
        write_files({"ml.yaml": INVENTORY.format(url=url + "/hook")})
        assert run("apply", "--auto-approve")[0] == 0
        code, out, _ = run("emit", *ALIAS, "--id", "d-1", "--no-wait", env=fast)
        assert (code, out) == (0, "event d-1: fired on-prod\n")
        code, out, err = run("deliver", *ALLOW, env=fast)
        assert code == 0, out + err
        lines = out.splitlines()
        assert lines[:2] == [
            "sending 1 pending delivery on the retry schedule until none is pending; Ctrl-C "
            "stops (what is left stays pending)",
            "delivery 1 on-prod (ml, event d-1 alias_added): delivered after 2 attempts",
        ]
        assert " HTTP 500 " in lines[2]
        assert lines[3].endswith("HTTP 200  answer: '{\"received\":true}'")
        assert len(lines) == 4
        assert run("deliver", *ALLOW, env=fast)[:2] == (0, "no pending delivery\n")
    assert [line for line in printed if line.startswith("  answered ")] == [
        "  answered 500 (rehearsed failure 1 of 1)",
        "  answered 200",
    ]


SLACK_INVENTORY = """
entity: ml
automations:
  - name: notify
    scope: {registry: model, collection: fraud}
    when: {alias_added: {alias: ^production$}}
    then: {slack: {channel: "#alerts", title: Promoted}}
"""


def test_a_slack_action_without_a_url_is_not_sent_and_says_why(
    write_files: WriteFiles, receiver: Switchable
) -> None:
    write_files({"ml.yaml": SLACK_INVENTORY})
    assert run("apply", "--auto-approve")[0] == 0
    assert run("server", "create-slack-integration", "ml", "alerts")[0] == 0
    code, out, _ = run("emit", *ALIAS, "--id", "n-1")
    assert code == 1
    why = (
        "the Slack integration #alerts of team ml has no incoming-webhook URL (set one: "
        "reconcile server create-slack-integration ml alerts --url-env VAR)"
    )
    lines = out.splitlines()
    assert lines[:2] == [
        f"event n-1: notify not sent: {why}",
        "delivery 1 notify (ml, event n-1 alias_added): failed after 1 attempt",
    ]
    assert lines[2].endswith(f"  0.000 s  no answer (not sent: {why})")
    assert len(lines) == 3
    (found,) = json.loads(run("history", "notify", "--format", "json")[1])["deliveries"]
    assert [(a["error"], a["detail"]) for a in found["attempts"]] == [("not sent", why)]
    code, _, err = run("redeliver", "1")
    assert (code, err) == (1, "error: delivery 1 was never sent: it has nowhere to go\n")
