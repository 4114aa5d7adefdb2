"""The demo preset: six Berlin vehicles over twenty minutes, a truck stolen and driven at the Christmas market, a hired
van driven at a public square."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from can_sim.scenarios.bundle import BundleSummary, WorldOptions, validate_window, write_bundle
from can_sim.scenarios.cities import CITIES
from can_sim.scenarios.incidents import IncidentSpec
from can_sim.scenarios.runner import haulier_operating_at

DEMO_VEHICLES = 6
DEMO_MINUTES = 20
INCIDENT_AFTER_S = 90
RENTAL_INCIDENT_AFTER_S = 240
"""The hired van sets off once the truck's incident is under way, so the two stop requests come apart."""
DEMO_MARKET = "ber-market-1"
DEMO_SQUARE = "ber-public-square-4"


def demo_bundle(out_dir: Path, start: datetime, seed: int = 7) -> BundleSummary:
    """Two Berlin fleets (a haulier's four trucks, a rental firm's two vans) for twenty minutes from `start`.

    Everyone who works at that hour is on the road from the first minute. Ninety seconds in, a truck is
    hijacked (inside the haulier's operating hours) or stolen from its depot (outside them) and driven into
    the Christmas market; four minutes in, a hirer drives a rental van at the public square, so the rental
    desk has an incident of its own. The demo protects both places around the clock, so alerts come within
    a few minutes.
    """
    window = validate_window(start, DEMO_MINUTES / (24 * 60))
    berlin = CITIES["berlin"]
    at = window[0] + INCIDENT_AFTER_S
    # In the last hours of the haulier's day no truck sets out on a trip it could not finish in them: with every
    # truck back at the depot, the truck is stolen from there, as at night.
    kinds = ("hijack_ramming", "night_theft") if haulier_operating_at(berlin.timezone, at) else ("night_theft",)
    rental = IncidentSpec("rental_ramming", at=start + timedelta(seconds=RENTAL_INCIDENT_AFTER_S),
                          zone_id=DEMO_SQUARE, quick=True)
    options = WorldOptions(align_shifts=True, always_active_zone_kinds=("market", "public_square"))
    for kind in kinds:
        incident = IncidentSpec(kind, at=start + timedelta(seconds=INCIDENT_AFTER_S), zone_id=DEMO_MARKET,
                                ends_in_ramming=kind == "night_theft", quick=True, in_working_hours=True)
        summary = write_bundle(Path(out_dir), seed, [berlin], DEMO_VEHICLES, window, [incident, rental], None,
                               options, {"preset": "demo", "minutes": DEMO_MINUTES})
        if any(placed.get("type") == kind for placed in summary.incidents):
            break
    return summary
