"""Matching one event against 10,000 candidate automations with nested filters.

Run: `.venv/bin/python bench/bench_filters.py [--candidates 10000] [--others 40000] [--rounds 7]`.

Two databases: one holds `--candidates` automations on the event's project and event
type (alias added), each with its own filter nested three levels deep with mixed
operators, none of them matching the event; the other holds the same candidates plus
`--others` automations of other projects and event types. Sides, interleaved each
round, over `--repeat` events whose alias was never seen (so every filter is tested):
`matching.match` on each database, and the floor: the same compiled conditions called
in a tight loop over the same events' documents. Then the same events again on the
first database (`seen document`: answers kept per document). Targets: match at most 3x
the floor; the others cost nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import PROJECT, TEAM  # also puts the repository on sys.path

from reconcile.runtime import filters
from reconcile.runtime.incoming import Artifact, IncomingEvent
from reconcile.server.admin import tasks as admin
from reconcile.server.runtime import matching
from reconcile.server.store import automations as hooks
from reconcile.server.store.db import Database
from reconcile.server.store.teams import find_project, find_team, find_user

EVENT = IncomingEvent(
    "alias_added", TEAM, PROJECT, "e1", collection="detector", artifact=Artifact(1), alias="prod"
)
OTHER_TYPES = ("CREATE_ARTIFACT", "ADD_ARTIFACT_TAG", "LINK_MODEL", "RUN_STATE")


def nested(index: int) -> dict[str, Any]:
    """Three levels ($or > $and > $or/$nor/$not), mixed operators; false for alias `prod`."""
    n = index
    return {
        "$or": [
            {
                "$and": [
                    {"$or": [{"alias": {"$regex": f"^v{n}-"}}, {"tag": {"$in": [f"t{n}", "x"]}}]},
                    {"$nor": [{"alias": {"$eq": "prod"}}, {"alias": {"$contains": f"-{n}"}}]},
                    {"$not": {"alias": {"$exists": True}}},
                ]
            },
            {"$and": [{"alias": {"$ne": "prod"}}, {"alias": {"$gte": f"r{n}"}}]},
        ]
    }


def _filter(kind: str, index: int) -> str:
    if kind == "RUN_STATE":
        return json.dumps({"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}})
    return json.dumps(nested(index))


def populate(path: Path, candidates: int, others: int) -> tuple[Database, int, int]:
    """The database, the event's project id and collection id."""
    db = Database(path)
    boot = admin.bootstrap(db, team=TEAM)
    project = admin.ensure_project(db, TEAM, PROJECT)
    other_projects = [admin.ensure_project(db, TEAM, f"other-{n:02d}") for n in range(20)]
    admin.ensure_collection(db, TEAM, PROJECT, "detector", "model")
    with db.write() as con:
        team, user = find_team(con, TEAM), find_user(con, boot.username)
        assert team is not None
        assert user is not None
        for index in range(candidates + others):
            if index < candidates:
                scope, kind = project, "ADD_ARTIFACT_ALIAS"
            else:
                scope = other_projects[index % len(other_projects)]
                kind = OTHER_TYPES[index % len(OTHER_TYPES)]
                if index % 2:  # half on the event's project, other event types
                    scope = project
                    kind = kind if kind != "ADD_ARTIFACT_ALIAS" else "CREATE_ARTIFACT"
            fields = hooks.TriggerFields(
                f"automation-{index:06d}", None, True, "PROJECT", scope.id, kind,
                _filter(kind, index), "NO_OP", None, "{}",
            )  # fmt: skip
            hooks.create_trigger(con, team.id, fields, user.id)
        found = find_project(con, TEAM, PROJECT)
        assert found is not None
        collection = con.execute(
            "SELECT id FROM collections WHERE project_id = ?", (found.id,)
        ).fetchone()
    return db, found.id, collection[0]


def store_nested(db: Database, count: int, start: int = 0) -> None:
    """`count` more candidates with nested filters on the event's project (none matches)."""
    with db.write() as con:
        team, project = find_team(con, TEAM), find_project(con, TEAM, PROJECT)
        assert team is not None
        assert project is not None
        user = con.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()[0]
        for index in range(start, start + count):
            fields = hooks.TriggerFields(
                f"nested-{index:06d}", None, True, "PROJECT", project.id, "ADD_ARTIFACT_ALIAS",
                json.dumps(nested(index)), "NO_OP", None, "{}",
            )  # fmt: skip
            hooks.create_trigger(con, team.id, fields, user)


def events(first: int, count: int) -> list[IncomingEvent]:
    """Events whose aliases (`prod-N`) were never seen: every filter is tested again."""
    return [replace(EVENT, alias=f"prod-{n}") for n in range(first, first + count)]


def time_match(
    db: Database, project_id: int, collection_id: int, sent: list[IncomingEvent]
) -> float:
    with db.read() as con:
        began = time.perf_counter()
        for event in sent:
            assert matching.match(con, event, project_id, collection_id) == []
        return (time.perf_counter() - began) / len(sent)


def time_floor(tests: list[filters.Predicate], sent: list[IncomingEvent]) -> float:
    docs = [filters.document(event) for event in sent]
    began = time.perf_counter()
    for doc in docs:
        for test in tests:
            if test(doc):
                raise AssertionError("a candidate matched")
    return (time.perf_counter() - began) / len(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        alone = populate(Path(tmp) / "alone.db", args.candidates, 0)
        crowded = populate(Path(tmp) / "crowded.db", args.candidates, args.others)
        tests = [filters.compiled("ADD_ARTIFACT_ALIAS", json.dumps(nested(i))).test
                 for i in range(args.candidates)]  # fmt: skip
        times: dict[str, list[float]] = {"floor": [], "match": [], "match+others": []}
        times["seen document"] = []
        for side in (alone, crowded):  # warm: every filter compiled once
            time_match(*side, events(0, 1))
        for round_ in range(args.rounds):
            sent = events(1 + round_ * args.repeat, args.repeat)
            times["floor"].append(time_floor(tests, sent))
            times["match"].append(time_match(*alone, sent))
            times["match+others"].append(time_match(*crowded, sent))
            times["seen document"].append(time_match(*alone, sent))
        print(f"{'side':>14} {'best':>10} {'median':>10}")
        for name, values in times.items():
            ordered = sorted(values)
            best, median = ordered[0], ordered[len(ordered) // 2]
            print(f"{name:>14} {best * 1e3:>7.3f} ms {median * 1e3:>7.3f} ms")
        best = {name: min(values) for name, values in times.items()}
        mid = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
        print(
            f"match / floor: {best['match'] / best['floor']:.2f}x best,"
            f" {mid['match'] / mid['floor']:.2f}x median;"
            f" with {args.others:,} others: {best['match+others'] / best['match']:.2f}x best,"
            f" {mid['match+others'] / mid['match']:.2f}x median"
        )
        for db, _, _ in (alone, crowded):
            db.close()
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
