"""W&B-style global ids (`base64("Type:<n>")`) and pagination cursors."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from reconcile.server.errors import InvalidInput


# Listing pages repeats the same scope and webhook ids on every row.
@lru_cache(maxsize=4096)
def encode_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def decode_id(value: str, *kinds: str) -> tuple[str, int]:
    """Split an id into its type and number; refuse ids of other types."""
    try:
        kind, _, number = base64.b64decode(value, validate=True).decode().partition(":")
        parsed = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(f"invalid id {value!r}") from None
    if kind not in kinds:
        raise InvalidInput(f"id {value!r} is not the id of a {' or '.join(kinds)}")
    return kind, parsed


def encode_cursor(number: int) -> str:
    return base64.b64encode(f"cursor:{number}".encode()).decode()


def decode_cursor(value: str | None) -> int:
    """The row id after which a page starts (0 for the first page)."""
    if not value:
        return 0
    try:
        prefix, _, number = base64.b64decode(value, validate=True).decode().partition(":")
        if prefix == "cursor":
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput(f"invalid cursor {value!r}")
