"""The ECUs of the simulated truck: addresses, power supply and the messages each sends at which period."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from can_sim.truck import signals
from can_sim.truck.state import VehicleState
from telematics.errors import ConfigurationError
from telematics.j1939 import DRIVER_IDENTIFICATION_PGN, default_database
from telematics.j1939.codec import SignalValue

Power = Literal["battery", "ignition"]
SLEEP_PERIOD_S = 1.0
"""With the ignition off, battery-powered ECUs slow every message to at most one a second (our simplification
of a sleeping bus), which keeps long parked periods cheap to simulate."""
INDUSTRY_GROUP_ON_HIGHWAY = 1


class EcuConfigError(ConfigurationError):
    """An ECU or message definition cannot be scheduled (no period, unknown message)."""


@dataclass(frozen=True, slots=True)
class PeriodicMessage:
    """A single-frame message sent every ``period_s`` (default: the DBC's GenMsgCycleTime)."""

    message: str
    build: Callable[[VehicleState], dict[str, SignalValue]]
    period_s: float | None = None

    @property
    def period(self) -> float:
        if self.period_s is not None:
            return self.period_s
        cycle_ms = default_database().message(self.message).cycle_time_ms
        if cycle_ms is None:
            raise EcuConfigError(
                f"{self.message}.period_s: got None and no GenMsgCycleTime in the DBC, expected seconds"
            )
        return cycle_ms / 1000.0


@dataclass(frozen=True, slots=True)
class MultiPacketMessage:
    """A variable-length PG: checked every ``poll_s``, sent on change or every ``resend_s`` (BAM above 8 bytes)."""

    pgn: int
    build: Callable[[VehicleState], bytes]
    poll_s: float = 1.0
    resend_s: float = 10.0
    priority: int = 6


@dataclass(frozen=True, slots=True)
class EcuSpec:
    """One ECU on the truck's bus."""

    name: str
    sa: int
    power: Power
    messages: tuple[PeriodicMessage, ...]
    multi_packet: tuple[MultiPacketMessage, ...] = ()
    function: int | None = None
    """J1939 NAME function; functions 0-127 mirror the preferred addresses, so it defaults to the address."""

    def powered(self, state: VehicleState) -> bool:
        return self.power == "battery" or state.ignition

    def name_fields(self, vehicle_id: str) -> dict[str, SignalValue]:
        """Address-claim NAME: a stable identity number per vehicle and ECU; the manufacturer code is not real."""
        identity = zlib.crc32(f"{vehicle_id}/{self.name}".encode()) & 0x1FFFFF
        return {
            "IdentityNumber": identity,
            "ManufacturerCode": 0,
            "EcuInstance": 0,
            "FunctionInstance": 0,
            "Function": self.sa if self.function is None else self.function,
            "NameReserved": 0,
            "VehicleSystem": 0,
            "VehicleSystemInstance": 0,
            "IndustryGroup": INDUSTRY_GROUP_ON_HIGHWAY,
            "ArbitraryAddressCapable": 0,
        }


ADAS_SA = 0x2A
LANE_CAMERA_SA = 0xE8


def standard_ecus(position_period_s: float | None = None, safety_systems: bool = False) -> tuple[EcuSpec, ...]:
    """The truck: addresses 0x00 engine, 0x0B brakes, 0x17 instrument cluster and 0xEE tachograph as the
    public sources show them; 0x1C navigation and 0x21 body controller from J1939 preferred addresses; the
    power, coupling and panic nodes (0x30-0x32) are our choice.

    ``position_period_s`` overrides VP's J1939 period of 5 s (a telematics unit with its own receiver
    reports position every second; 1.0 gives a fresh position in every moving record).

    ``safety_systems`` adds the active safety systems' status: AEBS1 from an ADAS controller (0x2A), VDC1 from
    the brake controller and FLI2 from a lane camera (0xE8, our choice). Off by default, so the traffic of the
    trucks whose captures trained the CAN intrusion models stays what it was.
    """
    ecus = (
        EcuSpec(
            "engine",
            0x00,
            "ignition",
            (
                PeriodicMessage("EEC1", signals.eec1),
                PeriodicMessage("ET1", signals.et1),
            ),
        ),
        EcuSpec(
            "brakes",
            0x0B,
            "ignition",
            (
                PeriodicMessage("EBC1", signals.ebc1),
                PeriodicMessage("CCVS1", signals.ccvs1),
            ),
        ),
        EcuSpec(
            "body",
            0x21,
            "battery",
            (
                PeriodicMessage("DC1", signals.dc1),
                PeriodicMessage("DC2", signals.dc2),
            ),
        ),
        EcuSpec("cluster", 0x17, "ignition", (PeriodicMessage("DD", signals.dd),)),
        EcuSpec(
            "tachograph",
            0xEE,
            "ignition",
            (PeriodicMessage("TCO1", signals.tco1), PeriodicMessage("VDHR", signals.vdhr)),
            (MultiPacketMessage(DRIVER_IDENTIFICATION_PGN, signals.driver_identification),),
        ),
        EcuSpec(
            "gnss",
            0x1C,
            "battery",
            (
                PeriodicMessage("VP", signals.vp, position_period_s),
                PeriodicMessage("VDS", signals.vds),
            ),
        ),
        EcuSpec("power", 0x30, "battery", (PeriodicMessage("VEP1", signals.vep1),)),
        EcuSpec("coupling", 0x31, "battery", (PeriodicMessage("TGCPL", signals.tgcpl),)),
        EcuSpec("panic", 0x32, "battery", (PeriodicMessage("TGPNC", signals.tgpnc),)),
    )
    if not safety_systems:
        return ecus
    brakes = next(ecu for ecu in ecus if ecu.name == "brakes")
    with_vdc = dataclasses.replace(brakes, messages=(*brakes.messages, PeriodicMessage("VDC1", signals.vdc1)))
    return (
        *(with_vdc if ecu is brakes else ecu for ecu in ecus),
        EcuSpec("adas", ADAS_SA, "ignition", (PeriodicMessage("AEBS1", signals.aebs1),)),
        EcuSpec("lane_camera", LANE_CAMERA_SA, "ignition", (PeriodicMessage("FLI2", signals.fli2),)),
    )
