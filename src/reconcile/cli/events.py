"""`reconcile emit`, `history` and `redeliver` (part of the command line): events to a
server or the embedded database, and what their deliveries did.

Exit codes: 0 success (every delivery waited for was delivered); 1 the server refused,
or a delivery failed or was still pending when the wait ended; 2 bad input or usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconcile.apply import target as targets
from reconcile.cli.options import target_options
from reconcile.client.transport import basic_auth
from reconcile.core.errors import ReconcileError, ServerError, UsageError
from reconcile.inventory import project
from reconcile.inventory.load import load_inventory
from reconcile.inventory.schema import unknown_name
from reconcile.runtime import incoming, remote
from reconcile.runtime.addresses import Policy

EXIT_FAILED = 1
WAIT = 30.0
SHOWN_BODY = 4096
T = TypeVar("T")


def _open(server: str | None, db: Path | None, allow: tuple[str, ...]) -> remote.Runtime:
    target = targets.choose(server, db, os.environ)
    if target.url is not None:
        if allow:
            raise UsageError(
                "--allow-delivery-to is for the embedded target; a server has its own "
                "(reconcile serve --allow-delivery-to)"
            )
        return remote.RemoteRuntime(target.url, basic_auth(target.api_key or ""))
    try:
        Policy.of(allow)
    except ValueError as error:
        raise UsageError(f"--allow-delivery-to: {error}") from None
    from reconcile.server.runtime.local import LocalRuntime

    return LocalRuntime(target.db, basic_auth(targets.embedded_key(target.db)), allow)


def _run(runtime: remote.Runtime, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` on a fresh event loop, then close the runtime."""

    async def main() -> T:
        try:
            return await work()
        finally:
            if isinstance(runtime, remote.RemoteRuntime):
                await runtime.aclose()

    try:
        return asyncio.run(main())
    finally:
        runtime.close()


def _allow_option(command: Any) -> Any:
    return click.option(
        "--allow-delivery-to",
        "allow",
        multiple=True,
        metavar="HOST[:PORT]|CIDR[:PORT]",
        help="Embedded target: let deliveries go to this private or loopback host, address "
        "or range, on any port or only PORT (repeatable), as `reconcile serve "
        "--allow-delivery-to`.",
    )(command)


def _wait_options(command: Any) -> Any:
    command = click.option(
        "--no-wait", is_flag=True, help="Do not wait for the deliveries; print the ids only."
    )(command)
    return click.option(
        "--wait",
        "wait",
        type=click.FloatRange(0),
        default=WAIT,
        show_default=True,
        help="Seconds to wait at most for the deliveries to be done.",
    )(command)


def event_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """One event from `emit`'s flags; the parser checks it like any other."""
    event: dict[str, Any] = {
        k: v
        for k in ("id", "type", "entity", "project", "registry", "collection", "alias", "tag")
        if (v := flags.get(k)) is not None
    }
    event.update({k: v for k in ("author", "state", "step") if (v := flags.get(k)) is not None})
    if flags.get("version") is not None or flags.get("artifact_type") is not None:
        event["artifact"] = {"type": flags.get("artifact_type") or "model"}
        if flags.get("version") is not None:
            event["artifact"]["version"] = flags["version"]
    if flags.get("run_id") is not None:
        event["run"] = {"id": flags["run_id"]}
        if flags.get("run_name") is not None:
            event["run"]["name"] = flags["run_name"]
    if flags.get("metric"):
        event["metrics"] = dict(_metric(m) for m in flags["metric"])
    return event


def _metric(given: str) -> tuple[str, float]:
    name, sep, value = given.partition("=")
    try:
        if sep and name:
            return name, float(value)
    except ValueError:
        pass
    raise UsageError(f"--metric {given}: expected NAME=NUMBER")


def _document(source: str | None, flags: dict[str, Any]) -> tuple[bytes, list[str]]:
    """The body to send and the entity of each event; bad input names index and field."""
    if source is not None and flags.get("type") is not None:
        raise UsageError("give events either as a FILE (or '-') or with --type and its flags")
    if source is None and flags.get("type") is None:
        raise UsageError("give events as a FILE, '-' for stdin, or with --type and its flags")
    where = "the flags" if source is None else ("stdin" if source == "-" else source)
    try:
        if source is None:
            raw = json.dumps(event_from_flags(flags)).encode()
        else:
            raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        events = incoming.parse_document(incoming.loads(raw))
    except OSError as error:
        raise UsageError(f"{where}: cannot read it ({error.strerror or error})") from None
    except incoming.InvalidEvents as invalid:
        raise UsageError(f"{where}: {invalid}") from None
    return raw, [e.entity for e in events]


@click.command()
@click.argument("source", metavar="[FILE|-]", required=False)
@click.option("--type", "type_", type=click.Choice(incoming.TYPES), help="One event's type.")
@click.option("--entity", help="The team.")
@click.option("--project", help="The project (or --registry).")
@click.option("--registry", help="The registry, e.g. model.")
@click.option("--collection", help="The artifact's collection.")
@click.option("--alias", help="The alias added (alias_added, artifact_linked).")
@click.option("--tag", help="The tag added (tag_added).")
@click.option("--version", type=click.IntRange(0), help="The artifact version N of vN.")
@click.option("--artifact-type", help="The artifact's type [default: model].")
@click.option("--run-id", help="The run's id (run events).")
@click.option("--run-name", help="The run's display name.")
@click.option("--state", type=click.Choice(incoming.STATES), help="The run's state (run_state).")
@click.option("--step", type=click.IntRange(0), help="The history step (run_logged).")
@click.option("--metric", multiple=True, metavar="NAME=VALUE", help="A logged metric (repeatable).")
@click.option("--id", "id_", help="The event's id (a repeat fires nothing again).")
@click.option("--author", help="The author [default: the API key's user].")
@target_options
@_allow_option
@_wait_options
def emit(  # noqa: PLR0917 - click passes each option as an argument
    source: str | None,
    server: str | None,
    db: Path | None,
    allow: tuple[str, ...],
    wait: float,
    no_wait: bool,
    type_: str | None,
    id_: str | None,
    **flags: Any,
) -> None:
    """Send events (a JSON FILE, '-' for stdin, or one from flags) and show what they fired.

    On the embedded target the deliveries are sent from this process; emit waits until
    they are done (at most --wait seconds) unless --no-wait.
    """
    raw, entities = _document(source, {**flags, "type": type_, "id": id_})
    runtime = _open(server, db, allow)

    async def work() -> int:
        status, body = await runtime.send_events(raw)
        if status != 202:
            _refused(status, body)
        answers = body.get("events", [])
        for answer in answers:
            fired = ", ".join(answer["automations"]) or "no automation"
            click.echo(f"event {answer['id']}: fired {fired}")
        if no_wait:
            return 0
        sent = {(entity, a["id"]) for entity, a in zip(entities, answers, strict=True)}
        found = await remote.settle(runtime, sent, wait)
        for delivery in found:
            _show(delivery, body=False)
        return 0 if all(d["status"] == "delivered" for d in found) else EXIT_FAILED

    code: int = _run(runtime, work)
    if code:
        sys.exit(code)


def _refused(status: int, body: dict[str, Any]) -> None:
    error = body.get("error", {})
    index, field = error.get("index"), error.get("field")
    where = f"events[{index}]" + (f".{field}" if field else "") + ": " if index is not None else ""
    raise ServerError(f"the server refused the events ({status}): {where}{error.get('message')}")


def _show(delivery: dict[str, Any], *, body: bool) -> None:
    attempts = delivery["attempts"]
    event = delivery["event"]
    click.echo(
        f"delivery {delivery['id']} {delivery['automation']} ({delivery['entity']}, event "
        f"{event['id']} {event['type']}): {delivery['status']} after {len(attempts)} attempt"
        + ("" if len(attempts) == 1 else "s")
    )
    for number, attempt in enumerate(attempts, 1):
        click.echo(
            f"  attempt {number}  {attempt['at']}  {attempt['duration']:.3f} s  {_result(attempt)}"
        )
    if body:
        click.echo(f"  body: {delivery['body'][:SHOWN_BODY]}")


def _result(attempt: dict[str, Any]) -> str:
    shown = f"HTTP {attempt['status']}" if attempt["status"] is not None else "no answer"
    if attempt["error"] and attempt["detail"] != shown:  # a failing status says it all
        shown += f" ({attempt['error']}: {attempt['detail']})"
    if attempt["excerpt"]:
        shown += f"  answer: {attempt['excerpt'][:120]!r}"
    return shown


@click.command()
@click.argument("automation", required=False)
@click.option("--entity", help="Only this team's deliveries.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), help="Only these.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@target_options
def history(  # noqa: PLR0917 - click passes each option as an argument
    automation: str | None,
    entity: str | None,
    status: str | None,
    limit: int,
    fmt: str,
    server: str | None,
    db: Path | None,
) -> None:
    """Deliveries, newest first: every attempt and the body sent (secret values masked)."""
    runtime = _open(server, db, ())
    params = {"limit": str(limit)}
    wanted = (("automation", automation), ("entity", entity), ("status", status))
    params.update({k: v for k, v in wanted if v is not None})

    async def work() -> tuple[list[dict[str, Any]], list[str]]:
        found = await runtime.deliveries(params)
        if found or automation is None:
            return found, []
        every = await runtime.deliveries({"limit": "1000"})  # the names that have some
        return found, [d["automation"] for d in every]

    found, delivered = _run(runtime, work)
    if automation is not None and not found:
        _known_automation(automation, delivered)
    if fmt == "json":
        click.echo(json.dumps({"deliveries": found}, indent=2))
        return
    if not found:
        click.echo("no deliveries" + (f" of automation {automation!r} yet" if automation else ""))
    for delivery in found:
        _show(delivery, body=True)


def _known_automation(name: str, delivered: list[str]) -> None:
    """Refuse a name neither the inventory nor any delivery knows, with "did you mean"."""
    try:
        declared = [a.name for a in load_inventory(project.default_paths()).automations]
    except ReconcileError:  # no inventory here, or a broken one: the deliveries decide
        declared = []
    if name not in declared and name not in delivered:
        where = "the inventory or the deliveries"
        raise UsageError(unknown_name("automation", name, where, [*declared, *delivered]))


@click.command()
@click.argument("delivery_id", type=click.IntRange(1))
@target_options
@_allow_option
@_wait_options
def redeliver(  # noqa: PLR0917 - click passes each option as an argument
    delivery_id: int,
    server: str | None,
    db: Path | None,
    allow: tuple[str, ...],
    wait: float,
    no_wait: bool,
) -> None:
    """Send failed delivery DELIVERY_ID again, now, with a fresh retry schedule."""
    runtime = _open(server, db, allow)

    async def work() -> int:
        await runtime.resend(delivery_id)
        click.echo(f"delivery {delivery_id} queued again")
        if no_wait:
            return 0
        found = await remote.settle_one(runtime, delivery_id, wait)
        if found is None:
            return EXIT_FAILED
        _show(found, body=False)
        return 0 if found["status"] == "delivered" else EXIT_FAILED

    code: int = _run(runtime, work)
    if code:
        sys.exit(code)


COMMANDS = (emit, history, redeliver)
