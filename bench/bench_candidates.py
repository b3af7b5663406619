"""Matching one event against N candidate automations, the hard case, beside its floor.

Run: `.venv/bin/python bench/bench_candidates.py [--sizes 1000,10000,20000,50000] [--rounds 5]`

For each size N, a database holds N automations all on the event's project and event
type (alias added), each with an alias regex of its own (W&B's stored shape,
`{"$or": [{"$and": [{"alias": {"$regex": ...}}]}]}`), none matching the event. Each
round sends events whose alias was never seen (so no answer kept per document helps)
through `matching.match`, and, interleaved with it, the floor: the same patterns
compiled with RE2 (`re2.compile(p).search(alias)`) in a tight loop over the same
aliases. Target: match at most 3x the floor at 10,000, and no cliff up to 50,000 (the
time per candidate flat in N). Then the first event after each kind of write (`AFTER`).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import re2  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_filters import EVENT
from fair import interleaved, load, ratios, spread
from runtime_world import PROJECT, TEAM  # also puts the repository on sys.path

from reconcile.server.admin import tasks as admin
from reconcile.server.runtime import matching
from reconcile.server.store import automations as hooks
from reconcile.server.store.db import Database
from reconcile.server.store.teams import find_project, find_team, find_user

SHAPES = (
    "^staging-{n}$",
    "^release-{n}-(rc|beta)[0-9]+$",
    "^v{n}\\.[0-9]+\\.[0-9]+$",
    "canary-{n}",
)


def pattern(index: int) -> str:
    """A distinct alias regex per automation; none matches `prod-...`."""
    return SHAPES[index % len(SHAPES)].format(n=index)


def populate(path: Path, count: int) -> tuple[Database, int, int]:
    db = Database(path)
    boot = admin.bootstrap(db, team=TEAM)
    admin.ensure_project(db, TEAM, PROJECT)
    admin.ensure_collection(db, TEAM, PROJECT, "detector", "model")
    with db.write() as con:
        team, user = find_team(con, TEAM), find_user(con, boot.username)
        project = find_project(con, TEAM, PROJECT)
        assert team is not None
        assert user is not None
        assert project is not None
        for index in range(count):
            stored = json.dumps({"$or": [{"$and": [{"alias": {"$regex": pattern(index)}}]}]})
            fields = hooks.TriggerFields(
                f"automation-{index:06d}", None, True, "PROJECT", project.id,
                "ADD_ARTIFACT_ALIAS", stored, "NO_OP", None, "{}",
            )  # fmt: skip
            hooks.create_trigger(con, team.id, fields, user.id)
        collection = con.execute(
            "SELECT id FROM collections WHERE project_id = ?", (project.id,)
        ).fetchone()[0]
    return db, project.id, collection


def measure(
    path: Path, size: int, args: argparse.Namespace, serial: Iterator[int]
) -> dict[str, list[float]]:
    """Both sides, interleaved; the first event's time (reads, compiles) as `first`."""
    db, project_id, collection_id = populate(path, size)
    admin.ensure_project(db, TEAM, "elsewhere")
    compiled = [re2.compile(pattern(i)) for i in range(size)]

    def aliases() -> list[str]:
        return [f"prod-{next(serial)}" for _ in range(args.events)]

    with db.read() as con:
        began = time.perf_counter()
        matching.match(con, replace(EVENT, alias="warm-up"), project_id, collection_id)
        first = time.perf_counter() - began

        def side_match() -> float:
            sent = [replace(EVENT, alias=a) for a in aliases()]
            began = time.perf_counter()
            for event in sent:
                assert matching.match(con, event, project_id, collection_id) == []
            return (time.perf_counter() - began) / len(sent)

        def side_floor() -> float:
            values = aliases()
            began = time.perf_counter()
            for value in values:
                for regex in compiled:
                    if regex.search(value) is not None:
                        raise AssertionError("a pattern matched")
            return (time.perf_counter() - began) / len(values)

        runs = interleaved({"floor": side_floor, "match": side_match}, args.rounds)
    runs["first"] = [first]
    for _ in range(3):
        for name, took in after_writes(db, project_id, collection_id).items():
            runs.setdefault(name, []).append(took)
    db.close()
    return runs


# What each write is followed by (the event's time after it): the first two are a
# write elsewhere (an automation of another project) then an event whose alias was
# seen (what catching up costs) or new (that plus testing every filter); the third an
# edit of one of the scope's automations; the fourth a change that makes the scope
# be read whole (an entity renamed: what every write cost before `match_changes`).
AFTER = ("elsewhere, seen alias", "elsewhere, new alias", "edit in scope", "read whole")


def after_writes(db: Database, project_id: int, collection_id: int) -> dict[str, float]:
    """The next event's match after each kind of write in `AFTER`."""
    timings: dict[str, float] = {}
    for name in AFTER:
        with db.write() as con:
            count = con.execute("SELECT COUNT(*) FROM triggers").fetchone()[0]
            write(con, name, count)
        alias = f"after-{count}" if name == "elsewhere, new alias" else "warm-up"
        with db.read() as con:
            began = time.perf_counter()
            matching.match(con, replace(EVENT, alias=alias), project_id, collection_id)
            timings[name] = time.perf_counter() - began
    return timings


def write(con: sqlite3.Connection, name: str, count: int) -> None:
    if name == "edit in scope":
        con.execute("UPDATE triggers SET description = ? WHERE id = 1", (f"edit {count}",))
    elif name == "read whole":
        con.execute("UPDATE entities SET name = name WHERE id = 1")
    else:
        other = find_project(con, TEAM, "elsewhere")
        team = find_team(con, TEAM)
        user = con.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()[0]
        assert team is not None
        assert other is not None
        fields = hooks.TriggerFields(
            f"elsewhere-{count}", None, True, "PROJECT", other.id, "ADD_ARTIFACT_ALIAS",
            "{}", "NO_OP", None, "{}",
        )  # fmt: skip
        hooks.create_trigger(con, team.id, fields, user)


def report(size: int, runs: dict[str, list[float]]) -> None:
    print(
        f"N = {size:,}: first event after start (reads, compiles) {runs['first'][0] * 1e3:.0f} ms"
    )
    for name in AFTER:
        print(f"  first event after a write, {name}: {spread(runs[name], 1e3, 'ms')}")
    print(f"  floor (RE2 search loop): {spread(runs['floor'], 1e3, 'ms')} per event")
    print(f"  matching.match:          {spread(runs['match'], 1e3, 'ms')} per event")
    per = [t / size * 1e6 for t in runs["match"]]
    print(f"  match per candidate: {spread(per, 1, 'us')}")
    ratio = spread(ratios(runs["match"], runs["floor"]), unit="x")
    print(f"  ratio per round: {ratio} (target <= 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,20000,50000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=5, help="new aliases per round")
    args = parser.parse_args()
    print(f"start: {load()}")
    serial = iter(range(10**9))
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            report(size, measure(Path(tmp) / "db", size, args, serial))
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
