"""The domain: telemetry records, reference data (fleets, vehicles, sites, trips, zones), outputs, and their formats."""

from telematics.compiled import choose

choose()  # the compiled modules, or their sources when those changed since the build
