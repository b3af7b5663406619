"""Which server a command talks to, and how the client for it is set up."""

from __future__ import annotations

import ssl

from reconcile.apply.target import tls


def test_an_http_server_gets_a_tls_context_that_trusts_no_one_and_loads_nothing() -> None:
    for url in ("http://127.0.0.1:8080", "HTTP://wandb.internal/api"):
        context = tls(url)
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.cert_store_stats()["x509_ca"] == 0


def test_an_https_server_gets_httpxs_default_verification() -> None:
    assert tls("https://api.wandb.ai") is True
    assert tls("https://127.0.0.1:8443") is True
