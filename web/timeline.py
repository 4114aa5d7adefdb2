"""Draws an alert's evidence timeline (speed, zone distance, events) as a self-contained SVG, server-side."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from shapely.geometry import Point, Polygon

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 60, 16, 58
EARTH_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Event:
    """A moment worth marking: another alert of the vehicle, the onset, the alert itself."""

    ts: datetime
    label: str
    severity: str = "info"


def zone_distances(track: list[dict[str, Any]], ring: list[list[float]] | None) -> list[float | None]:
    """Metres from each track point to the zone's edge (0 inside), in a local flat frame around the zone."""
    if not ring:
        return [None] * len(track)
    lat0 = sum(p[1] for p in ring) / len(ring)
    kx = EARTH_M_PER_DEG * math.cos(math.radians(lat0))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return lon * kx, lat * EARTH_M_PER_DEG

    polygon = Polygon([xy(p[0], p[1]) for p in ring])
    return [None if p["lat"] is None else round(polygon.distance(Point(xy(p["lon"], p["lat"]))), 1) for p in track]


def _ticks(high: float) -> list[float]:
    if high <= 0:
        return [0.0]
    step = 10 ** math.floor(math.log10(high))
    for factor in (1, 2, 5, 10):
        if high / (step * factor) <= 5:
            step *= factor
            break
    return [i * step for i in range(int(high // step) + 1)]


def render(track: list[dict[str, Any]], distances: list[float | None], events: list[Event], *, title: str) -> str:
    """The SVG text; with no track it still shows the events on a time axis."""
    times = [p["ts"] for p in track] + [e.ts for e in events]
    if not times:
        return ""
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 60.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ts: datetime) -> float:
        return LEFT + plot_w * (ts - start).total_seconds() / span

    speeds = [p["speed_kmh"] for p in track if p["speed_kmh"] is not None]
    top_speed = max([*speeds, 10.0]) * 1.1
    known = [d for d in distances if d is not None]
    top_distance = max([*known, 10.0]) * 1.1

    def y(value: float, top: float) -> float:
        return TOP + plot_h * (1 - value / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-labelledby="tl-title tl-desc" class="timeline">',
           f'<title id="tl-title">{escape(title)}</title>',
           f'<desc id="tl-desc">Speed in km/h{" and distance to the zone in metres" if known else ""} over time, '
           f'with {len(events)} marked events; the table below lists the same data.</desc>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="tl-plot"/>']
    for tick in _ticks(top_speed):
        ty = y(tick, top_speed)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" class="tl-grid"/>'
                   f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" class="tl-axis" text-anchor="end">{tick:g}</text>')
    out.append(f'<text x="12" y="{TOP + plot_h / 2:.0f}" class="tl-axis" '
               f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})" text-anchor="middle">km/h</text>')
    if known:
        for tick in _ticks(top_distance):
            out.append(f'<text x="{LEFT + plot_w + 6}" y="{y(tick, top_distance) + 4:.1f}" class="tl-axis tl-dist">'
                       f'{tick:g}</text>')
        out.append(f'<text x="{WIDTH - 8}" y="{TOP + plot_h / 2:.0f}" class="tl-axis tl-dist" '
                   f'transform="rotate(90 {WIDTH - 8} {TOP + plot_h / 2:.0f})" text-anchor="middle">m to zone</text>')
    speed_points = " ".join(f"{x(p['ts']):.1f},{y(p['speed_kmh'], top_speed):.1f}"
                            for p in track if p["speed_kmh"] is not None)
    if speed_points:
        out.append(f'<polyline points="{speed_points}" class="tl-speed"/>')
    dist_points = " ".join(f"{x(p['ts']):.1f},{y(d, top_distance):.1f}"
                           for p, d in zip(track, distances, strict=True) if d is not None)
    if dist_points:
        out.append(f'<polyline points="{dist_points}" class="tl-distance"/>')
    for i, event in enumerate(events):
        ex = x(event.ts)
        ly = HEIGHT - BOTTOM + 14 + (i % 3) * 13
        out.append(f'<line x1="{ex:.1f}" x2="{ex:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                   f'class="tl-event tl-{escape(event.severity)}"/>'
                   f'<text x="{ex:.1f}" y="{ly}" class="tl-label" text-anchor="middle">{escape(event.label)}</text>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" class="tl-axis">{start:%H:%M:%S}</text>')
    out.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT - 2}" class="tl-axis" text-anchor="end">'
               f'{end:%H:%M:%S} UTC</text>')
    out.append("</svg>")
    return "".join(out)
