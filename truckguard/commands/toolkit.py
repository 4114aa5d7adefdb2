"""`truckguard toolkit`: the security toolkit's guidance content, exported for other tools."""

from __future__ import annotations

import argparse
import sys

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command

TOOLKIT_LANGUAGES = ("en", "de", "fr", "es", "sv")
"""The toolkit's languages (``toolkit.translations``), listed here so the help needs no content import."""


def cmd_toolkit_export(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.export import export_items

    sys.stdout.write(export_items(args.format, language=args.lang))
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "toolkit", cmd_toolkit_export, "The security toolkit's guidance content.")
    actions = p.add_subparsers(dest="toolkit_action", required=True, metavar="ACTION")
    export = add_action(
        actions, "export", cmd_toolkit_export, "print every guidance item (id, audience, phase, text, sources)"
    )
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--lang", choices=TOOLKIT_LANGUAGES, default="en",
                        help="language of titles and texts (items not yet translated stay in English; sources and "
                        "their sections are never translated)")
