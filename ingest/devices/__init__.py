"""The device listeners: real telematics units and tracking servers publishing contract telemetry to Kafka."""
