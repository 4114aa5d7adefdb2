"""Mattermost incoming webhooks: Markdown ``text`` and a Slack-compatible attachment with its colour and link."""

from __future__ import annotations

from typing import Any

from ingest.notifier.channels import ChannelSettings, Delivery
from ingest.notifier.channels.posting import check_http_url, post_json
from ingest.notifier.notice import Notice

COLOURS = {"critical": "#b00020", "warning": "#c77700", "info": "#1f5fa8"}


def payload(notice: Notice) -> dict[str, Any]:
    return {
        "username": "truckguard",
        "text": f"**[{notice.title}]({notice.url})**",
        "attachments": [{
            "fallback": notice.text(),
            "color": COLOURS.get(notice.severity, COLOURS["info"]),
            "title": notice.title,
            "title_link": notice.url,
            "text": notice.summary,
            "fields": [{"title": label, "value": value, "short": True} for label, value in notice.facts],
        }],
    }


class MattermostChannel:
    kind = "mattermost"

    def __init__(self, settings: ChannelSettings) -> None:
        self.timeout_s = settings.http_timeout_s

    def check_target(self, target: str) -> str | None:
        return check_http_url(target)

    def send(self, delivery: Delivery) -> None:
        post_json(delivery.target, payload(delivery.notice), self.timeout_s)
