"""Slack incoming webhooks: ``text`` in Slack's mrkdwn with the link as ``<url|label>``, plus a Block Kit layout."""

from __future__ import annotations

from typing import Any

from ingest.notifier.notice import Notice


def _escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (its "escaping text" rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(notice: Notice) -> dict[str, Any]:
    facts = "\n".join(f"*{_escape(label)}:* {_escape(value)}" for label, value in notice.facts)
    link = f"<{notice.url}|Open {'the stop request' if notice.subject == 'stop_request' else 'the alert'}>"
    text = f"*{_escape(notice.title)}*\n{_escape(notice.summary)}\n{link}".replace("\n\n", "\n")
    heading = f"*{_escape(notice.title)}*\n{_escape(notice.summary)}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": heading}},
        {"type": "section", "text": {"type": "mrkdwn", "text": facts or " "}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"},
                                          "url": notice.url}]},
    ]
    return {"text": text, "blocks": blocks}
