"""Transport protocol (BAM) and the driver identification payload it carries."""

from __future__ import annotations

import pytest

from telematics.j1939 import (
    DRIVER_IDENTIFICATION_PGN,
    BamReassembler,
    DriverIdentification,
    TransportError,
    bam_frames,
    decode_driver_identification,
    encode_driver_identification,
)
from telematics.j1939.driver_id import InvalidDriverIdentification


def test_driver_identification_goes_out_as_a_hand_checked_bam() -> None:
    payload = encode_driver_identification(DriverIdentification("DE0000012345"))
    assert payload == b"DE0000012345**"  # driver 1, '*', empty driver 2, '*'
    frames = bam_frames(DRIVER_IDENTIFICATION_PGN, payload, sa=0xEE)
    # TP.CM (PGN 0xEC00) priority 7 to global from 0xEE: 0x1CECFFEE. Control 32 (BAM), size 14 = 0x000E,
    # 2 packets, 0xFF, then PGN 65131 = 0x00FE6B little-endian: 6B FE 00
    assert frames[0] == (0x1CECFFEE, bytes.fromhex("20 0E 00 02 FF 6B FE 00"))
    # TP.DT (PGN 0xEB00): sequence number then seven bytes; 14 bytes fill both packets exactly
    assert frames[1] == (0x1CEBFFEE, b"\x01DE00000")
    assert frames[2] == (0x1CEBFFEE, b"\x0212345**")


def test_reassembly_ignores_other_traffic_and_pads() -> None:
    payload = b"X" * 20  # 7 + 7 + 6 bytes: the third packet ends with one 0xFF of padding
    frames = bam_frames(0xFEEC, payload, sa=0x17)
    assert frames[-1][1] == b"\x03" + b"X" * 6 + b"\xff"
    reassembler = BamReassembler()
    assert len(frames) == 4  # announce + 3 data packets
    done = [reassembler.feed(can_id, data, 0.05 * index) for index, (can_id, data) in enumerate(frames[:3])]
    assert reassembler.feed(0x18FEF100, b"\xff" * 8, 0.12) is None  # unrelated frame in between
    done.append(reassembler.feed(*frames[3], 0.15))
    assert done[:3] == [None, None, None]
    assert done[3] is not None and (done[3].pgn, done[3].sa, done[3].payload) == (0xFEEC, 0x17, payload)


def test_sessions_of_different_senders_do_not_mix() -> None:
    one, two = bam_frames(65131, b"A" * 10, sa=0x01), bam_frames(65131, b"B" * 10, sa=0x02)
    reassembler = BamReassembler()
    results = [reassembler.feed(can_id, data, 0.0) for can_id, data in (one[0], two[0], one[1], two[1], two[2], one[2])]
    finished = [result for result in results if result is not None]
    assert [(result.sa, result.payload) for result in finished] == [(0x02, b"B" * 10), (0x01, b"A" * 10)]


def test_a_late_packet_drops_the_session() -> None:
    frames = bam_frames(65131, b"C" * 10, sa=0x05)
    reassembler = BamReassembler()
    reassembler.feed(*frames[0], 0.0)
    reassembler.feed(*frames[1], 0.05)
    assert reassembler.feed(*frames[2], 1.0) is None  # 950 ms later: past the 750 ms T1 timeout
    assert reassembler.dropped == 1


def test_bam_limits_are_named() -> None:
    with pytest.raises(TransportError, match=r"payload: got 8 bytes, expected 9\.\.1785"):
        bam_frames(65131, b"12345678", sa=0)


def test_driver_identification_parsing() -> None:
    assert decode_driver_identification(b"NL123*DE456*") == DriverIdentification("NL123", "DE456")
    assert decode_driver_identification(b"**\xff\xff\xff\xff\xff\xff") == DriverIdentification("", "")
    with pytest.raises(InvalidDriverIdentification, match="expected '<driver 1>\\*<driver 2>\\*'"):
        decode_driver_identification(b"NOSTAR")
    with pytest.raises(InvalidDriverIdentification, match="driver1: got 'A\\*B'"):
        encode_driver_identification(DriverIdentification("A*B"))
