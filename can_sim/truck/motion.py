"""Dead reckoning: move a VehicleState along its heading at its speed, with odometer and fuel."""

from __future__ import annotations

import dataclasses

from can_sim.truck.state import VehicleState
from telematics.geo import destination

FUEL_PCT_PER_KM = 0.075
"""About 30 l/100 km from a 400 l tank: a loaded articulated truck."""


def advance(state: VehicleState, dt_s: float) -> VehicleState:
    """The state ``dt_s`` seconds later if nothing but motion changes (the input is left untouched)."""
    if dt_s <= 0 or state.speed_kmh <= 0:
        return dataclasses.replace(state)
    distance_km = state.speed_kmh * dt_s / 3600.0
    lat, lon = state.lat, state.lon
    if lat is not None and lon is not None:
        lat, lon = destination(lat, lon, state.heading_deg, distance_km * 1000.0)
    fuel = state.fuel_level_pct - (FUEL_PCT_PER_KM * distance_km if state.engine_on else 0.0)
    return dataclasses.replace(
        state, lat=lat, lon=lon, odometer_km=state.odometer_km + distance_km, fuel_level_pct=max(fuel, 0.0)
    )
