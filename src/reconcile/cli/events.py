"""`reconcile emit`, `history` and `redeliver` (part of the command line): events to a
server or the embedded database, and what their deliveries did.

Exit codes: 0 success (every delivery waited for was delivered); 1 the server refused,
or a delivery failed or was still pending when the wait ended; 2 bad input or usage.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from reconcile.apply import target as targets
from reconcile.cli.options import root_options, target_options
from reconcile.client.transport import basic_auth
from reconcile.core.errors import ReconcileError, ServerError, UsageError
from reconcile.inventory import project
from reconcile.inventory.load import load_inventory
from reconcile.inventory.schema import unknown_name
from reconcile.runtime import incoming, remote, schedule
from reconcile.runtime.addresses import Policy

EXIT_FAILED = 1
WAIT = 30.0
NOT_SENT = "not sent"  # the error of a delivery that had nowhere to go (the server's outbox)
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
    return _local(target.db, allow)


def _local(db: Path, allow: tuple[str, ...]) -> remote.Runtime:
    """The embedded database's runtime, in this process, delivering within `allow`."""
    try:
        Policy.of(allow)
    except ValueError as error:
        raise UsageError(f"--allow-delivery-to: {error}") from None
    from reconcile.server.runtime.local import LocalRuntime

    return LocalRuntime(db, basic_auth(targets.embedded_key(db)), allow)


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
    they are done (at most --wait seconds, or until every one left waits for a retry due
    after that) unless --no-wait. What is still pending is then sent by `reconcile
    deliver` (on its retry schedule) or `reconcile redeliver ID` (now).

    \b
    Examples:
      reconcile emit events.json
      reconcile emit --type alias_added --entity my-team --project my-project \\
        --collection my-model --version 1 --alias production \\
        --allow-delivery-to 127.0.0.1:8765
    """
    raw, entities = _document(source, {**flags, "type": type_, "id": id_})
    runtime = _open(server, db, allow)

    async def work() -> int:
        status, body = await runtime.send_events(raw)
        if status != 202:
            _refused(status, body)
        answers = body.get("events", [])
        sent = {(entity, a["id"]) for entity, a in zip(entities, answers, strict=True)}
        unsent = await _not_sent(runtime, sent) if any(a["automations"] for a in answers) else {}
        for entity, answer in zip(entities, answers, strict=True):
            click.echo(_fired(answer, unsent.get((entity, answer["id"]), {})))
        if no_wait:
            return 0
        found = await remote.settle(runtime, sent, wait)
        return _report(found, runtime, db, allow)

    code: int = _run(runtime, work)
    if code:
        sys.exit(code)


async def _not_sent(
    runtime: remote.Runtime, sent: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, str]]:
    """Per event sent, the automations that fired but had nowhere to send, and why."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for entity in sorted({entity for entity, _ in sent}):
        rows = await runtime.deliveries({"entity": entity, "status": "failed", "limit": "1000"})
        for d in rows:
            key = (d["entity"], d["event"]["id"])
            attempts = d["attempts"]
            if key in sent and attempts and attempts[0]["error"] == NOT_SENT:
                found.setdefault(key, {})[d["automation"]] = attempts[0]["detail"]
    return found


def _fired(answer: dict[str, Any], unsent: dict[str, str]) -> str:
    """`event ID: fired A, B`, naming apart what fired and could not be sent."""
    sent = [name for name in answer["automations"] if name not in unsent]
    said = [f"fired {', '.join(sent)}"] if sent or not unsent else []
    if not answer["automations"]:
        said = ["fired no automation"]
    said += [f"{name} not sent: {why}" for name, why in unsent.items()]
    return f"event {answer['id']}: " + "; ".join(said)


def _report(
    found: list[dict[str, Any]], runtime: remote.Runtime, db: Path | None, allow: tuple[str, ...]
) -> int:
    """Each delivery waited for, what to do with those still pending, and the exit code."""
    for delivery in found:
        _show(delivery, body=False)
    _advise(found, runtime, db, allow)
    return 0 if all(d["status"] == "delivered" for d in found) else EXIT_FAILED


def _advise(
    found: list[dict[str, Any]], runtime: remote.Runtime, db: Path | None, allow: tuple[str, ...]
) -> None:
    """Say what becomes of the deliveries still pending when the wait ended, and how to
    go on: on the embedded target nothing sends them once this process ends."""
    pending = [str(d["id"]) for d in found if d["status"] == "pending"]
    if not pending:
        return
    one = len(pending) == 1
    which = ("delivery " if one else "deliveries ") + ", ".join(pending)
    it, its = ("it", "its") if one else ("them", "their")
    if isinstance(runtime, remote.RemoteRuntime):
        click.echo(
            f"{which} still pending: the server retries {it} on {its} schedule (`reconcile "
            f"history --status pending` shows when); `reconcile redeliver {pending[0]}` "
            "sends one now"
        )
        return
    flags = f" --db {shlex.quote(str(db))}" if db is not None else ""
    flags += "".join(f" --allow-delivery-to {shlex.quote(a)}" for a in allow)
    click.echo(
        f"{which} still pending: nothing sends {it} once this command ends. Continue on "
        f"{its} retry schedule with `reconcile deliver{flags}` (or `reconcile serve` on this "
        f"database), or send one now with `reconcile redeliver {pending[0]}{flags}`"
    )


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
    if delivery["status"] == "pending" and delivery.get("next_attempt_at"):
        click.echo(f"  {_next(delivery)}")
    if body:
        click.echo(f"  body: {delivery['body'][:SHOWN_BODY]}")


def _next(delivery: dict[str, Any]) -> str:
    """When a pending delivery's next attempt is due, and what is left of its schedule."""
    at = datetime.fromisoformat(delivery["next_attempt_at"])
    wait = (at - datetime.now(UTC)).total_seconds()
    when = f"in {_span(wait)}" if wait >= 1 else "due now"
    left = delivery["attempts_left"]
    shown = f"next attempt {delivery['next_attempt_at']} ({when}); at most {left} more attempt"
    shown += "" if left == 1 else "s"
    if delivery.get("give_up_at"):
        return shown + f", none after {delivery['give_up_at']}"
    return shown + f", over at most {_span(schedule.GIVE_UP_AFTER)} from the first"


def _span(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


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
    """Deliveries, newest first: every attempt and the body sent (secret values masked),
    and when a pending one is tried next and what is left of its retry schedule.

    \b
    Examples:
      reconcile history
      reconcile history notify-on-production --status failed
    """
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
    """Send delivery DELIVERY_ID now: a failed one again with a fresh retry schedule, a
    pending one at once instead of at its next retry."""
    runtime = _open(server, db, allow)

    async def work() -> int:
        was = await runtime.resend(delivery_id)
        if was == "pending":
            click.echo(f"delivery {delivery_id} was pending: sending it now")
        else:
            click.echo(f"delivery {delivery_id} queued again")
        if no_wait:
            return 0
        found = await remote.settle_one(runtime, delivery_id, wait)
        if found is None:
            return EXIT_FAILED
        _show(found, body=False)
        _advise([found], runtime, db, allow)
        return 0 if found["status"] == "delivered" else EXIT_FAILED

    code: int = _run(runtime, work)
    if code:
        sys.exit(code)


@click.command()
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="Database of the embedded server [default: .reconcile/server.db in the project root].",
)
@_allow_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=None,
    help="Seconds to keep sending at most [default: until none is pending].",
)
@root_options
def deliver(db: Path | None, allow: tuple[str, ...], wait: float | None) -> None:
    """Send the embedded database's pending deliveries on their retry schedule, as
    `reconcile serve` would, until none is pending (Ctrl-C stops; they stay pending)."""
    runtime = _local(db or project.default_db(), allow)

    async def work() -> int:
        waiting = await runtime.deliveries({"status": "pending", "limit": "1000"})
        if not waiting:
            click.echo("no pending delivery")
            return 0
        count = len(waiting)
        click.echo(
            f"sending {count} pending deliver{'y' if count == 1 else 'ies'} on the retry "
            "schedule until none is pending; Ctrl-C stops (what is left stays pending)"
        )
        ids = {int(d["id"]) for d in waiting}
        found = await remote.settle_ids(runtime, ids, math.inf if wait is None else wait)
        return _report(found, runtime, db, allow)

    code: int = _run(runtime, work)
    if code:
        sys.exit(code)


COMMANDS = (emit, history, redeliver, deliver)
