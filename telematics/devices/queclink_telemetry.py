"""Queclink @Track reports to contract telemetry records, one record per GNSS block.

What each report means is Queclink's (see telematics/devices/queclink.py for the documents): GTSOS is sent when the
digital input set up for SOS triggers, GTTOW when the motion sensor detects towing (armed only once the engine has
been off for <Engine Off to Tow>, AT+GTTOW), GTIGN/GTIGF when the ignition goes on/off, GTMPF/GTEPF when the main
(external) supply is cut, GTJDR when the jamming detector fires and GTJDS when it enters (2) or quits (1) jamming,
GTDIS when a digital input changes, with the input in <Report ID> and its new state in <Report Type>; GTERI is
GTFRI with the data of peripherals added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telematics.devices.queclink import (
    EXPANDED_FIXED_REPORT,
    POSITION_REPORTS,
    GnssBlock,
    QueclinkReport,
    report_id_and_type,
)
from telematics.devices.telemetry import device_seq, finish
from telematics.devices.wiring import parse_wiring
from telematics.errors import ConfigurationError

SOURCE = "queclink"
"""The contract's ``source`` is open text ("sim, teltonika, traccar, osmand, import, ..."): the protocol's maker."""

PANIC_REPORTS = frozenset({"GTSOS"})
IGNITION = {"GTIGN": True, "GTIGF": False, "GTTOW": False}
"""GTTOW says the ignition is off: the tow alarm is armed only after the engine has been off for a while."""
POWER_CUT_REPORTS = frozenset({"GTMPF", "GTEPF"})
"""The external (main) supply was cut: the contract says so with ``ext_power_v`` near 0."""
JAMMING_DETECTED = "GTJDR"
JAMMING_STATE = "GTJDS"
_JAMMING_STATES = {"1": False, "2": True}
DIGITAL_INPUT_REPORT = "GTDIS"
MILEAGE_REPORTS = POSITION_REPORTS | {EXPANDED_FIXED_REPORT}
"""Every position report's first field after its positions is the unit's mileage (km): see queclink.py."""
SUPPLY_REPORTS = frozenset({"GTFRI", EXPANDED_FIXED_REPORT})
EXTERNAL_POWER_IN_FRI = frozenset({"06", "6E", "802004", "1F", "36"})
"""Device types whose GTFRI (and GTERI, which carries GTFRI's fields after its ERI mask) carries the external supply in
mV in the first field after the device name: the GV300 when <Sync with FRI> of AT+GTEPS is on (TRACGV300AN002,
section 3.2.8; real GV300 GTFRI carry 14827, 15153 and 25202 there, GTERI 12351, 14197, 27239 and 27822); the
GV310LAU and the GV58LAU by real messages only, no document: 12093 to 28696 from eleven GV310LAU units and 11955 to
12944 from seven GV58LAU units, never another kind of value (Traccar's and jaayesta/queclink-parser's messages, see
queclink.py); the GV500 (1F, 36), whose field follows its VIN and device name, by real messages and third-party field
lists, no Queclink document read: GTFRI of three GV500 units carry 13286, 14900 (1F) and 12802 (36), a GV500MAP (5E)
unit's 12940, never another kind of value, and four more units of the family leave it empty (Traccar's file at
commits 13bd5f99a4dd and 9e5c458ad0bf; eusonlito/GPS-Tracker issue 6); jpmens/qtripp's devices/devices.yml (GV500
firmware 36xx) and pru-smartwheels-gps/OBD_BEND's parser.js (after the GV500MAP document, V5.00) both name it the
external power voltage in mV. Not read: the GV355CEU (12390 and 28823 in two real GTERI, Traccar's file) and the
GV57CG (11985 and 11975, jaayesta/queclink-parser) for too few values and no document; the GV500MAP (5E) and GV500MA
(56) for want of a whole real message with a value (the GV500MAP's 12940 comes in a message cut short before its
count number); other models put other readings there (the GV200 its analog input)."""

_SEQ_COUNT_BITS = 14
_SEQ_INDEX_BITS = 4
"""seq discriminator: the low 14 bits of the count number and the block's index in its message (0-14). Two
messages of one instant differ in count number, which the unit increments per message."""

MAX_INPUT_ID = 15
"""<Report ID> is one hex digit; GV-series units have up to 4 digital inputs besides ignition detection."""


class DigitalInputError(ConfigurationError):
    """A digital input assignment (FIELD=INPUT[:inverted]) is malformed."""


@dataclass(frozen=True)
class DigitalInputs:
    """Which digital input of a Queclink unit carries which contract boolean, for units wired alike."""

    fields: dict[int, tuple[str, bool]] = field(default_factory=dict)
    """Input ID (as in GTDIS <Report ID>) -> (contract field, inverted: the field is true when the input is 0)."""

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> DigitalInputs:
        """From 'cargo_door_open=2', 'cab_door_open=1:inverted' (the input ID of AT+GTDIS)."""
        fields: dict[int, tuple[str, bool]] = {}
        for spec in specs:
            name, number, inverted = parse_wiring(
                spec,
                range(1, MAX_INPUT_ID + 1),
                f"input {{input!r}}, expected a digital input ID from 1 to {MAX_INPUT_ID}, "
                "such as 2 for digital input 2",
                DigitalInputError,
            )
            fields[number] = (name, inverted)
        return cls(fields)


NO_INPUTS = DigitalInputs()


def _number_or_none(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _position(block: GnssBlock, obj: dict[str, Any]) -> None:
    obj["gnss_fix"] = block.has_fix
    if not block.has_fix:
        return  # a last known position is not where the vehicle is now: the contract wants none then
    obj["lat"] = block.lat
    obj["lon"] = block.lon
    obj["hdop"] = float(block.accuracy or 0)
    if block.satellites is not None:
        obj["satellites"] = block.satellites  # "satellites used in the fix": only with one
    if block.speed_kmh is not None:
        obj["gnss_speed_kmh"] = block.speed_kmh
    if block.azimuth_deg is not None:
        obj["heading_deg"] = float(block.azimuth_deg % 360)
    if block.altitude_m is not None:
        obj["altitude_m"] = block.altitude_m


def _event_fields(report: QueclinkReport, obj: dict[str, Any], inputs: DigitalInputs) -> None:
    message = report.message
    name = message.name
    if name in PANIC_REPORTS:
        obj["panic"] = True  # a panic report; other reports say nothing about the button
    if name in IGNITION:
        obj["ignition"] = IGNITION[name]
    if name in POWER_CUT_REPORTS:
        obj["ext_power_v"] = 0.0
    if name == JAMMING_DETECTED:
        obj["gnss_jamming"] = True
    if name == JAMMING_STATE and report.leading and report.leading[0] in _JAMMING_STATES:
        obj["gnss_jamming"] = _JAMMING_STATES[report.leading[0]]
    if name in MILEAGE_REPORTS and report.trailing:
        mileage = _number_or_none(report.trailing[0])
        if mileage is not None:
            obj["odometer_km"] = mileage
    if name in SUPPLY_REPORTS and message.device_type in EXTERNAL_POWER_IN_FRI and report.leading:
        millivolts = _number_or_none(report.leading[0])
        if millivolts is not None:
            obj["ext_power_v"] = millivolts / 1000
    if name == DIGITAL_INPUT_REPORT:
        input_id, state = report_id_and_type(report)
        if input_id is not None and state is not None:
            assigned = inputs.fields.get(input_id)
            if assigned is None:
                obj["io"] = {f"din{input_id}": state}
            else:
                field_name, inverted = assigned
                obj[field_name] = (state != 0) != inverted


LOCAL_CLOCK_MIN_MS = 30 * 60_000
"""A send time this far from the GPS UTC time of the message's own latest fix is the unit's clock set to a time zone
(AT+GTTMZ), not delay: a unit sends a report seconds after its last fix (minutes for a GTFRI of several)."""
ZONE_STEP_MS = 15 * 60_000
"""Time zones differ from UTC in whole quarter hours (UTC+5:45 is the finest in use)."""


def clock_offset_ms(report: QueclinkReport) -> int | None:
    """How far the unit's clock is from UTC, as the message's own latest fix shows: its send time minus that fix's
    GPS UTC time, in quarter hours; 0 within half an hour; None when no block has a fix. Real units are found set to
    local time (a GV300 at UTC-4, a GV310LAU at UTC+8), against the README's AT+GTTMZ +0000."""
    fixes = [block.gnss_ts_ms for block in report.blocks if block.has_fix and block.gnss_ts_ms is not None]
    if not fixes:
        return None
    ahead_ms = report.message.send_ts_ms - fixes[-1]
    if abs(ahead_ms) < LOCAL_CLOCK_MIN_MS:
        return 0
    return round(ahead_ms / ZONE_STEP_MS) * ZONE_STEP_MS


def record_time_ms(report: QueclinkReport, index: int, unit_clock_offset_ms: int = 0) -> int:
    """When block ``index`` was true: its GPS UTC time with a fix, else the message's send time (the last known
    position of a unit without a fix carries the time of that old fix, not of the event), set back to UTC by the
    unit's clock offset (clock_offset_ms)."""
    block = report.blocks[index]
    if block.has_fix and block.gnss_ts_ms is not None:
        return block.gnss_ts_ms
    return report.message.send_ts_ms - unit_clock_offset_ms


def block_to_telemetry(
    report: QueclinkReport,
    index: int,
    vehicle_id: str,
    inputs: DigitalInputs = NO_INPUTS,
    unit_clock_offset_ms: int = 0,
) -> dict[str, Any]:
    """Block ``index`` of a report to a contract record (a dict ready for JSON); InvalidRecord when it breaks the
    contract. ``unit_clock_offset_ms``: how far the unit's clock is from UTC (clock_offset_ms of its messages).

    ``seq`` comes from the record's time as the unit stamped it, the message's count number and the block's place in
    the message: a message sent again (after a lost acknowledgement, or late from the unit's buffer as ``+BUFF``,
    which keeps the send time and count number) yields the same seq, whatever the offset known by then, and the
    detector drops the copy.
    """
    message = report.message
    ts_ms = record_time_ms(report, index, unit_clock_offset_ms)
    discriminator = (message.count & ((1 << _SEQ_COUNT_BITS) - 1)) << _SEQ_INDEX_BITS | index
    obj: dict[str, Any] = {
        "vehicle_id": vehicle_id,
        "seq": device_seq(record_time_ms(report, index), discriminator),
        "source": SOURCE,
    }
    _position(report.blocks[index], obj)
    _event_fields(report, obj, inputs)
    obj["event"] = message.name
    if message.buffered:
        obj["buffered"] = True
    return finish(obj, ts_ms)
