"""The detectors, one small unit each; ``default_detectors()`` is the set the engine runs, in the order it runs them.

Each detector says itself when a record cannot concern it (``quiet``, see anomaly/findings.py);
tests/anomaly/test_fast_path.py requires the same outputs with and without asking.
"""

from __future__ import annotations

from anomaly.detectors.access import OffHoursUse, UnauthorizedDriver
from anomaly.detectors.behaviour import BehaviourAnomaly
from anomaly.detectors.equipment import GnssJamming, Panic, PowerCut, TelematicsOffline
from anomaly.detectors.fusion import HijackSuspected
from anomaly.detectors.motion import Towing
from anomaly.detectors.ramming import RammingRisk
from anomaly.detectors.safety_systems import SafetySystemDisabled
from anomaly.detectors.trip import CargoDoorOpen, RouteDeviation, TrailerUncoupled, UnscheduledStop
from anomaly.detectors.zones import ProtectedZoneIntrusion, SpeedInZone
from anomaly.findings import Detector


def default_detectors() -> list[Detector]:
    # Fusion reads the incidents the others opened on the same record, so it runs after them; the offline
    # detector closes its incident when the vehicle is heard again, so it runs after fusion has seen it.
    return [
        Panic(),
        Towing(),
        PowerCut(),
        GnssJamming(),
        UnauthorizedDriver(),
        OffHoursUse(),
        RouteDeviation(),
        UnscheduledStop(),
        CargoDoorOpen(),
        TrailerUncoupled(),
        ProtectedZoneIntrusion(),
        SpeedInZone(),
        SafetySystemDisabled(),
        RammingRisk(),
        BehaviourAnomaly(),
        HijackSuspected(),
        TelematicsOffline(),
    ]
