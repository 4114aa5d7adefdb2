"""The domain: telemetry records, reference data (fleets, vehicles, sites, trips, zones), outputs, and their formats."""
