"""Gathers an alert's evidence timeline from the store: the vehicle's track, its other alerts, the zone; and lays
the chart's event labels out so that none covers another."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from web.display import kind_label
from web.models import AlertRow, ZoneRow
from web.positions import track
from web.timeline import BOTTOM, HEIGHT, LEFT, RIGHT, WIDTH, Event, render, zone_distances

BEFORE = timedelta(minutes=10)
AFTER = timedelta(minutes=5)

LABEL_ROWS = 3
"""Rows of labels under the plot: the chart leaves room for three lines of 10 px text above its time axis."""
LABEL_CHAR_PX = 6.2
"""Widest average advance of a character of the 10 px label font (sans-serif digits and capitals run ~5.6-6 px):
erring wide keeps two labels apart whatever font the reader's browser picks."""
LABEL_GAP_PX = 6.0
LABEL_SUFFIX_CHARS = 4
"""Room kept beside every label for " +99", the count of events too close to it to carry their own label."""
_EMPTY_LABEL = re.compile(r'<text [^>]*class="tl-label"[^>]*></text>')


@dataclass
class Label:
    """One label of the chart: where it stands, on which row, and the events it speaks for."""

    x: float
    row: int
    text: str
    hidden: list[str] = field(default_factory=list)
    """Labels of events too close to carry their own; the label says how many and names them on hover."""

    @property
    def shown(self) -> str:
        return f"{self.text} +{min(len(self.hidden), 99)}" if self.hidden else self.text

    def extent(self) -> tuple[float, float]:
        """Left and right edge of the room the label may take, its " +N" included."""
        half = (len(self.text) + LABEL_SUFFIX_CHARS) * LABEL_CHAR_PX / 2
        return self.x - half, self.x + half


def layout_labels(marks: list[tuple[float, str]]) -> list[Label]:
    """Labels for events at chart x positions: each on the first row where it clears its neighbours; an event that
    fits on no row is counted on the nearest label to its left instead of being drawn over it."""
    rows: list[float] = [float("-inf")] * LABEL_ROWS  # right edge of the last label on each row
    labels: list[Label] = []
    for x, text in sorted(marks, key=lambda m: m[0]):
        label = Label(x, 0, text)
        left, right = label.extent()
        shift = max(0.0, -left) - max(0.0, right - WIDTH)  # keep it inside the chart at either end
        label.x += shift
        left, right = label.extent()
        free = next((row for row in range(LABEL_ROWS) if rows[row] + LABEL_GAP_PX <= left), None)
        if free is None:
            if labels:
                nearest = max(labels, key=lambda placed: placed.x if placed.x <= x else float("-inf"))
                nearest.hidden.append(text)
                continue
            free = 0
        label.row = free
        rows[free] = right
        labels.append(label)
    return labels


def _label_svg(labels: list[Label]) -> str:
    out = []
    for label in labels:
        y = HEIGHT - BOTTOM + 14 + label.row * 13
        hover = f"<title>{escape(', '.join([label.text, *label.hidden]))}</title>" if label.hidden else ""
        out.append(f'<text x="{label.x:.1f}" y="{y}" class="tl-label" text-anchor="middle">'
                   f"{escape(label.shown)}{hover}</text>")
    return "".join(out)


def chart(points: list[dict[str, Any]], distances: list[float | None], events: list[Event], title: str) -> str:
    """The timeline SVG with every event's line and labels that never overlap."""
    svg = render(points, distances, [Event(e.ts, "", e.severity) for e in events], title=title)
    if not svg or not events:
        return svg
    # The same time axis as timeline.render: from the first to the last moment shown, at least a minute wide.
    times: list[datetime] = [p["ts"] for p in points] + [e.ts for e in events]
    start = min(times)
    span = max((max(times) - start).total_seconds(), 60.0)
    plot_w = WIDTH - LEFT - RIGHT
    marks = [(LEFT + plot_w * (e.ts - start).total_seconds() / span, e.label) for e in events]
    return _EMPTY_LABEL.sub("", svg).replace("</svg>", _label_svg(layout_labels(marks)) + "</svg>")


def evidence_timeline(session: Session, alert: AlertRow) -> tuple[str, list[dict[str, Any]]]:
    """The SVG chart and the same data as table rows (time, speed, zone distance, event)."""
    start, end = alert.onset_ts - BEFORE, alert.ts + AFTER
    points = track(session, alert.vehicle_id, start, end)
    ring = None
    if alert.zone_id:
        zone = session.get(ZoneRow, alert.zone_id)
        if zone is not None:
            ring = zone.feature["geometry"]["coordinates"][0]
    distances = zone_distances(points, ring)
    others = session.execute(select(AlertRow).where(AlertRow.vehicle_id == alert.vehicle_id,
                                                    AlertRow.ts >= start, AlertRow.ts <= end)
                             .order_by(AlertRow.ts)).scalars()
    events = [Event(alert.onset_ts, "onset", alert.severity)]
    events += [Event(o.ts, kind_label(o.kind), o.severity) for o in others]
    svg = chart(points, distances, events, title=f"Evidence timeline of {alert.vehicle_id}")
    rows: list[dict[str, Any]] = [
        {"ts": p["ts"], "speed_kmh": p["speed_kmh"], "distance_m": d, "event": None}
        for p, d in zip(points, distances, strict=True)
    ]
    rows += [{"ts": e.ts, "speed_kmh": None, "distance_m": None, "event": e.label} for e in events]
    rows.sort(key=lambda r: r["ts"])
    return svg, rows
