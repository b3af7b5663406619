"""How much of a webhook URL is shown where it is not the reader's to see in full.

A URL's path or query may be a credential (a Slack incoming-webhook URL is one, and a
webhook's URL may come from the environment to stay out of sight): delivery history
and readers outside a webhook's administrators see its scheme, host and port only.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def endpoint_of(url: str) -> str:
    """The endpoint a concurrency cap applies to: scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def shown_url(url: str) -> str:
    """The URL with anything after its endpoint replaced by `/***`."""
    endpoint = endpoint_of(url)
    return endpoint if url.rstrip("/") == endpoint else f"{endpoint}/***"
