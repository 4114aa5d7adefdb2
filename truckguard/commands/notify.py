"""`truckguard notify`: the notifier worker, telling people of alerts and stop requests over their channels."""

from __future__ import annotations

import argparse
import logging

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_command, database_url_flag, kafka_flags
from truckguard.signals import stop_on_signals

log = logging.getLogger(__name__)


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.notifier.channels import build_channels
    from ingest.notifier.config import channel_settings, notifier_options, push_public_key
    from ingest.notifier.worker import Notifier, run_notifier
    from web.db import find_store, make_engine
    from web.migrate import upgrade_store
    from web.notifications import SqlNotificationStore

    settings = settings.with_overrides(public_url=args.public_url)
    push_key = push_public_key(settings)  # made on first start, so the site and the notifier share it from now on
    if args.vapid_public_key:
        print(push_key)
        return 0
    url = find_store(settings.database_url, settings.data_dir, create=True)
    upgrade_store(url)
    engine = make_engine(url)
    options = notifier_options(settings)
    if not settings.smtp_host:
        log.warning("no SMTP server configured (TRUCKGUARD_SMTP_HOST): e-mail notifications will be set aside")
    notifier = Notifier(SqlNotificationStore(engine), build_channels(channel_settings(settings)), options)
    log.info("notifier linking to %s; escalating unacknowledged critical alerts after %g s", options.public_url,
             options.escalate_after.total_seconds())
    try:
        run_notifier(notifier, settings.bootstrap, settings.partitions, stop_on_signals())
    finally:
        engine.dispose()
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "notify", cmd_notify,
                    "Tell people of alerts and stop requests by their rules: e-mail, webhooks, team chats, web push, "
                    "browser.")
    kafka_flags(p)
    database_url_flag(p)
    p.add_argument("--public-url", help="the site's address for the links in messages (TRUCKGUARD_PUBLIC_URL)")
    p.add_argument("--vapid-public-key", action="store_true",
                   help="make the web-push (VAPID) key pair in the data folder if it is missing, print its public "
                        "key (the applicationServerKey browsers subscribe with) and exit")
