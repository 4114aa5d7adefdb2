"""J1939 codec: PGN-aware decoding and encoding of truck CAN frames against the project DBC."""

from telematics.j1939.codec import DecodedFrame, decode_frame, encode_frame
from telematics.j1939.database import J1939Database, MessageSpec, SignalSpec, default_database, load_database
from telematics.j1939.driver_id import (
    DRIVER_IDENTIFICATION_PGN,
    DriverIdentification,
    decode_driver_identification,
    encode_driver_identification,
)
from telematics.j1939.errors import (
    FrameLengthError,
    InvalidAddress,
    InvalidCanId,
    InvalidSignalValue,
    J1939Error,
    TransportError,
    UnknownMessage,
)
from telematics.j1939.ids import GLOBAL_ADDRESS, J1939Id, make_can_id, parse_can_id, pgn_of
from telematics.j1939.transport import BamReassembler, TransportMessage, bam_frames

__all__ = [
    "DRIVER_IDENTIFICATION_PGN",
    "GLOBAL_ADDRESS",
    "BamReassembler",
    "DecodedFrame",
    "DriverIdentification",
    "FrameLengthError",
    "InvalidAddress",
    "InvalidCanId",
    "InvalidSignalValue",
    "J1939Database",
    "J1939Error",
    "J1939Id",
    "MessageSpec",
    "SignalSpec",
    "TransportError",
    "TransportMessage",
    "UnknownMessage",
    "bam_frames",
    "decode_driver_identification",
    "decode_frame",
    "default_database",
    "encode_driver_identification",
    "encode_frame",
    "load_database",
    "make_can_id",
    "parse_can_id",
    "pgn_of",
]
