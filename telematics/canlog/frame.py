"""The plain CAN frame that every log reader returns and every writer takes."""

from __future__ import annotations

from dataclasses import dataclass

from telematics.canlog.errors import InvalidFrame

MAX_STANDARD_ID = 0x7FF
MAX_EXTENDED_ID = 0x1FFFFFFF


@dataclass(frozen=True, slots=True)
class Frame:
    """One classic CAN frame: bus time in epoch seconds (or seconds from the start for relative logs)."""

    timestamp: float
    arbitration_id: int
    is_extended: bool
    data: bytes
    channel: str | int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        limit = MAX_EXTENDED_ID if self.is_extended else MAX_STANDARD_ID
        if not 0 <= self.arbitration_id <= limit:
            kind = "a 29-bit extended" if self.is_extended else "an 11-bit standard"
            raise InvalidFrame(f"arbitration_id: got 0x{self.arbitration_id:X}, expected {kind} id <= 0x{limit:X}")
        if len(self.data) > 8:
            raise InvalidFrame(f"data: got {len(self.data)} bytes ({self.data.hex()}), expected 0..8")
