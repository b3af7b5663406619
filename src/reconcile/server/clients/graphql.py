"""GraphQL resolvers for runs: `upsertBucket`, `createRunFiles`, `Project.run`/`runs`,
with the fields the SDK's documents and its public `Run` object read."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import present
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_cursor, decode_id, encode_id
from reconcile.server.api.present import Obj
from reconcile.server.clients import (
    artifacts_graphql,
    artifacts_mutations,
    history,
    registry_reads,
    runs,
    runs_query,
    uploads,
)
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import teams

MAX_FILES = 1000
PAGE = 50
MAX_PAGE = 1000


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def present_run(run: runs.Run) -> Obj:
    return {
        "__typename": "Run",
        "id": encode_id("Run", run.id),
        "name": run.name,
        "displayName": run.display_name,
        "description": None,
        "notes": None,
        "config": run.config,
        "summaryMetrics": run.summary,
        "systemMetrics": "{}",
        "parquetHistory": {"parquetUrls": [], "liveData": []},
        "historyLineCount": run.history_lines,
        "sweepName": None,
        "state": run.state,
        "group": None,
        "jobType": None,
        "tags": list(run.tags),
        "host": None,
        "commit": None,
        "readOnly": False,
        "createdAt": run.created_at,
        "heartbeatAt": run.created_at,
        "updatedAt": run.created_at,
        "runInfo": None,
        # Email and the like are not the reader's to see: the name only.
        "user": None
        if run.author is None
        else {
            "__typename": "User",
            "id": encode_id("User", run.author.id),
            "name": run.author.username,
            "username": run.author.username,
        },
        "project": present.project(run.project),
        "projectId": run.project.id,
        "events": [],
        "_run": run,
    }


def resolve_upsert_bucket(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    entity = input.get("entityName") or ctx.user.default_entity
    project = input.get("modelName") or "uncategorized"
    if not entity:
        raise InvalidInput("entityName is required: the user has no default entity")
    if not input.get("name"):
        if not input.get("id"):
            raise InvalidInput("name is required: the run's id")
        # `Run.update()` of the public API names the run by its storage id only.
        found = runs.by_storage_id(ctx.con, decode_id(input["id"], "Run")[1])
        if found is None:
            raise NotFound(f"run {input['id']} not found")
        entity, project = found.project.entity_name, found.project.name
        input = {**input, "name": found.name}
    place = runs.writable_project(ctx.con, ctx.user, entity, project, create=True)
    run, inserted, queued = runs.upsert(ctx.con, ctx.box, ctx.user, place, input)
    ctx.queued.extend(queued)
    return {
        "bucket": present_run(run),
        "inserted": inserted,
        "clientMutationId": input.get("clientMutationId"),
    }


def resolve_create_run_files(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    names: list[str] = input["files"]
    if len(names) > MAX_FILES:
        raise InvalidInput(f"files: at most {MAX_FILES} names a request")
    for name in names:
        if not name or len(name) > 1024 or "\0" in name:
            raise InvalidInput(f"files: {name[:64]!r} is not a file name")
    _, project = runs.writable_project(
        ctx.con, ctx.user, input["entityName"], input["projectName"], create=False
    )
    run = runs.find_run(ctx.con, project, input["runName"])
    if run is None:
        raise NotFound(f"run {input['runName']} not found in {project.entity_name}/{project.name}")
    signer: uploads.Signer = info.root_value or _no_signer()
    made = uploads.create(ctx.con, signer, ctx.base_url, run, names)
    return {
        "runID": encode_id("Run", run.id),
        "uploadHeaders": [],
        "files": [{"name": name, "uploadUrl": url} for name, url in made],
        "clientMutationId": input.get("clientMutationId"),
    }


def _no_signer() -> uploads.Signer:
    raise InvalidInput("uploads are not available on this server")


def _readable(info: GraphQLResolveInfo, parent: Obj) -> teams.Project | None:
    """The parent project, when the caller may read its runs (its team's members)."""
    project: teams.Project = parent["_row"]
    ctx = _ctx(info)
    if teams.member_role(ctx.con, project.entity_id, ctx.user.id) is None:
        return None
    return project


def resolve_project_run(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    project = _readable(info, parent)
    found = runs.find_run(_ctx(info).con, project, name) if project else None
    return present_run(found) if found else None


def _selected(info: GraphQLResolveInfo, parent: Obj, args: dict[str, Any]) -> list[runs.Run]:
    """The project's runs passing `filters`, in `order` (the caller may read them)."""
    project = _readable(info, parent)
    condition = runs_query.parse(args.get("filters"))
    if project is None:
        return []
    found = runs.runs_of(_ctx(info).con, project, 0, runs_query.MAX_RUNS)
    kept = [run for run in found if runs_query.matches(run, condition)]
    return runs_query.ordered(kept, args.get("order")) if "order" in args else kept


def resolve_project_runs(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    limit = min(max(args.get("first") or args.get("perPage") or PAGE, 1), MAX_PAGE)
    after = decode_cursor(args.get("after"))  # the position of the last run shown
    selected = _selected(info, parent, {"order": None, **args})
    shown = selected[after : after + limit]
    positions = list(range(after + 1, after + 1 + len(shown)))
    page = present.page([present_run(r) for r in shown], positions, len(selected) > after + limit)
    return {**page, "totalCount": len(selected)}


def resolve_run_count(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> int:
    """Runs of the project passing `filters`."""
    return len(_selected(info, parent, args))


def resolve_run_history(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> list[str]:
    return history.page(_ctx(info).con, parent["_run"], args)


def resolve_sampled_history(
    parent: Obj, info: GraphQLResolveInfo, specs: list[str]
) -> list[list[dict[str, Any]]]:
    return history.sampled(_ctx(info).con, parent["_run"], specs)


def resolve_history_keys(parent: Obj, info: GraphQLResolveInfo) -> dict[str, Any]:
    return history.keys(_ctx(info).con, parent["_run"])


_RUNS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "upsertBucket": resolve_upsert_bucket,
        "createRunFiles": resolve_create_run_files,
    },
    "Project": {
        "run": resolve_project_run,
        "runs": resolve_project_runs,
        "runCount": resolve_run_count,
    },
    "Run": {
        "history": resolve_run_history,
        "sampledHistory": resolve_sampled_history,
        "historyKeys": resolve_history_keys,
    },
}


def _merged(*tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for table in tables:
        for type_name, fields in table.items():
            out.setdefault(type_name, {}).update(fields)
    return out


RESOLVERS = _merged(
    _RUNS, artifacts_graphql.RESOLVERS, artifacts_mutations.RESOLVERS, registry_reads.RESOLVERS
)
