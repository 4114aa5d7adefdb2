"""J1939 transport protocol, broadcast form (BAM): split a long payload into TP frames and put it back together."""

from __future__ import annotations

from dataclasses import dataclass, field

from telematics.j1939.errors import TransportError
from telematics.j1939.ids import GLOBAL_ADDRESS, make_can_id, parse_can_id

TP_CM_PGN = 60416
TP_DT_PGN = 60160
BAM_CONTROL_BYTE = 32
ABORT_CONTROL_BYTE = 255
TP_PRIORITY = 7
BYTES_PER_PACKET = 7
MAX_PAYLOAD = 255 * BYTES_PER_PACKET
BAM_PACKET_GAP_S = 0.05
"""Gap between BAM data packets; J1939-21 asks for 50 to 200 ms."""
BAM_TIMEOUT_S = 0.75
"""A receiver drops a BAM session when the next packet is this late (J1939-21 timeout T1)."""


@dataclass(frozen=True, slots=True)
class TransportMessage:
    """A reassembled multi-packet message."""

    pgn: int
    sa: int
    payload: bytes


def bam_frames(pgn: int, payload: bytes, sa: int, priority: int = TP_PRIORITY) -> list[tuple[int, bytes]]:
    """TP.CM BAM announce frame followed by its TP.DT packets, as (can_id, data) pairs, in sending order."""
    if not BYTES_PER_PACKET + 2 <= len(payload) <= MAX_PAYLOAD:
        raise TransportError(f"payload: got {len(payload)} bytes, expected 9..{MAX_PAYLOAD} for a BAM transfer")
    packets = -(-len(payload) // BYTES_PER_PACKET)
    announce = bytes(
        [
            BAM_CONTROL_BYTE,
            len(payload) & 0xFF,
            len(payload) >> 8,
            packets,
            0xFF,
            pgn & 0xFF,
            (pgn >> 8) & 0xFF,
            (pgn >> 16) & 0xFF,
        ]
    )
    frames = [(make_can_id(TP_CM_PGN, sa, GLOBAL_ADDRESS, priority), announce)]
    dt_id = make_can_id(TP_DT_PGN, sa, GLOBAL_ADDRESS, priority)
    for index in range(packets):
        chunk = payload[index * BYTES_PER_PACKET : (index + 1) * BYTES_PER_PACKET]
        frames.append((dt_id, bytes([index + 1]) + chunk.ljust(BYTES_PER_PACKET, b"\xff")))
    return frames


@dataclass(slots=True)
class _Session:
    pgn: int
    size: int
    packets: int
    last_t: float
    received: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class BamReassembler:
    """Collects BAM sessions per source address; feed it every frame, it returns finished messages."""

    timeout_s: float = BAM_TIMEOUT_S
    sessions: dict[int, _Session] = field(default_factory=dict)
    dropped: int = 0
    """Sessions abandoned: timed out, restarted, or with an out-of-range packet."""

    def feed(self, can_id: int, data: bytes, t: float) -> TransportMessage | None:
        """Consume one frame at time ``t``; a completed BAM message comes back, anything else gives None."""
        fields = parse_can_id(can_id)
        if fields.da != GLOBAL_ADDRESS or len(data) < 8:
            return None
        if fields.pgn == TP_CM_PGN:
            self._announce(fields.sa, data, t)
            return None
        if fields.pgn == TP_DT_PGN:
            return self._packet(fields.sa, data, t)
        return None

    def _announce(self, sa: int, data: bytes, t: float) -> None:
        if data[0] == ABORT_CONTROL_BYTE:
            self._drop(sa)
            return
        if data[0] != BAM_CONTROL_BYTE:
            return
        if sa in self.sessions:
            self._drop(sa)
        size, packets = data[1] | (data[2] << 8), data[3]
        if packets == 0 or packets != -(-size // BYTES_PER_PACKET):
            self.dropped += 1
            return
        pgn = data[5] | (data[6] << 8) | (data[7] << 16)
        self.sessions[sa] = _Session(pgn=pgn, size=size, packets=packets, last_t=t)

    def _packet(self, sa: int, data: bytes, t: float) -> TransportMessage | None:
        session = self.sessions.get(sa)
        if session is None:
            return None
        sequence = data[0]
        if t - session.last_t > self.timeout_s or not 1 <= sequence <= session.packets:
            self._drop(sa)
            return None
        session.received[sequence] = bytes(data[1:8])
        session.last_t = t
        if len(session.received) < session.packets:
            return None
        del self.sessions[sa]
        payload = b"".join(session.received[index] for index in range(1, session.packets + 1))
        return TransportMessage(pgn=session.pgn, sa=sa, payload=payload[: session.size])

    def _drop(self, sa: int) -> None:
        if self.sessions.pop(sa, None) is not None:
            self.dropped += 1
