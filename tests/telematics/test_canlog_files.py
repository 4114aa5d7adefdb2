"""Every writable log format round-trips a generated J1939 capture; registry and contract batches."""

from __future__ import annotations

import pytest

from telematics.canlog import (
    BY_SUFFIX,
    FORMATS,
    Frame,
    InvalidFrame,
    UnknownFormat,
    batch_to_frames,
    format_for,
    frames_to_batch,
    mf4,
    read_frames,
    write_frames,
)
from telematics.j1939 import decode_frame, encode_frame

START = 1795507200.0  # 2026-11-24T08:00:00Z


def _capture() -> list[Frame]:
    """Two seconds of a moving truck, built with the codec: wheel speed rising, engine speed, one standard id."""
    frames = []
    for step in range(20):
        t = START + step * 0.1 + 0.000123
        can_id, data = encode_frame("CCVS1", {"WheelBasedVehicleSpeed": 40 + step, "ParkingBrakeSwitch": 0}, sa=0x0B)
        frames.append(Frame(t, can_id, True, data, "can0"))
        can_id, data = encode_frame("EEC1", {"EngineSpeed": 1200 + step}, sa=0x00)
        frames.append(Frame(t + 0.02, can_id, True, data, "can0"))
    frames.append(Frame(START + 2.5, 0x7DF, False, bytes.fromhex("02010D"), "can0"))
    return frames


@pytest.mark.parametrize("spec", [spec for spec in FORMATS if spec.write is not None], ids=lambda spec: spec.name)
def test_generated_capture_round_trips(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    if spec.name == "mf4" and not mf4.available():
        pytest.skip("asammdf is not installed")
    frames = _capture()
    path = tmp_path / f"capture{spec.suffixes[0] if spec.suffixes else '.txt'}"
    assert write_frames(path, frames, format=spec.name) == len(frames)
    back = list(read_frames(path, format=spec.name))
    assert [(f.arbitration_id, f.is_extended, f.data) for f in back] == [
        (f.arbitration_id, f.is_extended, f.data) for f in frames
    ]
    if spec.name == "candump-td":
        times = [f.timestamp + frames[0].timestamp for f in back]
    else:
        times = [f.timestamp for f in back]
    for got, sent in zip(times, frames, strict=True):
        assert got == pytest.approx(sent.timestamp, abs=spec.timestamp_resolution_s * 1.01)
    decoded = decode_frame(back[38].arbitration_id, back[38].data)
    assert decoded is not None and decoded.signals["WheelBasedVehicleSpeed"] == 59.0


def test_format_comes_from_the_suffix_or_the_name() -> None:
    assert format_for("trip.BLF").name == "blf"
    assert format_for("trip.log").name == "log"
    assert format_for("trip.txt", format="candump-td").name == "candump-td"
    assert format_for("x", format="candump-l").name == "candump"
    assert {".asc", ".blf", ".csv", ".db", ".log", ".mf4", ".trc", ".candump"} <= set(BY_SUFFIX)
    with pytest.raises(UnknownFormat, match=r"suffix: got '.pcap' for 'trip.pcap', expected one of"):
        format_for("trip.pcap")
    with pytest.raises(UnknownFormat, match="format: got 'pcap', expected one of"):
        format_for("trip.log", format="pcap")


def test_contract_batch_round_trip() -> None:
    frames = _capture()[:3]
    batch = frames_to_batch("NF-101", frames)
    assert batch["vehicle_id"] == "NF-101"
    assert batch["frames"][0] == [frames[0].timestamp, 0x18FEF10B, frames[0].data.hex()]
    assert batch["frames"][0][2] == batch["frames"][0][2].lower()
    back = batch_to_frames(batch)
    assert [(f.timestamp, f.arbitration_id, f.is_extended, f.data) for f in back] == [
        (f.timestamp, f.arbitration_id, True, f.data) for f in frames
    ]
    assert batch_to_frames({"vehicle_id": "V", "frames": [[1.0, 0x123, "00"]]})[0].is_extended is False


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([1.0, 0x123], r"frames\[0\]: got \[1.0, 291\], expected \[t, id, data_hex\]"),
        (["x", 0x123, "00"], r"frames\[0\]\[0\]: got 'x', expected epoch seconds"),
        ([1.0, "18FEF100", "00"], r"frames\[0\]\[1\]: got '18FEF100', expected the arbitration id"),
        ([1.0, 0x123, "0g"], r"frames\[0\]\[2\]: got '0g', expected 0-8 bytes as hex text"),
        ([1.0, 0x20000000, "00"], r"arbitration_id: got 0x20000000, expected a 29-bit extended id"),
    ],
)
def test_bad_batches_name_the_field(row: list, message: str) -> None:
    with pytest.raises(InvalidFrame, match=message):
        batch_to_frames({"vehicle_id": "V", "frames": [row]})


def test_frames_refuse_impossible_values() -> None:
    with pytest.raises(InvalidFrame, match="arbitration_id: got 0x800, expected an 11-bit standard id"):
        Frame(0.0, 0x800, False, b"")
    with pytest.raises(InvalidFrame, match="data: got 9 bytes"):
        Frame(0.0, 0x100, False, b"\x00" * 9)
