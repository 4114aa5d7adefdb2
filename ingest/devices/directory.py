"""Which vehicle carries which device: the vehicles' ``device_ids`` in the reference data, reloaded when it changes."""

from __future__ import annotations

import logging

from ingest.reference_source import ReferenceSource
from telematics.reference import ReferenceData

log = logging.getLogger(__name__)


class DeviceDirectory:
    """Device id -> vehicle_id; a device no vehicle lists (or several do) is refused."""

    def __init__(self, source: ReferenceSource | None = None, reference: ReferenceData | None = None) -> None:
        self.source = source
        self.reference = reference if reference is not None else (source.load() if source else ReferenceData())
        self._announce()

    def vehicle_for(self, device_id: str) -> str | None:
        return self.reference.vehicle_for_device(device_id)

    def refresh(self) -> bool:
        """Reloads the reference data when its source changed (blocking: run it off the event loop)."""
        if self.source is None or not self.source.changed():
            return False
        self.reference = self.source.load()
        self._announce()
        return True

    def _announce(self) -> None:
        mapping = self.reference.vehicle_by_device
        ambiguous = sorted(d for d, v in mapping.items() if v is None)
        log.info("%d devices registered to %d vehicles", len(mapping) - len(ambiguous), len(self.reference.vehicles))
        if ambiguous:
            log.warning("devices listed by several vehicles, refused until that is fixed: %s", ", ".join(ambiguous))
