"""The law-enforcement console: remote-stop requests live, one request with its evidence, approve and refuse."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from telematics.outputs import STOP_STATUSES
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user, require_fleet
from web.db import get_session
from web.decision import decision_facts
from web.models import StopRequestRow
from web.stop_flow import StopRequestError, approve, approve_release, refuse
from web.store import list_stop_requests, stop_request_to_dict
from web.views.query import stop_request_filters

bp = Blueprint("stop_requests", __name__)


def expiry_s() -> float:
    return float(current_app.config["STOP_REQUEST_EXPIRY_S"])


@bp.get("/stop-requests")
@allow(*ALL_ROLES)
def index() -> str:
    filters = stop_request_filters()
    return render_template(
        "stop_requests.html",
        stop_requests=list_stop_requests(get_session(), scope=current_scope(), **filters),
        filters=filters,
        statuses=STOP_STATUSES,
        query=request.query_string.decode(),
    )


def scoped_request(request_id: str) -> StopRequestRow:
    row = get_session().execute(select(StopRequestRow).where(StopRequestRow.request_id == request_id)
                                .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        abort(404)
    require_fleet(row.fleet_id)
    return row


@bp.get("/stop-requests/<request_id>")
@allow(*ALL_ROLES)
def detail(request_id: str) -> Any:
    row = scoped_request(request_id)
    facts = decision_facts(get_session(), row, expiry_s())
    return render_template(
        "stop_request.html", req=stop_request_to_dict(row), facts=facts, position=facts.position,
        officer=current_user().role == "law_enforcement",
    )


@bp.get("/stop-requests/<request_id>/decision")
@allow(*ALL_ROLES)
def decision(request_id: str) -> Any:
    """The decision page's facts as JSON: zone, distance and time to it, incident alerts, time left, overtaken."""
    return jsonify(decision_facts(get_session(), scoped_request(request_id), expiry_s()).as_dict())


@bp.post("/stop-requests/<request_id>/<any(approve, refuse):action>")
@allow("law_enforcement")
def decide(request_id: str, action: str) -> Any:
    scoped_request(request_id)
    session = get_session()
    officer = current_user().username
    try:
        if action == "approve":
            row = approve(session, request_id, officer, request.form.get("note") or None, ip=client_ip(),
                          expiry_s=expiry_s())
            message = gettext("Request authorised.") if row.status == "authorized" else \
                gettext("First approval recorded; a second officer must approve.")
        else:
            refuse(session, request_id, officer, request.form.get("reason", ""), ip=client_ip(), expiry_s=expiry_s())
            message = gettext("Request refused.")
    except StopRequestError as exc:
        session.commit()  # an expiry found on the way is kept
        flash(str(exc), "error")
        return redirect(url_for("stop_requests.detail", request_id=request_id), 303)
    session.commit()
    flash(message, "ok")
    return redirect(url_for("stop_requests.detail", request_id=request_id), 303)


@bp.post("/stop-requests/<request_id>/release")
@allow("law_enforcement")
def release(request_id: str) -> Any:
    """Release a recovered vehicle from the stop: two different officers, each with a reason; the second approval
    signs the release command and queues it for the vehicle."""
    scoped_request(request_id)
    session = get_session()
    settings = current_app.extensions["truckguard.settings"]
    try:
        _, state = approve_release(session, request_id, current_user().username, request.form.get("reason", ""),
                                   keys_dir=settings.keys_dir, ip=client_ip(), ttl_s=settings.command_ttl_s,
                                   window_s=expiry_s())
    except StopRequestError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("stop_requests.detail", request_id=request_id), 303)
    session.commit()
    flash(gettext("Vehicle released: the signed release command is on its way to it.") if state.done else
          gettext("First release approval recorded; a second officer must approve the release."), "ok")
    return redirect(url_for("stop_requests.detail", request_id=request_id), 303)
