"""The long-running processes that move records between Kafka and the site's store.

`truckguard sink` runs them together (workers/sink.py): the store sink (alerts and stop requests from Kafka into
the store, workers/store_sink.py), the positions feed (vehicles' latest positions from telemetry,
workers/positions_feed.py), the outbox relay and its stop lane (the site's queued messages to Kafka,
workers/outbox_relay.py) and housekeeping (expiring stale stop requests, pruning sent messages,
workers/housekeeping.py). The demo also sends the store's reference data once as it starts
(workers/reference_publish.py).

Imports point inward: the command line imports these workers, they import the site's store (`web`), and `web`
never imports them.
"""
