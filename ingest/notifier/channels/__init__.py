"""One interface for every notification channel, and the registry of channel modules by kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ingest.notifier.notice import Notice
from telematics.errors import TruckguardError


class DeliveryFailed(TruckguardError):
    """A channel could not deliver a message; ``permanent`` when trying again cannot help (a refused address,
    a 4xx answer); ``retry_after_s`` when the receiver said how long to wait; ``gone`` when the address itself no
    longer exists (a push subscription the browser dropped), so the channel is switched off."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after_s: float | None = None,
                 gone: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent or gone
        self.retry_after_s = retry_after_s
        self.gone = gone


@dataclass(frozen=True)
class Delivery:
    """What a channel needs to send one message: where, with which secret, the notice, and the message's id
    (stable across retries, so a receiver can drop a repeat)."""

    target: str
    notice: Notice
    message_id: str
    secret: str = ""


class Channel(Protocol):
    """Sends one message or raises DeliveryFailed; ``check_target`` says what is wrong with an address (or None)."""

    kind: str

    def send(self, delivery: Delivery) -> None: ...

    def check_target(self, target: str) -> str | None: ...


@dataclass(frozen=True)
class ChannelSettings:
    """What the channel modules need from the settings."""

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "truckguard@localhost"
    http_timeout_s: float = 5.0
    vapid_key_path: Path | None = None
    """The web-push key pair (ingest.notifier.vapid), made there on first use; None: web push is not set up."""
    vapid_subject: str = "mailto:truckguard@localhost"
    """The contact in each push's VAPID claims (ingest.notifier.vapid.subject)."""


KINDS = ("email", "webhook", "slack", "teams", "mattermost", "webpush", "browser")
"""Every channel kind a person can choose, in the order the settings page offers them."""


def build_channels(settings: ChannelSettings) -> dict[str, Channel]:
    """One instance of each channel module, by kind."""
    from ingest.notifier.channels import mattermost, slack, teams
    from ingest.notifier.channels.browser import BrowserChannel
    from ingest.notifier.channels.mail import EmailChannel
    from ingest.notifier.channels.posting import ChatChannel
    from ingest.notifier.channels.webhook import WebhookChannel
    from ingest.notifier.channels.webpush import WebPushChannel

    channels: list[Channel] = [
        EmailChannel(settings), WebhookChannel(settings), ChatChannel("slack", slack.payload, settings),
        ChatChannel("teams", teams.payload, settings), ChatChannel("mattermost", mattermost.payload, settings),
        WebPushChannel(settings), BrowserChannel(),
    ]
    return {channel.kind: channel for channel in channels}
