"""The browser channel: the notice waits in the store and the site's open pages fetch it as a server-sent event."""

from __future__ import annotations

from ingest.notifier.channels import Delivery, DeliveryFailed


class BrowserChannel:
    """Nothing leaves the notifier on this channel: the site serves the stored notice to the person's open pages
    (web push while the site is open), and the notifier never claims these messages."""

    kind = "browser"

    def check_target(self, target: str) -> str | None:
        return None

    def send(self, delivery: Delivery) -> None:
        raise DeliveryFailed("browser notices are served by the web site to open pages, not sent", permanent=True)
