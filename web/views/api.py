"""The JSON API: alerts and stop requests in contract shape, errors as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

from web.db import get_session
from web.store import list_alerts, list_stop_requests
from web.views.query import alert_filters, stop_request_filters

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/alerts")
def alerts() -> Any:
    """``{"alerts": [...]}``, newest first; filters: fleet_id, vehicle_id, kind, severity, limit."""
    return jsonify(alerts=list_alerts(get_session(), **alert_filters()))


@bp.get("/stop-requests")
def stop_requests() -> Any:
    """``{"stop_requests": [...]}``, newest first; filters: fleet_id, vehicle_id, status, limit."""
    return jsonify(stop_requests=list_stop_requests(get_session(), **stop_request_filters()))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Any:
    response = jsonify(error=error.name, message=error.description)
    response.status_code = error.code or 500
    return response
