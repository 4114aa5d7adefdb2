"""Driver Identification (DI, PGN 65131): the tachograph's ASCII payload of driver card ids, both directions."""

from __future__ import annotations

from dataclasses import dataclass

from telematics.j1939.errors import J1939Error

DRIVER_IDENTIFICATION_PGN = 65131
DELIMITER = b"*"
MAX_ID_LENGTH = 64


class InvalidDriverIdentification(J1939Error):
    """A DI payload or driver id does not follow the '<driver 1>*<driver 2>*' layout."""


@dataclass(frozen=True, slots=True)
class DriverIdentification:
    """Driver card ids of the tachograph's two slots; empty text means no card."""

    driver1: str
    driver2: str = ""


def _check_id(field_name: str, value: str) -> bytes:
    try:
        encoded = value.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidDriverIdentification(f"{field_name}: got {value!r}, expected ASCII text") from None
    if DELIMITER in encoded or len(encoded) > MAX_ID_LENGTH:
        raise InvalidDriverIdentification(
            f"{field_name}: got {value!r}, expected at most {MAX_ID_LENGTH} ASCII characters without '*'"
        )
    return encoded


def encode_driver_identification(identification: DriverIdentification) -> bytes:
    """DI payload: each driver id followed by the '*' delimiter (FMS-Standard / SAE J1939-71 layout)."""
    return (
        _check_id("driver1", identification.driver1)
        + DELIMITER
        + _check_id("driver2", identification.driver2)
        + DELIMITER
    )


def decode_driver_identification(payload: bytes) -> DriverIdentification:
    """Driver ids from a DI payload; trailing 0xFF padding of a transport packet is ignored."""
    body = bytes(payload).rstrip(b"\xff")
    if DELIMITER not in body:
        raise InvalidDriverIdentification(f"payload: got {body!r}, expected '<driver 1>*<driver 2>*'")
    parts = body.split(DELIMITER)
    try:
        driver1 = parts[0].decode("ascii")
        driver2 = parts[1].decode("ascii") if len(parts) > 2 else ""
    except UnicodeDecodeError:
        raise InvalidDriverIdentification(f"payload: got {body!r}, expected ASCII driver ids") from None
    return DriverIdentification(driver1=driver1.strip(), driver2=driver2.strip())
