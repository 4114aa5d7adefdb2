"""The web-push channel: the notice, encrypted for one browser's subscription (RFC 8291), posted to its push service
with a VAPID signature (RFC 8292), as RFC 8030 asks; the browser's service worker shows it even with the site closed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from ingest.notifier.channels import ChannelSettings, Delivery, DeliveryFailed
from ingest.notifier.channels.posting import PASSING_STATUSES, redact, retry_after
from ingest.notifier.notice import STOP_REQUEST, Notice
from ingest.notifier.vapid import b64url, b64url_decode, load_or_create
from telematics.errors import BadInput

TTL_S = 900
"""How long a push service keeps a message for a browser that is offline (RFC 8030 §5.2): as long as a stop request
waits for authorisation (web/stop_flow.py DEFAULT_EXPIRY_S, 15 minutes); a notice older than that no longer helps."""
MAX_SUMMARY = 600
"""Characters of the summary carried: push services must take 4096 bytes of encrypted payload (RFC 8030 §7.2) and
the record adds 103 (RFC 8291 §4), so title, summary and link fit with room for non-Latin letters."""
MAX_ENDPOINT = 500
"""The channel table's target column; the push services in use (FCM, Mozilla, Apple, WNS) give shorter URLs."""
GONE_STATUSES = frozenset({404, 410})
"""The push service no longer knows the subscription (RFC 8030 §7.3: expired or unsubscribed): never try it again."""


@dataclass(frozen=True)
class Subscription:
    """What ``PushSubscription.toJSON()`` gives in the browser: the endpoint and the browser's two keys."""

    endpoint: str
    p256dh: str
    """The browser's P-256 public key, uncompressed point, base64url (65 bytes)."""
    auth: str
    """The authentication secret shared with the browser, base64url (16 bytes)."""

    @property
    def secret(self) -> str:
        """How the keys are kept in the channel's secret column: ``p256dh.auth`` ("." is outside base64url)."""
        return f"{self.p256dh}.{self.auth}"

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class SubscriptionError(BadInput):
    """A subscription the browser could not have made; the message names the field."""


def check_endpoint(endpoint: str) -> str | None:
    parts = urlsplit(endpoint)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not parts.netloc or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        return f"endpoint: {redact(endpoint)!r} is not an https URL of a push service"
    if len(endpoint) > MAX_ENDPOINT:
        return f"endpoint: {len(endpoint)} characters, at most {MAX_ENDPOINT}"
    return None


def _key(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str):
        raise SubscriptionError(f"keys.{name}: expected a base64url text")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise SubscriptionError(f"keys.{name}: not base64url") from None
    if len(raw) != size or (name == "p256dh" and raw[0] != 4):
        raise SubscriptionError(f"keys.{name}: {len(raw)} bytes, expected {size}"
                                + (" (an uncompressed P-256 point)" if name == "p256dh" else ""))
    return b64url(raw)


def parse_subscription(text: str) -> Subscription:
    """The subscription a page sent (the JSON of ``PushSubscription``); raises SubscriptionError."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SubscriptionError("subscription: not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("endpoint"), str) or \
            not isinstance(value.get("keys"), dict):
        raise SubscriptionError('subscription: expected {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}')
    problem = check_endpoint(value["endpoint"])
    if problem:
        raise SubscriptionError(problem)
    keys = value["keys"]
    return Subscription(value["endpoint"], _key(keys.get("p256dh"), "p256dh", 65), _key(keys.get("auth"), "auth", 16))


def subscription_of(target: str, secret: str) -> Subscription:
    p256dh, _, auth = secret.partition(".")
    return Subscription(target, p256dh, auth)


def payload(notice: Notice) -> dict[str, Any]:
    """What the service worker shows: title, body, the link it opens, and a tag so a later notice about the same
    alert or stop request replaces the earlier one on the screen instead of piling up."""
    summary = notice.summary if len(notice.summary) <= MAX_SUMMARY else notice.summary[:MAX_SUMMARY - 1] + "…"
    return {"title": notice.title, "body": summary, "url": notice.url, "severity": notice.severity,
            "tag": f"truckguard-{notice.subject}-{notice.subject_id}", "test": notice.test}


def topic(notice: Notice) -> str:
    """RFC 8030 §5.4: a message waiting at the push service is replaced by a newer one of the same topic (at most 32
    base64url characters), so a phone back in coverage gets a stop request's latest outcome, not each step."""
    return b64url(hashlib.sha256(f"{notice.subject}:{notice.subject_id}".encode()).digest())[:32]


class WebPushChannel:
    kind = "webpush"

    def __init__(self, settings: ChannelSettings) -> None:
        self.key_path: Path | None = settings.vapid_key_path
        self.subject = settings.vapid_subject
        self.timeout_s = settings.http_timeout_s
        self._vapid: Vapid02 | None = None

    def check_target(self, target: str) -> str | None:
        return check_endpoint(target)

    def vapid(self) -> Vapid02:
        if self._vapid is None:
            if self.key_path is None:
                raise DeliveryFailed("web push: no VAPID key configured (the data folder)", permanent=True)
            self._vapid = Vapid02(load_or_create(self.key_path).private_key)
        return self._vapid

    def send(self, delivery: Delivery) -> None:
        subscription = subscription_of(delivery.target, delivery.secret)
        notice = delivery.notice
        # RFC 8030 §5.3: "high" wakes a device in power saving at once; a stop request's every step is urgent
        headers = {"Urgency": "high" if notice.severity == "critical" or notice.subject == STOP_REQUEST else "normal"}
        if not notice.test:
            headers["Topic"] = topic(notice)
        try:
            webpush(subscription.info(), orjson.dumps(payload(notice)).decode(),
                    vapid_private_key=self.vapid(), vapid_claims={"sub": self.subject}, ttl=TTL_S,
                    headers=headers, timeout=self.timeout_s)
        except WebPushException as exc:
            response = exc.response
            if response is None:
                raise DeliveryFailed(f"{redact(delivery.target)}: {exc.message}", permanent=True) from None
            status = response.status_code
            raise DeliveryFailed(
                f"{redact(delivery.target)}: HTTP {status} {response.reason}"
                + (" (subscription gone: switched off)" if status in GONE_STATUSES else ""),
                permanent=status < 500 and status not in PASSING_STATUSES, gone=status in GONE_STATUSES,
                retry_after_s=retry_after(response.headers.get("Retry-After"))) from None
        except requests.RequestException as exc:
            raise DeliveryFailed(f"{redact(delivery.target)}: {type(exc).__name__}: {exc}") from None
        except (ValueError, TypeError) as exc:  # keys that do not decode or encrypt: the same every time
            raise DeliveryFailed(f"{redact(delivery.target)}: the subscription's keys: {exc}", permanent=True) \
                from None
