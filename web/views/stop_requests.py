"""The stop-requests area: the list of remote-stop requests and where each one stands."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from telematics.outputs import STOP_STATUSES
from web.db import get_session
from web.store import list_stop_requests
from web.views.query import stop_request_filters

bp = Blueprint("stop_requests", __name__)


@bp.get("/stop-requests")
def index() -> str:
    filters = stop_request_filters()
    return render_template(
        "stop_requests.html",
        stop_requests=list_stop_requests(get_session(), **filters),
        filters=filters,
        statuses=STOP_STATUSES,
        query=request.query_string.decode(),
    )
