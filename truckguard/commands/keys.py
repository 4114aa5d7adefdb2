"""`truckguard keys`: the platform's Ed25519 key pair that signs vehicle commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command


def cmd_keys_generate(args: argparse.Namespace, settings: Settings) -> int:
    from telematics.commands import generate_keypair

    keys = generate_keypair(Path(args.dir) if args.dir else settings.keys_dir)
    print(f"key id {keys.key_id}\nprivate key {keys.private_path} (keep it on the platform only)")
    print(f"public key {keys.public_path} (install it on the vehicle gateways)")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "keys", cmd_keys_generate, "The platform's Ed25519 key that signs remote-stop commands.")
    actions = p.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    generate = add_action(actions, "generate", cmd_keys_generate, "write a new signing key pair (never overwrites one)")
    generate.add_argument(
        "dir", nargs="?", help="where to write it (default: TRUCKGUARD_COMMAND_KEYS or data dir/keys)"
    )
