"""What one notification says about an alert or a stop request, with the absolute link to it on the site."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from telematics.kinds import BY_KIND

ALERT = "alert"
STOP_REQUEST = "stop_request"
SUBJECTS = (ALERT, STOP_REQUEST)
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Notice:
    """A channel-neutral message: each channel module turns it into its own format."""

    subject: str
    """``alert`` or ``stop_request``."""
    subject_id: str
    severity: str
    title: str
    summary: str
    url: str
    """Absolute link to the alert's or stop request's page."""
    facts: tuple[tuple[str, str], ...] = ()
    """Label and value pairs (vehicle, fleet, time, position), shown as a table where the channel can."""
    payload: dict[str, Any] = field(default_factory=dict)
    """The contract object itself (alert or stop request), for machine receivers."""
    test: bool = False

    def text(self) -> str:
        """Plain text: title, summary, facts, link; what e-mail and chat fallbacks show."""
        lines = [self.title]
        if self.summary:
            lines.append(self.summary)
        lines += [f"{label}: {value}" for label, value in self.facts]
        lines.append(self.url)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "subject_id": self.subject_id, "severity": self.severity,
                "title": self.title, "summary": self.summary, "url": self.url,
                "facts": [list(pair) for pair in self.facts], "payload": self.payload, "test": self.test}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Notice:
        return cls(subject=value["subject"], subject_id=value["subject_id"], severity=value["severity"],
                   title=value["title"], summary=value.get("summary", ""), url=value["url"],
                   facts=tuple((str(a), str(b)) for a, b in value.get("facts", [])),
                   payload=value.get("payload", {}), test=bool(value.get("test", False)))


def _label(kind: str) -> str:
    known = BY_KIND.get(kind)
    return known.label if known else kind.replace("_", " ").capitalize()


def _position(value: dict[str, Any]) -> str | None:
    lat, lon = value.get("lat"), value.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        return f"{lat:.5f}, {lon:.5f}"
    return None


def _facts(value: dict[str, Any], ts_field: str) -> tuple[tuple[str, str], ...]:
    facts = [("Vehicle", str(value.get("vehicle_id", "")))]
    if value.get("fleet_id"):
        facts.append(("Fleet", str(value["fleet_id"])))
    if value.get(ts_field):
        facts.append(("Time (UTC)", str(value[ts_field]).replace("T", " ").replace("Z", "")))
    position = _position(value)
    if position:
        facts.append(("Position", position))
    if value.get("zone_id"):
        facts.append(("Zone", str(value["zone_id"])))
    return tuple(facts)


def link(public_url: str, subject: str, subject_id: str) -> str:
    """The page of an alert or stop request on the site at ``public_url``."""
    path = "alerts" if subject == ALERT else "stop-requests"
    return f"{public_url.rstrip('/')}/{path}/{quote(subject_id, safe='')}"


def alert_notice(alert: dict[str, Any], public_url: str) -> Notice:
    """The notice of one alert revision (contract section 3)."""
    severity = str(alert.get("severity", "info"))
    evidence = alert.get("evidence") if isinstance(alert.get("evidence"), dict) else {}
    summary = str(evidence.get("summary", "")) if evidence else ""
    title = f"{severity.capitalize()}: {_label(str(alert.get('kind', '')))} — {alert.get('vehicle_id', '')}"
    return Notice(subject=ALERT, subject_id=str(alert["alert_id"]), severity=severity, title=title, summary=summary,
                  url=link(public_url, ALERT, str(alert["alert_id"])), facts=_facts(alert, "ts"), payload=alert)


_MODES = {"prevent_restart": "prevent restart", "speed_limit": "gradual speed limit",
          "controlled_stop": "controlled stop"}


def stop_request_notice(request: dict[str, Any], public_url: str) -> Notice:
    """The notice of a new remote-stop request: it waits for two officers' authorisation."""
    mode = _MODES.get(str(request.get("mode", "")), str(request.get("mode", "")))
    title = f"Stop request for {request.get('vehicle_id', '')}: authorisation needed ({mode})"
    facts = _facts(request, "ts")
    if request.get("target_speed_kmh") is not None:
        facts = (*facts, ("Target speed", f"{request['target_speed_kmh']:g} km/h"))
    return Notice(subject=STOP_REQUEST, subject_id=str(request["request_id"]), severity="critical", title=title,
                  summary=str(request.get("reason", "")), url=link(public_url, STOP_REQUEST,
                                                                  str(request["request_id"])),
                  facts=facts, payload=request)


OUTCOMES: dict[str, tuple[str, str]] = {
    "authorized": ("warning", "Stop request for {vehicle} authorised by {by}: {mode}"),
    "refused": ("info", "Stop request for {vehicle} refused by {by}"),
    "expired": ("warning", "Stop request for {vehicle} expired: no command was sent"),
    "cancelled": ("info", "Stop request for {vehicle} cancelled"),
    "sent": ("warning", "Stop command sent to {vehicle}: {mode}"),
    "acknowledged": ("warning", "{vehicle} acknowledged the stop command: {mode} under way"),
    "completed": ("info", "{vehicle}: {mode} completed"),
    "released": ("info", "{vehicle} released from the stop measures by {by}"),
}
"""Every status a stop request moves to after ``requested`` (contract section 4), and its release, with the severity
and title of its notice. Warning while the measure is under way or the danger is unanswered (an expired request),
info once it is settled either way. A request expires unauthorised (the site) or authorised too long before the
dispatcher could sign it; either way nothing reached the vehicle, and the note says which."""
RELEASED = "released"
"""Not a contract status: the site records a release (two officers lifting the measures) as a history entry of this
status and the request keeps its own (web/stop_flow.py)."""


def announced(request: dict[str, Any]) -> list[str]:
    """What a stop request message announces: its status (``requested``, or an outcome), and its release when its
    history holds one. An approval that waits for a second officer announces nothing new."""
    status = str(request.get("status", ""))
    if status == "requested":
        return [status]
    said = [status] if status in OUTCOMES else []
    if outcome_entry(request, RELEASED):
        said.append(RELEASED)
    return said


def outcome_entry(request: dict[str, Any], status: str) -> dict[str, Any]:
    """The history entry of the request's change to ``status`` (the latest, if it was recorded more than once)."""
    history = request.get("history")
    for entry in reversed(history if isinstance(history, list) else []):
        if isinstance(entry, dict) and entry.get("status") == status:
            return entry
    return {}


def stop_request_outcome_notice(request: dict[str, Any], status: str, public_url: str) -> Notice:
    """The notice of what became of a stop request: ``status`` (one of OUTCOMES), who made the change and when, and
    its note (a refusal's or release's reason, the command sent, what the vehicle reported)."""
    severity, title = OUTCOMES[status]
    entry = outcome_entry(request, status)
    by = str(entry.get("by") or "")
    mode = _MODES.get(str(request.get("mode", "")), str(request.get("mode", "")))
    note = str(entry.get("note") or "")
    facts = list(_facts(request, "ts"))
    facts.insert(1, ("Status", status))
    if by:
        facts.append(("By", by))
    if entry.get("at"):
        facts.append(("Changed at (UTC)", str(entry["at"]).replace("T", " ").replace("Z", "")))
    return Notice(subject=STOP_REQUEST, subject_id=str(request["request_id"]), severity=severity,
                  title=title.format(vehicle=request.get("vehicle_id", ""), by=by or "?", mode=mode),
                  summary=note or str(request.get("reason", "")),
                  url=link(public_url, STOP_REQUEST, str(request["request_id"])), facts=tuple(facts), payload=request)


def trial_notice(username: str, public_url: str) -> Notice:
    """What the settings page's "send a test message" sends: marked as a test, linking to the settings."""
    return Notice(subject="test", subject_id="test", severity="info", title="truckguard test message",
                  summary=f"This channel of {username} receives truckguard notifications.",
                  url=f"{public_url.rstrip('/')}/notifications", test=True)
