"""The detectors, one small unit each; ``default_detectors()`` is the set the engine runs."""

from __future__ import annotations

from anomaly.detectors.access import OffHoursUse, UnauthorizedDriver
from anomaly.detectors.equipment import GnssJamming, Panic, PowerCut
from anomaly.detectors.motion import Towing
from anomaly.detectors.zones import ProtectedZoneIntrusion, SpeedInZone
from anomaly.findings import Detector


def default_detectors() -> list[Detector]:
    return [
        Panic(),
        Towing(),
        PowerCut(),
        GnssJamming(),
        UnauthorizedDriver(),
        OffHoursUse(),
        ProtectedZoneIntrusion(),
        SpeedInZone(),
    ]
