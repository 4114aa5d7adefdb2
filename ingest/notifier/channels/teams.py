"""Microsoft Teams: a message carrying an Adaptive Card, the shape Teams' Workflows webhooks (the successor of the
retired Office 365 connectors) post into a channel."""

from __future__ import annotations

from typing import Any

from ingest.notifier.notice import Notice

CARD_VERSION = "1.4"
"""Adaptive Card schema version Teams renders in channels."""
_EMPHASIS = {"critical": "attention", "warning": "warning", "info": "default"}


def payload(notice: Notice) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": _EMPHASIS.get(notice.severity, "default")},
    ]
    if notice.summary:
        body.append({"type": "TextBlock", "text": notice.summary, "wrap": True})
    if notice.facts:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in notice.facts]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": notice.url}]}
    return {"type": "message", "summary": notice.title,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}
