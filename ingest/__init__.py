"""The edges of the detector: the embedded broker, Kafka topics, the live detect loop, file replay and dead letters."""
