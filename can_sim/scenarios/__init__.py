"""Labelled replay bundles: synthetic cities, fleets, normal days, hard cases and incidents, for tests and demos."""

from can_sim.scenarios.bundle import BundleSummary, ScenarioError, generate_bundle
from can_sim.scenarios.cities import CITIES, UnknownCityError
from can_sim.scenarios.demo import demo_bundle
from can_sim.scenarios.incidents import INCIDENT_TYPES, IncidentError, IncidentSpec

__all__ = [
    "CITIES",
    "INCIDENT_TYPES",
    "BundleSummary",
    "IncidentError",
    "IncidentSpec",
    "ScenarioError",
    "UnknownCityError",
    "demo_bundle",
    "generate_bundle",
]
