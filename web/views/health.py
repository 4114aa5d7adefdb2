"""The health check for load balancers and the supervisor: the site answers and the store is reachable."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from web.auth import public
from web.db import get_session

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@public
def healthz() -> Any:
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("health check: store unreachable")
        response = jsonify(status="error", store="unreachable")
        response.status_code = 503
        return response
    return jsonify(status="ok", store="ok")
