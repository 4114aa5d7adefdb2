"""Rates a public space's exposure to a vehicle attack from its survey: rating, reasons and mitigations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telematics.schedule import DAY_NAMES, parse_hhmm
from toolkit.loader import default_content
from toolkit.model import RATINGS, Band, Content, Mitigation, SiteScoring, Strings
from toolkit.site_survey import ApproachRoute, SiteSurvey, TimeWindow

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    params: Mapping[str, Any]
    points: int
    """What this reason adds to the score; the score is the sum over all reasons."""
    text: str


@dataclass(frozen=True, slots=True)
class RouteFinding:
    route: str
    protected: bool
    """A barrier is rated for at least the route's vehicle mass and speed."""
    points: int
    impact_energy_kj: float
    """Kinetic energy of the assumed vehicle at the route's maximum speed."""


@dataclass(frozen=True, slots=True)
class SiteRiskResult:
    site_id: str
    rating: str
    score: int
    reasons: tuple[Reason, ...]
    mitigations: tuple[Mitigation, ...]
    routes: tuple[RouteFinding, ...]
    content_version: str

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "rating": self.rating,
            "score": self.score,
            "reasons": [{"code": r.code, "points": r.points, "text": r.text, "params": dict(r.params)}
                        for r in self.reasons],
            "mitigations": [{"id": m.id, "title": m.title, "text": m.text, "guidance": list(m.guidance),
                             "sources": list(m.sources)} for m in self.mitigations],
            "routes": [{"route": f.route, "protected": f.protected, "points": f.points,
                        "impact_energy_kj": f.impact_energy_kj} for f in self.routes],
            "content_version": self.content_version,
        }


def band_points(bands: tuple[Band, ...], value: float, *, strictly_above: bool) -> int:
    """Points of the highest band the value reaches (or exceeds, for speed bands); 0 below every band."""
    points = 0
    for band in bands:
        if value > band.threshold or (not strictly_above and value >= band.threshold):
            points = band.points
    return points


def impact_energy_kj(mass_kg: float, speed_kmh: float) -> float:
    speed_ms = speed_kmh / 3.6
    return round(0.5 * mass_kg * speed_ms * speed_ms / 1000, 1)


def weekly_intervals(window: TimeWindow) -> list[tuple[int, int]]:
    """Minute-of-week intervals [start, end) covered by a window, split at the end of the week."""
    start = parse_hhmm(window.start, "from")
    end = parse_hhmm(window.end, "to")
    out = []
    for day in window.days:
        begin = DAY_NAMES.index(day) * MINUTES_PER_DAY + start
        finish = begin - start + end if end > start else begin - start + MINUTES_PER_DAY + end
        if finish > MINUTES_PER_WEEK:
            out += [(begin, MINUTES_PER_WEEK), (0, finish - MINUTES_PER_WEEK)]
        else:
            out.append((begin, finish))
    return out


def windows_overlap(a: TimeWindow, b: TimeWindow) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in weekly_intervals(a) for s2, e2 in weekly_intervals(b))


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


class _Reasons:
    def __init__(self, strings: Strings) -> None:
        self.strings = strings
        self.items: list[Reason] = []

    def add(self, code: str, points: int = 0, **params: Any) -> None:
        shown = {k: _fmt(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for k, v in params.items()}
        self.items.append(Reason(code, params, points, self.strings.text(f"site.reason.{code}", **shown)))


def route_points(route: ApproachRoute, scoring: SiteScoring) -> tuple[int, int]:
    """Points of an open route: (for its arrival speed, for a direct approach)."""
    speed = band_points(scoring.speed_bands, route.max_speed_kmh, strictly_above=True)
    direct = scoring.direct_approach_points if route.approach_angle_deg >= scoring.direct_approach_deg else 0
    return speed, direct


def _open_route_reasons(route: ApproachRoute, mass_kg: float, scoring: SiteScoring, reasons: _Reasons,
                        worst: bool) -> int:
    """Explain an open route; only the worst open route's points count, the others are covered by their number."""
    speed_points, direct_points = route_points(route, scoring)
    barrier = route.barrier
    if barrier is None:
        reasons.add("unprotected_route", speed_points if worst else 0, route=route.name, speed_kmh=route.max_speed_kmh)
    else:
        reasons.add("underrated_barrier", speed_points if worst else 0, route=route.name,
                    rated_mass_kg=barrier.rated_mass_kg, rated_speed_kmh=barrier.rated_speed_kmh, mass_kg=mass_kg,
                    speed_kmh=route.max_speed_kmh)
    if route.max_speed_kmh >= scoring.high_speed_kmh:
        reasons.add("high_speed_approach", route=route.name, speed_kmh=route.max_speed_kmh)
    if direct_points:
        reasons.add("direct_approach", direct_points if worst else 0, route=route.name,
                    angle_deg=route.approach_angle_deg)
    return speed_points + direct_points


def assess_site(survey: SiteSurvey, content: Content | None = None) -> SiteRiskResult:
    """Rate the site: every point of the score comes from a listed reason, and mitigations follow the reasons."""
    content = content or default_content()
    rules = content.public_space
    scoring = rules.scoring
    reasons = _Reasons(content.strings)

    masses = {r.name: r.vehicle_mass_kg or scoring.default_vehicle_mass_kg for r in survey.routes}
    threats = [r for r in survey.routes if r.max_speed_kmh > 0]
    unprotected = [
        r for r in threats
        if r.barrier is None or r.barrier.rated_speed_kmh < r.max_speed_kmh or r.barrier.rated_mass_kg < masses[r.name]
    ]

    worst = max(unprotected, key=lambda r: sum(route_points(r, scoring)), default=None)
    findings = []
    for route in survey.routes:
        is_open = route in unprotected
        points = _open_route_reasons(route, masses[route.name], scoring, reasons, route is worst) if is_open else 0
        findings.append(RouteFinding(route.name, not is_open, points,
                                     impact_energy_kj(masses[route.name], route.max_speed_kmh)))
    if len(unprotected) > 1:
        extra = min(scoring.extra_unprotected_route_cap,
                    (len(unprotected) - 1) * scoring.extra_unprotected_route_points)
        reasons.add("several_unprotected_routes", extra, count=len(unprotected))

    penetration_scored = False
    for route in survey.routes:
        barrier = route.barrier
        if route in unprotected or barrier is None:
            continue
        standoff, penetration = route.standoff_m, barrier.penetration_m
        if penetration is not None and standoff is not None and penetration > standoff:
            reasons.add("penetration_exceeds_standoff", 0 if penetration_scored else scoring.penetration_points,
                        route=route.name, penetration_m=barrier.penetration_m, standoff_m=route.standoff_m)
            penetration_scored = True
        if barrier.temporary:
            reasons.add("temporary_barrier", route=route.name)
    if not unprotected:
        reasons.add("all_routes_protected")

    peak = max(c.peak_people for c in survey.crowd_times)
    crowd = band_points(scoring.crowd_bands, peak, strictly_above=False)
    if crowd:
        reasons.add("crowd_size", crowd, people=peak)
    if peak >= scoring.large_crowd_people:
        reasons.add("large_crowd", people=scoring.large_crowd_people)
    kind_points = rules.site_kinds[survey.kind]
    if kind_points:
        reasons.add("site_kind", kind_points, kind=content.strings.text(f"site.kind.{survey.kind}"))
    overlapping = next((d for d in survey.deliveries.windows
                        if any(windows_overlap(d, c.window) for c in survey.crowd_times)), None)
    if overlapping is not None:
        reasons.add("deliveries_during_crowds", scoring.delivery_overlap_points,
                    **{"from": overlapping.start, "to": overlapping.end})

    score = sum(r.points for r in reasons.items)
    rating = next(r for m, r in reversed(scoring.ratings) if score >= m)
    codes = {r.code for r in reasons.items}
    mitigations = tuple(
        m for m in rules.mitigations
        if m.always or codes & set(m.when)
        or (m.min_rating is not None and RATINGS.index(rating) >= RATINGS.index(m.min_rating))
    )
    return SiteRiskResult(survey.site_id, rating, score, tuple(reasons.items), mitigations, tuple(findings),
                          rules.version)
