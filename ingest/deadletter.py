"""The dead-letter message of contract section 1: where a rejected message came from, why, and its raw bytes."""

from __future__ import annotations

import base64

import orjson


def deadletter_value(topic: str, partition: int, offset: int, error: str, raw: bytes | None) -> bytes:
    """`{"topic", "partition", "offset", "error", "raw"}`; raw as text, or base64 (with raw_encoding) when not UTF-8."""
    payload: dict[str, object] = {"topic": topic, "partition": partition, "offset": offset, "error": error}
    if raw is None:
        payload["raw"] = None
    else:
        try:
            payload["raw"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            payload["raw"] = base64.b64encode(raw).decode("ascii")
            payload["raw_encoding"] = "base64"
    return orjson.dumps(payload)
