"""The alerts area: the live alert list (the home page), one alert with its evidence and map; acknowledge, resolve."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from telematics.outputs import ALERT_KINDS, SEVERITIES
from web.alert_flow import ALERT_STATUSES, AlertActionError, act, alert_detail, get_alert
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user, require_fleet
from web.db import get_session
from web.evidence import evidence_timeline
from web.mapdata import alert_map
from web.models import ZoneRow
from web.positions import latest_positions
from web.store import list_stop_requests
from web.views.query import alert_filters

bp = Blueprint("alerts", __name__)
ACTING_ROLES = ("fleet_operator", "rental", "admin")


@bp.get("/")
@bp.get("/alerts")
@allow(*ALL_ROLES)
def index() -> str:
    from web.store import list_alerts

    filters = alert_filters()
    return render_template(
        "alerts.html",
        alerts=list_alerts(get_session(), scope=current_scope(), **filters),
        filters=filters,
        kinds=ALERT_KINDS,
        severities=SEVERITIES,
        statuses=ALERT_STATUSES,
        query=request.query_string.decode(),
    )


def _scoped_alert(alert_id: str) -> Any:
    row = get_alert(get_session(), alert_id)
    if row is None:
        abort(404)
    require_fleet(row.fleet_id)
    return row


@bp.get("/alerts/<alert_id>")
@allow(*ALL_ROLES)
def detail(alert_id: str) -> Any:
    row = _scoped_alert(alert_id)
    session = get_session()
    svg, timeline = evidence_timeline(session, row)
    requests = [r for r in list_stop_requests(session, vehicle_id=row.vehicle_id, scope=current_scope())
                if alert_id in r["alert_ids"]]
    zone = session.get(ZoneRow, row.zone_id) if row.zone_id else None
    return render_template("alert.html", alert=alert_detail(row), svg=svg, timeline=timeline,
                           position=latest_positions(session, [row.vehicle_id]).get(row.vehicle_id),
                           zone_name=zone.name if zone else None,
                           stop_requests=requests, can_act=current_user().role in ACTING_ROLES)


@bp.get("/alerts/<alert_id>/map")
@allow(*ALL_ROLES)
def map_json(alert_id: str) -> Any:
    """The alert's map: the track around it, its zone, the projected course, where the vehicle is now."""
    return jsonify(alert_map(get_session(), _scoped_alert(alert_id)))


@bp.post("/alerts/<alert_id>/<any(acknowledge, resolve):action>")
@allow(*ACTING_ROLES)
def change(alert_id: str, action: str) -> Any:
    row = _scoped_alert(alert_id)
    session = get_session()
    try:
        act(session, row, action, current_user().username, request.form.get("note", ""), ip=client_ip())
    except AlertActionError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("alerts.detail", alert_id=alert_id)), 303
    session.commit()
    flash(gettext("Alert acknowledged.") if action == "acknowledge" else gettext("Alert resolved."), "ok")
    return redirect(url_for("alerts.detail", alert_id=alert_id), 303)
