"""What each ECU puts on the bus for a given VehicleState: one pure function per J1939 message."""

from __future__ import annotations

from can_sim.truck.state import VehicleState
from telematics.j1939 import DriverIdentification, encode_driver_identification
from telematics.j1939.codec import SignalValue

Signals = dict[str, SignalValue]

MOVING_KMH = 0.5
OVERSPEED_KMH = 90.0
ENGINE_SA = 0x00


def _flag(value: bool) -> int:
    """J1939 two-bit state: 00 off / not set, 01 on / set."""
    return 1 if value else 0


def eec1(state: VehicleState) -> Signals:
    moving = state.speed_kmh > MOVING_KMH
    return {
        "EngineTorqueMode": 1 if moving else 0,  # 1 accelerator pedal, 0 low idle governor
        "DriversDemandEnginePercentTorque": 35 if moving else 5,
        "ActualEnginePercentTorque": 35 if moving else 5,
        "EngineSpeed": state.rpm,
        "SourceAddressOfControllingDevice": ENGINE_SA,
    }


def et1(state: VehicleState) -> Signals:
    return {"EngineCoolantTemperature": round(state.coolant_temp_c)}


def ccvs1(state: VehicleState) -> Signals:
    return {
        "ParkingBrakeSwitch": _flag(state.parking_brake),
        "WheelBasedVehicleSpeed": state.speed_kmh,
        "CruiseControlActive": 0,
        "BrakeSwitch": _flag(state.brake_pedal),
        "ClutchSwitch": 0,
    }


def ebc1(state: VehicleState) -> Signals:
    signals: Signals = {
        "AsrEngineControlActive": 0,
        "AsrBrakeControlActive": 0,
        "AbsActive": 0,  # 00: ABS passive but installed
        "EbsBrakeSwitch": _flag(state.brake_pedal),
        "BrakePedalPosition": 40.0 if state.brake_pedal else 0.0,
    }
    if state.esc == "off":
        signals["AsrOffroadSwitch"] = 1  # the driver's off-road switch: stability control off (see VDC1 in the DBC)
    return signals


AEBS_DEACTIVATED_BY_DRIVER = 2
AEBS_READY = 3
AEBS_ERROR = 14


def aebs1(state: VehicleState) -> Signals:
    system_state = {"off": AEBS_DEACTIVATED_BY_DRIVER, "fault": AEBS_ERROR}.get(state.aebs, AEBS_READY)
    return {"AebsState": system_state, "CollisionWarningLevel": 0, "RelevantObjectDetected": 0,
            "TimeToCollision": None}


def vdc1(state: VehicleState) -> Signals:
    # 01 fully operational; 00 not fully operational (the off-road switch in EBC1 says whether the driver chose it)
    operational = {"off": 0, "fault": 2}.get(state.esc, 1)
    return {"VdcInformationSignal": 0, "VdcFullyOperational": operational, "VdcBrakeLightRequest": 0}


def fli2(state: VehicleState) -> Signals:
    enabled = {"off": 0, "fault": 2}.get(state.lane_keeping, 1)
    tracking = 1 if state.speed_kmh > 60.0 and enabled == 1 else 0  # UN R130 asks for warnings above 60 km/h
    return {"LaneTrackingStatusRightSide": tracking, "LaneTrackingStatusLeftSide": tracking,
            "LaneDepartureIndicationEnableStatus": enabled}


def vp(state: VehicleState) -> Signals:
    if not state.has_fix:
        return {"Latitude": None, "Longitude": None}
    return {"Latitude": state.lat, "Longitude": state.lon}


def vds(state: VehicleState) -> Signals:
    if not state.has_fix:
        return {}
    return {
        "CompassBearing": state.heading_deg % 360.0,
        "NavigationBasedVehicleSpeed": state.speed_kmh,
        "Altitude": state.altitude_m,
    }


def dc1(state: VehicleState) -> Signals:
    any_open = state.cab_door_open or state.cargo_door_open
    return {"PositionOfDoors": 0 if any_open else 2}  # 0 at least one door open, 2 all doors closed


def dc2(state: VehicleState) -> Signals:
    # door 1 driver's cab door, door 2 co-driver's cab door, door 3 cargo door (our numbering)
    return {
        "OpenStatusOfDoor1": _flag(state.cab_door_open),
        "OpenStatusOfDoor2": 0,
        "OpenStatusOfDoor3": _flag(state.cargo_door_open),
    }


def tco1(state: VehicleState) -> Signals:
    moving = state.speed_kmh > MOVING_KMH
    card = state.driver_card_id is not None
    working_state = (3 if moving else 2) if card else 0  # 3 drive, 2 work, 0 rest
    return {
        "Driver1WorkingState": working_state,
        "Driver2WorkingState": 0,
        "VehicleMotion": _flag(moving),
        "Driver1TimeRelatedStates": 0,
        "Driver1CardPresence": _flag(card),
        "VehicleOverspeed": _flag(state.speed_kmh > OVERSPEED_KMH),
        "Driver2CardPresence": 0,
        "SystemEvent": _flag(moving and not card),  # driving without a card is a tachograph event
        "HandlingInformation": 0,
        "TachographPerformance": 0,
        "DirectionIndicator": 0,
        "TachographVehicleSpeed": state.speed_kmh,
    }


def vdhr(state: VehicleState) -> Signals:
    return {"HighResolutionTotalVehicleDistance": state.odometer_km * 1000.0}


def dd(state: VehicleState) -> Signals:
    return {"FuelLevel1": state.fuel_level_pct}


def vep1(state: VehicleState) -> Signals:
    supply = max(state.ext_power_v, 0.0)
    return {
        "BatteryPotentialPowerInput1": supply,
        "KeyswitchBatteryPotential": supply if state.ignition else 0.0,
        "ChargingSystemPotential": supply if state.engine_on else None,
    }


def tgcpl(state: VehicleState) -> Signals:
    return {"FifthWheelCoupled": _flag(state.trailer_connected)}


def tgpnc(state: VehicleState) -> Signals:
    return {"PanicButton": _flag(state.panic)}


def driver_identification(state: VehicleState) -> bytes:
    """DI payload: the card in slot 1 (empty text when none) and an empty slot 2."""
    return encode_driver_identification(DriverIdentification(driver1=state.driver_card_id or ""))
