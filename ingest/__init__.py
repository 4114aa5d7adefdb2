"""The edges of the detector: the embedded broker, Kafka topics, the live detect loop, file replay and dead letters."""

import telematics  # noqa: F401  (first: it checks that the compiled modules match their sources)
