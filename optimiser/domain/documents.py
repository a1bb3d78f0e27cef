"""Pydantic models mirroring the carerota/1 JSON contract (../shared/spec).

These are the *wire* documents: datetimes, ids and optional fields exactly as
users send them. The solver never sees them; `optimiser.domain.compiled`
turns a checked `Problem` into integer minutes and index arrays once, at the
edge. Field descriptions are the spec's words so the exported JSON Schema
(docs/schema/) documents itself.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

FORMAT: Final = "carerota/1"

TravelMode = Literal["drive", "walk", "cycle", "public_transport"]
TRAVEL_MODES: tuple[str, ...] = ("drive", "walk", "cycle", "public_transport")
Priority = Literal["critical", "high", "normal"]
Status = Literal["optimal", "feasible", "infeasible", "no_solution"]
ReasonCode = Literal[
    "no_carer_with_skills",
    "no_shift_covers_window",
    "outside_carer_localities",
    "excluded_or_gender",
    "no_second_carer_free",
    "travel_too_far",
    "capacity",
    "time_limit",
]
REASON_CODES: tuple[str, ...] = ReasonCode.__args__  # type: ignore[attr-defined]


class _Doc(BaseModel):
    """Base: unknown keys are kept (documents may carry extra optional fields)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Location(_Doc):
    """A WGS84 point, a UK postcode resolved offline, or an address geocoded (geodata)."""

    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees")
    postcode: str | None = Field(None, description="UK postcode, e.g. 'BD1 1HY'")
    address: str | None = Field(
        None, description="Street address, geocoded by geodata only when a geocoder is configured")

    @model_validator(mode="after")
    def _lat_lon_or_postcode(self) -> Location:
        has_point = self.lat is not None and self.lon is not None
        if not has_point and not self.postcode and not self.address:
            raise ValueError("a location needs both 'lat' and 'lon', or a 'postcode'")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("'lat' and 'lon' must be given together")
        return self


class Horizon(_Doc):
    start: datetime = Field(description="Every visit and shift lies inside [start, end]")
    end: datetime


class Travel(_Doc):
    """How travel minutes are obtained: haversine (default), explicit matrix, or OSM."""

    source: Literal["haversine", "matrix", "osm"] = "haversine"
    circuity: dict[str, float] = Field(default_factory=dict)
    speed_kmh: dict[str, float] = Field(default_factory=dict)
    keys: list[str] | None = Field(None, description="matrix: 'home:<carer>', 'client:<client>'")
    minutes: dict[str, list[list[int]]] | None = Field(None, description="matrix: mode -> rows")
    path: str | None = Field(None, description="osm: local .osm/.graphml/.npz network file")

    @field_validator("circuity", "speed_kmh")
    @classmethod
    def _known_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for mode, number in value.items():
            if mode not in TRAVEL_MODES:
                raise ValueError(f"unknown travel mode {mode!r}; use one of {TRAVEL_MODES}")
            if number <= 0:
                raise ValueError(f"{mode} must be positive, got {number}")
        return value


class Locality(_Doc):
    id: str
    name: str | None = None
    boundary: dict[str, Any] | None = Field(None, description="GeoJSON Polygon/MultiPolygon")


class Shift(_Doc):
    """A working period. Absent start/end location = the carer's home; null = not counted."""

    start: datetime
    end: datetime
    start_location: Location | None = None
    end_location: Location | None = None

    @model_serializer(mode="wrap")
    def _keep_null_meaning(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dump an explicit null (not counted) as null and an absent location not at all.

        Without this, `exclude_none` turns "not counted" into "from home" and a
        full dump turns "from home" into "not counted" when the file is read back.
        """
        data = handler(self)
        for name in ("start_location", "end_location"):
            if getattr(self, name) is None:
                if name in self.model_fields_set:
                    data[name] = None
                else:
                    data.pop(name, None)
        return data


class BreakRule(_Doc):
    after_work_minutes: int = Field(360, gt=0)
    break_minutes: int = Field(20, gt=0)


class Carer(_Doc):
    id: str = Field(min_length=1)
    provider_id: str | None = None
    home: Location
    travel_mode: TravelMode = "drive"
    skills: list[str] = Field(default_factory=list)
    gender: str | None = None
    languages: list[str] = Field(default_factory=list)
    shifts: list[Shift] = Field(default_factory=list)
    max_work_minutes_per_day: int | None = Field(None, gt=0)
    max_work_minutes: int | None = Field(None, gt=0)
    max_leg_minutes: int | None = Field(None, ge=0)
    localities: list[str] = Field(default_factory=list)
    break_rule: BreakRule | None = None
    cost_per_hour: float | None = Field(None, ge=0)


class Client(_Doc):
    id: str = Field(min_length=1)
    location: Location
    locality: str | None = None
    required_carer_gender: str | None = None
    preferred_carer_gender: str | None = None
    languages: list[str] = Field(default_factory=list)
    preferred_carers: list[str] = Field(default_factory=list)
    excluded_carers: list[str] = Field(default_factory=list)
    max_distinct_carers: int | None = Field(None, gt=0)


class Follows(_Doc):
    visit_id: str
    min_gap_minutes: int
    max_gap_minutes: int

    @model_validator(mode="after")
    def _ordered(self) -> Follows:
        if self.max_gap_minutes < self.min_gap_minutes:
            raise ValueError("max_gap_minutes is below min_gap_minutes")
        return self


class Visit(_Doc):
    id: str = Field(min_length=1)
    client_id: str
    earliest_start: datetime = Field(description="The visit must START inside the window")
    latest_start: datetime
    preferred_start: datetime | None = None
    duration_minutes: int = Field(gt=0)
    carers_required: int = Field(1, description="1, or 2 for a double-handed visit")
    skills: list[str] = Field(default_factory=list)
    priority: Priority = "normal"
    follows: Follows | None = None

    @field_validator("carers_required")
    @classmethod
    def _one_or_two(cls, value: int) -> int:
        if value not in (1, 2):
            raise ValueError(f"must be 1 or 2 (double-handed), got {value}")
        return value


class Weights(_Doc):
    """Objective weights. Covering visits always dominates; see docs/objective.md."""

    unassigned: int = Field(10_000, ge=0, description="per uncovered visit; x10 critical, x3 high")
    travel_minute: int = Field(10, ge=0)
    lateness_minute: int = Field(10, ge=0, description="with lateness: penalised")
    preferred_start_minute: int = Field(1, ge=0)
    new_carer_for_client: int = Field(30, ge=0, description="client-carer pair not preferred")
    preference_mismatch: int = Field(20, ge=0, description="gender/language preference unmet")
    distinct_carer: int = Field(
        10, ge=0, description="per distinct client-carer pair over the horizon (continuity)"
    )
    max_lateness_minute: int = Field(
        0, ge=0, description="per minute of the largest lateness (the HHCRSP sets' Tmax term)"
    )


class Problem(_Doc):
    """A rota problem: carers with shifts, clients and visits over a horizon."""

    format: Literal["carerota/1"] = FORMAT
    id: str = "problem"
    horizon: Horizon
    timezone: str = "Europe/London"
    travel: Travel = Field(default_factory=Travel)
    localities: list[Locality] = Field(default_factory=list)
    carers: list[Carer] = Field(default_factory=list)
    clients: list[Client] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list)
    weights: Weights = Field(default_factory=Weights)
    lateness: Literal["forbidden", "penalised"] = "forbidden"
    time_limit_seconds: float = Field(30, gt=0)
    seed: int | None = None


class Stop(_Doc):
    visit_id: str
    start: datetime
    end: datetime
    travel_minutes: int = Field(0, ge=0, description="the leg arriving at this stop")


class Route(_Doc):
    carer_id: str
    shift_index: int = Field(0, ge=0)
    stops: list[Stop] = Field(default_factory=list)
    return_travel_minutes: int = Field(0, ge=0)


class Unassigned(_Doc):
    visit_id: str
    reasons: list[ReasonCode] = Field(default_factory=list)


class Metrics(_Doc):
    visits_total: int = 0
    visits_assigned: int = 0
    travel_minutes: int = 0
    travel_km: float = 0.0
    lateness_minutes: int = 0
    max_distinct_carers_per_client: int = 0
    objective: float | None = None


class Solution(_Doc):
    format: Literal["carerota/1"] = FORMAT
    problem_id: str = "problem"
    status: Status = "feasible"
    routes: list[Route] = Field(default_factory=list)
    unassigned: list[Unassigned] = Field(default_factory=list)
    metrics: Metrics = Field(default_factory=Metrics)
    solve_seconds: float = 0.0


# --- brokerage (spec/brokerage.md) -----------------------------------------

CqcRating = Literal["outstanding", "good", "requires_improvement", "inadequate", "not_rated"]
CQC_ORDER: tuple[str, ...] = ("outstanding", "good", "requires_improvement", "inadequate", "not_rated")
ContractTier = Literal["locality", "step", "framework", "spot"]
CONTRACT_ORDER: tuple[str, ...] = ("locality", "step", "framework", "spot")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ProviderRota(_Doc):
    routes: list[Route] = Field(default_factory=list)


class Provider(_Doc):
    """A care provider: its carers, clients, committed visits and the rota covering them."""

    id: str = Field(min_length=1)
    name: str | None = None
    cqc_rating: CqcRating = "not_rated"
    contract: ContractTier = "spot"
    localities: list[str] = Field(default_factory=list)
    hourly_rate: float | None = Field(None, ge=0)
    carers: list[Carer] = Field(default_factory=list)
    clients: list[Client] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list)
    rota: ProviderRota = Field(default_factory=ProviderRota)


class District(_Doc):
    format: Literal["carerota/1"] = FORMAT
    id: str = "district"
    horizon: Horizon | None = None
    timezone: str = "Europe/London"
    travel: Travel = Field(default_factory=Travel)
    localities: list[Locality] = Field(default_factory=list)
    providers: list[Provider] = Field(default_factory=list)


HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Call(_Doc):
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    time: HHMM
    tolerance_minutes: int = Field(30, ge=0)
    duration_minutes: int = Field(gt=0)
    carers_required: int = 1
    skills: list[str] = Field(default_factory=list)
    priority: Priority = "normal"

    _one_or_two = field_validator("carers_required")(Visit._one_or_two.__func__)  # type: ignore[attr-defined]


class Package(_Doc):
    format: Literal["carerota/1"] = FORMAT
    id: str = "package"
    client: Client
    start: date
    days: int = Field(7, gt=0, le=62)
    urgency: str | None = None
    calls: list[Call] = Field(min_length=1)
