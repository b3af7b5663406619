"""Fixtures for the reliability suite: a real server on 127.0.0.1 behind a recording proxy.

Helpers run the CLI in a subprocess or through CliRunner, and read server state directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from reconcile.apply import session
from reconcile.apply.target import Target, embedded_key, prepare_embedded, scopes_of
from reconcile.cli import cli
from reconcile.client import operations as ops
from reconcile.client.transport import RetryPolicy, basic_auth
from reconcile.core.model import Inventory
from reconcile.inventory.load import load_inventory
from tests import invoke
from tests.reliability.proxy import Proxy, proxying
from tests.server.live import running

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "automations"
ENTITY = "ml-platform"
FAST = RetryPolicy(scale=0.0)
TIMEOUT = 60.0
SECRET_ENVS = (
    "DEPLOY_TOKEN",
    "DEPLOY_SIGNING_KEY",
    "TRACKER_TOKEN",
    "GH_DISPATCH_TOKEN",
    "TEAMS_SIGNING_KEY",
)
CANARIES = {name: f"canary-3f9a7c1e-{name.lower().replace('_', '-')}" for name in SECRET_ENVS}
# A webhook URL read from the environment is a credential too.
CANARIES["SLACK_ML_MODELS_URL"] = "https://hooks.slack.com/services/T0/B0/canary-3f9a7c1e-url"
TARGET_ENVS = ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY")


@dataclass
class Stack:
    """A prepared database, the server serving it, and the proxy in front of it."""

    work: Path
    db: Path
    key: str
    server_url: str
    proxy: Proxy

    @property
    def target(self) -> Target:
        """Through the proxy: what the code under test talks to."""
        return Target(self.proxy.url, api_key=self.key)

    @property
    def direct(self) -> Target:
        """Straight to the server: what the test uses to look, unrecorded."""
        return Target(self.server_url, api_key=self.key)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI run against the proxy, with canary secret values."""
        base = {k: v for k, v in os.environ.items() if k not in TARGET_ENVS}
        return {**base, **CANARIES, "NO_COLOR": "1", "WANDB_API_KEY": self.key, **extra}

    def run(
        self, *args: str, timeout: float = TIMEOUT, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`python -m reconcile ARGS` in the work folder, against the proxy."""
        return subprocess.run(
            [sys.executable, "-m", "reconcile", *args],
            cwd=self.work,
            env=self.env(RECONCILE_SERVER=self.proxy.url, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_here(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`run` in this process (`tests/invoke.py`): the same answer, no start-up."""
        environment = self.env(RECONCILE_SERVER=self.proxy.url, **env)
        return invoke.run(args, environment, cwd=self.work)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "reconcile", *args],
            cwd=self.work,
            env=self.env(RECONCILE_SERVER=self.proxy.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def invoke(self, *args: str) -> Result:
        """The CLI in this process (CliRunner), in the work folder, against the proxy."""
        env: dict[str, str | None] = dict.fromkeys(TARGET_ENVS)
        env.update(self.env(RECONCILE_SERVER=self.proxy.url))
        cwd = Path.cwd()
        os.chdir(self.work)
        try:
            return CliRunner().invoke(cli, list(args), env=env)
        finally:
            os.chdir(cwd)

    def inventory(self) -> Inventory:
        return load_inventory([str(self.work / "automations")])

    def plan(self, inventory: Inventory | None = None) -> session.Planned:
        return asyncio.run(session.plan(inventory or self.inventory(), self.target, FAST))

    def apply(self, inventory: Inventory | None = None, **kwargs: Any) -> Any:
        """Library apply through the proxy, unreviewed, with canary values and no waits."""
        options: dict[str, Any] = {"fingerprint": None, "prune": True, "policy": FAST}
        options["env"] = CANARIES
        options.update(kwargs)
        return asyncio.run(session.apply(inventory or self.inventory(), self.target, **options))

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL request straight to the server; the `data`, or a failed assertion."""
        headers = {"Authorization": basic_auth(self.key)}
        body = {"query": query, "variables": variables or {}}
        response = httpx.post(f"{self.server_url}/graphql", json=body, headers=headers, timeout=30)
        payload = response.json()
        assert response.status_code == 200, payload
        assert "errors" not in payload, payload
        data: dict[str, Any] = payload["data"]
        return data

    def triggers(self) -> list[dict[str, Any]]:
        """Every automation of the entity on the server, the lock included, and those of
        its organization's entity (the registries')."""
        data = self.gql(ops.ORG_INFO_FROM_ENTITY, {"entity": ENTITY})
        org_entity = data["entity"]["organization"]["orgEntity"]["name"]
        return self._nodes(ops.ENTITY_TRIGGERS, "triggers") + self._nodes(
            ops.ENTITY_TRIGGERS, "triggers", org_entity
        )

    def integrations(self) -> list[dict[str, Any]]:
        return self._nodes(ops.INTEGRATIONS, "integrations")

    def secret_names(self) -> list[str]:
        data = self.gql(ops.SECRETS, {"entity": ENTITY})
        return [row["name"] for row in data["entity"]["secrets"]]

    def create_trigger(self, name: str, description: str = "") -> str:
        """An automation made by another client (no ownership marker unless given)."""
        found = self.gql(ops.PROJECT, {"entity": ENTITY, "name": "fraud-detection"})
        fields = {
            "name": name,
            "description": description,
            "enabled": True,
            "scopeType": "PROJECT",
            "scopeID": found["project"]["id"],
            "triggeringEventType": "RUN_STATE",
            "eventFilter": json.dumps(
                {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
            ),
            "triggeredActionType": "NO_OP",
            "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
        }
        data = self.gql(ops.CREATE_TRIGGER, {"input": fields})
        trigger_id: str = data["createFilterTrigger"]["trigger"]["id"]
        return trigger_id

    def create_webhook(self, name: str, url: str) -> str:
        fields = {"entityName": ENTITY, "name": name, "urlEndpoint": url}
        data = self.gql(ops.CREATE_WEBHOOK, {"input": fields})
        hook_id: str = data["createGenericWebhookIntegration"]["integration"]["id"]
        return hook_id

    def webhook_id(self, name: str) -> str:
        return next(str(i["id"]) for i in self.integrations() if i.get("name") == name)

    def _nodes(self, document: str, field: str, entity: str = ENTITY) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            variables = {"entity": entity, "cursor": cursor, "perPage": 1000}
            connection = self.gql(document, variables)["entity"][field]
            nodes += [edge["node"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                return nodes
            cursor = connection["pageInfo"]["endCursor"]
        raise AssertionError("more pages than expected")


def prepare(db: Path, inventory_root: Path) -> str:
    """Create the teams, projects and collections of an inventory; the admin key."""
    inventory = load_inventory([str(inventory_root)])
    prepare_embedded(Target(None, db=db), inventory, scopes_of(inventory))
    return embedded_key(db)


@contextmanager
def serving(folder: Path) -> Iterator[Stack]:
    """The shipped examples in `folder`/work, a server prepared for them, and the proxy."""
    work = folder / "work"
    shutil.copytree(EXAMPLES, work / "automations")
    db = folder / "server.db"
    key = prepare(db, work / "automations")
    with running(db) as server, proxying(server.url) as proxy:
        yield Stack(work, db, key, server.url, proxy)


@pytest.fixture(autouse=True)
def _no_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TARGET_ENVS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with serving(tmp_path) as made:
        yield made


def generated(automations: int, webhooks: int = 1, secrets: int = 1) -> str:
    """An inventory of `secrets` secrets, `webhooks` webhooks and `automations` automations."""
    names = ["DEPLOY_TOKEN", "TRACKER_TOKEN", "TEAMS_SIGNING_KEY", "DEPLOY_SIGNING_KEY"][:secrets]
    lines = ["entity: ml-platform", "secrets:"]
    lines += [f"  - name: {name}" for name in names]
    lines.append("webhooks:")
    for index in range(webhooks):
        lines += [f"  - name: hook-{index}", f"    url: https://hooks.example.com/{index}"]
        lines.append(f"    access_token: {names[index % len(names)]}")
    lines += ["automations:"] if automations else []
    for index in range(automations):
        lines += [
            f"  - name: auto-{index:03d}",
            "    scope: {project: fraud-detection}",
            "    when: {run_state: {states: [failed]}}",
            f"    then: {{webhook: {{to: hook-{index % webhooks}}}}}",
        ]
    return "\n".join(lines) + "\n"


def use_inventory(stack: Stack, text: str) -> Path:
    """Replace the work folder's inventory with one file holding `text`."""
    root = stack.work / "automations"
    shutil.rmtree(root)
    root.mkdir()
    path = root / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return path
