"""The headers of a webhook request: W&B's signature and Standard Webhooks', made and checked.

`X-Wandb-Signature` is base64(HMAC-SHA256(secret, exact body bytes)), as W&B sends it.
The Standard Webhooks headers add an id and a timestamp that receivers can use
against replays; their signature covers `id.timestamp.body`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

WANDB_SIGNATURE = "X-Wandb-Signature"
STANDARD_PREFIX = "whsec_"
TOLERANCE = 300.0  # seconds a Standard Webhooks timestamp may be off, as the spec suggests
# Never stored or shown: they carry the token or can be checked against guesses.
SENSITIVE = frozenset({"authorization", "x-wandb-signature", "webhook-signature"})


def wandb_signature(secret: str, body: bytes) -> str:
    """W&B's `X-Wandb-Signature` value for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _standard_key(secret: str) -> bytes:
    """A `whsec_<base64>` secret is the key's base64 (the spec's form); any other is its text."""
    if secret.startswith(STANDARD_PREFIX):
        try:
            return base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode("utf-8")


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` value (`v1,<base64>`)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_id(*parts: str) -> str:
    """A stable `webhook-id` for one delivery: the same parts give the same id, always."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return f"msg_{digest[:32]}"


@dataclass(frozen=True)
class Credentials:
    """The values a webhook request is made with: its access token and its secret."""

    token: str | None = None
    secret: str | None = None


def headers(
    credentials: Credentials, body: bytes, message_id: str, timestamp: int
) -> list[tuple[str, str]]:
    """The exact headers of one attempt, in order (runtime.md, "Delivery")."""
    out = [("Content-Type", "application/json")]
    if credentials.token is not None:
        out.append(("Authorization", f"Bearer {credentials.token}"))
    if credentials.secret is not None:
        out.append((WANDB_SIGNATURE, wandb_signature(credentials.secret, body)))
    out += [("webhook-id", message_id), ("webhook-timestamp", str(timestamp))]
    if credentials.secret is not None:
        signature = standard_signature(credentials.secret, message_id, timestamp, body)
        out.append(("webhook-signature", signature))
    return out


def storable(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers that may be stored or shown: the token and signatures left out."""
    return [(name, value) for name, value in pairs if name.lower() not in SENSITIVE]


def verify_wandb(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the W&B signature of exactly `body` under `secret`."""
    if not header:
        return False
    return _same(header.strip(), wandb_signature(secret, body))


def verify_standard(
    secret: str, body: bytes, received: Mapping[str, str], now: float
) -> str | None:
    """Why the Standard Webhooks headers do not verify (None when they do).

    `received` maps lower-case header names to values; `now` is the Unix time.
    """
    message_id = received.get("webhook-id")
    stamp = received.get("webhook-timestamp", "")
    signatures = received.get("webhook-signature")
    if not message_id or not signatures:
        return "no webhook-id or webhook-signature header"
    if not stamp.isdigit():
        return f"webhook-timestamp {stamp!r} is not a Unix time"
    if abs(now - int(stamp)) > TOLERANCE:
        return f"webhook-timestamp is more than {TOLERANCE:.0f} s away from now"
    expected = standard_signature(secret, message_id, int(stamp), body)
    if any(_same(s, expected) for s in signatures.split()):
        return None
    return "webhook-signature does not match the body"


def verify_token(token: str, header: str | None) -> bool:
    """Whether an `Authorization` header carries exactly `Bearer <token>`."""
    if not header:
        return False
    return _same(header.strip(), f"Bearer {token}")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes text beyond ASCII."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
