"""The audit log: every change in the site, filtered and exported as CSV, within the reader's fleets; and a stop
request's signed record for court."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request

from telematics.commands import KeyFileError
from web.audit import list_audit, record, to_csv
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user
from web.db import get_session

bp = Blueprint("audit", __name__)

RECORD_ROLES = ("law_enforcement", "admin")
"""Who may export a stop request's signed record: the officers who decide requests, and administrators."""


def audit_filters() -> dict[str, Any]:
    return {name: request.args.get(name, "").strip() or None for name in ("actor", "action", "target_id")}


@bp.get("/audit")
@allow(*ALL_ROLES)
def index() -> str:
    filters = audit_filters()
    return render_template("audit.html", entries=list_audit(get_session(), current_scope(), **filters),
                           filters=filters, query=request.query_string.decode())


@bp.get("/audit.csv")
@allow(*ALL_ROLES)
def export() -> Response:
    entries = list_audit(get_session(), current_scope(), limit=None, **audit_filters())
    return Response(to_csv(entries), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="truckguard-audit.csv"'})


@bp.get("/stop-requests/<request_id>/record.json")
@allow(*RECORD_ROLES)
def stop_request_record(request_id: str) -> Response:
    """The request's full record signed with the platform key; the export itself goes into the audit log."""
    from web.record_export import (
        RecordNotFound,
        export_file_name,
        platform_signing_key,
        sign_record,
        signed_record_bytes,
    )
    from web.record_export import stop_request_record as build_record

    session = get_session()
    user = current_user()
    try:
        document = build_record(session, request_id, current_scope(), exported_by=user.username)
    except RecordNotFound:
        abort(404)
    settings = current_app.extensions["truckguard.settings"]
    try:
        key = platform_signing_key(settings.keys_dir)
    except KeyFileError:
        # 409: the site is in a state where it cannot sign (a 5xx page would hide the reason behind "try again").
        abort(409, description="The platform key that signs records is not set up here: an administrator creates "
                               "it with `truckguard keys generate`.")
    signed = sign_record(document, key)
    record(session, user.username, "stop_request.record_exported", "stop_request", request_id,
           fleet_id=document["stop_request"]["fleet_id"],
           after={"key_id": signed["signature"]["key_id"], "audit_head": document["audit_chain"]["head_hash"]},
           ip=client_ip())
    session.commit()
    return Response(signed_record_bytes(signed), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{export_file_name(request_id)}"'})
