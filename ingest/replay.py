"""`truckguard replay`: the detect pipeline over a bundle's telemetry.jsonl in event time, no broker or clock."""

from __future__ import annotations

import gc
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import orjson
from mypy_extensions import mypyc_attr

from anomaly.config import EngineConfig
from anomaly.engine import DetectionEngine, Output
from ingest.pipeline import DetectPipeline
from telematics.bundle import CAN_FILE, TELEMETRY_FILE, iter_lines, load_reference
from telematics.errors import BadInput
from telematics.outputs import Alert, encode

if TYPE_CHECKING:
    from anomaly.behaviour.model import BehaviourModels
    from anomaly.can_intrusion import CanModel

ADVANCE_EVERY_LINES: Final = 1000
"""How often replay lets event time pass for detectors that watch for silence (telematics_offline)."""


@mypyc_attr(native_class=False)  # compiled (setup.py), this module may still derive from two built-in exceptions
class BundleError(BadInput, FileNotFoundError):
    """The bundle directory lacks a file replay needs."""


@dataclass(frozen=True)
class ReplaySummary:
    counts: dict[str, object]
    seconds: float

    @property
    def records_per_s(self) -> float:
        return float(self.counts["records"]) / self.seconds if self.seconds > 0 else 0.0  # type: ignore[arg-type]

    def render(self) -> str:
        c = self.counts
        lines = [
            f"records       {c['records']:>10}",
            f"rejected      {c['rejected']:>10}   (of which too late: {c['too_late']})",
            f"duplicates    {c['duplicates']:>10}",
            f"alerts        {c['alerts']:>10}",
        ]
        by_kind = c["alerts_by_kind"]
        assert isinstance(by_kind, dict)
        lines += [f"  {kind:<26}{n:>6}" for kind, n in by_kind.items()]
        lines += [
            f"stop requests {c['stop_requests']:>10}",
            f"throughput    {self.records_per_s:>10,.0f} records/s ({self.seconds:.2f} s)",
        ]
        can = c.get("can")
        if isinstance(can, dict):
            lines.append(f"CAN batches   {can['records']:>10}   (rejected {can['rejected']}, alerts {can['alerts']})")
        return "\n".join(lines)


def raw_text(raw: bytes) -> str:
    """A rejected message as text for a human: UTF-8 when it is, else Python's escaped form."""
    return raw.decode("utf-8", errors="backslashreplace")


def replay_bundle(
    bundle: Path,
    alerts_out: Path,
    stop_requests_out: Path,
    rejects_out: Path | None = None,
    *,
    config: EngineConfig | None = None,
    models: BehaviourModels | None = None,
    can_model: CanModel | None = None,
    progress: bool | None = None,
) -> ReplaySummary:
    """Replay one bundle; outputs are written in the order the engine emits them, so reruns are byte-identical."""
    bundle = Path(bundle)
    telemetry = bundle / TELEMETRY_FILE
    if not telemetry.is_file():
        raise BundleError(f"{telemetry}: file not found (a bundle needs {TELEMETRY_FILE})")
    config = config or EngineConfig()
    # Reading the reference data makes many objects and frees few: the garbage collector would go through them all,
    # again and again, for nothing.
    gc.disable()
    try:
        reference = load_reference(bundle)
    finally:
        gc.enable()
    pipeline = DetectPipeline(DetectionEngine(reference, config, models=models))
    can_lines = bundle / CAN_FILE
    # CAN frames are always scored: without a trained model, by the J1939 protocol rules alone (the empty model)
    can_pipeline = None
    if can_lines.is_file():
        # Imported here: the J1939 database pulls in cantools and python-can, most of a second of start-up.
        from anomaly.can_intrusion import CanModel
        from ingest.can_pipeline import CanPipeline

        can_pipeline = CanPipeline(can_model if can_model is not None else CanModel(), reference)
    started = time.perf_counter()
    with ExitStack() as stack:
        alerts = stack.enter_context(open(alerts_out, "wb"))
        stops = stack.enter_context(open(stop_requests_out, "wb"))
        rejects = stack.enter_context(open(rejects_out, "wb")) if rejects_out else None
        bar = stack.enter_context(_progress_bar(os.path.getsize(telemetry), progress))
        # The reference data and the engine live to the end: the garbage collector need not go through them again
        # and again (a few % of the time). Unfrozen at the end, so a caller's later garbage is collected as usual.
        gc.freeze()
        stack.callback(gc.unfreeze)
        feed = pipeline.feed
        read = 0
        for number, line in iter_lines(telemetry):
            result = feed(line)
            if result.rejection is not None and rejects is not None:
                rejects.write(orjson.dumps({"line": number, "error": result.rejection, "raw": raw_text(line)}) + b"\n")
            if result.outputs:
                _write(result.outputs, alerts, stops)
            read += len(line) + 1
            if number % ADVANCE_EVERY_LINES == 0:
                _write(pipeline.advance(config.lateness_ms), alerts, stops)
                bar.update(read)
                read = 0
        bar.update(read)
        _write(pipeline.finish(config.lateness_ms), alerts, stops)
        if can_pipeline is not None:
            for number, line in iter_lines(can_lines):
                result = can_pipeline.feed(line)
                if result.rejection is not None and rejects is not None:
                    row = {"file": CAN_FILE, "line": number, "error": result.rejection, "raw": raw_text(line)}
                    rejects.write(orjson.dumps(row) + b"\n")
                _write(result.outputs, alerts, stops)
                if number % ADVANCE_EVERY_LINES == 0:
                    _write(can_pipeline.advance(config.lateness_ms), alerts, stops)
            _write(can_pipeline.finish(), alerts, stops)
    counts = pipeline.counts.as_dict()
    if can_pipeline is not None:
        counts["can"] = can_pipeline.counts.as_dict()
    return ReplaySummary(counts, time.perf_counter() - started)


class _NoBar:
    """What replay asks of a progress bar, showing nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress_bar(total_bytes: int, progress: bool | None) -> Any:
    """A bar over the bytes read; progress None: only on a terminal. tqdm is imported only to show one (a few MB)."""
    if not (sys.stderr.isatty() if progress is None else progress):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total_bytes, unit="B", unit_scale=True, desc="replay")


def _write(outputs: list[Output], alerts: BinaryIO, stops: BinaryIO) -> None:
    for output in outputs:
        (alerts if isinstance(output, Alert) else stops).write(encode(output) + b"\n")
