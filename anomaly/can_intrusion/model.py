"""The learned normal CAN traffic of one vehicle model: ids, periods, senders, payload bits; saved as versioned JSON."""

from __future__ import annotations

from pathlib import Path

import msgspec

from telematics.errors import BadInput

MODEL_VERSION = "can-model-1"
ATTACKS = ("dos", "fuzzing", "spoofing", "injection", "address_claim", "transport_protocol", "request_overload")
"""Values of ``evidence.attack`` in ``can_intrusion`` alerts."""
PROTOCOL_ATTACKS = ("dos", "fuzzing", "address_claim", "transport_protocol", "request_overload")
"""What the protocol rules find with no model; spoofing and injection need a model of the vehicle's traffic."""

TSC1_PGN = 0
XBR_PGN = 1024
CONTROL_PGNS = (TSC1_PGN, XBR_PGN)
"""Torque/speed control and external brake requests: only a few named nodes may ever send them."""
ADDRESS_CLAIM_PGN = 60928
REQUEST_PGN = 59904
TP_CM_PGN = 60416
TP_DT_PGN = 60160
CCVS1_PGN = 65265
VDS_PGN = 65256
VP_PGN = 65267
TCO1_PGN = 65132

KIND_PERIODIC = "periodic"
KIND_EVENT = "event"
KIND_TRANSPORT = "transport"
KIND_CLAIM = "claim"
KIND_CONTROL = "control"


class CanModelError(BadInput):
    """A CAN model file is unreadable, of another version, or inconsistent."""


class IdProfile(msgspec.Struct, kw_only=True):
    """What one 29-bit CAN id looked like in the reference captures."""

    can_id: int
    pgn: int
    sa: int
    kind: str
    frames: int
    period_s: float | None
    """Median gap between frames; None when seen fewer than three times."""
    min_gap_s: float | None
    max_per_window: int
    dlc: list[int]
    check_mask: int = 0
    """Payload bits (little-endian 64-bit word) that never changed and may be checked: padding, protocol fields,
    signals constantly 'not available', the high bit of two-bit states seen only as off/on."""
    check_value: int = 0


class TransportProfile(msgspec.Struct, kw_only=True):
    """Who used the transport protocol for which parameter groups, and how much control traffic was normal."""

    senders: dict[int, list[int]] = msgspec.field(default_factory=dict)
    """SA -> PGNs it sent in multi-packet transfers (BAM or RTS)."""
    max_rts_cts_per_window: int = 0
    max_sessions_per_window: int = 0


class CanModel(msgspec.Struct, kw_only=True):
    """Normal traffic of one vehicle model, learned by ``train_can_model``."""

    version: str = MODEL_VERSION
    window_s: float = 1.0
    ids: dict[int, IdProfile] = msgspec.field(default_factory=dict)
    pgn_sources: dict[int, list[int]] = msgspec.field(default_factory=dict)
    """PGN -> source addresses that sent it."""
    control_senders: dict[int, list[int]] = msgspec.field(default_factory=dict)
    """TSC1 (0) / XBR (1024) -> the only SAs allowed to send them (empty: nobody)."""
    claim_names: dict[int, list[int]] = msgspec.field(default_factory=dict)
    """SA -> NAME without its 21-bit identity number (function, manufacturer, instances): what may hold it."""
    max_claims_per_window: int = 0
    max_frames_per_window: int = 0
    mean_frames_per_window: float = 0.0
    transport: TransportProfile = msgspec.field(default_factory=TransportProfile)
    captures: int = 0
    frames: int = 0
    windows: int = 0
    notes: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """False for the empty model: the detector then applies the protocol rules alone."""
        return bool(self.ids)

    def save(self, path: Path | str) -> Path:
        """Write the model as indented JSON; returns the path."""
        path = Path(path)
        path.write_bytes(msgspec.json.format(msgspec.json.encode(self), indent=1) + b"\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> CanModel:
        """Read a model written by ``save``; refuses another version."""
        raw = Path(path).read_bytes()
        try:
            header = msgspec.json.decode(raw, type=dict)
        except msgspec.DecodeError as exc:
            raise CanModelError(f"{path}: not JSON ({exc}), expected a CAN model written by CanModel.save") from None
        version = header.get("version")
        if version != MODEL_VERSION:
            raise CanModelError(f"{path}: version: got {version!r}, expected {MODEL_VERSION!r}")
        try:
            return msgspec.json.decode(raw, type=cls)
        except msgspec.ValidationError as exc:
            raise CanModelError(f"{path}: {exc}") from None


def split_id(can_id: int) -> tuple[int, int]:
    """PGN and SA of a 29-bit id without validation (hot path); PDU1 destinations are not part of the PGN."""
    pgn = (can_id >> 8) & 0x3FFFF
    if (pgn >> 8) & 0xFF < 240:
        pgn &= 0x3FF00
    return pgn, can_id & 0xFF
