"""Turns stored values into the short texts the pages show, in the reader's language (static/live.js mirrors the
English of each one for live rows)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from babel.numbers import format_decimal
from flask import Flask, has_request_context
from flask_babel import get_locale, get_translations, gettext, lazy_gettext, lazy_pgettext

from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms

SUMMARY_CHARS = 140
NONE = "—"

_ACRONYMS = {"gnss": "GNSS", "can": "CAN"}

LABELS: dict[str, Any] = {
    # alert kinds (data contract, section 3)
    "route_deviation": lazy_gettext("Route deviation"),
    "unscheduled_stop": lazy_gettext("Unscheduled stop"),
    "unauthorized_driver": lazy_gettext("Unauthorized driver"),
    "off_hours_use": lazy_gettext("Off hours use"),
    "towing": lazy_gettext("Towing"),
    "cargo_door_open": lazy_gettext("Cargo door open"),
    "trailer_uncoupled": lazy_gettext("Trailer uncoupled"),
    "gnss_jamming": lazy_gettext("GNSS jamming"),
    "telematics_offline": lazy_gettext("Telematics offline"),
    "power_cut": lazy_gettext("Power cut"),
    "panic": lazy_gettext("Panic"),
    "protected_zone_intrusion": lazy_gettext("Protected zone intrusion"),
    "speed_in_zone": lazy_gettext("Speed in zone"),
    "ramming_risk": lazy_gettext("Ramming risk"),
    "can_intrusion": lazy_gettext("CAN intrusion"),
    "behaviour_anomaly": lazy_gettext("Behaviour anomaly"),
    "hijack_suspected": lazy_gettext("Hijack suspected"),
    "safety_system_disabled": lazy_gettext("Safety system disabled"),
    # stop modes (data contract, section 4)
    "prevent_restart": lazy_gettext("Prevent restart"),
    "speed_limit": lazy_gettext("Speed limit"),
    "controlled_stop": lazy_gettext("Controlled stop"),
    # zone kinds (zone drawing form, OpenStreetMap import)
    "pedestrian_precinct": lazy_pgettext("zone", "Pedestrian precinct"),
    "market": lazy_pgettext("zone", "Market"),
    "event": lazy_pgettext("zone", "Event"),
    "transport_hub": lazy_pgettext("zone", "Transport hub"),
    "public_square": lazy_pgettext("zone", "Public square"),
    # roles
    "fleet_operator": lazy_gettext("Fleet operator"),
    "rental": lazy_gettext("Rental"),
    "law_enforcement": lazy_gettext("Law enforcement"),
    "admin": lazy_gettext("Admin"),
}
"""The words for the contract's kinds, modes and the site's roles; anything else is spelled out from its id."""

WORDS: dict[str, Any] = {
    # severities
    "info": lazy_pgettext("severity", "info"),
    "warning": lazy_pgettext("severity", "warning"),
    "critical": lazy_pgettext("severity", "critical"),
    # alert statuses
    "open": lazy_pgettext("status", "open"),
    "acknowledged": lazy_pgettext("status", "acknowledged"),
    "resolved": lazy_pgettext("status", "resolved"),
    # stop-request statuses (data contract, section 4)
    "requested": lazy_pgettext("status", "requested"),
    "authorized": lazy_pgettext("status", "authorized"),
    "refused": lazy_pgettext("status", "refused"),
    "sent": lazy_pgettext("status", "sent"),
    "completed": lazy_pgettext("status", "completed"),
    "expired": lazy_pgettext("status", "expired"),
    "cancelled": lazy_pgettext("status", "cancelled"),
    # history-only steps of a release (issue 17): the contract's status stays what the command left it
    "release_approved": lazy_pgettext("status", "release approved 1 of 2"),
    "released": lazy_pgettext("status", "released"),
    # vehicle states on the map (web/mapdata.py)
    "alert": lazy_pgettext("vehicle", "alert"),
    "no_position": lazy_pgettext("vehicle", "no position"),
    "stale": lazy_pgettext("vehicle", "stale"),
    "moving": lazy_pgettext("vehicle", "moving"),
    "stopped": lazy_pgettext("vehicle", "stopped"),
}
"""The badge words: severities, statuses and vehicle states, lower case as the badges print them."""

FORMAT_LOCALES = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR", "es": "es_ES", "sv": "sv_SE"}
"""Dates and numbers as written where the site's users are (London, Berlin, Nice, Barcelona, Stockholm), on a
24-hour clock."""
DATETIME_PATTERNS = {"en": "yyyy-MM-dd HH:mm:ss"}
"""English, the language that officers and dispatchers of different countries share, keeps ISO 8601's order
(as the API and the live rows write it); the other languages use their CLDR medium date and time."""

COMPASS_POINTS = (
    lazy_pgettext("compass", "N"), lazy_pgettext("compass", "NNE"), lazy_pgettext("compass", "NE"),
    lazy_pgettext("compass", "ENE"), lazy_pgettext("compass", "E"), lazy_pgettext("compass", "ESE"),
    lazy_pgettext("compass", "SE"), lazy_pgettext("compass", "SSE"), lazy_pgettext("compass", "S"),
    lazy_pgettext("compass", "SSW"), lazy_pgettext("compass", "SW"), lazy_pgettext("compass", "WSW"),
    lazy_pgettext("compass", "W"), lazy_pgettext("compass", "WNW"), lazy_pgettext("compass", "NW"),
    lazy_pgettext("compass", "NNW"),
)
"""The 16 points of the mariner's compass rose, 22.5° apart, N at 0°: finer than a driver or an officer on the
radio names a direction."""


def _format_locale() -> str | None:
    """The Babel locale to write numbers and dates in, or None outside a request (tests, the command line)."""
    if not has_request_context():
        return None
    locale = get_locale()
    return FORMAT_LOCALES.get(locale.language, str(locale)) if locale is not None else None


def number(value: float, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals, in the reader's locale (``2,4`` in German, ``2.4`` in English)."""
    locale = _format_locale()
    if locale is None:
        return f"{value:.{digits}f}"
    return format_decimal(round(value, digits), format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                          locale=locale)


def kind_label(kind: str) -> str:
    """``route_deviation`` → ``Route deviation``, ``gnss_jamming`` → ``GNSS jamming``, in the reader's language."""
    if kind in LABELS:
        return str(LABELS[kind])
    text = " ".join(_ACRONYMS.get(word, word) for word in kind.split("_"))
    return text[:1].upper() + text[1:]


def word(value: str | None) -> str:
    """A badge's word for a severity, status or vehicle state (``authorised``, ``kritisch``); unknown values as
    stored, underscores as spaces."""
    if value is None:
        return NONE
    return str(WORDS[value]) if value in WORDS else value.replace("_", " ")


def zone_info(name: str | None) -> tzinfo:
    """The zone's IANA time zone, UTC when it has none or an unknown one."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def when(rfc3339: str | None, timezone: str | None = None, named: bool = False) -> str:
    """Contract time text, whatever its offset, as the reader's locale writes a date and time: in UTC (as the
    headings say; ``named`` adds "UTC" where no heading does), or in ``timezone`` with its offset when a zone's
    local time is what matters. Outside a request, ``2026-11-24 09:15:00`` in UTC."""
    if not rfc3339:
        return NONE
    try:
        ms = parse_rfc3339_ms(rfc3339)
    except TimestampError:
        return rfc3339
    locale = _format_locale()
    if locale is None:
        return format_ms(ms)[:19].replace("T", " ")
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    zone = zone_info(timezone)
    text = format_datetime(moment, DATETIME_PATTERNS.get(locale.split("_")[0], "medium"), tzinfo=zone, locale=locale)
    if zone is UTC:
        return f"{text} UTC" if named else text
    return f"{text} {utc_offset(moment.astimezone(zone))}"


def utc_offset(moment: datetime) -> str:
    """``UTC+1``, ``UTC+5:30``: a zone's offset written the same way in every language (CLDR's short zone names
    exist for some languages only: MESZ in German, +0200 in French)."""
    offset = moment.utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def score(value: float | None) -> str:
    return NONE if value is None else number(value, 2)


def plain(value: Any) -> str:
    """One JSON value as short text: numbers as the reader writes them, yes/no, lists joined, objects as JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        locale = _format_locale()
        return str(value) if locale is None else format_decimal(value, locale=locale)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(plain(item) for item in value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fact(key: str, value: Any) -> str:
    """One evidence value as a person reads it: headings rounded with their compass point, speeds and distances
    with their units, anything else as ``plain``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if key.startswith("heading") and key.endswith("_deg"):
            return heading(value)
        if key.endswith("_kmh"):
            return speed(value)
        if key.endswith("_m"):
            return distance(value)
    return plain(value)


def evidence_summary(evidence: dict[str, Any] | None, limit: int = SUMMARY_CHARS) -> str:
    """The detector's own ``summary`` when it wrote one, else ``key: value`` pairs; cut to ``limit``."""
    if not evidence:
        return NONE
    summary = evidence.get("summary")
    if isinstance(summary, str) and summary:
        text = summary
    else:
        text = "; ".join(f"{key.replace('_', ' ')}: {plain(value)}" for key, value in evidence.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


CLOCKS_AGREE_MS = 1000
"""Event and record times closer than this are shown once: the contract's times have millisecond resolution,
but a second is what the pages show."""


def step_label(entry: dict[str, Any]) -> str:
    """The words the audit log keeps for one history entry (English, whoever reads it): ``requested``,
    ``approved 1 of 2``, ``authorized``, ``sent``, ``acknowledged``, ``completed``, ``refused``, ``expired``. A
    first approval leaves the status ``requested`` (the contract has no status for it); its ``approval`` says
    what it was."""
    return "approved 1 of 2" if entry.get("approval") == 1 else str(entry.get("status", "?"))


def step_words(entry: dict[str, Any]) -> str:
    """``step_label`` in the reader's language, for the pages."""
    if entry.get("approval") == 1:
        return gettext("approved 1 of 2")
    return word(str(entry.get("status", "?")))


def recorded_time(entry: dict[str, Any]) -> str | None:
    """The time the platform recorded an entry (the one clock the history is ordered by), else its own ``at``."""
    return entry.get("recorded_at") or entry.get("at")


def event_time(entry: dict[str, Any]) -> str | None:
    """The entry's own ``at`` when it differs from the time it was recorded (a detector's event time, a truck's
    bus time), else None."""
    at, recorded = entry.get("at"), entry.get("recorded_at")
    if not at or not recorded:
        return None
    try:
        return at if abs(parse_rfc3339_ms(at) - parse_rfc3339_ms(recorded)) >= CLOCKS_AGREE_MS else None
    except TimestampError:
        return at


def last_change(history: list[dict[str, Any]] | None) -> str:
    """The newest history entry as ``approved 1 of 2 by police-berlin at 2026-11-24 09:20:00``."""
    if not history:
        return NONE
    entry = history[-1]
    text = gettext("%(step)s by %(who)s at %(time)s", step=step_words(entry), who=entry.get("by", "?"),
                   time=when(recorded_time(entry)))
    return f"{text}: {entry['note']}" if entry.get("note") else text


def speed(value: float | None) -> str:
    """``42 km/h``, to the nearest whole km/h: a GNSS speed is good to about 1 km/h."""
    return NONE if value is None else f"{number(value)} km/h"


def distance(metres: float | None) -> str:
    """``850 m`` under a kilometre, ``2.4 km`` above."""
    if metres is None:
        return NONE
    return f"{number(metres)} m" if metres < 1000 else f"{number(metres / 1000, 1)} km"


def duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min`` (SI symbols, the same in every language of the site)."""
    if seconds is None:
        return NONE
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def compass_point(degrees: float) -> str:
    """The nearest of the 16 compass points to a heading in degrees clockwise from north (68.8 → ``ENE``)."""
    return str(COMPASS_POINTS[round((degrees % 360) / 22.5) % 16])


def heading(degrees: float | None) -> str:
    """A heading rounded for people, with its compass point: 68.796875 → ``69° ENE``. A GNSS course is good to a
    few degrees at driving speed, so whole degrees say all there is."""
    if degrees is None:
        return NONE
    return f"{round(degrees) % 360}° {compass_point(degrees)}"


def live_words() -> dict[str, Any]:
    """The words and formats the pages' scripts need to write what the server writes (live rows, map popups), in
    the reader's language: a JSON block on every page (``#live-words``)."""
    locale = _format_locale() or FORMAT_LOCALES["en"]
    language = locale.split("_")[0]
    catalogue = get_translations()
    return {
        "lang": language,
        "locale": locale.replace("_", "-"),
        "iso_times": language in DATETIME_PATTERNS,
        "kinds": {kind: str(label) for kind, label in LABELS.items()},
        "words": {value: str(text) for value, text in WORDS.items()},
        "yes": gettext("yes"), "no": gettext("no"),
        "approved": gettext("approved 1 of 2"),
        "change": gettext("%(step)s by %(who)s at %(time)s"),
        "mode_to": gettext("%(mode)s to %(speed)s"),
        "empty": {"alerts": gettext("No alerts yet."), "stop requests": gettext("No stop requests.")},
        # The patterns, unformatted, for one and for several (the page fills in the number).
        "new": {"alerts": [catalogue.ngettext("%(num)d new alert", "%(num)d new alerts", n) for n in (1, 2)],
                "stop requests": [catalogue.ngettext("%(num)d new stop request", "%(num)d new stop requests", n)
                                  for n in (1, 2)]},
        "updated": gettext("Updated %(time)s; this list updates itself."),
        "offline": gettext("Cannot reach the server; retrying…"),
        "compass": [str(point) for point in COMPASS_POINTS],
    }


def register_filters(app: Flask) -> None:
    for name, function in (("kind_label", kind_label), ("when", when), ("score", score),
                           ("evidence_summary", evidence_summary), ("last_change", last_change),
                           ("plain", plain), ("step_label", step_label), ("step_words", step_words),
                           ("recorded_time", recorded_time), ("event_time", event_time), ("speed", speed),
                           ("distance", distance), ("duration", duration), ("heading", heading), ("word", word),
                           ("number", number), ("fact", fact)):
        app.add_template_filter(function, name)
    app.add_template_global(live_words, "live_words")
