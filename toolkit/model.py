"""The toolkit's content as plain records: sources, guidance items, checklists, assessment, screening, site rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

AUDIENCES = ("driver", "fleet_manager", "rental_counter", "public_space_authority")
JOURNEY_PHASES = (
    "preparation",
    "pick_up",
    "driving",
    "stops_and_parking",
    "delivery",
    "incidents",
    "forced_stops",
    "change_of_plan",
)
RENTAL_PHASES = ("booking", "handover", "return")
PHASES = JOURNEY_PHASES + RENTAL_PHASES
LEVELS = (3, 2, 1)
"""Self-assessment levels from basic to highest, as in TAPA TSR."""
OUTCOMES = ("proceed", "extra_checks", "refuse_and_report")
RATINGS = ("low", "medium", "high", "very_high")


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    publisher: str
    year: int
    url: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Citation:
    """One source an item rests on, and where in it (section, point or page) the claim stands."""

    source: str
    section: str


@dataclass(frozen=True, slots=True)
class GuidanceItem:
    id: str
    audience: str
    phase: str
    title: str
    text: str
    sources: tuple[str, ...]
    """The cited source ids, in citation order (the same as ``citations``)."""
    tags: tuple[str, ...] = ()
    file: str = ""
    """The content file the item came from, for error messages and editors."""
    action: str = ""
    """A short key for the one thing the item asks someone to do; unique within every checklist that holds it."""
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True, slots=True)
class Checklist:
    id: str
    audience: str
    title: str
    item_ids: tuple[str, ...]
    intro: str = ""


@dataclass(frozen=True, slots=True)
class AssessmentSection:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class AssessmentQuestion:
    id: str
    section: str
    level: int
    required: bool
    text: str
    action: str
    guidance: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assessment:
    version: str
    title: str
    intro: str
    sections: tuple[AssessmentSection, ...]
    questions: tuple[AssessmentQuestion, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    title: str
    description: str
    weight: int
    hard_stop: bool
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScreeningOption:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class ScreeningQuestion:
    id: str
    prompt: str
    kind: str
    """``choice`` (one of ``options``) or ``yes_no``."""
    required: bool
    options: tuple[ScreeningOption, ...]
    indicators: Mapping[str, tuple[str, ...]]
    """Answer value -> indicator ids it fires."""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)


@dataclass(frozen=True, slots=True)
class Screening:
    version: str
    title: str
    intro: str
    extra_checks_at: int
    refuse_at: int
    indicators: tuple[Indicator, ...]
    questions: tuple[ScreeningQuestion, ...]


@dataclass(frozen=True, slots=True)
class Band:
    threshold: float
    points: int


@dataclass(frozen=True, slots=True)
class SiteScoring:
    speed_bands: tuple[Band, ...]
    """Points of the band with the highest threshold strictly below a route's speed."""
    high_speed_kmh: float
    direct_approach_deg: float
    direct_approach_points: int
    extra_unprotected_route_points: int
    extra_unprotected_route_cap: int
    penetration_points: int
    crowd_bands: tuple[Band, ...]
    """Points of the band with the highest threshold reached by the peak crowd."""
    large_crowd_people: int
    delivery_overlap_points: int
    default_vehicle_mass_kg: float
    ratings: tuple[tuple[int, str], ...]
    """(min_score, rating), ascending."""


@dataclass(frozen=True, slots=True)
class Mitigation:
    id: str
    title: str
    text: str
    guidance: tuple[str, ...]
    sources: tuple[str, ...]
    when: tuple[str, ...] = ()
    min_rating: str | None = None
    always: bool = False


@dataclass(frozen=True, slots=True)
class FormField:
    id: str
    kind: str
    required: bool
    prompt: str
    help: str = ""
    unit: str = ""
    options: tuple[str, ...] = ()
    fields: tuple[FormField, ...] = ()


@dataclass(frozen=True, slots=True)
class FormSection:
    id: str
    title: str
    repeat: bool
    fields: tuple[FormField, ...]


@dataclass(frozen=True, slots=True)
class PublicSpaceRules:
    version: str
    title: str
    intro: str
    site_kinds: Mapping[str, int]
    """Site kind -> points it adds."""
    scoring: SiteScoring
    zone_max_speed_kmh: float
    mitigations: tuple[Mitigation, ...]
    form: tuple[FormSection, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanSection:
    id: str
    title: str
    prompt: str
    """What this section of the finished plan has to state."""
    items: tuple[str, ...]
    """The guidance items behind the section, for this plan's audience."""
    questions: tuple[str, ...] = ()
    """Self-assessment questions whose answers the section reports."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan template (fleet security plan, rental security delivery plan, operational requirement)."""

    id: str
    audience: str
    title: str
    intro: str
    checklist: str
    """The checklist whose progress marks the plan's measures in place or to do."""
    sections: tuple[PlanSection, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Strings:
    """User-facing strings of one language, looked up by dotted key."""

    language: str
    version: str
    tree: Mapping[str, object] = field(repr=False)

    def lookup(self, key: str) -> object:
        node: object = self.tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"string {key!r} is missing from strings.{self.language}.yaml")
            node = node[part]
        return node

    def text(self, key: str, **params: object) -> str:
        value = self.lookup(key)
        if not isinstance(value, str):
            raise KeyError(f"string {key!r} in strings.{self.language}.yaml is not text")
        return value.format(**params) if params else value

    def has(self, key: str) -> bool:
        try:
            self.lookup(key)
        except KeyError:
            return False
        return True


@dataclass(frozen=True)
class Content:
    """Everything the toolkit loaded from one content directory, cross-checked."""

    sources: Mapping[str, Source]
    items: Mapping[str, GuidanceItem]
    """In canonical order: audience, then phase, then content order."""
    checklists: Mapping[str, Checklist]
    assessment: Assessment
    screening: Screening
    public_space: PublicSpaceRules
    strings: Strings
    versions: Mapping[str, str]
    """Content file (relative path) -> its version."""
    plans: Mapping[str, Plan] = field(default_factory=dict)
    language: str = "en"
    """The language asked for; entries without a current translation are in English (see ``in_english``)."""
    in_english: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Content file -> ids of its entries served in English because their translation is missing or stale."""

    def served_in_english(self, file: str, entry_id: str) -> bool:
        return self.language == "en" or entry_id in self.in_english.get(file, frozenset())

    def item_language(self, item: GuidanceItem) -> str:
        """The language an item's title and text are in: the content's, or English where it fell back."""
        return "en" if self.served_in_english(item.file, item.id) else self.language

    def item(self, item_id: str) -> GuidanceItem:
        return self.items[item_id]

    def sources_of(self, item: GuidanceItem) -> tuple[Source, ...]:
        return tuple(self.sources[s] for s in item.sources)

    @property
    def version(self) -> str:
        """One version string for the whole content: the highest file version."""
        return max(self.versions.values(), key=lambda v: tuple(int(p) for p in v.split(".")))
