"""How a unit's digital inputs are wired to contract booleans: one 'FIELD=INPUT[:inverted]' setting, checked.

A door switch is wired to one input in one installation and another in the next, and may close or open the
circuit when the door opens; the installer says which with ``--input`` (Teltonika) or ``--queclink-input``.
Each protocol names and numbers its inputs its own way: the caller says which numbers exist and how to ask.
"""

from __future__ import annotations

from telematics.errors import ConfigurationError

WIRED_FIELDS = ("cab_door_open", "cargo_door_open", "trailer_connected", "parking_brake")
"""The contract booleans a digital input may carry."""


def parse_wiring(
    spec: str, inputs: range, asked: str, error: type[ConfigurationError]
) -> tuple[str, int, bool]:
    """(field, input number, inverted) from 'cargo_door_open=2' or 'cab_door_open=3:inverted'; ``asked`` completes
    "{input!r}, expected ..." when the number is not in ``inputs``, and ``error`` is raised for any mistake."""
    name, _, rest = spec.partition("=")
    number, _, flag = rest.partition(":")
    if name not in WIRED_FIELDS:
        raise error(f"{spec!r}: field {name!r}, expected one of {', '.join(WIRED_FIELDS)}")
    if not number.isdigit() or int(number) not in inputs:
        raise error(f"{spec!r}: {asked.format(input=number)}")
    if flag not in ("", "inverted"):
        raise error(f"{spec!r}: {flag!r}, expected nothing or ':inverted'")
    return name, int(number), flag == "inverted"
