"""How the workers pace their loops: how long a poll waits for records, and the back-off before retrying a broker
or store that failed."""

from __future__ import annotations

import threading

POLL_TIMEOUT_MS = 500
RETRY_BACKOFF_S = (0.5, 1, 2, 5, 10)


def wait_before_retry(stop: threading.Event, attempt: int) -> None:
    """Waits the back-off of the ``attempt``-th retry in a row (0 for the first), or less if ``stop`` is set."""
    stop.wait(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
