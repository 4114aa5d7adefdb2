"""Sends every part of the store's reference data, and a manifest, to truckguard.reference.v1 at once (the demo
does it as it starts, so the detectors hold exactly the store's data)."""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session

from ingest.topics import ensure_topics
from telematics.settings import Settings
from web.db import make_engine
from web.migrate import upgrade_store
from web.reference import REFERENCE_TOPIC, current_version, full_reference
from workers.outbox_relay import make_general_producer


def publish_reference(settings: Settings) -> int:
    """Sends every part of the store's reference data and a manifest to truckguard.reference.v1 now; returns the
    version sent."""
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session:
            version = current_version(session)
            messages = full_reference(session, version)
    finally:
        engine.dispose()
    ensure_topics(settings.bootstrap, settings.partitions, (REFERENCE_TOPIC,))
    producer = make_general_producer(settings.bootstrap, "truckguard-web-reference")
    try:
        futures = [producer.send(REFERENCE_TOPIC, key=key.encode(), value=orjson.dumps(message))
                   for key, message in messages]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close(timeout=5)
    return version
