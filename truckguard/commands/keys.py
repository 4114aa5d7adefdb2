"""`truckguard keys`: the platform's Ed25519 keys that sign vehicle commands, and their rotation."""

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


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from telematics.commands import rotate_keys
    from telematics.timeutil import format_ms

    keys_dir = Path(args.dir) if args.dir else settings.keys_dir
    new, entries = rotate_keys(keys_dir, datetime.now(UTC), handover_s=args.handover_hours * 3600,
                               overlap_s=args.overlap_days * 86400)
    print(f"new key {new.key_id}: trusted now, signs from {format_ms(new.signs_from_ms or 0)}")
    for entry in entries:
        if entry.key_id != new.key_id:
            until = "open-ended" if entry.not_after_ms is None else format_ms(entry.not_after_ms)
            print(f"key {entry.key_id}: signs until the handover, trusted until {until}")
    print(f"trust list written to {keys_dir}; a running `truckguard dispatch` sends it to every vehicle, signed by "
          f"the key they trust now, and signs with the new key from the handover")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "keys", cmd_keys_generate, "The platform's Ed25519 key that signs remote-stop commands.")
    actions = p.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    generate = add_action(actions, "generate", cmd_keys_generate, "write a new signing key pair (never overwrites one)")
    generate.add_argument(
        "dir", nargs="?", help="where to write it (default: TRUCKGUARD_COMMAND_KEYS or data dir/keys)"
    )
    rotate = add_action(actions, "rotate", cmd_keys_rotate,
                        "add a new signing key with no window where commands fail: trusted by the vehicles at once, "
                        "signing after the handover, the old key trusted for the overlap after that")
    rotate.add_argument("dir", nargs="?", help="the keys directory (default: TRUCKGUARD_COMMAND_KEYS or data dir/keys)")
    rotate.add_argument("--handover-hours", type=float, default=24.0,
                        help="hours until the new key signs, while the vehicles receive its trust (default 24)")
    rotate.add_argument("--overlap-days", type=float, default=14.0,
                        help="days the old key stays trusted after the handover (default 14)")
