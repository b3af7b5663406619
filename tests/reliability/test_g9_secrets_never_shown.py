"""G9 secrets never shown: canary secret values through every output, log and file."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from reconcile.server.crypto import SecretBox, load_or_create_key
from tests.reliability.conftest import CANARIES, ENTITY, Stack
from tests.reliability.proxy import Rule, writes

CANARY = "canary-3f9a7c1e"


def _clean(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        for value in CANARIES.values():
            assert value not in text


def _outputs(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    return done.stdout, done.stderr


def _files(*paths: Path) -> list[str]:
    """Each file's bytes; a file that should be scanned and is missing fails the test."""
    missing = [str(p) for p in paths if not p.is_file()]
    assert missing == [], f"nothing to scan: {missing}"
    return [p.read_bytes().decode("latin-1") for p in paths]


def test_canaries_never_appear_in_plans_applies_logs_or_files(stack: Stack) -> None:
    runs = [
        stack.run("-vv", "plan", "--out", "plan.json"),
        stack.run("-vv", "plan", "--format", "markdown"),
        stack.run("-vv", "plan", "--format", "json"),
        stack.run("-vv", "apply", "--plan", "plan.json"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], runs[-1].stderr
    assert "DEBUG" in runs[-1].stderr  # the debug logs were on
    assert stack.proxy.written()["insertSecret"] == 5  # the values did reach the server
    team = stack.work / "automations/examples/team.yaml"
    team.write_text(team.read_text("utf-8").replace("rotation: 1", "rotation: 2"), "utf-8")
    runs += [stack.run("-vv", "plan"), stack.run("-vv", "apply", "--auto-approve")]
    assert runs[-1].returncode == 0, runs[-1].stderr
    runs.append(stack.run("export", "--entity", "ml-platform", "--out", "exported"))
    assert [r.returncode for r in runs] == [0] * 7, runs[-1].stderr  # each wrote what is scanned
    for done in runs:
        _clean(*_outputs(done))
    db = stack.db
    stored = [db, db.with_name(db.name + "-wal"), stack.work / "plan.json"]
    _clean(*_files(*stored, stack.work / "exported/ml-platform.yaml"))
    assert _stored_values(db)["DEPLOY_SIGNING_KEY"] == CANARIES["DEPLOY_SIGNING_KEY"]


def test_canaries_never_appear_in_error_messages(stack: Stack) -> None:
    """A value the server refuses (too long), and a server failing the secret writes."""
    too_long = f"canary-3f9a7c1e-too-long-{'x' * 70_000}"
    refused = stack.run("-vv", "apply", "--auto-approve", DEPLOY_TOKEN=too_long)
    assert refused.returncode == 1
    assert "FAILED" in refused.stdout
    _clean(*_outputs(refused))
    assert too_long not in refused.stdout + refused.stderr
    stack.proxy.add(rule := _failing_secret_writes())
    failed = stack.run("-vv", "apply", "--auto-approve")
    assert failed.returncode == 1
    # What the first apply left to write (its rotation is recorded on a webhook that was
    # never created): both writes were refused, so their errors were on the way out.
    refused_writes = [r.variables["name"] for r in stack.proxy.requests if r.outcome == "status"]
    assert sorted(refused_writes) == ["DEPLOY_SIGNING_KEY", "DEPLOY_TOKEN"]
    assert rule.used == 2
    _clean(*_outputs(failed))


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
    done = stack.run("apply", "--auto-approve", GITHUB_TOKEN="the-runner-token")
    assert done.returncode == 0, done.stderr
    assert _stored_values(stack.db) == {
        "DEPLOY_TOKEN": CANARIES["DEPLOY_TOKEN"],
        "DEPLOY_SIGNING_KEY": CANARIES["DEPLOY_SIGNING_KEY"],
        "TRACKER_TOKEN": CANARIES["TRACKER_TOKEN"],
        "GITHUB_TOKEN": CANARIES["GH_DISPATCH_TOKEN"],
        "TEAMS_SIGNING_KEY": CANARIES["TEAMS_SIGNING_KEY"],
    }
