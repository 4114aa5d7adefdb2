"""The platform's own exceptions: one base, so the command line tells our errors (one line) from bugs (traceback)."""

from __future__ import annotations


class TruckguardError(Exception):
    """An error truckguard raises on purpose; its message names the field, the value and what was expected."""


class BadInput(TruckguardError, ValueError):
    """Input that is not what the contract or a file format says: a record, a bundle, a log, a model file."""


class ConfigurationError(TruckguardError, ValueError):
    """A setting (TRUCKGUARD_* variable or flag), a key file or a store location that cannot be used."""


class CommandRejected(TruckguardError, ValueError):
    """A remote-stop command a vehicle refuses: malformed, forged, expired, replayed or for another vehicle."""


class OperationFailed(TruckguardError, RuntimeError):
    """An outside part did not do its share: the broker did not start, Kafka did not acknowledge, a child died."""
