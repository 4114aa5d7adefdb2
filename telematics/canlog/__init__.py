"""CAN log files: plain frames, one reader/writer module per format, a registry by suffix, contract batches."""

from telematics.canlog.batch import batch_to_frames, frame_to_row, frames_to_batch, row_to_frame
from telematics.canlog.candump import format_line, parse_lines
from telematics.canlog.errors import CanLogError, FormatUnavailable, InvalidFrame, LogParseError, UnknownFormat
from telematics.canlog.files import read_frames, write_frames
from telematics.canlog.frame import Frame
from telematics.canlog.registry import BY_NAME, BY_SUFFIX, FORMATS, format_for
from telematics.canlog.spec import FormatSpec

__all__ = [
    "BY_NAME",
    "BY_SUFFIX",
    "FORMATS",
    "CanLogError",
    "FormatSpec",
    "FormatUnavailable",
    "Frame",
    "InvalidFrame",
    "LogParseError",
    "UnknownFormat",
    "batch_to_frames",
    "format_for",
    "format_line",
    "frame_to_row",
    "frames_to_batch",
    "parse_lines",
    "read_frames",
    "row_to_frame",
    "write_frames",
]
