"""G9 secrets never shown: canary secret values through every output, log and file.

A webhook URL read from the environment is held to the same rule, except that the
server must store it to deliver to it. The commands run in this process
(`Stack.run_here`): their exit code, stdout and stderr, logs included, as a process's.
"""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from reconcile.core.model import EnvUrl, Webhook
from reconcile.plan.normalize import digest
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from tests.reliability.conftest import CANARIES, ENTITY, Stack
from tests.reliability.proxy import Rule, writes

CANARY = "canary-3f9a7c1e"
URL_ENV = "SLACK_ML_MODELS_URL"


def _clean(*texts: str, stored: bool = False) -> None:
    """No canary in `texts`; with `stored` (the server's files) the URL is expected there."""
    for text in texts:
        for name, value in CANARIES.items():
            if not (stored and name == URL_ENV):
                assert value not in text
        if not stored:
            assert CANARY not in text


def _outputs(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    return done.stdout, done.stderr


def _files(*paths: Path) -> list[str]:
    """Each file's bytes; a file that should be scanned and is missing fails the test."""
    missing = [str(p) for p in paths if not p.is_file()]
    assert missing == [], f"nothing to scan: {missing}"
    return [p.read_bytes().decode("latin-1") for p in paths]


def test_canaries_never_appear_in_plans_applies_logs_or_files(stack: Stack) -> None:
    runs = [
        stack.run_here("-vv", "plan", "--out", "plan.json"),
        stack.run_here("-vv", "plan", "--format", "markdown"),
        stack.run_here("-vv", "plan", "--format", "json"),
        stack.run_here("-vv", "apply", "--plan", "plan.json"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], runs[-1].stderr
    assert "DEBUG" in runs[-1].stderr  # the debug logs were on
    assert stack.proxy.written()["insertSecret"] == 5  # the values did reach the server
    assert _url("slack-ml-models", stack).startswith(CANARIES[URL_ENV] + "#")
    team = stack.work / "automations/examples/team.yaml"
    text = team.read_text("utf-8").replace("rotation: 1", "rotation: 2")
    rotated = text.replace(f"from_env: {URL_ENV}", f"from_env: {URL_ENV}\n      rotation: 1")
    team.write_text(rotated, "utf-8")
    runs += [stack.run_here("-vv", "plan"), stack.run_here("-vv", "apply", "--auto-approve")]
    assert runs[-2].stdout.count("~ url.rotation: 0 -> 1") == 1, runs[-2].stdout
    assert runs[-1].returncode == 0, runs[-1].stderr
    new_url = f"https://hooks.slack.com/services/{CANARY}-rotated"
    runs.append(stack.run_here("-vv", "plan", "--detailed-exitcode", **{URL_ENV: new_url}))
    assert runs[-1].returncode == 0, runs[-1].stdout  # a new value alone is not a change
    runs.append(
        stack.run_here(
            "export", "--entity", "ml-platform", "--out", "exported", "--include-managed"
        )
    )
    assert [r.returncode for r in runs] == [0] * 8, runs[-1].stderr  # each wrote what is scanned
    for done in runs:
        _clean(*_outputs(done))
    db = stack.db
    _clean(*_files(db, db.with_name(db.name + "-wal")), stored=True)
    _clean(*_files(stack.work / "plan.json", stack.work / "exported/ml-platform.yaml"))
    assert _stored_values(db)["DEPLOY_SIGNING_KEY"] == CANARIES["DEPLOY_SIGNING_KEY"]
    exported = (stack.work / "exported/ml-platform.yaml").read_text("utf-8")
    assert f"url:\n    from_env: {URL_ENV}\n    rotation: 1\n" in exported


def _url(name: str, stack: Stack) -> str:
    return next(str(i["urlEndpoint"]) for i in stack.integrations() if i.get("name") == name)


def test_canaries_never_appear_in_error_messages(stack: Stack) -> None:
    """A value the server refuses (too long), and a server failing the secret writes."""
    too_long = f"canary-3f9a7c1e-too-long-{'x' * 70_000}"
    refused = stack.run_here("-vv", "apply", "--auto-approve", DEPLOY_TOKEN=too_long)
    assert refused.returncode == 1
    assert "FAILED" in refused.stdout
    _clean(*_outputs(refused))
    assert too_long not in refused.stdout + refused.stderr
    stack.proxy.add(rule := _failing_secret_writes())
    failed = stack.run_here("-vv", "apply", "--auto-approve")
    assert failed.returncode == 1
    # What the first apply left to write (its rotation is recorded on a webhook that was
    # never created): both writes were refused, so their errors were on the way out.
    refused_writes = [r.variables["name"] for r in stack.proxy.requests if r.outcome == "status"]
    assert sorted(refused_writes) == ["DEPLOY_SIGNING_KEY", "DEPLOY_TOKEN"]
    assert rule.used == 2
    _clean(*_outputs(failed))


def test_a_url_from_the_environment_is_never_quoted_when_refused(stack: Stack) -> None:
    """Refused before sending (plain http), and by the server (too long for it)."""
    plain = f"http://hooks.slack.com/services/{CANARY}-plain"
    refused = stack.run_here("-vv", "apply", "--auto-approve", **{URL_ENV: plain})
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        f"error: {URL_ENV}: plain http is allowed only for loopback hosts; "
        "use https for 'hooks.slack.com'"
    )
    too_long = f"https://hooks.slack.com/services/{CANARY}-{'x' * 3000}"
    failed = stack.run_here("-vv", "apply", "--auto-approve", **{URL_ENV: too_long})
    assert failed.returncode == 1
    applied = digest(Webhook(ENTITY, "slack-ml-models", EnvUrl(URL_ENV)))
    assert (
        "FAILED         create  webhook ml-platform/slack-ml-models: invalid urlEndpoint "
        f"'${URL_ENV}#managed-by-reconcile;url:{URL_ENV}=0;applied:{applied}': longer than "
        "2048 characters"
    ) in failed.stdout.splitlines()
    _clean(*_outputs(refused), *_outputs(failed))


def _failing_secret_writes() -> Rule:
    return Rule(writes("insertSecret"), "status", status=500, times=None)


def _stored_values(db: Path) -> dict[str, str]:
    """What the embedded server holds for each secret of the entity, decrypted."""
    box = SecretBox(load_or_create_key(db))
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT s.name, s.ciphertext FROM secrets s JOIN entities e ON e.id = s.entity_id "
            "WHERE e.name = ?",
            (ENTITY,),
        ).fetchall()
    return {name: box.open(bytes(token)) for name, token in rows}


def test_a_secret_gets_the_value_of_its_from_env_variable(stack: Stack) -> None:
    """GITHUB_TOKEN reads GH_DISPATCH_TOKEN; a runner's own GITHUB_TOKEN must not leak in."""
    done = stack.run_here("apply", "--auto-approve", GITHUB_TOKEN="the-runner-token")
    assert done.returncode == 0, done.stderr
    assert _stored_values(stack.db) == {
        "DEPLOY_TOKEN": CANARIES["DEPLOY_TOKEN"],
        "DEPLOY_SIGNING_KEY": CANARIES["DEPLOY_SIGNING_KEY"],
        "TRACKER_TOKEN": CANARIES["TRACKER_TOKEN"],
        "GITHUB_TOKEN": CANARIES["GH_DISPATCH_TOKEN"],
        "TEAMS_SIGNING_KEY": CANARIES["TEAMS_SIGNING_KEY"],
    }
