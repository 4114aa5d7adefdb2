"""`truckguard dispatch`: signs each authorised stop request into a vehicle command and records it as sent, and
signs each vehicle's zone set for its on-board zone guard whenever the reference data's zones change."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata

from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.kafka_clients import (
    commit_after_acknowledged,
    make_consumer,
    make_producer,
    raise_unacknowledged,
    read_to_end,
)
from ingest.reference_source import TopicSource
from ingest.topics import VEHICLE_COMMANDS
from telematics.bundle import FLEET_FILE, TRIPS_FILE, ZONES_FILE
from telematics.commands import (
    DEFAULT_TTL_S,
    TRUST_FILE_NAME,
    CommandEnvelope,
    CommandError,
    KeyEntry,
    MalformedCommand,
    authorization_of,
    command_id_for,
    key_id_of,
    load_private_key,
    load_signing_key,
    new_nonce,
    parse_command,
    sign_command,
)
from telematics.outputs import StopRequest
from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms
from telematics.trust_lists import DEFAULT_TTL_S as TRUST_TTL_S
from telematics.trust_lists import SignedTrustList, is_trust_message, list_id, sign_trust_list
from telematics.zone_sets import (
    DEFAULT_TTL_S as ZONE_SET_TTL_S,
)
from telematics.zone_sets import (
    SignedZoneSet,
    is_zone_set_message,
    parse_zone_set,
    sign_zone_set,
    zone_set_id,
    zones_for_vehicle,
)

log = logging.getLogger(__name__)

DISPATCHER = "command-dispatch"
"""The ``by`` of the history entries this service writes."""
DONE_STATUSES = ("refused", "sent", "acknowledged", "completed", "expired", "cancelled")
ZONE_SET_CHECK_S = 30.0
"""How often the reference data is looked at for changed zones: a new zone reaches the gateways within a minute."""
DEFAULT_MAX_AUTHORIZATION_AGE_S = 300.0
"""An authorisation older than this is not acted on: the vehicle and the danger have moved on since."""


@dataclass(frozen=True, slots=True)
class Output:
    """One message to produce."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class DispatchOptions:
    bootstrap: str
    private_key_path: Path
    group_id: str = "truckguard-command-dispatch"
    partitions: int = 4
    ttl_s: float = DEFAULT_TTL_S
    max_authorization_age_s: float = DEFAULT_MAX_AUTHORIZATION_AGE_S
    reference_dir: Path | None = None
    """Where the zones come from for the vehicles' zone sets: a bundle-layout directory, or (None) the web site's
    snapshots on truckguard.reference.v1."""
    zone_sets: bool = True
    zone_set_ttl_s: float = ZONE_SET_TTL_S


def _parse_request(raw: bytes | None) -> dict[str, Any]:
    """The request as a dict (extra fields kept, so they are passed on), checked against the contract types."""
    if raw is None:
        raise MalformedCommand("value: got a null message, expected a stop request")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"value: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedCommand(f"value: got {type(value).__name__}, expected a stop request object")
    try:
        msgspec.convert(value, StopRequest)
    except msgspec.ValidationError as exc:
        raise MalformedCommand(f"stop request: {exc}") from None
    return value


def with_status(request: dict[str, Any], status: str, at: str, note: str) -> dict[str, Any]:
    """The request with one more status change appended to its history, by this service."""
    entry = {"status": status, "at": at, "by": DISPATCHER, "note": note}
    return {**request, "status": status, "history": [*request.get("history", []), entry]}


def _was_sent(request: dict[str, Any]) -> bool:
    return request.get("status") in DONE_STATUSES or any(
        isinstance(e, dict) and e.get("status") == "sent" for e in request.get("history", [])
    )


@dataclass
class Dispatcher:
    """The decisions, without Kafka: which requests become commands, which are recorded as expired."""

    private_key: Ed25519PrivateKey
    ttl_s: float = DEFAULT_TTL_S
    max_authorization_age_s: float = DEFAULT_MAX_AUTHORIZATION_AGE_S
    dispatched: dict[str, str] = field(default_factory=dict)
    """command_id → issued_at of every command on the vehicle-commands topic (read back on assignment)."""
    closed: set[str] = field(default_factory=set)
    """request ids already sent, expired, refused or cancelled: nothing more is dispatched for them."""
    zone_set_ttl_s: float = ZONE_SET_TTL_S
    zone_sets_sent: dict[str, tuple[str, int]] = field(default_factory=dict)
    """vehicle id → (zone set id, issued at ms) of the newest zone set on the vehicle-commands topic."""
    trust_lists_sent: dict[str, tuple[str, int]] = field(default_factory=dict)
    """vehicle id → (trust list id, issued at ms) of the newest trust list on the vehicle-commands topic."""

    def remember_command(self, raw: bytes) -> None:
        """Note a command or zone set already on the vehicle-commands topic (at start-up or after a rebalance)."""
        if is_zone_set_message(raw):
            self._remember_zone_set(raw)
            return
        if is_trust_message(raw):
            self._remember_trust_list(raw)
            return
        try:
            command = parse_command(CommandEnvelope.decode(raw).signed.payload)
        except CommandError:
            return
        self.dispatched[command.command_id] = command.issued_at

    def _remember_zone_set(self, raw: bytes) -> None:
        try:
            value = parse_zone_set(SignedZoneSet.decode(raw).payload)
            issued_ms = parse_rfc3339_ms(value["issued_at"])
        except (CommandError, TimestampError):
            return
        known = self.zone_sets_sent.get(value["vehicle_id"])
        if known is None or issued_ms > known[1]:
            self.zone_sets_sent[value["vehicle_id"]] = (value["zone_set_id"], issued_ms)

    def _remember_trust_list(self, raw: bytes) -> None:
        try:
            value = json.loads(SignedTrustList.decode(raw).payload)
            vehicle_id, issued_ms = value["vehicle_id"], parse_rfc3339_ms(value["issued_at"])
        except (CommandError, TimestampError, ValueError, KeyError, TypeError):
            return
        known = self.trust_lists_sent.get(vehicle_id)
        if known is None or issued_ms > known[1]:
            self.trust_lists_sent[vehicle_id] = (value["list_id"], issued_ms)

    def trust_lists(self, vehicle_ids: Iterable[str], entries: list[KeyEntry], now: datetime,
                    nonce: Callable[[], str], owns: Callable[[str], bool] = lambda vehicle_id: True) -> list[Output]:
        """A signed trust list for every vehicle that does not hold the platform's current one (after `truckguard
        keys rotate`), or whose list is past half its validity; signed by the key that signs now."""
        wanted = list_id(entries)
        now_ms = int(now.timestamp() * 1000)
        outputs: list[Output] = []
        for vehicle_id in vehicle_ids:
            if not owns(vehicle_id):
                continue
            known = self.trust_lists_sent.get(vehicle_id)
            if known is not None and known[0] == wanted and now_ms - known[1] < TRUST_TTL_S * 500:
                continue
            signed = sign_trust_list(vehicle_id, entries, self.private_key, now=now, nonce=nonce())
            self.trust_lists_sent[vehicle_id] = (wanted, now_ms)
            log.info("vehicle %s: trust list %s (%d keys) signed", vehicle_id, wanted, len(entries))
            outputs.append(Output(VEHICLE_COMMANDS, vehicle_id.encode(), signed.encode()))
        return outputs

    def zone_sets(self, snapshot: dict[str, Any], now: datetime, nonce: Callable[[], str],
                  owns: Callable[[str], bool] = lambda vehicle_id: True) -> list[Output]:
        """A signed zone set for every vehicle of the reference snapshot (``fleet``, ``trips``, ``zones`` in the
        bundle shapes) whose zones differ from the last set it was sent, or whose last set is past half its
        validity (so a vehicle that was off for a night still finds a valid one when it wakes)."""
        empty: dict[str, Any] = {"type": "FeatureCollection", "features": []}
        fleet = snapshot.get("fleet") or {}
        trips, zones = snapshot.get("trips") or empty, snapshot.get("zones") or empty
        now_ms = int(now.timestamp() * 1000)
        outputs: list[Output] = []
        for vehicle in fleet.get("vehicles") or ():
            vehicle_id = vehicle.get("vehicle_id") if isinstance(vehicle, dict) else None
            if not isinstance(vehicle_id, str) or not owns(vehicle_id):
                continue
            chosen = zones_for_vehicle(vehicle_id, fleet, trips, zones)
            if chosen is None:
                continue
            category, document = chosen
            wanted = zone_set_id(category, document)
            known = self.zone_sets_sent.get(vehicle_id)
            if known is not None and known[0] == wanted and now_ms - known[1] < self.zone_set_ttl_s * 500:
                continue
            try:
                signed = sign_zone_set(vehicle_id, category, document, self.private_key, now=now, nonce=nonce(),
                                       ttl_s=self.zone_set_ttl_s)
            except CommandError as exc:
                log.error("vehicle %s: zone set not signed: %s", vehicle_id, exc)
                continue
            self.zone_sets_sent[vehicle_id] = (wanted, now_ms)
            log.info("vehicle %s: zone set %s with %d zones signed", vehicle_id, wanted, len(document["features"]))
            outputs.append(Output(VEHICLE_COMMANDS, vehicle_id.encode(), signed.encode()))
        return outputs

    def remember_request(self, raw: bytes) -> None:
        """Note a stop request already sent or closed (read back from the stop-requests topic)."""
        try:
            request = _parse_request(raw)
        except CommandError:
            return
        if _was_sent(request):
            self.closed.add(request["request_id"])

    def batch(
        self, requests: Iterable[dict[str, Any]], now: datetime, nonce: Callable[[], str]
    ) -> tuple[list[Output], list[tuple[dict[str, Any], CommandError]]]:
        """Outputs for the stop requests of one poll, and the requests that cannot be signed (with why);
        only each request's latest version in the poll counts."""
        latest: dict[str, dict[str, Any]] = {}
        for request in requests:
            request_id = request["request_id"]
            if _was_sent(request):
                self.closed.add(request_id)
            latest.pop(request_id, None)
            latest[request_id] = request
        outputs: list[Output] = []
        rejected: list[tuple[dict[str, Any], CommandError]] = []
        for request_id, request in latest.items():
            if request.get("status") != "authorized" or request_id in self.closed:
                continue
            try:
                outputs.extend(self._dispatch(request, now, nonce))
            except CommandError as exc:
                self.closed.add(request_id)
                rejected.append((request, exc))
        return outputs, rejected

    def _dispatch(self, request: dict[str, Any], now: datetime, nonce: Callable[[], str]) -> list[Output]:
        request_id, key = request["request_id"], request["vehicle_id"].encode()
        authorization = authorization_of(request)
        command_id = command_id_for(request)
        now_ms = int(now.timestamp() * 1000)
        issued_at = self.dispatched.get(command_id)
        if issued_at is not None:
            # sent before a crash that came ahead of the commit: record it as sent once more, never resend;
            # the history entry is the same as the first one, so stores that merge history see no change
            log.warning(
                "request %s: command %s already dispatched at %s, not sending again", request_id, command_id, issued_at
            )
            sent = with_status(request, "sent", issued_at, f"command {command_id}")
            self.closed.add(request_id)
            return [Output(topics.STOP_REQUESTS, key, _json(sent))]
        try:
            authorized_ms = parse_rfc3339_ms(authorization["at"])
        except TimestampError as exc:
            raise MalformedCommand(f"history[-1].at: {exc}") from None
        age_s = (now_ms - authorized_ms) / 1000.0
        if age_s > self.max_authorization_age_s:
            log.warning(
                "request %s: authorised %.0f s ago, more than %g s; recorded as expired, not sent",
                request_id,
                age_s,
                self.max_authorization_age_s,
            )
            expired = with_status(
                request,
                "expired",
                format_ms(now_ms),
                (
                    f"authorised at {authorization['at']} by {authorization['by']}, not dispatched within "
                    f"{self.max_authorization_age_s:g} s; no command sent"
                ),
            )
            self.closed.add(request_id)
            return [Output(topics.STOP_REQUESTS, key, _json(expired))]
        signed = sign_command(request, self.private_key, now=now, ttl_s=self.ttl_s, nonce=nonce())
        command = parse_command(signed.payload)
        sent = with_status(request, "sent", command.issued_at, f"command {command_id}")
        self.dispatched[command_id] = command.issued_at
        self.closed.add(request_id)
        log.info(
            "request %s (vehicle %s, %s): command %s signed with key %s, valid until %s",
            request_id,
            command.vehicle_id,
            command.mode,
            command_id,
            command.key_id,
            command.expires_at,
        )
        return [
            Output(VEHICLE_COMMANDS, key, CommandEnvelope(signed, sent).encode()),
            Output(topics.STOP_REQUESTS, key, _json(sent)),
        ]


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class CommandDispatch:
    """One dispatcher instance of the consumer group ``truckguard-command-dispatch``.

    The loop is consume → decide → produce command → produce ``sent`` → flush → commit. Only a request whose
    latest status is ``authorized``, by a history entry naming the officer, is ever signed; one authorised longer
    ago than ``max_authorization_age_s`` is recorded as ``expired`` instead. Idempotent across restarts: the
    command id is deterministic (request id and authorisation), the commands on the vehicle-commands topic and the
    requests already sent on the stop-requests topic are read back when partitions are assigned, and a request
    whose history shows it was sent is never sent again.
    """

    def __init__(
        self,
        options: DispatchOptions,
        private_key: Ed25519PrivateKey | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        self.options = options
        self.dispatcher = Dispatcher(
            private_key if private_key is not None else load_private_key(options.private_key_path),
            ttl_s=options.ttl_s,
            max_authorization_age_s=options.max_authorization_age_s,
            zone_set_ttl_s=options.zone_set_ttl_s,
        )
        self._zones_checked: float | None = None
        self._reference: TopicSource | None = None
        """The reference topic, read on from where the last zone-set check left it."""
        self._fixed_key = private_key is not None
        self._key_entries: list[KeyEntry] | None = None
        self.clock = clock
        self.nonce = nonce
        self.client_id = f"truckguard-dispatch-{os.getpid()}"
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        self._futures: list[FutureRecordMetadata] = []
        self.consumed = 0
        """Stop-request messages consumed and committed by this instance."""

    def run(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        options = self.options
        wanted: tuple[str, ...] = (topics.STOP_REQUESTS, topics.DEADLETTER, VEHICLE_COMMANDS)
        if options.zone_sets and options.reference_dir is None:
            wanted += (topics.REFERENCE,)  # read for zone sets: created as the web site would, never by a read
        topics.ensure_topics(options.bootstrap, options.partitions, wanted)
        self._producer = make_producer(options.bootstrap, self.client_id)
        consumer = self._consumer = make_consumer(options.bootstrap, options.group_id, self.client_id)
        consumer.subscribe([topics.STOP_REQUESTS], listener=_Rebalance(self))
        try:
            while not stop.is_set():
                batch = consumer.poll(timeout_ms=200)
                if ready is not None and consumer.assignment():
                    ready.set()
                if batch:
                    self._process(batch)
                if options.zone_sets and consumer.assignment():
                    self._send_zone_sets()
        finally:
            consumer.close(autocommit=False)
            if self._reference is not None:
                self._reference.close()
            if self._producer is not None:
                self._producer.close()

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        requests: list[dict[str, Any]] = []
        offsets: dict[TopicPartition, int] = {}
        for partition, messages in batch.items():
            for message in messages:
                offsets[partition] = message.offset + 1
                try:
                    requests.append(_parse_request(message.value))
                except CommandError as exc:
                    self._reject(message, str(exc))
        self._use_signing_key()
        outputs, rejected = self.dispatcher.batch(requests, self.clock(), self.nonce)
        for request, error in rejected:
            # never half-dispatched: a request that cannot be signed (no officer in its history, a bad mode)
            # goes to the dead-letter topic with the reason, for operators
            log.error("request %s not dispatched: %s", request.get("request_id"), error)
            self._send(
                topics.DEADLETTER,
                str(request.get("vehicle_id", "")).encode(),
                deadletter_value(topics.STOP_REQUESTS, -1, -1, str(error), _json(request)),
            )
        for output in outputs:
            self._send(output.topic, output.key, output.value)
        self._checkpoint(offsets)
        self.consumed += sum(len(messages) for messages in batch.values())

    def _send_zone_sets(self) -> None:
        """Every ZONE_SET_CHECK_S: sign and send the zone sets the reference data calls for, and wait for them."""
        started = time.monotonic()
        if self._zones_checked is not None and started - self._zones_checked < ZONE_SET_CHECK_S:
            return
        self._zones_checked = started
        snapshot = self._snapshot()
        if snapshot is None:
            return
        assert self._consumer is not None
        mine = {tp.partition for tp in self._consumer.assignment()}
        count = len(self._consumer.partitions_for_topic(topics.STOP_REQUESTS) or ()) or 1

        def owns(vehicle_id: str) -> bool:
            # The instance that owns a vehicle's stop requests (keyed by vehicle id) signs its zone sets, so that
            # several instances of the group do not each send one.
            return (murmur2(vehicle_id.encode()) & 0x7FFFFFFF) % count in mine

        self._use_signing_key()
        now = self.clock()
        outputs = []
        if self._key_entries is not None:
            vehicles = [v["vehicle_id"] for v in (snapshot.get("fleet") or {}).get("vehicles") or ()
                        if isinstance(v, dict) and isinstance(v.get("vehicle_id"), str)]
            # trust first: a vehicle must trust a key before anything it signed reaches it
            outputs += self.dispatcher.trust_lists(vehicles, self._key_entries, now, self.nonce, owns)
        outputs += self.dispatcher.zone_sets(snapshot, now, self.nonce, owns)
        for output in outputs:
            self._send(output.topic, output.key, output.value)
        if outputs:
            assert self._producer is not None
            self._producer.flush()
            done, self._futures = self._futures, []
            raise_unacknowledged(done, "zone sets")

    def _use_signing_key(self) -> None:
        """With a trust file beside the signing key (`truckguard keys rotate`), sign with the key in force now."""
        keys_dir = self.options.private_key_path.parent
        if self._fixed_key or not (keys_dir / TRUST_FILE_NAME).is_file():
            return
        key, self._key_entries = load_signing_key(keys_dir, self.clock())
        if key_id_of(key.public_key()) != key_id_of(self.dispatcher.private_key.public_key()):
            log.info("signing with key %s from now on", key_id_of(key.public_key()))
        self.dispatcher.private_key = key

    def _snapshot(self) -> dict[str, Any] | None:
        """The newest reference data as bundle-shaped documents (None when there is none yet)."""
        directory = self.options.reference_dir
        if directory is not None:
            try:
                return {name: json.loads((directory / file).read_bytes())
                        for name, file in (("fleet", FLEET_FILE), ("trips", TRIPS_FILE), ("zones", ZONES_FILE))
                        if (directory / file).is_file()}
            except (OSError, ValueError) as exc:
                log.error("reference data in %s not read for zone sets: %s", directory, exc)
                return None
        # The site sends the reference data in parts (a fleet, a vehicle's trips, a zone; whole snapshots before
        # that): rebuilt as the detectors rebuild it, newest version per key, reading only what is new each time.
        if self._reference is None:
            self._reference = TopicSource(self.options.bootstrap)
        return self._reference.document()

    def _reject(self, message: Any, error: str) -> None:
        log.warning("stop request at %s[%d]@%d rejected: %s", message.topic, message.partition, message.offset, error)
        self._send(
            topics.DEADLETTER,
            message.key or b"",
            deadletter_value(message.topic, message.partition, message.offset, error, message.value),
        )

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        assert self._producer is not None
        self._futures.append(self._producer.send(topic, key=key, value=value))

    def _checkpoint(self, offsets: dict[TopicPartition, int]) -> None:
        """Wait until every command and status change is acknowledged, then commit the consumed offsets."""
        assert self._producer is not None and self._consumer is not None
        commit_after_acknowledged(self._producer, self._futures, self._consumer, offsets)

    def restore(self) -> int:
        """Read back every command on the vehicle-commands topic and every request already sent, expired or
        closed on the stop-requests topic (stop requests are rare, so both topics are small); returns the
        number of commands found."""
        before = len(self.dispatcher.dispatched)
        self._read_topic(VEHICLE_COMMANDS, self.dispatcher.remember_command)
        self._read_topic(topics.STOP_REQUESTS, self.dispatcher.remember_request)
        return len(self.dispatcher.dispatched) - before

    def _read_topic(self, topic: str, handle: Callable[[bytes], None]) -> None:
        for message in read_to_end(self.options.bootstrap, topic, client_id=f"{self.client_id}-restore"):
            if message.value is not None:
                handle(message.value)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python has no type hints
    def __init__(self, dispatch: CommandDispatch) -> None:
        self.dispatch = dispatch

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # every batch is committed before the next poll, so nothing is pending here

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        restored = self.dispatch.restore()
        log.info(
            "assigned partitions %s; %d commands already dispatched", sorted(tp.partition for tp in assigned), restored
        )
