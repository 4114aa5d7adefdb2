"""Detection, pure: telemetry records and reference data in, alerts and stop requests out; no Kafka, Flask or clock."""
