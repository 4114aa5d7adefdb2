"""can-utils candump text: the compact -l log and the spaced console output with -ta, -tz, -tA or -td times."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from telematics.canlog.errors import LogParseError
from telematics.canlog.frame import Frame
from telematics.canlog.spec import FormatSpec

TimeMode = Literal["absolute", "delta"]
WriteStyle = Literal["log", "absolute", "delta"]

DEFAULT_CHANNEL = "can0"

# (1700000000.123456) can0 18FEF100#FF0050FFFFFFFFFF
_COMPACT = re.compile(
    r"^\((?P<time>[^)]*)\)\s+(?P<channel>\S+)\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#(?P<body>\S*)(?:\s+\S+)*$"
)
# (1700000000.123456)  can0  18FEF100   [8]  FF 00 50 FF FF FF FF FF   '..P.....'
_SPACED = re.compile(
    r"^(?:\((?P<time>[^)]*)\)\s+)?(?P<channel>\S+)\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})\s+"
    r"\[(?P<dlc>\d)\]\s*(?P<body>(?:[0-9A-Fa-f]{2}(?:\s+|$))*)(?P<rest>.*)$"
)
_DATE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def is_compact_line(line: str) -> bool:
    """True for a candump -l line ``(t) can0 ID#DATA``, the only shape python-can's .log reader knows."""
    return _COMPACT.match(line.strip()) is not None


def _parse_time(text: str, source: str, number: int, line: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        # -tA prints local wall-clock date and time; we read it as UTC, the only zone a log can promise
        return datetime.strptime(text, _DATE_TIME).replace(tzinfo=UTC).timestamp()
    except ValueError:
        expected = "a time like (1700000000.123456) or (2023-11-14 22:13:20.123456)"
        raise LogParseError(source, number, line, expected) from None


def _compact_frame(match: re.Match[str], t: float, source: str, number: int, line: str) -> Frame:
    body = match["body"]
    if body.startswith("#") or body.upper().startswith("R"):
        raise LogParseError(source, number, line, "a classic data frame (CAN FD '##' and remote 'R' are not supported)")
    try:
        data = bytes.fromhex(body)
    except ValueError:
        raise LogParseError(source, number, line, "ID#DATA with DATA as 0-8 hex byte pairs") from None
    return Frame(t, int(match["id"], 16), len(match["id"]) == 8, data, match["channel"])


def _spaced_frame(match: re.Match[str], t: float, source: str, number: int, line: str) -> Frame:
    data = bytes.fromhex("".join(match["body"].split()))
    rest = match["rest"].strip()
    if len(data) != int(match["dlc"]) or (rest and not rest.startswith("'")):
        raise LogParseError(source, number, line, f"[{match['dlc']}] followed by {match['dlc']} hex bytes")
    return Frame(t, int(match["id"], 16), len(match["id"]) == 8, data, match["channel"])


def parse_lines(lines: Iterable[str], time_mode: TimeMode = "absolute", source: str = "<text>") -> Iterator[Frame]:
    """Frames from candump text; ``time_mode='delta'`` adds up -td gaps from 0.0. Blank and '#' lines are skipped."""
    elapsed = 0.0
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        match = _COMPACT.match(line)
        parse = _compact_frame
        if match is None:
            match = _SPACED.match(line)
            parse = _spaced_frame
        if match is None:
            expected = "candump output: '(time) can0 ID#DATA' or '(time)  can0  ID   [n]  XX ..'"
            raise LogParseError(source, number, line, expected)
        t = 0.0 if match["time"] is None else _parse_time(match["time"], source, number, line)
        if time_mode == "delta":
            elapsed += t
            t = elapsed
        yield parse(match, t, source, number, line)


def _channel(frame: Frame) -> str:
    return frame.channel if isinstance(frame.channel, str) and frame.channel else DEFAULT_CHANNEL


def _hex_id(frame: Frame) -> str:
    return f"{frame.arbitration_id:08X}" if frame.is_extended else f"{frame.arbitration_id:03X}"


def format_line(frame: Frame, style: WriteStyle = "log", previous_t: float | None = None) -> str:
    """One frame as candump prints it: -l (``log``), -ta (``absolute``) or -td (``delta`` from ``previous_t``)."""
    if style == "log":
        return f"({frame.timestamp:.6f}) {_channel(frame)} {_hex_id(frame)}#{frame.data.hex().upper()}"
    t = frame.timestamp if style == "absolute" else (0.0 if previous_t is None else frame.timestamp - previous_t)
    stamp = f"({t:.6f})" if style == "absolute" else f"({t:010.6f})"
    payload = " ".join(f"{byte:02X}" for byte in frame.data)
    return f"{stamp}  {_channel(frame)}  {_hex_id(frame):>8}   [{len(frame.data)}]  {payload}".rstrip()


def write_lines(frames: Iterable[Frame], out: TextIO, style: WriteStyle = "log") -> int:
    """Write frames as candump text; returns how many were written."""
    previous: float | None = None
    count = 0
    for frame in frames:
        out.write(format_line(frame, style, previous) + "\n")
        previous = frame.timestamp
        count += 1
    return count


def read_candump(path: Path, time_mode: TimeMode = "absolute") -> Iterator[Frame]:
    with path.open(encoding="ascii", errors="replace") as handle:
        yield from parse_lines(handle, time_mode, source=str(path))


def write_candump(path: Path, frames: Iterable[Frame], style: WriteStyle = "log") -> int:
    with path.open("w", encoding="ascii", newline="\n") as handle:
        return write_lines(frames, handle, style)


def _read_absolute(path: Path) -> Iterator[Frame]:
    return read_candump(path, "absolute")


def _read_delta(path: Path) -> Iterator[Frame]:
    return read_candump(path, "delta")


def _write_log(path: Path, frames: Iterable[Frame]) -> int:
    return write_candump(path, frames, "log")


def _write_absolute(path: Path, frames: Iterable[Frame]) -> int:
    return write_candump(path, frames, "absolute")


def _write_delta(path: Path, frames: Iterable[Frame]) -> int:
    return write_candump(path, frames, "delta")


FORMAT = FormatSpec(
    name="candump",
    suffixes=(".candump", ".dump"),
    read=_read_absolute,
    write=_write_log,
    timestamp_resolution_s=1e-6,
    description="can-utils candump text, read in any shape (-l, or console output with -ta/-tz/-tA or no time); "
    "written as -l",
)
ABSOLUTE_FORMAT = FormatSpec(
    name="candump-ta",
    suffixes=(),
    read=_read_absolute,
    write=_write_absolute,
    timestamp_resolution_s=1e-6,
    description="candump console output with absolute times (candump -ta)",
)
DELTA_FORMAT = FormatSpec(
    name="candump-td",
    suffixes=(),
    read=_read_delta,
    write=_write_delta,
    timestamp_resolution_s=1e-6,
    description="candump console output with times since the previous frame (candump -td); read back from 0.0",
)
