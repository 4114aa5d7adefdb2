"""POSTing JSON to a receiver and sorting its refusals into passing and permanent ones."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from ingest.notifier.channels import ChannelSettings, Delivery, DeliveryFailed
from ingest.notifier.notice import Notice

PASSING_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers that say "not now" (RFC 9110 §15: timeout, too early, too many requests, server errors): retried.
Every other 4xx says the request itself is wrong, and sending it again gives the same answer."""
MAX_RETRY_AFTER_S = 300.0


def check_http_url(target: str) -> str | None:
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"target: {target!r} is not an http(s) URL"
    return None


def redact(target: str) -> str:
    """A target fit for logs and the audit trail: a chat's incoming-webhook URL carries its secret in the path
    (anyone holding it may post), so only the scheme and host are kept."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.netloc.rpartition("@")[2]  # never a user:password either
        return f"{parts.scheme}://{host}/…"
    return target


def retry_after(value: str | None) -> float | None:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP-date: the usual back-off is close enough


def post_json(url: str, body: object, timeout_s: float, headers: Mapping[str, str] | None = None) -> bytes:
    """POSTs ``body`` (a JSON value, or bytes already encoded) and returns the answer's body; raises DeliveryFailed."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    request = urllib.request.Request(url, data=raw, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "truckguard-notifier", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer: bytes = response.read()
            return answer
    except urllib.error.HTTPError as exc:
        permanent = exc.code < 500 and exc.code not in PASSING_STATUSES
        raise DeliveryFailed(f"{redact(url)}: HTTP {exc.code} {exc.reason}", permanent=permanent,
                             retry_after_s=retry_after(exc.headers.get("Retry-After"))) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"{redact(url)}: {reason}") from None


class ChatChannel:
    """A team chat's incoming webhook (Slack, Microsoft Teams, Mattermost): the notice in that chat's message
    format, POSTed as JSON to the URL the person gave."""

    def __init__(self, kind: str, payload: Callable[[Notice], dict[str, Any]], settings: ChannelSettings) -> None:
        self.kind = kind
        self.payload = payload
        self.timeout_s = settings.http_timeout_s

    def check_target(self, target: str) -> str | None:
        return check_http_url(target)

    def send(self, delivery: Delivery) -> None:
        post_json(delivery.target, self.payload(delivery.notice), self.timeout_s)
