"""A bundle's vehicles replayed live as J1939 trucks: scaled clock, record timelines, trucks that obey stops."""

from can_sim.live.clock import ScaledClock
from can_sim.live.scenario_timeline import ScenarioTimeline, ScenarioTimelineError
from can_sim.live.truck import LiveTruck, WallTimedController

__all__ = ["LiveTruck", "ScaledClock", "ScenarioTimeline", "ScenarioTimelineError", "WallTimedController"]
