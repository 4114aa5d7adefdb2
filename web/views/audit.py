"""The audit log: every change in the site, filtered and exported as CSV, within the reader's fleets."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from web.audit import list_audit, to_csv
from web.auth import ALL_ROLES, allow, current_scope
from web.db import get_session

bp = Blueprint("audit", __name__)


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
