"""W&B-style global ids (`base64("Type:<n>")`) and pagination cursors.

Each id and cursor has exactly one spelling: the one this server hands out. Anything
else (padding variants, spaces, signs, leading zeros, non-ASCII digits, numbers
beyond SQLite's 64-bit integers) is refused as invalid, never looked up.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache

from reconcile.server.errors import InvalidInput

# Row ids are positive SQLite integers: 1 to 2**63 - 1 (at most 19 digits).
_NUMBER_RE = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ROW_ID = 2**63 - 1
_MAX_ID_CHARS = 200


# Listing pages repeats the same scope and webhook ids on every row.
@lru_cache(maxsize=4096)
def encode_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def _split(value: str) -> tuple[str, int] | None:
    """The prefix and number of a canonical `base64("<prefix>:<n>")`, else None."""
    if len(value) > _MAX_ID_CHARS or not value.isascii():
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    prefix, _, digits = text.partition(":")
    if not _NUMBER_RE.fullmatch(digits) or int(digits) > _MAX_ROW_ID:
        return None
    # Re-encoding refuses the other base64 spellings of the same bytes.
    if base64.b64encode(text.encode()).decode() != value:
        return None
    return prefix, int(digits)


def _shown(value: str) -> str:
    """An id for an error message: short, and printable."""
    shown = value if len(value) <= 60 else value[:57] + "..."
    return ascii(shown)


def decode_id(value: str, *kinds: str) -> tuple[str, int]:
    """Split an id into its type and number; refuse ids of other types."""
    parts = _split(value)
    if parts is None:
        raise InvalidInput(f"invalid id {_shown(value)}")
    kind, number = parts
    if kind not in kinds:
        raise InvalidInput(f"id {_shown(value)} is not the id of a {' or '.join(kinds)}")
    return kind, number


def encode_cursor(number: int) -> str:
    return base64.b64encode(f"cursor:{number}".encode()).decode()


def decode_cursor(value: str | None) -> int:
    """The row id after which a page starts (0 for the first page)."""
    if not value:
        return 0
    parts = _split(value)
    if parts is None or parts[0] != "cursor":
        raise InvalidInput(f"invalid cursor {_shown(value)}")
    return parts[1]
