"""Counts what the device listeners accepted and rejected (by reason), logged every minute and served as metrics."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class DeviceCounters:
    accepted: Counter[str] = field(default_factory=Counter)
    """Records published and acknowledged, by listener."""
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Inputs refused, by (listener, reason)."""
    connected: int = 0
    """Teltonika and Queclink units connected now (the TCP listeners)."""

    def accept(self, listener: str, records: int = 1) -> None:
        self.accepted[listener] += records

    def reject(self, listener: str, reason: str, count: int = 1) -> None:
        self.rejected[(listener, reason)] += count

    def summary(self) -> str:
        accepted = ", ".join(f"{k} {v}" for k, v in sorted(self.accepted.items())) or "none"
        rejected = ", ".join(f"{k}/{r} {v}" for (k, r), v in sorted(self.rejected.items())) or "none"
        return f"devices connected {self.connected}; records accepted: {accepted}; rejected: {rejected}"

    def prometheus(self) -> str:
        """The counters in Prometheus' text exposition format."""
        lines = [
            "# HELP truckguard_device_records_accepted_total Device records published and acknowledged by Kafka.",
            "# TYPE truckguard_device_records_accepted_total counter",
            *(f'truckguard_device_records_accepted_total{{listener="{k}"}} {v}'
              for k, v in sorted(self.accepted.items())),
            "# HELP truckguard_device_inputs_rejected_total Device inputs refused, by reason.",
            "# TYPE truckguard_device_inputs_rejected_total counter",
            *(f'truckguard_device_inputs_rejected_total{{listener="{k}",reason="{r}"}} {v}'
              for (k, r), v in sorted(self.rejected.items())),
            "# HELP truckguard_devices_connected Teltonika and Queclink units connected now.",
            "# TYPE truckguard_devices_connected gauge",
            f"truckguard_devices_connected {self.connected}",
        ]
        return "\n".join(lines) + "\n"

    def log_summary(self) -> None:
        log.info("%s", self.summary())
