"""Command-line edges to real devices and places: `devices serve`/`traccar-kafka`, `import`, `zones import-osm`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, kafka_flags
from truckguard.signals import stop_on_signals


def _directory(settings: Settings):
    from ingest.devices.directory import DeviceDirectory
    from ingest.reference_source import DirectorySource, TopicSource
    from ingest.topics import ensure_topics

    if settings.reference_dir is not None:
        return DeviceDirectory(DirectorySource(settings.reference_dir))
    ensure_topics(settings.bootstrap, settings.partitions)
    return DeviceDirectory(TopicSource(settings.bootstrap))


def cmd_devices_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.devices.http_server import HttpOptions
    from ingest.devices.queclink_server import QueclinkOptions
    from ingest.devices.serve import ServeOptions, run_devices
    from ingest.devices.teltonika_server import TeltonikaOptions
    from ingest.topics import ensure_topics
    from telematics.devices.queclink_telemetry import DigitalInputs
    from telematics.devices.teltonika_telemetry import InputAssignments

    settings = settings.with_overrides(
        devices_host=args.host, teltonika_port=args.teltonika, queclink_port=args.queclink, osmand_port=args.osmand,
        traccar_port=args.traccar, devices_idle_timeout_s=args.idle_timeout,
        devices_max_connections=args.max_connections,
    )
    ports = (settings.teltonika_port, settings.queclink_port, settings.osmand_port, settings.traccar_port)
    if all(port is None for port in ports):
        print("devices serve: give at least one of --teltonika PORT, --queclink PORT, --osmand PORT, --traccar PORT "
              "(or TRUCKGUARD_TELTONIKA_PORT, TRUCKGUARD_QUECLINK_PORT, TRUCKGUARD_OSMAND_PORT, "
              "TRUCKGUARD_TRACCAR_PORT)", file=sys.stderr)
        return 2
    ensure_topics(settings.bootstrap, settings.partitions)
    teltonika = None
    if settings.teltonika_port is not None:
        teltonika = TeltonikaOptions(host=settings.devices_host, port=settings.teltonika_port,
                                     idle_timeout_s=settings.devices_idle_timeout_s,
                                     max_connections=settings.devices_max_connections,
                                     inputs=InputAssignments.parse(args.input or ()))
    queclink = None
    if settings.queclink_port is not None:
        queclink = QueclinkOptions(host=settings.devices_host, port=settings.queclink_port,
                                   idle_timeout_s=settings.devices_idle_timeout_s,
                                   max_connections=settings.devices_max_connections,
                                   inputs=DigitalInputs.parse(args.queclink_input or ()))
    options = ServeOptions(
        bootstrap=settings.bootstrap,
        teltonika=teltonika,
        queclink=queclink,
        http=HttpOptions(host=settings.devices_host, osmand_port=settings.osmand_port,
                         traccar_port=settings.traccar_port),
        summary_every_s=args.summary_every,
    )
    run_devices(options, _directory(settings), stop_on_signals())
    return 0


def cmd_devices_traccar_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.devices.traccar_kafka import TraccarKafkaOptions, run_traccar_kafka
    from ingest.topics import ensure_topics

    ensure_topics(settings.bootstrap, settings.partitions)
    options = TraccarKafkaOptions(
        traccar_bootstrap=args.traccar_bootstrap or settings.bootstrap,
        bootstrap=settings.bootstrap,
        positions_topic=args.positions_topic,
        events_topic=args.events_topic,
        group_id=args.traccar_group_id,
    )
    counters = run_traccar_kafka(options, _directory(settings), stop_on_signals())
    print(counters.summary())
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from telematics.importers.bundle_writer import REJECTS_FILE, import_traces
    from telematics.importers.csv_traces import CsvLayout, parse_columns

    layout = CsvLayout(
        columns=parse_columns(args.column or ()),
        time_format=args.time_format,
        timezone=args.timezone,
        speed_unit=args.speed_unit,
        delimiter=args.delimiter,
    )
    summary = import_traces(
        [Path(p) for p in args.traces],
        Path(args.out),
        fleet_file=Path(args.fleet) if args.fleet else None,
        fmt=args.format,
        layout=layout,
        device_id=args.device_id,
        trips_file=Path(args.trips) if args.trips else None,
        zones_file=Path(args.zones) if args.zones else None,
    )
    print(summary.render())
    if summary.rejected:
        print(f"rejected lines and points, with reasons: {Path(args.out) / REJECTS_FILE}", file=sys.stderr)
    if summary.fleet_generated:
        print(f"note: {Path(args.out) / 'fleet.json'} was generated; replace it with your fleet", file=sys.stderr)
    return 0 if summary.records else 1


def cmd_zones_import_osm(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from telematics.osm_zones import import_osm_zones, parse_bbox

    collection, summary = import_osm_zones(
        Path(args.extract), args.timezone, parse_bbox(args.bbox) if args.bbox else None
    )
    Path(args.out).write_bytes(orjson.dumps(collection, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"{summary.render()}; written to {args.out} (review them before the detector uses them)")
    for problem in summary.skipped:
        print(f"  skipped {problem}", file=sys.stderr)
    return 0


def _kafka_and_reference_flags(p: argparse.ArgumentParser) -> None:
    kafka_flags(p)
    p.add_argument("--reference", dest="reference_dir", type=Path,
                   help="reference data directory in the bundle layout, whose vehicles list their device_ids "
                        "(TRUCKGUARD_REFERENCE); default: the web site's snapshots on truckguard.reference.v1")


def register(sub: Subparsers) -> None:
    """Adds `devices serve`, `devices traccar-kafka`, `import` and `zones import-osm` to truckguard's commands."""
    devices = sub.add_parser("devices", help="Listen for real telematics units and tracking servers.",
                             description="Listen for real telematics units and tracking servers.")
    actions = devices.add_subparsers(dest="devices_action", required=True, metavar="ACTION")
    _register_serve(actions)
    _register_traccar_kafka(actions)
    _register_import(sub)
    _register_zones(sub)


def _register_serve(actions: Subparsers) -> None:
    serve = actions.add_parser(
        "serve", help="Teltonika and Queclink TCP, OsmAnd and Traccar forwarding listeners publishing to "
                      "truckguard.telemetry.v1",
        description="Accepts devices listed in some vehicle's device_ids and publishes their records; a device is "
                    "acknowledged only after Kafka acknowledged its records.")
    serve.set_defaults(handler=cmd_devices_serve)
    _kafka_and_reference_flags(serve)
    serve.add_argument("--host", help="listen address (TRUCKGUARD_DEVICES_HOST, default 127.0.0.1; 0.0.0.0 to accept "
                                      "devices from the network)")
    serve.add_argument("--teltonika", type=int, metavar="PORT",
                       help="Teltonika TCP port (Codec 8, 8E, 16), e.g. 5027 (TRUCKGUARD_TELTONIKA_PORT)")
    serve.add_argument("--queclink", type=int, metavar="PORT",
                       help="Queclink @Track TCP port (GV, GL, GMT units, ASCII reports), e.g. 5004 "
                            "(TRUCKGUARD_QUECLINK_PORT)")
    serve.add_argument("--osmand", type=int, metavar="PORT",
                       help="OsmAnd HTTP port (Traccar Client, phone apps), e.g. 5055 (TRUCKGUARD_OSMAND_PORT)")
    serve.add_argument("--traccar", type=int, metavar="PORT",
                       help="HTTP port for a Traccar server's forward.url and event.forward.url (JSON) "
                            "(TRUCKGUARD_TRACCAR_PORT)")
    serve.add_argument("--input", action="append", metavar="FIELD=IO[:inverted]",
                       help="a Teltonika digital input wired to a contract field, e.g. cargo_door_open=2 for DIN2 "
                            "(repeatable; fields: cab_door_open, cargo_door_open, trailer_connected, parking_brake)")
    serve.add_argument("--queclink-input", action="append", metavar="FIELD=INPUT[:inverted]",
                       help="a Queclink digital input wired to a contract field, e.g. cargo_door_open=2 for digital "
                            "input 2 (its +RESP:GTDIS reports; repeatable; fields as --input)")
    serve.add_argument("--idle-timeout", type=float,
                       help="seconds of silence before a Teltonika or Queclink connection is closed "
                            "(TRUCKGUARD_DEVICES_IDLE_TIMEOUT_S, default 600)")
    serve.add_argument("--max-connections", type=int,
                       help="Teltonika and Queclink connections served at once, together; more are closed at once "
                            "(TRUCKGUARD_DEVICES_MAX_CONNECTIONS, default 5000)")
    serve.add_argument("--summary-every", type=float, default=60.0,
                       help="seconds between counter lines in the log (default 60)")


def _register_traccar_kafka(actions: Subparsers) -> None:
    kafka = actions.add_parser(
        "traccar-kafka", help="consume a Traccar server's Kafka forwarding (positions, events)",
        description="Consumes the topics a Traccar server writes with forward.type=kafka and "
                    "event.forward.type=kafka, and publishes contract records.")
    kafka.set_defaults(handler=cmd_devices_traccar_kafka)
    _kafka_and_reference_flags(kafka)
    kafka.add_argument("--traccar-bootstrap", help="the Kafka Traccar forwards to (default: truckguard's)")
    kafka.add_argument("--positions-topic", default="positions", help="Traccar's forward.topic (default positions)")
    kafka.add_argument("--events-topic", default="events", help="Traccar's event.forward.topic (default events)")
    kafka.add_argument("--traccar-group-id", default="truckguard-traccar", help="consumer group (default "
                                                                                "truckguard-traccar)")


def _register_import(sub: Subparsers) -> None:
    imp = sub.add_parser("import", help="Turn a fleet's own traces (CSV, GPX, NMEA) into a replay bundle.",
                         description="Reads trace files into a bundle directory: fleet.json (given or generated), "
                                     "telemetry.jsonl sorted by time, trips and zones (given or empty).")
    imp.set_defaults(handler=cmd_import)
    imp.add_argument("traces", nargs="+", help="trace files: .csv, .gpx, .nmea (or --format)")
    imp.add_argument("--out", required=True, help="bundle directory to write")
    imp.add_argument("--fleet", help="fleet.json whose vehicles list the devices in device_ids (default: generated)")
    imp.add_argument("--trips", help="trips.geojson to include (default: none)")
    imp.add_argument("--zones", help="zones.geojson to include (default: none)")
    imp.add_argument("--format", choices=("csv", "gpx", "nmea"), help="format of every file (default: by suffix)")
    imp.add_argument("--device-id", help="the device of files that do not name one (default: track name or file name)")
    imp.add_argument("--column", action="append", metavar="NAME=HEADER",
                     help="CSV: which column holds what, e.g. ts=Zeit lat=Breite (repeatable; names: device_id, ts, "
                          "lat, lon, speed, heading, ignition, hdop, satellites, altitude, odometer_km)")
    imp.add_argument("--time-format", default="iso",
                     help="CSV: iso, epoch_s, epoch_ms or a strptime pattern like '%%d.%%m.%%Y %%H:%%M:%%S'")
    imp.add_argument("--timezone", default="UTC", help="CSV: time zone of times written without an offset")
    imp.add_argument("--speed-unit", default="kmh", choices=("kmh", "mps", "knots", "mph"), help="CSV speed unit")
    imp.add_argument("--delimiter", help="CSV delimiter (default: sniffed)")


def _register_zones(sub: Subparsers) -> None:
    zones = sub.add_parser("zones", help="Protected zones.", description="Protected zones.")
    zone_actions = zones.add_subparsers(dest="zones_action", required=True, metavar="ACTION")
    osm = zone_actions.add_parser(
        "import-osm", help="propose protected zones from an OpenStreetMap extract",
        description="Pedestrian areas, squares, marketplaces, station forecourts, school grounds, stadiums and event "
                    "grounds of an OSM extract as contract zones, with active windows from opening_hours.")
    osm.set_defaults(handler=cmd_zones_import_osm)
    osm.add_argument("extract", help="an .osm or .osm.pbf file")
    osm.add_argument("--out", required=True, help="zones.geojson to write")
    osm.add_argument("--timezone", required=True, help="IANA time zone of the place, e.g. Europe/Berlin "
                                                       "(opening hours are local time)")
    osm.add_argument("--bbox", help="only areas touching W,S,E,N (degrees)")
