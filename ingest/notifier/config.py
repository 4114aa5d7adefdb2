"""The notifier's options and channel settings, read from the one settings object."""

from __future__ import annotations

from datetime import timedelta

from ingest.notifier import vapid
from ingest.notifier.channels import ChannelSettings
from ingest.notifier.worker import NotifierOptions
from telematics.settings import Settings


def public_url(settings: Settings) -> str:
    """TRUCKGUARD_PUBLIC_URL, else the address the site listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.web_host in ("", "0.0.0.0", "::") else settings.web_host
    return f"http://{host}:{settings.web_port}"


def channel_settings(settings: Settings) -> ChannelSettings:
    return ChannelSettings(smtp_host=settings.smtp_host, smtp_port=settings.smtp_port,
                           smtp_security=settings.smtp_security, smtp_user=settings.smtp_user,
                           smtp_password=settings.smtp_password, smtp_from=settings.smtp_from,
                           vapid_key_path=vapid.key_path(settings.data_dir),
                           vapid_subject=vapid.subject(public_url(settings), settings.smtp_from))


def push_public_key(settings: Settings) -> str:
    """The ``applicationServerKey`` the settings page subscribes browsers with; the pair is made on first use."""
    return vapid.load_or_create(vapid.key_path(settings.data_dir)).public_key


def notifier_options(settings: Settings) -> NotifierOptions:
    return NotifierOptions(public_url=public_url(settings),
                           escalate_after=timedelta(seconds=settings.notify_escalate_after_s))
