"""J1939 identifier parsing and building: PDU1 vs PDU2, priority, source and destination addresses."""

from __future__ import annotations

import pytest

from telematics.j1939 import GLOBAL_ADDRESS, InvalidAddress, InvalidCanId, make_can_id, parse_can_id, pgn_of


def test_pdu2_keeps_the_pdu_specific_byte_in_the_pgn() -> None:
    # 0x18FEF100: priority 0x18 >> 2 = 6, PF 0xFE (>= 240, PDU2), PS 0xF1 -> PGN 0xFEF1 = 65265 (CCVS1), SA 0x00
    fields = parse_can_id(0x18FEF100)
    assert (fields.priority, fields.pgn, fields.sa, fields.da) == (6, 65265, 0x00, GLOBAL_ADDRESS)
    assert not fields.is_pdu1


def test_pdu1_takes_the_pdu_specific_byte_as_destination() -> None:
    # 0x0C000027: priority 3, PF 0x00 (< 240, PDU1), PS 0x00 = destination engine, SA 0x27 -> TSC1, PGN 0
    tsc1 = parse_can_id(0x0C000027)
    assert (tsc1.priority, tsc1.pgn, tsc1.da, tsc1.sa) == (3, 0, 0x00, 0x27)
    # 0x0C040B2A: PF 0x04, PS 0x0B = brake controller, SA 0x2A -> XBR, PGN 0x0400 = 1024
    xbr = parse_can_id(0x0C040B2A)
    assert (xbr.pgn, xbr.da, xbr.sa) == (1024, 0x0B, 0x2A)
    # 0x18EEFF00: PF 0xEE = 238 < 240, so PS 0xFF is the (global) destination, PGN 0xEE00 = 60928 address claim
    assert pgn_of(0x18EEFF00) == 60928
    assert parse_can_id(0x18EEFF00).da == GLOBAL_ADDRESS


def test_data_page_bit_is_part_of_the_pgn() -> None:
    # DP set (bit 24): 0x19FEF100 carries PGN 0x1FEF1 = 130801, not 65265
    assert pgn_of(0x19FEF100) == 0x1FEF1


@pytest.mark.parametrize("sa", [0x00, 0x0B, 0x2A, 0x80, 0xFD, 0xFE])
@pytest.mark.parametrize(("pgn", "da"), [(65265, None), (61444, None), (0, 0x00), (1024, 0x0B), (60928, 0xFF)])
def test_make_and_parse_round_trip_for_any_source_address(pgn: int, da: int | None, sa: int) -> None:
    can_id = make_can_id(pgn, sa, da, priority=5)
    fields = parse_can_id(can_id)
    assert (fields.pgn, fields.sa, fields.priority) == (pgn, sa, 5)
    assert fields.da == (GLOBAL_ADDRESS if da is None else da)


def test_pdu1_without_destination_goes_to_the_global_address() -> None:
    assert make_can_id(60928, sa=0x21) == 0x18EEFF21


def test_pdu2_refuses_a_destination_and_names_it() -> None:
    with pytest.raises(InvalidAddress, match="da: got 0 for PDU2 PGN 65265"):
        make_can_id(65265, sa=0x00, da=0x00)


def test_invalid_ids_and_fields_are_named() -> None:
    with pytest.raises(InvalidCanId, match=r"can_id: got 536870912, expected .*0x1FFFFFFF"):
        pgn_of(0x20000000)
    with pytest.raises(InvalidCanId, match="priority: got 8"):
        make_can_id(65265, sa=0, priority=8)
    with pytest.raises(InvalidAddress, match="sa: got 256"):
        make_can_id(65265, sa=256)
    with pytest.raises(InvalidCanId, match="PDU1 PGN with its low byte 0x00"):
        make_can_id(0x0405, sa=0)
