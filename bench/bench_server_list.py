"""Listing 10,000 automations: GraphQL over HTTP against reading SQLite directly.

Run: `.venv/bin/python bench/bench_server_list.py [--count N] [--http h11|httptools]
[--write FILE]`. Both sides page by 100 in id order and JSON-encode
what they read; the ratio is the cost of the GraphQL layer (HTTP, parsing, execution,
shaping). The two sides alternate, so a slow spell of a shared machine hits both;
each side's best of `--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.server.live (a thread-hosted uvicorn)

from reconcile.server.admin import tasks as admin  # noqa: E402
from reconcile.server.api import present  # noqa: E402
from reconcile.server.store import automations as hooks  # noqa: E402
from reconcile.server.store.db import Database  # noqa: E402
from reconcile.server.store.teams import find_team, find_user  # noqa: E402
from tests.server.helpers import basic  # noqa: E402
from tests.server.live import running  # noqa: E402

PAGE = 100
MAX_PAGES = 10_000  # a bound on every loop, far above what the counts need
TEAM = "bench"
ALIAS_FILTER = '{"$or":[{"$and":[{"alias":{"$regex":"^prod$"}}]}]}'


def entity_automations_document() -> str:
    """The SDK's own `GetEntityAutomations` document (or our copy if wandb is absent)."""
    try:
        from wandb.automations._generated.operations import GET_ENTITY_AUTOMATIONS_GQL
    except ImportError:  # pragma: no cover - wandb is a dev dependency
        raise SystemExit("install the dev dependencies (wandb) to run this benchmark") from None
    return str(GET_ENTITY_AUTOMATIONS_GQL)


def populate(db: Database, count: int) -> str:
    """Bootstrap a team and store `count` webhook automations; returns the admin key."""
    boot = admin.bootstrap(db, team=TEAM)
    project = admin.ensure_project(db, TEAM, "vision")
    with db.write() as con:
        team = find_team(con, TEAM)
        user = find_user(con, boot.username)
        assert team is not None
        assert user is not None
        assert boot.api_key
        hook = hooks.create_webhook(
            con,
            team.id,
            name="deploy",
            url_endpoint="https://h.example/",
            secret_ref=None,
            access_token_ref=None,
        )
        for index in range(count):
            fields = hooks.TriggerFields(
                name=f"automation-{index:05d}",
                description="managed-by: reconcile",
                enabled=True,
                scope_type="PROJECT",
                scope_id=project.id,
                event_type="ADD_ARTIFACT_ALIAS",
                event_filter=ALIAS_FILTER,
                action_type="GENERIC_WEBHOOK",
                integration_id=hook.id,
                action_config=json.dumps({"requestPayload": '{"v": "${artifact_version}"}'}),
            )
            hooks.create_trigger(con, team.id, fields, user.id)
    return boot.api_key


def list_over_http(url: str, key: str, document: str) -> int:
    seen, cursor = 0, None
    with httpx.Client(base_url=url, headers=basic(key), timeout=30) as client:
        for _ in range(MAX_PAGES):
            variables = {"entity": TEAM, "cursor": cursor, "perPage": PAGE, "filters": None}
            body = {"query": document, "variables": variables, "operationName": ""}
            response = client.post("/graphql", json=body)
            response.raise_for_status()
            triggers = response.json()["data"]["scope"]["triggers"]
            seen += len(triggers["edges"])
            if not triggers["pageInfo"]["hasNextPage"]:
                return seen
            cursor = triggers["pageInfo"]["endCursor"]
    raise RuntimeError("pagination did not end")


def list_from_sqlite(path: Path) -> int:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    seen, after = 0, 0
    try:
        for _ in range(MAX_PAGES):
            rows = con.execute(
                "SELECT * FROM triggers WHERE id > ? ORDER BY id LIMIT ?", (after, PAGE)
            ).fetchall()
            json.dumps([dict(row) for row in rows])
            seen += len(rows)
            if len(rows) < PAGE:
                return seen
            after = rows[-1]["id"]
    finally:
        con.close()
    raise RuntimeError("pagination did not end")


def timed(action: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = action()
    return time.perf_counter() - started, count


def best_of_alternating(
    runs: int, first: Callable[[], int], second: Callable[[], int]
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Each action's best time (and its count), running them turn about `runs` times."""
    ones, twos = [], []
    for _ in range(runs):
        ones.append(timed(first))
        twos.append(timed(second))
    return min(ones), min(twos)


def breakdown(db: Database, key: str, document: str) -> dict[str, float]:
    """Seconds per 100-row page for each in-process stage of one GraphQL page."""
    service_handle = _service(db)
    with db.read() as con:
        team = find_team(con, TEAM)
        assert team is not None

        def fetch() -> list[hooks.TriggerRow]:
            return hooks.triggers_page(con, team.id, 0, PAGE + 1)

        rows = fetch()
        shaped = [present.trigger(row) for row in rows[:PAGE]]
        stages = {
            "SQL read (joined page)": _per_call(fetch),
            "shaping rows into W&B dicts": _per_call(lambda: [present.trigger(r) for r in rows]),
        }
    variables = {"entity": TEAM, "cursor": None, "perPage": PAGE, "filters": None}
    stages["cost check (static analysis of the document)"] = _per_call(
        lambda: _cost_check(document, variables)
    )
    _, body = service_handle(f"Bearer {key}", document, variables, None)
    stages["GraphQL: auth + SQL + shaping + execution"] = _per_call(
        lambda: service_handle(f"Bearer {key}", document, variables, None)
    )
    stages["JSON encoding of the answer"] = _per_call(lambda: json.dumps(body))
    assert len(shaped) == PAGE
    return stages


_DOCUMENTS: list[Any] = []


def _cost_check(document: str, variables: dict[str, Any]) -> int:
    """What the server does for the cost check of one request (document cached)."""
    from graphql import get_operation_ast

    from reconcile.server.api.cost import operation_cost
    from reconcile.server.api.graph import Documents, load_schema

    if not _DOCUMENTS:
        _DOCUMENTS.append(Documents(load_schema()))
    documents = _DOCUMENTS[0]
    prepared = documents.prepare(document)
    assert prepared.document is not None
    operation = get_operation_ast(prepared.document)
    assert operation is not None
    return operation_cost(documents.schema, prepared.fragments, operation, variables)


def _service(db: Database) -> Callable[..., tuple[int, dict[str, Any]]]:
    from reconcile.server.api.service import GraphQLService

    service = GraphQLService(db.path)
    return service.handle


def _per_call(action: Callable[[], object], calls: int = 10, batches: int = 7) -> float:
    """Seconds per call in the fastest of `batches` batches, like the totals above."""
    fastest = float("inf")
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        fastest = min(fastest, (time.perf_counter() - started) / calls)
    return fastest


def report(count: int, http: str, http_s: float, raw_s: float, stages: dict[str, float]) -> str:
    pages = -(-count // PAGE)
    lines = [
        "## Embedded server: listing automations (`bench/bench_server_list.py`)",
        "",
        f"{count:,} automations, pages of {PAGE} ({pages} pages), best of alternating "
        f"runs; Python {platform.python_version()} on {platform.machine()}, uvicorn with "
        f"the {http} HTTP parser.",
        "",
        "| path | total | per page | ratio |",
        "|---|---|---|---|",
        f"| `GetEntityAutomations` over HTTP (uvicorn, 127.0.0.1) | {http_s * 1000:.0f} ms "
        f"| {http_s / pages * 1000:.2f} ms | {http_s / raw_s:.1f}x |",
        f"| SQLite read + `json.dumps` of the same rows | {raw_s * 1000:.0f} ms "
        f"| {raw_s / pages * 1000:.2f} ms | 1.0x |",
        "",
        "Where one page's time goes (in-process, no HTTP):",
        "",
        "| stage | per page |",
        "|---|---|",
        *(f"| {name} | {seconds * 1000:.2f} ms |" for name, seconds in stages.items()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--http", choices=["h11", "httptools"], default="httptools")
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    document = entity_automations_document()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        db = Database(path)
        key = populate(db, args.count)
        with running(path, http=args.http) as live:
            (http_s, http_n), (raw_s, raw_n) = best_of_alternating(
                args.repeat,
                lambda: list_over_http(live.url, key, document),
                lambda: list_from_sqlite(path),
            )
        assert http_n == raw_n == args.count, (http_n, raw_n)
        stages = breakdown(db, key, document)
        text = report(args.count, args.http, http_s, raw_s, stages)
        db.close()
    print(text)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
