"""CAN intrusion detection, pure: J1939 protocol rules and a learned model of normal traffic, in a windowed detector."""

from anomaly.can_intrusion.alerts import can_alerts
from anomaly.can_intrusion.detector import CanIntrusionDetector
from anomaly.can_intrusion.findings import CanDetectorConfig, CanFinding
from anomaly.can_intrusion.model import (
    ATTACKS,
    MODEL_VERSION,
    PROTOCOL_ATTACKS,
    CanModel,
    CanModelError,
    IdProfile,
)
from anomaly.can_intrusion.scoring import WindowScore, score_frames, score_log, window_f1
from anomaly.can_intrusion.state import CanVehicleState
from anomaly.can_intrusion.training import train_can_model

__all__ = [
    "ATTACKS",
    "MODEL_VERSION",
    "PROTOCOL_ATTACKS",
    "CanDetectorConfig",
    "CanFinding",
    "CanIntrusionDetector",
    "CanModel",
    "CanModelError",
    "CanVehicleState",
    "IdProfile",
    "WindowScore",
    "can_alerts",
    "score_frames",
    "score_log",
    "train_can_model",
    "window_f1",
]
