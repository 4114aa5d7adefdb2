"""Mattermost incoming webhooks: Markdown ``text`` and a Slack-compatible attachment with its colour and link."""

from __future__ import annotations

from typing import Any

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
