"""S3: X-Wandb-Signature is W&B's (the known answer), over exactly the bytes sent."""

from __future__ import annotations

from reconcile.runtime import signing
from reconcile.runtime.signing import Credentials

KNOWN_SECRET = "your_api_secret"
KNOWN_BODY = b'{"key1": "value1", "key2": "value2"}'
KNOWN_SIGNATURE = "4tKqnWHayH0Vdy0mtiM/LbZ7bOGK7h+UrHO5F40Uk8U="


def test_wandb_signature_matches_the_documented_known_answer() -> None:
    assert signing.wandb_signature(KNOWN_SECRET, KNOWN_BODY) == KNOWN_SIGNATURE
    assert signing.verify_wandb(KNOWN_SECRET, KNOWN_BODY, KNOWN_SIGNATURE)


def test_signature_covers_the_exact_bytes() -> None:
    # The same JSON value, written differently, is a different body: never re-serialized.
    respaced = b'{"key1":"value1","key2":"value2"}'
    assert signing.wandb_signature(KNOWN_SECRET, respaced) != KNOWN_SIGNATURE
    assert not signing.verify_wandb(KNOWN_SECRET, respaced, KNOWN_SIGNATURE)
    assert not signing.verify_wandb("other", KNOWN_BODY, KNOWN_SIGNATURE)
    assert not signing.verify_wandb(KNOWN_SECRET, KNOWN_BODY, None)
    assert not signing.verify_wandb(KNOWN_SECRET, KNOWN_BODY, "sha256=" + KNOWN_SIGNATURE)


def test_headers_are_exactly_the_contracts_in_order() -> None:
    creds = Credentials(token="tok-1", secret=KNOWN_SECRET)
    headers = signing.headers(creds, KNOWN_BODY, "msg_1", 1700000000)
    standard = signing.standard_signature(KNOWN_SECRET, "msg_1", 1700000000, KNOWN_BODY)
    assert headers == [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer tok-1"),
        ("X-Wandb-Signature", KNOWN_SIGNATURE),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
        ("webhook-signature", standard),
    ]
    assert signing.storable(headers) == [
        ("Content-Type", "application/json"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
    ]


def test_no_token_and_no_secret_means_no_authorization_and_no_signatures() -> None:
    headers = signing.headers(Credentials(), b"{}", "msg_2", 5)
    assert headers == [
        ("Content-Type", "application/json"),
        ("webhook-id", "msg_2"),
        ("webhook-timestamp", "5"),
    ]


def test_standard_webhooks_signature_matches_the_specs_example() -> None:
    # The example of the Standard Webhooks specification (whsec_ secrets are base64 keys).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert (
        signing.standard_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == expected
    )


def test_standard_webhooks_verification_checks_body_id_and_time() -> None:
    body = b'{"a":1}'
    made = signing.headers(Credentials(secret="s3cret"), body, "msg_9", 1000)
    signed = {k.lower(): v for k, v in made}
    assert signing.verify_standard("s3cret", body, signed, now=1000.0) is None
    assert signing.verify_standard("s3cret", body + b" ", signed, now=1000.0) == (
        "webhook-signature does not match the body"
    )
    assert signing.verify_standard("s3cret", body, {**signed, "webhook-id": "msg_8"}, 1000.0) == (
        "webhook-signature does not match the body"
    )
    assert signing.verify_standard("s3cret", body, signed, now=1301.0) == (
        "webhook-timestamp is more than 300 s away from now"
    )


def test_delivery_ids_are_stable_and_distinct() -> None:
    first = signing.delivery_id("ml", "event-1", "deploy")
    assert first == signing.delivery_id("ml", "event-1", "deploy")
    assert first.startswith("msg_")
    assert len(first) == 36
    assert first != signing.delivery_id("ml", "event-1", "deploy-2")
    assert signing.delivery_id("a", "bc") != signing.delivery_id("ab", "c")


def test_token_check_is_exact() -> None:
    assert signing.verify_token("tok", "Bearer tok")
    assert not signing.verify_token("tok", "Bearer tok2")
    assert not signing.verify_token("tok", "Basic tok")
    assert not signing.verify_token("tok", "Bearer tök")
