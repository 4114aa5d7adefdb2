"""The generic webhook: the notice and its contract object as JSON, signed with HMAC-SHA256 (Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from ingest.notifier.channels import ChannelSettings, Delivery
from ingest.notifier.channels.posting import check_http_url, post_json

SIGNATURE_VERSION = "v1"


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body``, as the Standard Webhooks specification
    (standardwebhooks.com) signs: the id lets a receiver drop a repeat, the timestamp a replay."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        expected = signature(secret, lowered["webhook-id"], int(lowered["webhook-timestamp"]), body)
    except (KeyError, ValueError):
        return False
    return any(hmac.compare_digest(expected, given) for given in lowered.get("webhook-signature", "").split())


def body_of(delivery: Delivery) -> dict[str, Any]:
    notice = delivery.notice
    return {"type": f"truckguard.{notice.subject}", "id": delivery.message_id, "test": notice.test,
            "title": notice.title, "summary": notice.summary, "severity": notice.severity, "url": notice.url,
            "subject_id": notice.subject_id, "data": notice.payload}


class WebhookChannel:
    kind = "webhook"

    def __init__(self, settings: ChannelSettings) -> None:
        self.timeout_s = settings.http_timeout_s

    def check_target(self, target: str) -> str | None:
        return check_http_url(target)

    def send(self, delivery: Delivery) -> None:
        body = orjson.dumps(body_of(delivery))
        timestamp = int(time.time())  # the signature's replay window is the receiver's wall clock, so ours
        headers = {"webhook-id": delivery.message_id, "webhook-timestamp": str(timestamp)}
        if delivery.secret:
            headers["webhook-signature"] = signature(delivery.secret, delivery.message_id, timestamp, body)
        post_json(delivery.target, body, self.timeout_s, headers)
