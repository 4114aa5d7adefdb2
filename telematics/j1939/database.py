"""The truckguard J1939 message database: the hand-written DBC loaded with cantools, indexed by PGN and name."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cantools

from telematics.errors import BadInput
from telematics.j1939.errors import UnknownMessage
from telematics.j1939.ids import parse_can_id

DBC_PATH = Path(__file__).with_name("truckguard_j1939.dbc")


class DatabaseLayoutError(BadInput):
    """The DBC holds a signal the codec cannot handle (J1939 signals are little-endian and unsigned)."""


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """Layout and scaling of one signal; ``raw`` protocol fields never map to not-available."""

    name: str
    start: int
    length: int
    scale: float
    offset: float
    minimum: float | None
    maximum: float | None
    raw: bool
    spn: int | None
    integral: bool
    """True when scale and offset are whole numbers, so physical values are returned as int."""
    mask: int
    """All ones over the signal's length: the raw not-available value."""


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One parameter group: its PGN, defaults from the DBC id, cycle time and signals."""

    name: str
    pgn: int
    length: int
    default_priority: int
    default_da: int | None
    cycle_time_ms: int | None
    signals: tuple[SignalSpec, ...]
    comment: str

    @property
    def padding_mask(self) -> int:
        """Bits no signal uses; J1939 sends them as 1."""
        used = 0
        for signal in self.signals:
            used |= signal.mask << signal.start
        return ((1 << (8 * self.length)) - 1) & ~used


@dataclass(frozen=True, slots=True)
class J1939Database:
    """Messages indexed by PGN and by name."""

    by_pgn: dict[int, MessageSpec]
    by_name: dict[str, MessageSpec]

    def message(self, name: str) -> MessageSpec:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise UnknownMessage(f"message_name: got {name!r}, expected one of {known}") from None


def _attribute(owner: object, name: str) -> int | None:
    dbc = getattr(owner, "dbc", None)
    if dbc is None or name not in dbc.attributes:
        return None
    return int(dbc.attributes[name].value)


def _signal_spec(message_name: str, signal: cantools.database.can.Signal) -> SignalSpec:
    if signal.byte_order != "little_endian" or signal.is_signed or signal.is_float:
        raise DatabaseLayoutError(
            f"{message_name}.{signal.name}: byte order {signal.byte_order}, signed {signal.is_signed}, "
            f"float {signal.is_float}; expected an unsigned little-endian integer field"
        )
    scale, offset = float(signal.scale), float(signal.offset)
    return SignalSpec(
        name=signal.name,
        start=signal.start,
        length=signal.length,
        scale=scale,
        offset=offset,
        minimum=signal.minimum,
        maximum=signal.maximum,
        raw=_attribute(signal, "TgRaw") == 1,
        spn=_attribute(signal, "SPN") or None,
        integral=scale.is_integer() and offset.is_integer(),
        mask=(1 << signal.length) - 1,
    )


def _message_spec(message: cantools.database.can.Message) -> MessageSpec:
    fields = parse_can_id(message.frame_id)
    return MessageSpec(
        name=message.name,
        pgn=fields.pgn,
        length=message.length,
        default_priority=fields.priority,
        default_da=fields.da if fields.is_pdu1 else None,
        cycle_time_ms=message.cycle_time or None,
        signals=tuple(_signal_spec(message.name, signal) for signal in message.signals),
        comment=message.comment or "",
    )


def load_database(path: Path | str = DBC_PATH) -> J1939Database:
    """Load a J1939 DBC with cantools and index its messages by PGN (not by exact frame id)."""
    dbc = cantools.database.load_file(str(path), database_format="dbc")
    assert isinstance(dbc, cantools.database.can.Database)  # database_format="dbc" loads a CAN database
    specs = [_message_spec(message) for message in dbc.messages]
    by_pgn: dict[int, MessageSpec] = {}
    for spec in specs:
        if spec.pgn in by_pgn:
            raise DatabaseLayoutError(f"{spec.name}: PGN {spec.pgn} already used by {by_pgn[spec.pgn].name}")
        by_pgn[spec.pgn] = spec
    return J1939Database(by_pgn=by_pgn, by_name={spec.name: spec for spec in specs})


@functools.cache
def default_database() -> J1939Database:
    """The project DBC, loaded once."""
    return load_database(DBC_PATH)
