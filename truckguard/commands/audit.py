"""`truckguard audit`: check the audit log's hash chain, export a stop request's signed record, check a record."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command, database_url_flag


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from web.audit_chain import verify_store
    from web.db import find_store

    report = verify_store(find_store(settings.database_url, settings.data_dir))
    if report.intact:
        print(f"audit chain intact: {report.entries} entries, head {report.head_seq} {report.head_hash}")
        return 0
    print(f"audit chain BROKEN: {report.entries} entries read, {len(report.problems)} problems:", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from web.db import find_store
    from web.record_export import export_file_name, export_signed_record, write_signed_record

    document = export_signed_record(find_store(settings.database_url, settings.data_dir), args.request_id,
                                    settings.keys_dir, args.by or f"console:{getpass.getuser()}")
    out = args.out or Path(export_file_name(args.request_id))
    write_signed_record(document, out)
    chain = document["record"]["audit_chain"]
    print(f"{out}: record of stop request {args.request_id}, signed by key {document['signature']['key_id']}; "
          f"audit chain {'intact' if chain['intact'] else 'BROKEN'} at head {chain['head_seq']} {chain['head_hash']}")
    return 0


def cmd_audit_check_record(args: argparse.Namespace, settings: Settings) -> int:
    from telematics.commands import load_public_keys
    from web.record_export import check_record, platform_public_keys

    trusted = load_public_keys(*args.public_key) if args.public_key else platform_public_keys(settings.keys_dir)
    record = check_record(args.file.read_bytes(), trusted)
    request = record["stop_request"]
    print(f"{args.file}: signature valid; stop request {request['request_id']} of {request['vehicle_id']}, "
          f"exported {record['exported_at']} by {record['exported_by']}")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "audit", cmd_audit_verify, "The tamper-evident audit log and signed records for court.")
    actions = p.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = add_action(actions, "verify", cmd_audit_verify,
                        "recompute the audit log's hash chain; exit 1 and name each break if it does not hold")
    database_url_flag(verify)
    export = add_action(actions, "export", cmd_audit_export,
                        "write a stop request's full record (alerts, evidence, decisions, command, acknowledgement, "
                        "audit entries) signed with the platform key")
    export.add_argument("request_id")
    export.add_argument("--out", type=Path, help="file to write (default truckguard-record-REQUEST.json here)")
    export.add_argument("--by", help="who exports it, as the record states (default console:OS-USER)")
    database_url_flag(export)
    check = add_action(actions, "check-record", cmd_audit_check_record,
                       "check a signed record's signature against the platform's public keys")
    check.add_argument("file", type=Path)
    check.add_argument("--public-key", type=Path, action="append",
                       help="a trusted public key PEM (repeat; default: the keys folder's command-signing*.pub)")
