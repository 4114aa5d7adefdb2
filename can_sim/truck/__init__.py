"""A simulated truck: J1939 ECUs on a python-can virtual bus, driven by a scenario timeline, and its gateway."""

from can_sim.truck.clock import Clock, RealClock, SimulatedClock
from can_sim.truck.ecus import EcuConfigError, EcuSpec, MultiPacketMessage, PeriodicMessage, standard_ecus
from can_sim.truck.gateway import GatewayConfig, GatewayStats, TelematicsGateway
from can_sim.truck.motion import advance
from can_sim.truck.runner import TruckRunner, open_virtual_bus
from can_sim.truck.simulate import SimulationResult, simulate_truck
from can_sim.truck.state import VehicleState
from can_sim.truck.timeline import DrivenTimeline, FunctionTimeline, StepTimeline, Timeline, TimelineError, as_timeline

__all__ = [
    "Clock",
    "DrivenTimeline",
    "EcuConfigError",
    "EcuSpec",
    "FunctionTimeline",
    "GatewayConfig",
    "GatewayStats",
    "MultiPacketMessage",
    "PeriodicMessage",
    "RealClock",
    "SimulatedClock",
    "SimulationResult",
    "StepTimeline",
    "TelematicsGateway",
    "Timeline",
    "TimelineError",
    "TruckRunner",
    "VehicleState",
    "advance",
    "as_timeline",
    "open_virtual_bus",
    "simulate_truck",
    "standard_ecus",
]
