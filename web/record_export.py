"""A stop request's full record for court: alerts, evidence, decisions, command, acknowledgement, signed (Ed25519).

The file is one JSON document: ``record`` (everything the store knows of the request, with the audit entries and
their chain hashes) and ``signature``, the platform key's Ed25519 signature over the canonical bytes of
``record`` (JSON, keys sorted, no spaces, UTF-8). Anyone with the platform's public key can check it with
``truckguard audit check-record FILE`` or any Ed25519 library; a changed byte fails the check.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from telematics.commands import key_id_of
from telematics.errors import BadInput
from web.audit import audit_to_dict
from web.audit_chain import verify_chain
from web.models import AlertRow, AuditRow, StopRequestRow
from web.scope import Scope
from web.store import alert_to_dict, rfc3339, stop_request_to_dict

FORMAT = "truckguard.stop-request-record.v1"
SIGNATURE_ALGORITHM = "Ed25519"
DECISION_STATUSES = frozenset({"requested", "authorized", "refused", "expired"})
"""History steps that are decisions on the request (the detector's request, approvals, refusal, expiry)."""
COMMAND_STATUSES = frozenset({"sent"})
ACKNOWLEDGEMENT_STATUSES = frozenset({"acknowledged", "completed", "failed", "rejected"})


class RecordNotFound(BadInput):
    """No stop request with this id in the store, or none the reader may see."""


class RecordSignatureError(BadInput):
    """A record file that is not a signed truckguard record, or whose signature does not hold."""


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _steps(history: list[dict[str, Any]], statuses: frozenset[str]) -> list[dict[str, Any]]:
    return [entry for entry in history if entry.get("status") in statuses]


def stop_request_record(session: Session, request_id: str, scope: Scope, *, exported_by: str,
                        now: datetime | None = None) -> dict[str, Any]:
    """Everything the store holds about one request, as of now: raises RecordNotFound outside the scope."""
    row = session.get(StopRequestRow, request_id)
    if row is None or not scope.allows(row.fleet_id):
        raise RecordNotFound(f"stop request {request_id!r}: not found")
    request = stop_request_to_dict(row)
    alerts = session.execute(select(AlertRow).where(AlertRow.alert_id.in_(list(row.alert_ids)))
                             .order_by(AlertRow.onset_ts, AlertRow.alert_id)).scalars().all()
    targets = [AuditRow.target_id == request_id] + ([AuditRow.target_id.in_([a.alert_id for a in alerts])]
                                                    if alerts else [])
    audit = session.execute(select(AuditRow).where(or_(*targets), AuditRow.target_type.in_(("stop_request", "alert")))
                            .order_by(AuditRow.chain_seq.is_(None), AuditRow.chain_seq, AuditRow.audit_id)
                            ).scalars().all()
    chain = verify_chain(session)
    history = list(row.history)
    return {
        "format": FORMAT,
        "exported_at": rfc3339(now or datetime.now(UTC)),
        "exported_by": exported_by,
        "stop_request": request,
        "alerts": [{**alert_to_dict(alert), "notes": alert.notes} for alert in alerts],
        "missing_alert_ids": sorted(set(row.alert_ids) - {alert.alert_id for alert in alerts}),
        "decisions": _steps(history, DECISION_STATUSES),
        "command": _steps(history, COMMAND_STATUSES),
        "acknowledgement": _steps(history, ACKNOWLEDGEMENT_STATUSES),
        "audit": [audit_to_dict(entry) for entry in audit],
        "audit_chain": {"intact": chain.intact, "entries": chain.entries, "head_seq": chain.head_seq,
                        "head_hash": chain.head_hash, "problems": chain.problems},
    }


def sign_record(record: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed file's document: the record and the platform key's signature over its canonical bytes."""
    public_key = private_key.public_key()
    from cryptography.hazmat.primitives import serialization

    public_pem = public_key.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {
        "record": record,
        "signature": {
            "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key_id_of(public_key),
            "public_key_pem": public_pem,
            "signed": "canonical JSON of record: keys sorted, no spaces, UTF-8",
            "value": base64.b64encode(private_key.sign(canonical(record))).decode(),
        },
    }


def signed_record_bytes(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def check_record(raw: bytes, trusted: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The record of a signed file whose signature verifies with one of the trusted keys (by key id)."""
    try:
        document = orjson.loads(raw)
        record, signature = document["record"], document["signature"]
        key_id, value = signature["key_id"], base64.b64decode(signature["value"], validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RecordSignatureError(f"not a signed truckguard record ({exc})") from None
    if signature.get("algorithm") != SIGNATURE_ALGORITHM or not isinstance(record, dict):
        raise RecordSignatureError(f"signature algorithm {signature.get('algorithm')!r}: expected Ed25519")
    key = trusted.get(key_id)
    if key is None:
        raise RecordSignatureError(f"signed by key {key_id}, which is not among the trusted keys "
                                   f"({', '.join(sorted(trusted)) or 'none'})")
    try:
        key.verify(value, canonical(record))
    except InvalidSignature:
        raise RecordSignatureError("the signature does not match the record: the file was changed") from None
    return record


def export_file_name(request_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request_id)
    return f"truckguard-record-{safe}.json"


def write_signed_record(document: dict[str, Any], path: Path) -> None:
    path.write_bytes(signed_record_bytes(document))


def platform_signing_key(keys_dir: Path, now: datetime | None = None) -> Ed25519PrivateKey:
    """The platform key that signs now (the one that signs remote-stop commands, rotation included)."""
    from telematics.commands import load_signing_key

    return load_signing_key(keys_dir, now or datetime.now(UTC))[0]


def platform_public_keys(keys_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Every platform public key in the keys folder (the current one and those rotated out), by key id."""
    from telematics.commands import load_public_keys

    return load_public_keys(*sorted(keys_dir.glob("command-signing*.pub")))


def export_signed_record(store_url: str, request_id: str, keys_dir: Path, exported_by: str) -> dict[str, Any]:
    """The signed record of one request from the store at ``store_url`` (every fleet: the caller is trusted)."""
    from web.db import make_engine

    key = platform_signing_key(keys_dir)
    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            return sign_record(stop_request_record(session, request_id, Scope(None), exported_by=exported_by), key)
    finally:
        engine.dispose()
