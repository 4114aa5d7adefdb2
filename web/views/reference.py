"""Reference data pages: fleets, vehicles and drivers' cards, sites, planned trips and protected zones."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import RequestEntityTooLarge

from telematics.bundle import ReferenceDataError
from telematics.errors import BadInput
from telematics.osm_zones import KIND_RULES, REVIEW_NOTE, import_osm_zones, parse_bbox
from telematics.reference import VEHICLE_CATEGORIES
from web import schemas
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_session_digest, current_user
from web.db import get_session
from web.reference import (
    ReferenceTooLarge,
    announce_change,
    bounded_zone,
    delete_item,
    feature_collection,
    fleet_document,
    put_fleet_document,
    put_trips,
    put_zones,
    trips_document,
    zones_document,
)
from web.zone_form import windows_text, zone_feature

bp = Blueprint("reference", __name__, url_prefix="/reference")
FLEET_EDITORS = ("fleet_operator", "rental", "admin")
ZONE_EDITORS = ("law_enforcement", "admin")

OSM_UPLOAD_MAX_BYTES = 4 * 1024 * 1024
"""An OpenStreetMap extract the zone page takes: the site's cap on any request (MAX_CONTENT_LENGTH), stated here so
the page can say it. As .osm.pbf that is a city district or two; the importer reads it in a few seconds, inside one
web request, and its areas fit one review. A whole city is for `truckguard zones import-osm --bbox`."""
OSM_MAX_PROPOSALS = 150
"""Proposals one review page holds. Each is five form fields when saved and Flask reads at most MAX_FORM_PARTS
(1,000) fields; past about a hundred and fifty no one reviews them one by one either: narrow the box."""
OSM_SUFFIXES = (".osm.pbf", ".osm")
"""The formats osmium reads, told by the file name's ending as osmium tells them."""
_PROPOSAL_SALT = "truckguard.osm-zone-proposal"
_PROPOSAL_PROPERTIES = ("osm_id", "opening_hours", "source", "attribution", "licence")
"""What a saved zone keeps of its proposal beyond the zone form's fields: where it came from and under what licence."""


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
        osm_upload_mb=_megabytes(),
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


def _proposal_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_PROPOSAL_SALT)


def _corners(feature: dict[str, Any]) -> int:
    """Distinct corners of the outer ring (the closing position repeats the first)."""
    return max(len(feature["geometry"]["coordinates"][0]) - 1, 0)


def _zone_fields(feature: dict[str, Any], index: int, edits: Any = None) -> dict[str, str]:
    """The zone form's name, kind and active fields of a proposal: as the reviewer edited them, else the importer's."""
    p = feature["properties"]
    proposed = {"name": p.get("name", ""), "kind": p.get("kind", ""), "active": windows_text(p.get("active"))}
    return {name: edits.get(f"{name}-{index}", value) if edits is not None else value
            for name, value in proposed.items()}


def _review_page(tokens: list[str], features: list[dict[str, Any]], *, status: int = 200, error: str | None = None,
                 edits: Any = None, source: str = "", skipped: int = 0) -> Any:
    """The proposals on the map and in a list, each with the zone form's name, kind and active fields."""
    stored = {f["properties"]["zone_id"] for f in zones_document(get_session())["features"]}
    kept = {int(v) for v in edits.getlist("keep") if v.isdigit()} if edits is not None else set(range(len(features)))
    proposals = []
    for index, (token, feature) in enumerate(zip(tokens, features, strict=True)):
        p = feature["properties"]
        proposals.append({
            "index": index, "number": index + 1, "token": token, "zone_id": p["zone_id"], "osm_id": p.get("osm_id", ""),
            **_zone_fields(feature, index, edits), "opening_hours": p.get("opening_hours", ""),
            "corners": _corners(feature), "kept": index in kept, "stored": p["zone_id"] in stored,
            "unread_hours": p.get("review", REVIEW_NOTE) != REVIEW_NOTE,
        })
    shapes = feature_collection({**f, "properties": {"number": i + 1, "name": f["properties"].get("name", ""),
                                                     "kind": f["properties"].get("kind", "")}}
                                for i, f in enumerate(features))
    return render_template("zone_import.html", proposals=proposals, shapes=shapes, error=error, source=source,
                           skipped=skipped, zone_kinds=[kind for kind, _rule in KIND_RULES],
                           tiles=current_app.config.get("MAP_TILES", "")), status


@bp.post("/zones/osm")
@allow(*ZONE_EDITORS)
def import_osm() -> Any:
    """An OpenStreetMap extract read by the same importer as `truckguard zones import-osm`: its areas proposed as
    zones for review, none saved. The proposals live in the review page, signed for this session (see save)."""
    if (request.content_length or 0) > OSM_UPLOAD_MAX_BYTES:  # the site's cap comes first; this one stays if it rises
        raise RequestEntityTooLarge(gettext("An extract of up to %(size)s MB, please.", size=_megabytes()))
    upload = request.files.get("extract")
    if upload is None or not upload.filename:
        return _page(400, gettext("Choose an OpenStreetMap extract (.osm or .osm.pbf) to upload."))
    filename = Path(upload.filename).name
    suffix = next((s for s in OSM_SUFFIXES if filename.lower().endswith(s)), None)
    if suffix is None:
        return _page(400, gettext("%(file)s: expected an OpenStreetMap extract whose name ends in .osm or .osm.pbf.",
                                  file=filename))
    with tempfile.TemporaryDirectory(prefix="truckguard-osm-") as folder:
        path = Path(folder) / f"extract{suffix}"
        upload.save(path)
        try:
            bbox = parse_bbox(request.form["bbox"]) if request.form.get("bbox", "").strip() else None
            collection, summary = import_osm_zones(path, request.form.get("timezone", "").strip() or "UTC", bbox)
            features = [bounded_zone(f, f"{filename}: {f['properties']['osm_id']}") for f in collection["features"]]
        except BadInput as exc:
            status = 413 if isinstance(exc, ReferenceTooLarge) else 400
            return _page(status, gettext("The extract was not read: %(reason)s",
                                         reason=str(exc).replace(str(path), filename)))
    if len(features) > OSM_MAX_PROPOSALS:
        return _page(413, gettext("%(file)s holds %(count)s protected zones, more than the %(limit)s one review "
                                  "takes: give a smaller bounding box.", file=filename, count=len(features),
                                  limit=OSM_MAX_PROPOSALS))
    signer, sid = _proposal_signer(), current_session_digest()
    tokens = [signer.dumps({"sid": sid, "feature": feature}) for feature in features]
    return _review_page(tokens, features, source=filename, skipped=len(summary.skipped))


def _megabytes() -> str:
    return f"{OSM_UPLOAD_MAX_BYTES / 1024 / 1024:g}"


@bp.post("/zones/osm/save")
@allow(*ZONE_EDITORS)
def save_osm_zones() -> Any:
    """Saves the proposals the reviewer kept, with their edits, as zones in one change: each audited as a drawn zone
    is, keeping its OSM id and licence note; only now do they reach the detectors.

    The proposals come back from the review page signed: nothing waits on the server for a reviewer who walks
    away, any worker can take the save, and the outline, OSM id and licence are the importer's, since the page
    changes only what the zone form offers. The signature holds for this session and its lifetime only."""
    tokens = request.form.getlist("proposal")
    signer, sid = _proposal_signer(), current_session_digest()
    max_age = int(current_app.permanent_session_lifetime.total_seconds())
    try:
        payloads = [signer.loads(token, max_age=max_age) for token in tokens]
    except BadSignature:
        payloads = []
    if not payloads or any(p.get("sid") != sid for p in payloads):
        return _page(400, gettext("No proposals to save: they belong to another session, have expired or were "
                                  "changed. Upload the extract again."))
    features = [p["feature"] for p in payloads]
    kept = sorted({int(v) for v in request.form.getlist("keep") if v.isdigit() and int(v) < len(features)})
    if not kept:
        return _review_page(tokens, features, status=400, edits=request.form,
                            error=gettext("Keep at least one proposal to save, or leave this page to save none."))
    session = get_session()
    try:
        zones = []
        for index in kept:
            proposal = features[index]["properties"]
            form = {"zone_id": proposal["zone_id"], "timezone": proposal.get("timezone", ""),
                    "geometry": orjson.dumps(features[index]["geometry"]).decode(),
                    **_zone_fields(features[index], index, request.form)}
            try:
                zone = zone_feature(form)
            except ReferenceDataError as exc:
                raise ReferenceDataError(f"{proposal['zone_id']}: {exc}") from None
            zone["properties"].update((k, proposal[k]) for k in _PROPOSAL_PROPERTIES if k in proposal)
            zones.append(zone)
        count = put_zones(session, feature_collection(zones), source="OpenStreetMap proposals", **_who())
        announce_change(session)
    except ReferenceDataError as exc:
        session.rollback()
        return _review_page(tokens, features, status=413 if isinstance(exc, ReferenceTooLarge) else 400,
                            edits=request.form, error=str(exc))
    session.commit()
    flash(gettext("%(count)s protected zones from OpenStreetMap saved.", count=count), "ok")
    return redirect(url_for("reference.index"), 303)
