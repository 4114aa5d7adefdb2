"""What a detector reports about one record (opened, escalated or closed incidents) and the detector interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from mypy_extensions import mypyc_attr

from anomaly.incidents import Change, Incident, raise_severity, step
from anomaly.observation import Observation
from anomaly.vehicle_state import MotionState


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    change: Change
    severity: str
    onset_ms: int
    score: float
    zone_id: str | None
    evidence: dict[str, Any]
    revision: int
    at_ms: int | None = None
    """The event time the alert stands for when no record raised it (a silence); None: the record's own ts."""


@mypyc_attr(allow_interpreted_subclasses=True)
class Detector:
    """A small unit with a per-vehicle state object and two entry points: ``quiet`` and ``observe``.

    ``quiet(obs, state)`` is the detector's own fast path: True when this record cannot concern it (it does the
    small bookkeeping ``observe`` would have done on such a record, and nothing else), so the engine skips
    ``observe``. It may answer False when it need not (that is always correct), never True when ``observe`` would
    report or change more than that bookkeeping; tests/anomaly/test_fast_path.py runs every kind of scenario with
    and without the fast path and requires the same outputs and saved state, byte for byte. The default here is
    False (always look); every detector of ``default_detectors()`` defines its own (a test checks).

    A detector that also reports silences has ``silence(motion, state, until_ms)`` and ``silence_floor_ms``, the
    shortest silence of a moving vehicle it can report; the engine does not ask about shorter ones.
    """

    name: ClassVar[str] = ""
    state_type: ClassVar[type] = object

    def quiet(self, obs: Observation, state: Any) -> bool:
        return False

    def observe(self, obs: Observation, state: Any) -> list[Finding]:
        raise NotImplementedError(f"{type(self).__name__} does not define observe")


def under_way(incident: Incident) -> bool:
    """The incident's condition has begun to hold, or it is open: its detector must look."""
    return incident.onset_ms is not None or incident.is_open


class SilenceDetector(Protocol):
    """A detector that also reports a moving vehicle's silence (see ``Detector``)."""

    @property
    def name(self) -> str: ...
    @property
    def silence_floor_ms(self) -> int: ...

    def silence(self, motion: MotionState, state: Any, until_ms: int) -> list[Finding]: ...


def track(
    kind: str,
    incident: Incident,
    condition: bool,
    ts_ms: int,
    *,
    hold_ms: int,
    clear_ms: int,
    severity: Callable[[], str],
    score: Callable[[], float],
    evidence: Callable[[], dict[str, Any]],
    zone_id: str | None = None,
) -> Finding | None:
    """Step an incident and say what to report: opened or escalated (with evidence), closed, or nothing."""
    if not condition and not incident.is_open and incident.onset_ms is None:
        return None
    onset_before = incident.onset_ms
    change = step(incident, condition, ts_ms, hold_ms=hold_ms, clear_ms=clear_ms)
    if change is Change.CLOSED:
        assert onset_before is not None
        return Finding(kind, Change.CLOSED, "info", onset_before, 0.0, zone_id, {}, -1)
    if incident.is_open and condition and raise_severity(incident, severity()):
        assert incident.onset_ms is not None
        return Finding(
            kind,
            Change.OPENED if incident.revision == 0 else Change.ESCALATED,
            incident.severity,
            incident.onset_ms,
            round(min(1.0, max(0.0, score())), 3),
            zone_id,
            evidence(),
            incident.revision,
        )
    return None


def kmh(value: float | None) -> float | None:
    """Speeds in evidence, rounded for a human reader."""
    return None if value is None else round(value, 1)
