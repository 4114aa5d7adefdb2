"""The `basemap build` command: the site's offline base map (roads, buildings, water) from an OpenStreetMap extract."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action


def cmd_basemap_build(args: argparse.Namespace, settings: Settings) -> int:
    from telematics.osm_zones import parse_bbox
    from web.basemap import FILE_NAME, build_basemap, write_basemap

    document, summary = build_basemap(Path(args.extract), parse_bbox(args.bbox) if args.bbox else None)
    out = Path(args.out) if args.out else Path(settings.data_dir) / FILE_NAME
    write_basemap(document, out)
    print(f"{summary.render()}; written to {out}" + ("" if args.out else " (the site serves it from there)"))
    for problem in summary.skipped:
        print(f"  skipped {problem}", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    """Adds `basemap build` to truckguard's commands."""
    group = sub.add_parser("basemap", help="The site's offline base map from an OpenStreetMap extract.",
                           description="The site's offline base map from an OpenStreetMap extract.")
    actions = group.add_subparsers(dest="basemap_action", required=True, metavar="ACTION")
    build = add_action(actions, "build", cmd_basemap_build,
                       "draw roads with their names, buildings, water and green space from an extract (.osm, "
                       ".osm.gz, .osm.pbf) once, into the data folder, where the site serves it with no internet")
    build.add_argument("extract", help="OpenStreetMap extract, e.g. the one `zones import-osm` reads")
    build.add_argument("--bbox", help="W,S,E,N in degrees: keep only this part (a city centre of a larger extract)")
    build.add_argument("--out", help="where to write it (default: DATA_DIR/basemap.json, which the site serves)")
