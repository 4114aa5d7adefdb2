"""Turns the protected-zone form (drawn polygon and typed rules) into a zones.geojson feature."""

from __future__ import annotations

import re
from typing import Any

import orjson

from telematics.bundle import ReferenceDataError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?:(?P<days>[a-z,\s-]+?)\s+)?(?P<from>\d{2}:\d{2})\s*-\s*(?P<to>\d{2}:\d{2})\s*$")


def _days(text: str, field: str) -> list[str]:
    days: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "-" in part:
            first, _, last = (s.strip() for s in part.partition("-"))
            if first not in DAYS or last not in DAYS:
                raise ReferenceDataError(f"{field}: {part!r} is not a range of days like mon-fri")
            days.extend(DAYS[DAYS.index(first): DAYS.index(last) + 1])
        elif part in DAYS:
            days.append(part)
        else:
            raise ReferenceDataError(f"{field}: {part!r} is not a day (expected mon, tue, … sun)")
    return days


def parse_windows(text: str, field: str, *, with_days: bool) -> list[dict[str, Any]] | None:
    """``mon-fri 07:00-20:00; sat 10:00-16:00`` to contract windows; empty text is None (no windows)."""
    windows = []
    for part in (p for p in text.split(";") if p.strip()):
        match = _WINDOW.match(part.lower())
        if match is None:
            raise ReferenceDataError(f"{field}: {part.strip()!r}, expected like 'mon-fri 07:00-20:00'")
        window: dict[str, Any] = {"from": match["from"], "to": match["to"]}
        if match["days"]:
            if not with_days:
                raise ReferenceDataError(f"{field}: delivery windows take no days, only 'HH:MM-HH:MM'")
            window = {"days": _days(match["days"], field), **window}
        windows.append(window)
    return windows or None


def windows_text(active: list[dict[str, Any]] | None) -> str:
    """Contract windows as the zone form writes them (``mon-fri 07:00-20:00; sat 10:00-16:00``): what
    parse_windows reads back (three or more days in a row as a range)."""
    parts = []
    for window in active or []:
        days = sorted(window.get("days") or [], key=DAYS.index)
        runs: list[list[str]] = []
        for day in days:
            if runs and DAYS.index(day) == DAYS.index(runs[-1][-1]) + 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        names = ",".join(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(run) for run in runs)
        parts.append(f"{names} {window['from']}-{window['to']}".strip())
    return "; ".join(parts)


def zone_feature(form: dict[str, str]) -> dict[str, Any]:
    """One Feature from the form fields; ReferenceDataError names the field at fault."""
    try:
        geometry = orjson.loads(form.get("geometry") or "null")
    except orjson.JSONDecodeError:
        raise ReferenceDataError("geometry: not valid JSON; draw the zone on the map") from None
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        raise ReferenceDataError("geometry: expected a polygon; draw at least three corners on the map")
    properties: dict[str, Any] = {
        "zone_id": form.get("zone_id", "").strip(),
        "name": form.get("name", "").strip() or form.get("zone_id", "").strip(),
        "kind": form.get("kind", "").strip() or "public_square",
        "timezone": form.get("timezone", "").strip() or "UTC",
    }
    if not properties["zone_id"]:
        raise ReferenceDataError("zone_id: required")
    active = parse_windows(form.get("active", ""), "active", with_days=True)
    if active:
        properties["active"] = active
    access: dict[str, Any] = {
        "categories_allowed": [c.strip().upper() for c in form.get("categories_allowed", "").split(",") if c.strip()],
    }
    delivery = parse_windows(form.get("delivery_windows", ""), "delivery_windows", with_days=False)
    if delivery:
        access["delivery_windows"] = delivery
    speed = form.get("max_speed_kmh", "").strip()
    if speed:
        try:
            access["max_speed_kmh"] = float(speed)
        except ValueError:
            raise ReferenceDataError(f"max_speed_kmh: got {speed!r}, expected a number") from None
    properties["access"] = access
    ring = geometry.get("coordinates", [[]])[0] if isinstance(geometry.get("coordinates"), list) else []
    if ring and ring[0] != ring[-1]:
        geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}
