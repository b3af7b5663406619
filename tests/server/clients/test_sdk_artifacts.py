"""The unmodified `wandb` 0.31 SDK logs a model, links it into the registry `model`,
promotes it with `production`, tags it `gold` and unlinks it, against the shipped
example automations: each registry automation that should fire delivers exactly once,
signed, its variables as W&B documents them; none other fires. The version downloads
back byte for byte, and logging the same content again is the same version."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconcile.server.admin import listen
from tests.server.helpers import sdk_environment
from tests.server.live import LiveServer, running
from tests.server.runtime.receiver import Receiver

ROOT = Path(__file__).resolve().parents[3]
WAIT = float(os.environ.get("SDK_TEST_WAIT", "120"))
SECRETS = {
    "DEPLOY_TOKEN": "demo-deploy-token",
    "DEPLOY_SIGNING_KEY": "demo-signing-key",
    "TRACKER_TOKEN": "demo-tracker-token",
    "GH_DISPATCH_TOKEN": "demo-github-token",
    "TEAMS_SIGNING_KEY": "demo-teams-key",
}
ORG = "ml-platform-org"

SCRIPT = """
import sys, wandb
folder, org = sys.argv[1], sys.argv[2]
run = wandb.init(entity="ml-platform", project="fraud-detection")
art = wandb.Artifact("fraud-detector", type="model", metadata={"framework": "xgboost"})
art.add_dir(folder)
run.log_artifact(art)
art.wait()
run.link_artifact(art, "wandb-registry-model/fraud-detector")
again = wandb.Artifact("fraud-detector", type="model", metadata={"framework": "xgboost"})
again.add_dir(folder)
run.log_artifact(again)
again.wait()
print("AGAIN", again.version, again.id == art.id)
run.finish()
api = wandb.Api()
path = f"{org}/wandb-registry-model/fraud-detector:v0"
a = api.artifact(path)
a.aliases.append("production")
a.save()
a = api.artifact(path)
a.tags.append("gold")
a.save()
print("DOWNLOADED", open(a.download(sys.argv[3]) + "/weights.bin", "rb").read().hex())
a.unlink()
print("DONE")
"""


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[LiveServer, str]]:
    """The shipped examples, every webhook pointed at the receiver (`/<name>`), applied."""
    shutil.copytree(ROOT / "automations", tmp_path / "automations")
    team = tmp_path / "automations/examples/team.yaml"
    text = re.sub(
        r"(- name: ([\w-]+)\n    url:) https://\S+",
        lambda m: f"{m.group(1)} {receiver.url('/' + m.group(2))}",
        team.read_text(),
    )
    team.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE", "WANDB"))}
    db = tmp_path / "server.db"
    reconcile = str(Path(sys.executable).parent / "reconcile")
    applied = subprocess.run(
        [reconcile, "apply", str(tmp_path / "automations"), "--db", str(db), "--auto-approve"],
        env=env | SECRETS | {"SLACK_ML_MODELS_URL": receiver.url("/slack")},
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    key = db.with_name(db.name + ".admin-key").read_text().strip()
    with running(db, limits=listen.Limits(), allow_delivery_to=("127.0.0.1",)) as live:
        yield live, key


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _signed(secret: str, body: bytes, header: str) -> bool:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), header)


def _fired(live: LiveServer) -> list[tuple[str, str]]:
    with live.app.state.service.db.read() as con:
        rows = con.execute("SELECT automation, status FROM deliveries ORDER BY id").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def test_the_registry_story_fires_each_example_once(
    served: tuple[LiveServer, str], receiver: Receiver, tmp_path: Path
) -> None:
    live, key = served
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)))
    env = {
        **os.environ,
        **sdk_environment(live.url, key, tmp_path / "sdk"),
        "WANDB_MODE": "online",
        # The team the script works in (the admin's own default is the server's first).
        "WANDB_ENTITY": "ml-platform",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), ORG, str(tmp_path / "download")],
        env=env, capture_output=True, text=True, timeout=WAIT * 2, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AGAIN v0 True" in done.stdout
    assert f"DOWNLOADED {bytes(range(256)).hex()}" in done.stdout
    expected = [
        "register-new-model-versions",
        "teams-card-on-registry-link",
        "deploy-fraud-detector-to-production",
        "track-gold-versions",
        "slack-blocks-on-gold-tag",
        "track-unlinked-versions",
    ]
    _until(lambda: len(_fired(live)) >= len(expected), "every delivery queued")
    _until(lambda: len(receiver.requests) >= len(expected), "every delivery sent")
    assert sorted(name for name, _ in _fired(live)) == sorted(expected)
    by_path = {r.path: r for r in receiver.requests}
    assert sorted(r.path for r in receiver.requests) == sorted(
        ["/model-tracker", "/teams-ml-channel", "/deploy-pipeline", "/model-tracker",
         "/model-tracker", "/slack"]
    )  # fmt: skip
    deploy = by_path["/deploy-pipeline"]
    assert _signed(SECRETS["DEPLOY_SIGNING_KEY"], deploy.body, deploy.headers["x-wandb-signature"])
    assert deploy.headers["authorization"] == "Bearer demo-deploy-token"
    body = json.loads(deploy.body)
    version = f"{ORG}/wandb-registry-model/fraud-detector:v0"
    assert body == {
        "event": "ADD_ARTIFACT_ALIAS",
        "model": "fraud-detector",
        "version": version,
        "artifact": "wandb-artifact://_id/" + base64.b64encode(b"Artifact:1").decode(),
        "requested_by": "admin",
        "environment": "production",
    }
    tracked = sorted(
        (json.loads(r.body) for r in receiver.requests if r.path == "/model-tracker"),
        key=lambda b: str(b.get("event")),
    )
    assert [b.get("event") for b in tracked] == [None, "tagged", "unlinked"]
    assert tracked[0]["version"] == "ml-platform/fraud-detection/fraud-detector:v0"
    assert tracked[0]["framework"] == "xgboost"
    assert (tracked[1]["tag"], tracked[1]["version"]) == ("gold", version)
    assert tracked[2]["version"] == version
    slack = json.loads(by_path["/slack"].body)
    assert slack["text"] == f"{version} was tagged gold"
    _until(lambda: {status for _, status in _fired(live)} == {"delivered"}, "all delivered")
    assert len(receiver.requests) == len(expected)
