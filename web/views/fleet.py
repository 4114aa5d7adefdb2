"""The fleet view: a live map of vehicles, planned trips, sites and protected zones, and the vehicle list."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from web.auth import ALL_ROLES, allow, current_scope
from web.db import get_session
from web.mapdata import vehicles

bp = Blueprint("fleet", __name__)


@bp.get("/map")
@allow(*ALL_ROLES)
def index() -> str:
    return render_template("map.html", vehicles=vehicles(get_session(), current_scope()),
                           tiles=current_app.config.get("MAP_TILES", ""))
