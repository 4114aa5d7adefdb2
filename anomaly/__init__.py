"""Detection, pure: telemetry records and reference data in, alerts and stop requests out; no Kafka, Flask or clock."""

import telematics  # noqa: F401  (first: it checks that the compiled modules match their sources)
