"""Reference data pages: fleets, vehicles and drivers' cards, sites, planned trips and protected zones."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from telematics.bundle import ReferenceDataError
from telematics.reference import VEHICLE_CATEGORIES
from web import schemas
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user
from web.db import get_session
from web.reference import (
    ReferenceTooLarge,
    announce_change,
    delete_item,
    fleet_document,
    put_fleet_document,
    put_trips,
    put_zones,
    trips_document,
    zones_document,
)
from web.zone_form import zone_feature

bp = Blueprint("reference", __name__, url_prefix="/reference")
FLEET_EDITORS = ("fleet_operator", "rental", "admin")
ZONE_EDITORS = ("law_enforcement", "admin")


def delete_as(role: str, kind: str, key: str, **who: Any) -> int | None:
    """Delete a reference item if this role may change that kind and the item is in scope, then announce the
    change to the detectors; returns the new reference version, or None (nothing changed, nothing said why)."""
    allowed = (role in ZONE_EDITORS) if kind == "zone" else (role in FLEET_EDITORS)
    session = get_session()
    if not allowed or not delete_item(session, kind, key, current_scope(), **who):
        session.rollback()
        return None
    version = announce_change(session)
    session.commit()
    return version


def _page(status: int = 200, error: str | None = None, form: dict[str, str] | None = None) -> Any:
    session, scope = get_session(), current_scope()
    return render_template(
        "reference.html", fleet=fleet_document(session, scope), trips=trips_document(session, scope)["features"],
        zones=zones_document(session)["features"], categories=VEHICLE_CATEGORIES, error=error, form=form or {},
        can_edit_fleet=current_user().role in FLEET_EDITORS, can_edit_zones=current_user().role in ZONE_EDITORS,
    ), status


@bp.get("")
@allow(*ALL_ROLES)
def index() -> Any:
    return _page()


def _uploaded(schema: dict[str, Any], field: str = "file") -> Any:
    """The uploaded (or pasted) document, checked against the API's schema for it."""
    upload = request.files.get(field)
    raw = upload.read() if upload is not None and upload.filename else request.form.get("document", "").encode()
    if not raw.strip():
        raise ReferenceDataError(f"{field}: choose a file to upload")
    try:
        return schemas.parse(raw, schema)
    except schemas.BodyError as exc:
        raise ReferenceDataError(f"{field}: {exc}") from None


def _checked(document: dict[str, Any]) -> dict[str, Any]:
    """A document built from a form, held to the same schema as an upload (ids without markup, lengths)."""
    try:
        return schemas.check(document, schemas.FLEET_DOCUMENT)
    except schemas.BodyError as exc:
        raise ReferenceDataError(str(exc).removeprefix("body.")) from None


def _apply(change: Any, done: str) -> Any:
    """Runs a change, announces the new snapshot and commits; a validation error re-renders the page with 400."""
    session = get_session()
    try:
        result = change(session)
        announce_change(session)
    except ReferenceDataError as exc:
        session.rollback()
        return _page(413 if isinstance(exc, ReferenceTooLarge) else 400, str(exc),
                     {k: v for k, v in request.form.items() if k != "csrf_token"})
    session.commit()
    flash(done.format(result=result), "ok")
    return redirect(url_for("reference.index"), 303)


def _who() -> dict[str, Any]:
    return {"actor": current_user().username, "ip": client_ip()}


@bp.post("/fleet")
@allow(*FLEET_EDITORS)
def upload_fleet() -> Any:
    return _apply(lambda s: put_fleet_document(s, _uploaded(schemas.FLEET_DOCUMENT), current_scope(), **_who()),
                  "fleet.json loaded: {result}.")


@bp.post("/trips")
@allow(*FLEET_EDITORS)
def upload_trips() -> Any:
    return _apply(lambda s: put_trips(s, _uploaded(schemas.TRIPS_DOCUMENT), current_scope(), **_who()),
                  "{result} planned trips loaded.")


@bp.post("/vehicles")
@allow(*FLEET_EDITORS)
def put_vehicle() -> Any:
    form = request.form
    vehicle: dict[str, Any] = {"vehicle_id": form.get("vehicle_id", "").strip(),
                               "fleet_id": form.get("fleet_id", "").strip()}
    for name in ("category", "plate"):
        if form.get(name, "").strip():
            vehicle[name] = form[name].strip()
    vehicle["authorized_driver_cards"] = [c.strip() for c in form.get("authorized_driver_cards", "").split(",")
                                          if c.strip()]

    def change(session: Any) -> str:
        if not vehicle["vehicle_id"]:
            raise ReferenceDataError("vehicle_id: required")
        put_fleet_document(session, _checked({"vehicles": [vehicle]}), current_scope(), source="vehicle", **_who())
        return vehicle["vehicle_id"]

    return _apply(change, "Vehicle {result} saved.")


@bp.post("/sites")
@allow(*FLEET_EDITORS)
def put_site() -> Any:
    form = request.form

    def change(session: Any) -> str:
        site: dict[str, Any] = {"site_id": form.get("site_id", "").strip(),
                                "fleet_id": form.get("fleet_id", "").strip(),
                                "kind": form.get("kind", "").strip() or "depot"}
        if not site["site_id"]:
            raise ReferenceDataError("site_id: required")
        for name in ("lat", "lon", "radius_m"):
            try:
                site[name] = float(form.get(name, ""))
            except ValueError:
                raise ReferenceDataError(f"{name}: got {form.get(name, '')!r}, expected a number") from None
        if not (-90 <= site["lat"] <= 90 and -180 <= site["lon"] <= 180) or site["radius_m"] <= 0:
            raise ReferenceDataError("lat, lon, radius_m: expected WGS 84 degrees and a radius above 0 m")
        put_fleet_document(session, _checked({"sites": [site]}), current_scope(), source="site", **_who())
        return site["site_id"]

    return _apply(change, "Site {result} saved.")


@bp.get("/zones/new")
@allow(*ZONE_EDITORS)
def draw_zone() -> str:
    return render_template("zone_draw.html", form={}, error=None, tiles=current_app.config.get("MAP_TILES", ""))


@bp.post("/zones")
@allow(*ZONE_EDITORS)
def put_zone() -> Any:
    """A zones.geojson upload, or one zone drawn on the map with its rules typed in."""
    if request.files.get("file") and request.files["file"].filename:
        return _apply(lambda s: put_zones(s, _uploaded(schemas.ZONES_DOCUMENT), **_who()),
                      "{result} protected zones loaded.")
    session = get_session()
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        feature = zone_feature(form)
        put_zones(session, {"type": "FeatureCollection", "features": [feature]}, source="zone", **_who())
        announce_change(session)
    except ReferenceDataError as exc:
        session.rollback()
        return render_template("zone_draw.html", form=form, error=str(exc),
                               tiles=current_app.config.get("MAP_TILES", "")), \
            413 if isinstance(exc, ReferenceTooLarge) else 400
    session.commit()
    flash(f"Protected zone {feature['properties']['zone_id']} saved.", "ok")
    return redirect(url_for("reference.index"), 303)


@bp.post("/<any(fleet, vehicle, site, trip, zone):kind>/<key>/delete")
@allow(*FLEET_EDITORS, "law_enforcement")
def delete(kind: str, key: str) -> Any:
    if delete_as(current_user().role, kind, key, **_who()) is None:
        return _page(404, f"{kind} {key}: not found among what you may change")
    flash(f"{kind.capitalize()} {key} deleted.", "ok")
    return redirect(url_for("reference.index"), 303)
