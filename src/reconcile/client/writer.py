"""Turn one plan change into one server call (the executor owns order and policy).

Creates are not idempotent, so they are never blindly retried: after a lost answer
the writer reads the object back by name and adopts it when it is there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reconcile.client import operations as ops
from reconcile.client.reader import Lookup, Reader
from reconcile.client.transport import RETRY_STATUSES, GraphQLError, Unreachable
from reconcile.core import ownership
from reconcile.core.errors import ReconcileError, ServerError
from reconcile.core.model import (
    Automation,
    EnvUrl,
    Remote,
    Resource,
    ResourceKey,
    Secret,
    State,
    Webhook,
)
from reconcile.core.wire import encode_action, encode_event
from reconcile.export.convert import NONE_REJECTED, Rejected, left_out
from reconcile.plan.compute import Change
from reconcile.plan.normalize import digest

log = logging.getLogger(__name__)

# The change, and why it failed (None: applied); the executor's `Outcome`, spelled here
# so that the client does not import the stage that uses it.
Outcome = tuple[Change, str | None]


class Writer(Reader):
    """A Reader that can also change the server, one change per call."""

    def __init__(self, reader: Reader, lookup: Lookup, secrets: Mapping[ResourceKey, str]) -> None:
        super().__init__(reader.transport, entity_triggers=reader._entity_triggers)
        self._gate = reader._gate
        self.lookup = lookup
        self._values = secrets
        self._uncertain: set[ResourceKey] = set()

    async def apply_batch(self, changes: list[tuple[Change, Resource | None]]) -> list[Outcome]:
        """Automation changes travel together in one request; anything else one by one.

        When a batch fails in any way, nothing in its answer is trusted: each change is
        done again on its own (a create first looks for what may have been committed).
        """
        if len(changes) > 1 and all(c.key.kind == "automation" for c, _ in changes):
            prepared, outcomes = self._prepare(changes)
            if prepared:
                try:
                    await self._send_batch(prepared)
                    return outcomes + [(change, None) for change, _, _ in prepared]
                except (GraphQLError, Unreachable) as error:
                    log.info("a batch of %d failed (%s); applying one by one", len(prepared), error)
                    # Some of its creates may have happened: those look before they create.
                    self._uncertain.update(c.key for c, _, _ in prepared if c.action == "create")
                return outcomes + [await self._one(c, r) for c, r, _ in prepared]
            return outcomes
        return [await self._one(change, resource) for change, resource in changes]

    async def _one(self, change: Change, resource: Resource | None) -> Outcome:
        try:
            await self.apply(change, resource)
        except ReconcileError as error:
            return change, str(error)
        except KeyError as error:
            return change, f"no server id known for {error.args[0]}"
        return change, None

    def _prepare(
        self, changes: list[tuple[Change, Resource | None]]
    ) -> tuple[list[tuple[Change, Resource | None, dict[str, Any] | str]], list[Outcome]]:
        """Each change with its input (or the trigger id to delete); failures set aside."""
        prepared: list[tuple[Change, Resource | None, dict[str, Any] | str]] = []
        failed: list[Outcome] = []
        for change, resource in changes:
            try:
                if change.action == "delete":
                    prepared.append((change, resource, self.lookup.ids[change.key]))
                    continue
                assert isinstance(resource, Automation)
                fields = self._trigger_input(resource)
                if change.action == "update":
                    fields = {
                        "id": self.lookup.ids[self._update_target(change, resource)],
                        **fields,
                    }
                prepared.append((change, resource, fields))
            except ServerError as error:
                failed.append((change, str(error)))
            except KeyError as error:
                failed.append((change, f"no server id known for {error.args[0]}"))
        return prepared, failed

    async def _send_batch(
        self, prepared: list[tuple[Change, Resource | None, dict[str, Any] | str]]
    ) -> None:
        declarations, fields, variables = [], [], {}
        for index, (change, _, value) in enumerate(prepared):
            name = f"v{index}"
            variables[name] = value
            if change.action == "create":
                declarations.append(f"${name}: CreateFilterTriggerInput!")
                fields.append(
                    f"a{index}: createFilterTrigger(input: ${name}) {{ trigger {{ id }} }}"
                )
            elif change.action == "update":
                declarations.append(f"${name}: UpdateFilterTriggerInput!")
                fields.append(
                    f"a{index}: updateFilterTrigger(input: ${name}) {{ trigger {{ id }} }}"
                )
            else:
                declarations.append(f"${name}: ID!")
                fields.append(
                    f"a{index}: deleteTrigger(input: {{triggerID: ${name}}}) {{ success }}"
                )
        document = f"mutation ApplyBatch({', '.join(declarations)}) {{ {' '.join(fields)} }}"
        data = await self.transport.execute(document, variables, idempotent=False)
        for index, (change, resource, _) in enumerate(prepared):
            answer = data.get(f"a{index}")
            if not answer:
                raise GraphQLError(f"no answer for {change.key}")
            if change.action != "delete" and isinstance(resource, Automation):
                self.lookup.ids[resource.key] = answer["trigger"]["id"]

    @staticmethod
    def _update_target(change: Change, auto: Automation) -> ResourceKey:
        return ResourceKey("automation", auto.entity, change.renamed_from or auto.name)

    async def apply(self, change: Change, resource: Resource | None) -> None:
        """Carry out `change`; `resource` is the inventory's value (None for a delete)."""
        key = change.key
        if change.action == "delete":
            await self._delete(key)
        elif isinstance(resource, Secret):
            await self._write_secret(resource)
        elif isinstance(resource, Webhook):
            await self._write_webhook(change, resource)
        elif isinstance(resource, Automation):
            await self._write_automation(change, resource)

    async def adopt(self, state: State, rejected: Rejected = NONE_REJECTED) -> list[ResourceKey]:
        """Stamp the ownership marker on every unmanaged webhook and exported automation
        (`rejected`: automations export leaves out although the inventory expresses them)."""
        adopted: list[ResourceKey] = []
        entities = {remote.key.entity for remote in state.resources}
        leave = {key for entity in entities for key in left_out(entity, state, rejected)}
        for remote in state.resources:
            value = remote.value
            if remote.managed or isinstance(value, Secret):
                continue
            if isinstance(value, Webhook):
                await self._write_webhook(Change("update", value.key), value)
            elif isinstance(value, Automation) and value.key not in leave:
                await self._stamp_automation(value)
            else:
                continue
            adopted.append(value.key)
        return adopted

    async def forget(self, remote: Remote) -> None:
        """Take the ownership marker off one object; everything else stays as it is."""
        if isinstance(remote.value, Automation):
            variables = {"id": self.lookup.ids[remote.key], "description": remote.value.description}
            await self._run(ops.UPDATE_TRIGGER, {"input": variables})
            return
        # The URL as stored (one read from the environment is on the server only).
        node = await self.find_webhook(remote.key.entity, remote.key.name)
        if node is None:
            raise ServerError(f"{remote.key} is no longer on the server")
        fields = {
            "id": node["id"],
            "name": node["name"],
            "urlEndpoint": ownership.read_url(str(node["urlEndpoint"])).text,
            "secretRef": node.get("secretRef"),
            "accessTokenRef": node.get("accessTokenRef"),
        }
        await self._run(ops.UPDATE_WEBHOOK, {"input": fields})

    async def _delete(self, key: ResourceKey) -> None:
        if key.kind == "secret":
            variables = {"entity": key.entity, "name": key.name}
            await self._tolerate_missing(ops.DELETE_SECRET, variables)
            return
        document = ops.DELETE_INTEGRATION if key.kind == "webhook" else ops.DELETE_TRIGGER
        await self._tolerate_missing(document, {"id": self.lookup.ids[key]})

    async def _tolerate_missing(self, document: str, variables: dict[str, Any]) -> None:
        try:
            await self._run(document, variables)
        except GraphQLError as error:
            if error.status != 404 and "not found" not in str(error).lower():
                raise

    async def _write_secret(self, secret: Secret) -> None:
        variables = {
            "entity": secret.entity,
            "name": secret.name,
            "value": self._values[secret.key],
        }
        await self._run(ops.INSERT_SECRET, variables)  # an upsert: safe to retry

    async def _write_webhook(self, change: Change, hook: Webhook) -> None:
        if not isinstance(hook.url, EnvUrl):
            await self._send_webhook(change, hook, hook.url)
            return
        url = self._values[hook.key]
        try:
            await self._send_webhook(change, hook, url)
        except ReconcileError as error:  # a server may quote what it refused: not this
            raise ServerError(str(error).replace(url, f"${hook.url.from_env}")) from None

    async def _send_webhook(self, change: Change, hook: Webhook, url: str) -> None:
        env = (hook.url.from_env, hook.url.rotation) if isinstance(hook.url, EnvUrl) else None
        fields: dict[str, Any] = {
            "name": hook.name,
            "urlEndpoint": ownership.mark_url(url, dict(hook.rotations), env, digest(hook)),
            "secretRef": hook.secret,
            "accessTokenRef": hook.access_token,
        }
        if change.action == "update":
            variables = {"input": {"id": self.lookup.ids[hook.key], **fields}}
            await self._run(ops.UPDATE_WEBHOOK, variables)
            return
        variables = {"input": {"entityName": hook.entity, **fields}}
        created = await self._create(
            hook.key,
            ops.CREATE_WEBHOOK,
            variables,
            lambda: self.find_webhook(hook.entity, hook.name),
        )
        integration = (created.get("createGenericWebhookIntegration") or {}).get(
            "integration"
        ) or created
        self.lookup.ids[hook.key] = integration["id"]

    async def _stamp_automation(self, auto: Automation) -> None:
        """Add the ownership marker to the description; scope, filter and action stay the
        server's own, byte for byte (an update sends only the fields it names)."""
        description = ownership.mark_description(auto.description, auto.protect, digest(auto))
        variables = {"input": {"id": self.lookup.ids[auto.key], "description": description}}
        await self._run(ops.UPDATE_TRIGGER, variables)

    async def _write_automation(self, change: Change, auto: Automation) -> None:
        fields = self._trigger_input(auto)
        if change.action == "update":
            target = self._update_target(change, auto)
            variables = {"input": {"id": self.lookup.ids[target], **fields}}
            await self._run(ops.UPDATE_TRIGGER, variables)
            self.lookup.ids[auto.key] = self.lookup.ids[target]
            return
        created = await self._create(
            auto.key,
            ops.CREATE_TRIGGER,
            {"input": fields},
            lambda: self.find_trigger(self.lookup.owner(auto), auto.name),
        )
        trigger = (created.get("createFilterTrigger") or {}).get("trigger") or created
        self.lookup.ids[auto.key] = trigger["id"]

    def _trigger_input(self, auto: Automation) -> dict[str, Any]:
        scope = self.lookup.scope_of(auto)
        if scope is None:
            raise ServerError(
                f"{auto.scope.describe()} of entity {auto.entity!r} is not on the server"
            )
        event_type, event_filter = encode_event(auto.event)
        integration = None
        if auto.action.kind == "webhook":
            integration = self.lookup.ids[
                ResourceKey("webhook", auto.entity, auto.action.params["to"])
            ]
        elif auto.action.kind == "slack":
            integration = self.lookup.slack.get((auto.entity, auto.action.params["channel"]))
            if integration is None:
                channel = auto.action.params["channel"]
                raise ServerError(f"entity {auto.entity!r} has no Slack integration for {channel}")
        action_type, action_config = encode_action(auto.action, integration)
        return {
            "name": auto.name,
            "description": ownership.mark_description(auto.description, auto.protect, digest(auto)),
            "enabled": auto.enabled,
            "scopeType": scope[0],
            "scopeID": scope[1],
            "triggeringEventType": event_type,
            "eventFilter": json.dumps(event_filter, separators=(",", ":"), ensure_ascii=False),
            "triggeredActionType": action_type,
            "triggeredActionConfig": action_config,
        }

    async def _create(
        self, key: ResourceKey, document: str, variables: dict[str, Any], find: Finder
    ) -> dict[str, Any]:
        """Send a create once; when it may have happened anyway, look before sending again.

        What the server has under the name is taken over only when it carries our
        ownership marker: anything else was made by someone else, and is an error.
        """
        if key not in self._uncertain:
            try:
                async with self._gate:
                    return await self.transport.execute(document, variables, idempotent=False)
            except Unreachable:
                log.warning("a create lost its answer; reading back by name before retrying")
            except GraphQLError as error:
                # 409: the name exists; a retryable status: the create may or may not have run.
                if error.status != 409 and error.status not in RETRY_STATUSES:
                    raise
        found = await find()
        if found is not None:
            if not _owned(found):
                raise ServerError(
                    f"{key} exists on the server and is not managed by reconcile "
                    "(someone else created it meanwhile); nothing was taken over"
                )
            return dict(found)
        async with self._gate:
            return await self.transport.execute(document, variables, idempotent=False)


Finder = Callable[[], Awaitable[dict[str, Any] | None]]


def _owned(node: dict[str, Any]) -> bool:
    """Whether a trigger or webhook node carries our ownership marker."""
    if "urlEndpoint" in node:
        return ownership.read_url(str(node["urlEndpoint"])).managed
    return ownership.read_description(node.get("description")).managed
