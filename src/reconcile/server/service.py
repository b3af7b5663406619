"""One GraphQL request from body to answer: authenticate, run in one transaction, map status.

Queries run in a read transaction, mutations in a write transaction that is rolled
back whole when any of its fields fails.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType, execute_sync, get_operation_ast

from reconcile.server import auth
from reconcile.server.context import RequestContext
from reconcile.server.crypto import SecretBox, load_or_create_key
from reconcile.server.db import Database
from reconcile.server.errors import ApiError
from reconcile.server.executor import DictExecutionContext
from reconcile.server.graph import Documents, load_schema

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]


class _Rollback(Exception):
    def __init__(self, result: ExecutionResult) -> None:
        self.result = result


class GraphQLService:
    """The embedded server's request handler, independent of any HTTP framework."""

    def __init__(self, db_path: Path) -> None:
        self.db = Database(db_path)
        self.box = SecretBox(load_or_create_key(db_path))
        self.documents = Documents(load_schema())

    def close(self) -> None:
        self.db.close()

    def handle(
        self,
        authorization: str | None,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Answer:
        started = time.perf_counter()
        status, body, user = self._handle(authorization, query, variables, operation_name or None)
        log.info(
            "graphql request",
            extra={
                "operation": operation_name or None,
                "user": user,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return status, body

    def _handle(
        self,
        authorization: str | None,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> tuple[int, dict[str, Any], str | None]:
        prepared = self.documents.prepare(query)
        if prepared.document is None:
            return 400, {"errors": [e.formatted for e in prepared.errors]}, None
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            return 400, _error("operationName does not name one operation of the query"), None
        write = operation.operation == OperationType.MUTATION
        try:
            with self.db.write() if write else self.db.read() as con:
                user = auth.authenticate(con, authorization)
                result = execute_sync(
                    self.documents.schema,
                    prepared.document,
                    context_value=RequestContext(con, user, self.box),
                    variable_values=variables,
                    operation_name=operation_name,
                    execution_context_class=DictExecutionContext,
                )
                if write and result.errors:
                    raise _Rollback(result)
        except ApiError as error:
            return error.status, _error(error.message, error.code), None
        except _Rollback as rollback:
            result = rollback.result
        status, body = answer(result)
        return status, body, user.username


def _error(message: str, code: str = "BAD_REQUEST") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def answer(result: ExecutionResult) -> Answer:
    """The HTTP status and body for an execution result, as W&B clients expect them."""
    body: dict[str, Any] = {"data": result.data}
    if not result.errors:
        return 200, body
    # Variables that do not fit their types fail the whole request, before any resolver.
    status = 400 if result.data is None else 200
    errors = []
    for error in result.errors:
        errors.append(_format(error))
        original = error.original_error
        if isinstance(original, ApiError):
            status = max(status, original.status)
        elif original is not None and not isinstance(original, GraphQLError):
            status = 500
    body["errors"] = errors
    return status, body


_INVALID_VARIABLE_RE = re.compile(
    r"Variable '\$(\w+)' got invalid value .*?(?: at '([^']*)')?\Z", re.S
)


def _without_value(message: str, reason: str) -> str:
    """graphql-core's message for a refused variable, less the value it repeats whole.

    The value may hold a secret (an `insertSecret` input with one wrong field).
    """
    prefix = message.removesuffix("; " + reason)
    found = _INVALID_VARIABLE_RE.match(prefix) if prefix != message else None
    if found is None:
        return message
    where = f" at '{found[2]}'" if found[2] else ""
    return f"Variable '${found[1]}' got an invalid value{where}; {reason}"


def _format(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, ApiError):
        formatted["extensions"] = {"code": original.code}
    elif isinstance(original, GraphQLError):
        # graphql-core's own refusal of a variable's value: the client's mistake.
        formatted["message"] = _without_value(error.message, original.message)
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    elif original is not None:
        # A bug, not a client mistake: log it, answer without internals.
        log.error("resolver failed", exc_info=original)
        formatted["message"] = "internal server error"
        formatted["extensions"] = {"code": "INTERNAL"}
    return formatted
