"""The alerts area: the live alert list, which is also the home page."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from telematics.outputs import ALERT_KINDS, SEVERITIES
from web.db import get_session
from web.store import list_alerts
from web.views.query import alert_filters

bp = Blueprint("alerts", __name__)


@bp.get("/")
@bp.get("/alerts")
def index() -> str:
    filters = alert_filters()
    return render_template(
        "alerts.html",
        alerts=list_alerts(get_session(), **filters),
        filters=filters,
        kinds=ALERT_KINDS,
        severities=SEVERITIES,
        query=request.query_string.decode(),
    )
