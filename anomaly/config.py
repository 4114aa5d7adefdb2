"""The detector's tunable parameters, passed in by the edges (never read from the environment here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lateness_ms: int = 60_000
    """How late (event time) a record may arrive and still be put back in order."""
    seq_memory_ms: int = 2 * 60_000
    """How long (event time) a vehicle's seen records are remembered to spot duplicates; an older repeat is too late."""
    moving_kmh: float = 5.0
    """At or above this speed a vehicle is moving."""
