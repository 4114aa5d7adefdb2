"""can-utils candump text: hand-written -ta, -td, -tA, -l and untimed snippets."""

from __future__ import annotations

import io

import pytest

from telematics.canlog import Frame, LogParseError, format_line, parse_lines, read_frames, write_frames
from telematics.canlog.candump import write_lines

TA_SNIPPET = """\
(1700000000.123456)  can0  18FEF100   [8]  FF 00 50 FF FF FF FF FF
(1700000000.223456)  can0  0CF00400   [8]  FF FF FF E0 2E FF FF FF   '.......'
(1700000000.250000)  vcan1  123   [3]  01 02 03
(1700000000.300000)  can0  7FF   [0]
"""

TD_SNIPPET = """\
(000.000000)  can0  18FEF100   [8]  FF 00 50 FF FF FF FF FF
(000.100012)  can0  18FEF100   [8]  FF 00 51 FF FF FF FF FF
(000.099988)  can0  18FEF100   [8]  FF 00 52 FF FF FF FF FF
"""


def test_absolute_console_output() -> None:
    frames = list(parse_lines(TA_SNIPPET.splitlines()))
    assert frames[0] == Frame(1700000000.123456, 0x18FEF100, True, bytes.fromhex("FF0050FFFFFFFFFF"), "can0")
    assert frames[1].data == bytes.fromhex("FFFFFFE02EFFFFFF")  # the ASCII column (-a) is ignored
    assert (frames[2].arbitration_id, frames[2].is_extended, frames[2].data, frames[2].channel) == (
        0x123,
        False,
        b"\x01\x02\x03",
        "vcan1",
    )
    assert frames[3].data == b"" and not frames[3].is_extended


def test_delta_console_output_adds_up_from_zero() -> None:
    frames = list(parse_lines(TD_SNIPPET.splitlines(), time_mode="delta"))
    assert [round(frame.timestamp, 6) for frame in frames] == [0.0, 0.100012, 0.2]
    assert [frame.data[2] for frame in frames] == [0x50, 0x51, 0x52]


def test_log_file_lines_and_date_times_and_untimed_lines() -> None:
    compact = list(parse_lines(["(1700000000.500000) can0 18FEF100#FF0050FFFFFFFFFF", "(1.000000) can1 123#"]))
    assert compact[0].timestamp == 1700000000.5 and compact[0].data[2] == 0x50
    assert compact[1] == Frame(1.0, 0x123, False, b"", "can1")
    dated = next(parse_lines(["(2023-11-14 22:13:20.123456)  can0  18FEF100   [1]  AA"]))
    assert dated.timestamp == pytest.approx(1700000000.123456)  # -tA: read as UTC
    untimed = next(parse_lines(["  can0  18FEF100   [2]  AB CD"]))
    assert (untimed.timestamp, untimed.data) == (0.0, b"\xab\xcd")


def test_a_bad_line_names_its_number_and_what_was_expected() -> None:
    lines = ["# comment", "(1.0)  can0  123   [2]  01", "garbage"]
    with pytest.raises(LogParseError, match=r"<text> line 2: got .*expected \[2\] followed by 2 hex bytes"):
        list(parse_lines(lines))
    with pytest.raises(LogParseError, match="line 1: got 'garbage'"):
        list(parse_lines(["garbage"]))
    with pytest.raises(LogParseError, match="CAN FD"):
        list(parse_lines(["(1.0) can0 123##1AABB"]))


def test_writing_the_three_candump_styles() -> None:
    frames = [
        Frame(1700000000.1, 0x18FEF100, True, b"\xff\x00\x50", "can0"),
        Frame(1700000000.35, 0x123, False, b"", None),
    ]
    assert format_line(frames[0]) == "(1700000000.100000) can0 18FEF100#FF0050"
    out = io.StringIO()
    write_lines(frames, out, "delta")
    assert out.getvalue().splitlines() == [
        "(000.000000)  can0  18FEF100   [3]  FF 00 50",
        "(000.250000)  can0       123   [0]",
    ]
    assert format_line(frames[1], "absolute") == "(1700000000.350000)  can0       123   [0]"


@pytest.mark.parametrize("name", ["candump", "candump-ta", "candump-td"])
def test_files_round_trip_in_each_style(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    frames = [Frame(10.0 + 0.01 * index, 0x18FEF100 + index, True, bytes([index]) * 8, "can0") for index in range(5)]
    path = tmp_path / "capture.txt"
    assert write_frames(path, frames, format=name) == 5
    back = list(read_frames(path, format=name))
    offset = frames[0].timestamp if name == "candump-td" else 0.0  # -td comes back relative to the first frame
    assert [(f.arbitration_id, f.data) for f in back] == [(f.arbitration_id, f.data) for f in frames]
    assert [round(f.timestamp + offset, 6) for f in back] == [round(f.timestamp, 6) for f in frames]


def test_console_output_saved_as_dot_log_is_still_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "console.log"
    path.write_text(TA_SNIPPET)
    frames = list(read_frames(path))  # python-can's .log reader cannot parse this spaced shape; ours does
    assert len(frames) == 4 and frames[0].timestamp == 1700000000.123456
