"""The one settings object, built from TRUCKGUARD_* environment variables and command-line flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telematics.errors import ConfigurationError


class SettingsError(ConfigurationError):
    """A TRUCKGUARD_* variable or flag has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the platform in one place; see README "Configuration" for each variable."""

    bootstrap_servers: str = ""
    """Kafka bootstrap servers; empty means the embedded broker on 127.0.0.1:broker_port."""
    broker_port: int = 19092
    data_dir: Path = field(default_factory=lambda: Path.home() / ".truckguard")
    database_url: str = ""
    """SQLAlchemy URL of the web store; empty means SQLite in data_dir."""
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    partitions: int = 4
    group_id: str = "truckguard-detector"
    lateness_s: float = 60.0
    idle_flush_s: float = 5.0
    checkpoint_s: float = 5.0
    """Live detector: how often state is checkpointed and offsets committed (bounds the work redone after a crash)."""
    devices_host: str = "127.0.0.1"
    """Where `devices serve` listens; 0.0.0.0 to accept units and tracking servers from the network."""
    teltonika_port: int | None = None
    """Teltonika TCP listener port (Teltonika's own servers and Traccar use 5027); none: that listener is off."""
    queclink_port: int | None = None
    """Queclink @Track TCP listener port (Traccar serves the protocol on 5004); none: that listener is off."""
    osmand_port: int | None = None
    """OsmAnd HTTP listener port (Traccar serves the protocol on 5055, what phone apps default to); none: off."""
    traccar_port: int | None = None
    """HTTP port for a Traccar server's forward.url and event.forward.url; none: off."""
    devices_idle_timeout_s: float = 600.0
    """A Teltonika or Queclink connection silent this long is closed: twice an FMB unit's default open-link timeout
    (300 s)."""
    devices_max_connections: int = 5000
    """TCP device connections (Teltonika and Queclink together) served at once; one more is closed at accept, so a
    flood of connections cannot take every file descriptor (Linux's usual soft limit is 1,024 per process: `devices
    serve` raises its own to the hard limit) from the units already connected."""
    reference_dir: Path | None = None
    models_dir: Path | None = None
    can_model_path: Path | None = None
    """CAN traffic model saved by `truckguard can train`; none means no can_intrusion detection."""
    """Behaviour models saved by `truckguard train`; none means no behaviour_anomaly alerts."""
    secret_key: str = ""
    """Flask session key; empty means one generated once and kept in data_dir/secret_key."""
    secure_cookies: bool = False
    """Mark session cookies Secure: set it when the site is served over TLS."""
    map_tiles: str = ""
    """Optional tile URL template for the map; empty means vector layers only (works with no internet)."""
    stop_request_expiry_s: float = 900.0
    """A stop request not authorised within this many seconds becomes expired."""
    command_keys_dir: Path | None = None
    """Where the platform's Ed25519 command-signing key lives; empty means data_dir/keys."""
    command_ttl_s: float = 120.0
    """A signed remote-stop command is valid this long after it is issued."""
    max_authorization_age_s: float = 300.0
    """An authorisation older than this is not turned into a command (the situation has moved on)."""
    log_level: str = "INFO"
    broker_storage: str = ""
    """Durable embedded broker: a Tansu storage engine URL; empty means files under data_dir/broker-storage."""
    broker_retention_s: float = 604_800.0
    """Durable broker's own store: how long a topic without a retention.ms of its own keeps its records (7 days, as
    Kafka's log.retention.hours); records are deleted only once every consumer group has read them."""
    broker_retention_hard_limit_s: float = 2_592_000.0
    """Durable broker's own store: records stored this long (30 days) are deleted even if a consumer group has not
    read them (an abandoned group must not keep the disk forever); never before the topic's own retention."""
    broker_retention_sweep_s: float = 300.0
    """Durable broker's own store: how often retention and compaction run; 0 turns them off."""
    public_url: str = ""
    """The site's address as people reach it, for the links in notifications; empty means http://web_host:web_port."""
    smtp_host: str = ""
    """SMTP server the notifier sends e-mail through; empty means e-mail notifications cannot be sent."""
    smtp_port: int = 587
    """587 is the message submission port (RFC 6409); implicit TLS uses 465 (RFC 8314)."""
    smtp_security: str = "starttls"
    """``starttls``, ``tls`` (implicit) or ``none`` (a relay on the same host only)."""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "truckguard@localhost"
    live_consoles_max: int = 400
    """Live consoles (``/events``) one site process serves, all users together; beyond it a console gets 503 with
    Retry-After so sign-in and the health check stay answered. Measured on a shared 2-core machine: 400 consoles
    (200 answers/s) left sign-in under 0.5 s and the health check under 0.1 s; 800 saturated the process (330-380
    answers/s of the 400 asked) and sign-in took up to 1.8 s. More consoles need more site processes."""
    notify_escalate_after_s: float = 120.0
    """A critical alert nobody acknowledged within this goes to the next tier of people (and again after twice it to
    the third): a stop request waits at most stop_request_expiry_s (900 s) for two officers, so escalating after two
    minutes leaves the next person most of that time."""
    password_hash_slots: int = 2
    """Password hashes (Argon2id) one site process computes at once; as many sign-ins more may wait for a slot, and
    any beyond answer 503 at once. argon2-cffi's default cost (RFC 9106's second recommended setting: 64 MiB of
    memory, 3 passes, 4 lanes) takes tens of milliseconds of CPU and 64 MiB per hash, so two at a time (and two
    waiting) keep at least half of the site's 8 server threads for everything else, and the memory bounded, however
    many sign-ins arrive together."""
    password_hash_wait_s: float = 2.0
    """How long a sign-in waits for a hashing slot before it answers 503 with Retry-After."""

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.bootstrap_servers

    @property
    def keys_dir(self) -> Path:
        return self.command_keys_dir or self.data_dir / "keys"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'truckguard.sqlite'}"

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the given fields replaced; None values (unset flags) are ignored."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_ENV_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "TRUCKGUARD_BOOTSTRAP_SERVERS": ("bootstrap_servers", str),
    "TRUCKGUARD_BROKER_PORT": ("broker_port", int),
    "TRUCKGUARD_DATA_DIR": ("data_dir", Path),
    "TRUCKGUARD_DATABASE_URL": ("database_url", str),
    "TRUCKGUARD_WEB_HOST": ("web_host", str),
    "TRUCKGUARD_WEB_PORT": ("web_port", int),
    "TRUCKGUARD_PARTITIONS": ("partitions", int),
    "TRUCKGUARD_GROUP_ID": ("group_id", str),
    "TRUCKGUARD_LATENESS_S": ("lateness_s", float),
    "TRUCKGUARD_IDLE_FLUSH_S": ("idle_flush_s", float),
    "TRUCKGUARD_CHECKPOINT_S": ("checkpoint_s", float),
    "TRUCKGUARD_DEVICES_HOST": ("devices_host", str),
    "TRUCKGUARD_TELTONIKA_PORT": ("teltonika_port", int),
    "TRUCKGUARD_QUECLINK_PORT": ("queclink_port", int),
    "TRUCKGUARD_OSMAND_PORT": ("osmand_port", int),
    "TRUCKGUARD_TRACCAR_PORT": ("traccar_port", int),
    "TRUCKGUARD_DEVICES_IDLE_TIMEOUT_S": ("devices_idle_timeout_s", float),
    "TRUCKGUARD_DEVICES_MAX_CONNECTIONS": ("devices_max_connections", int),
    "TRUCKGUARD_REFERENCE": ("reference_dir", Path),
    "TRUCKGUARD_MODELS": ("models_dir", Path),
    "TRUCKGUARD_CAN_MODEL": ("can_model_path", Path),
    "TRUCKGUARD_SECRET_KEY": ("secret_key", str),
    "TRUCKGUARD_SECURE_COOKIES": ("secure_cookies", _boolean),
    "TRUCKGUARD_MAP_TILES": ("map_tiles", str),
    "TRUCKGUARD_STOP_REQUEST_EXPIRY_S": ("stop_request_expiry_s", float),
    "TRUCKGUARD_COMMAND_KEYS": ("command_keys_dir", Path),
    "TRUCKGUARD_COMMAND_TTL_S": ("command_ttl_s", float),
    "TRUCKGUARD_MAX_AUTHORIZATION_AGE_S": ("max_authorization_age_s", float),
    "TRUCKGUARD_LOG_LEVEL": ("log_level", str),
    "TRUCKGUARD_BROKER_STORAGE": ("broker_storage", str),
    "TRUCKGUARD_BROKER_RETENTION_S": ("broker_retention_s", float),
    "TRUCKGUARD_BROKER_RETENTION_HARD_LIMIT_S": ("broker_retention_hard_limit_s", float),
    "TRUCKGUARD_BROKER_RETENTION_SWEEP_S": ("broker_retention_sweep_s", float),
    "TRUCKGUARD_PUBLIC_URL": ("public_url", str),
    "TRUCKGUARD_SMTP_HOST": ("smtp_host", str),
    "TRUCKGUARD_SMTP_PORT": ("smtp_port", int),
    "TRUCKGUARD_SMTP_SECURITY": ("smtp_security", str),
    "TRUCKGUARD_SMTP_USER": ("smtp_user", str),
    "TRUCKGUARD_SMTP_PASSWORD": ("smtp_password", str),
    "TRUCKGUARD_SMTP_FROM": ("smtp_from", str),
    "TRUCKGUARD_NOTIFY_ESCALATE_AFTER_S": ("notify_escalate_after_s", float),
    "TRUCKGUARD_LIVE_CONSOLES_MAX": ("live_consoles_max", int),
    "TRUCKGUARD_PASSWORD_HASH_SLOTS": ("password_hash_slots", int),
    "TRUCKGUARD_PASSWORD_HASH_WAIT_S": ("password_hash_wait_s", float),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (os.environ unless given); raises SettingsError on bad values."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable, (name, kind) in _ENV_FIELDS.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[name] = kind(raw)
        except ValueError as exc:
            expected = "true or false" if kind is _boolean else getattr(kind, "__name__", "a value")
            raise SettingsError(f"{variable}={raw!r}: expected {expected}") from exc
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.partitions < 1:
        raise SettingsError(f"TRUCKGUARD_PARTITIONS={settings.partitions}: expected at least 1")
    for variable, port in (("TRUCKGUARD_TELTONIKA_PORT", settings.teltonika_port),
                           ("TRUCKGUARD_QUECLINK_PORT", settings.queclink_port),
                           ("TRUCKGUARD_OSMAND_PORT", settings.osmand_port),
                           ("TRUCKGUARD_TRACCAR_PORT", settings.traccar_port)):
        if port is not None and not 0 < port < 65536:
            raise SettingsError(f"{variable}={port}: expected a TCP port from 1 to 65535")
    if settings.devices_idle_timeout_s <= 0:
        raise SettingsError(f"TRUCKGUARD_DEVICES_IDLE_TIMEOUT_S={settings.devices_idle_timeout_s}: expected over 0")
    if settings.devices_max_connections < 1:
        limit = settings.devices_max_connections
        raise SettingsError(f"TRUCKGUARD_DEVICES_MAX_CONNECTIONS={limit}: expected at least 1")
    if settings.live_consoles_max < 1:
        raise SettingsError(f"TRUCKGUARD_LIVE_CONSOLES_MAX={settings.live_consoles_max}: expected at least 1")
    for variable, seconds in (
        ("TRUCKGUARD_BROKER_RETENTION_S", settings.broker_retention_s),
        ("TRUCKGUARD_BROKER_RETENTION_HARD_LIMIT_S", settings.broker_retention_hard_limit_s),
    ):
        if not seconds > 0:
            raise SettingsError(f"{variable}={seconds}: expected more than 0 seconds")
    if not settings.broker_retention_sweep_s >= 0:
        raise SettingsError(
            f"TRUCKGUARD_BROKER_RETENTION_SWEEP_S={settings.broker_retention_sweep_s}: expected 0 (off) or more"
        )
    if settings.lateness_s < 0:
        raise SettingsError(f"TRUCKGUARD_LATENESS_S={settings.lateness_s}: expected 0 or more")
    if settings.password_hash_slots < 1:
        raise SettingsError(f"TRUCKGUARD_PASSWORD_HASH_SLOTS={settings.password_hash_slots}: expected at least 1")
    if settings.password_hash_wait_s < 0:
        raise SettingsError(f"TRUCKGUARD_PASSWORD_HASH_WAIT_S={settings.password_hash_wait_s}: expected 0 or more")
    return settings


def documented_variables() -> list[str]:
    """The names of every TRUCKGUARD_* variable (the README documents each one)."""
    return list(_ENV_FIELDS)
