"""The 29-bit J1939 identifier: priority, PGN, source and destination address, in both directions."""

from __future__ import annotations

from dataclasses import dataclass

from telematics.j1939.errors import InvalidAddress, InvalidCanId

MAX_EXTENDED_ID = 0x1FFFFFFF
GLOBAL_ADDRESS = 0xFF
NULL_ADDRESS = 0xFE
PDU2_THRESHOLD = 240
"""PDU format values from 240 up are PDU2 (broadcast, PS is part of the PGN); below are PDU1 (PS = destination)."""


@dataclass(frozen=True, slots=True)
class J1939Id:
    """The fields of one J1939 CAN id; ``da`` is GLOBAL_ADDRESS for PDU2 (broadcast) PGNs."""

    priority: int
    pgn: int
    sa: int
    da: int

    @property
    def is_pdu1(self) -> bool:
        return is_pdu1_pgn(self.pgn)


def _check_can_id(can_id: int) -> None:
    if isinstance(can_id, bool) or not isinstance(can_id, int) or not 0 <= can_id <= MAX_EXTENDED_ID:
        raise InvalidCanId(f"can_id: got {can_id!r}, expected an integer 0..0x1FFFFFFF (29-bit extended id)")


def _check_address(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise InvalidAddress(f"{field}: got {value!r}, expected an address 0..255")


def is_pdu1_pgn(pgn: int) -> bool:
    """True when the PGN's PDU format is below 240, so frames carry a destination address."""
    return ((pgn >> 8) & 0xFF) < PDU2_THRESHOLD


def pgn_of(can_id: int) -> int:
    """The PGN inside a 29-bit id: EDP, DP and PF always, PS only for PDU2 (PF >= 240)."""
    _check_can_id(can_id)
    pgn = (can_id >> 8) & 0x3FFFF
    if ((pgn >> 8) & 0xFF) < PDU2_THRESHOLD:
        pgn &= 0x3FF00
    return pgn


def parse_can_id(can_id: int) -> J1939Id:
    """Split a 29-bit id into priority, PGN, source address and destination address."""
    pgn = pgn_of(can_id)
    da = (can_id >> 8) & 0xFF if is_pdu1_pgn(pgn) else GLOBAL_ADDRESS
    return J1939Id(priority=(can_id >> 26) & 0x7, pgn=pgn, sa=can_id & 0xFF, da=da)


def make_can_id(pgn: int, sa: int, da: int | None = None, priority: int = 6) -> int:
    """Build a 29-bit id; ``da`` applies to PDU1 PGNs only (default: global address) and is refused for PDU2."""
    if isinstance(pgn, bool) or not isinstance(pgn, int) or not 0 <= pgn <= 0x3FFFF:
        raise InvalidCanId(f"pgn: got {pgn!r}, expected an integer 0..0x3FFFF")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 7:
        raise InvalidCanId(f"priority: got {priority!r}, expected an integer 0..7")
    _check_address("sa", sa)
    if is_pdu1_pgn(pgn):
        if pgn & 0xFF:
            raise InvalidCanId(f"pgn: got {pgn} (0x{pgn:05X}), expected a PDU1 PGN with its low byte 0x00")
        destination = GLOBAL_ADDRESS if da is None else da
        _check_address("da", destination)
        return (priority << 26) | ((pgn | destination) << 8) | sa
    if da is not None and da != GLOBAL_ADDRESS:
        raise InvalidAddress(f"da: got {da!r} for PDU2 PGN {pgn}, expected none (PDU2 frames are broadcast)")
    return (priority << 26) | (pgn << 8) | sa
