"""The immutable integer view of a problem that the solver and validator read.

Datetimes become whole minutes from the horizon start once, here; locations
become point indices into per-mode travel matrices. Everything is a frozen
dataclass of tuples/frozensets so a compiled problem can be shared across
threads and search neighbourhoods without copying or defensive checks.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from optimiser.domain.documents import Problem
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.travel import TravelMatrices, haversine_travel, matrix_travel

PRIORITY_MULTIPLIER = {"critical": 10, "high": 3, "normal": 1}


@dataclass(frozen=True)
class CShift:
    """A shift in minutes; start/end point None = travel from/to it is not counted."""

    index: int
    start: int
    end: int
    start_point: int | None
    end_point: int | None


@dataclass(frozen=True)
class CCarer:
    index: int
    id: str
    mode: str
    home_point: int
    skills: frozenset[str]
    gender: str | None
    languages: frozenset[str]
    shifts: tuple[CShift, ...]
    max_day: int | None
    max_total: int | None
    max_leg: int | None
    localities: frozenset[str]
    break_after: int | None
    break_minutes: int
    cost_per_hour: float | None


@dataclass(frozen=True)
class CClient:
    index: int
    id: str
    point: int
    locality: str | None
    required_gender: str | None
    preferred_gender: str | None
    languages: frozenset[str]
    preferred: frozenset[str]
    excluded: frozenset[str]
    max_distinct: int | None


@dataclass(frozen=True)
class CFollows:
    """This visit starts between lo and hi minutes after visit `pred` starts."""

    pred: int
    lo: int
    hi: int

    @property
    def synchronised(self) -> bool:
        return self.lo == 0 and self.hi == 0


@dataclass(frozen=True)
class CVisit:
    index: int
    id: str
    client: int
    point: int
    earliest: int
    latest: int
    preferred: int | None
    duration: int
    required: int
    skills: frozenset[str]
    priority: str
    follows: CFollows | None

    @property
    def weight(self) -> int:
        """Multiplier of the unassigned penalty (critical x10, high x3)."""
        return PRIORITY_MULTIPLIER[self.priority]


@dataclass(frozen=True)
class Clock:
    """Converts between datetimes and whole minutes from the horizon start."""

    origin: datetime
    zone: tzinfo | None

    def minute(self, dt: datetime, up: bool = False) -> int:
        seconds = (dt - self.origin).total_seconds()
        return math.ceil(seconds / 60) if up else math.floor(seconds / 60)

    def at(self, minute: int) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def text(self, minute: int) -> str:
        return self.at(minute).isoformat(timespec="minutes")

    def day_starts(self, end_minute: int) -> tuple[int, ...]:
        """Minutes of each local midnight from the horizon's first day to its end."""
        local = self.origin.astimezone(self.zone) if self.origin.tzinfo else self.origin
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = []
        while True:
            at = day if self.origin.tzinfo is None else day.replace(tzinfo=self.zone)
            m = self.minute(at)
            if m > end_minute:
                break
            starts.append(m)
            day = day + timedelta(days=1)
        return tuple(starts)


@dataclass(frozen=True)
class CompiledProblem:
    """A checked problem in integer minutes and point indices (immutable)."""

    problem: Problem
    clock: Clock
    horizon_end: int
    point_keys: tuple[str, ...]
    travel: TravelMatrices
    carers: tuple[CCarer, ...]
    clients: tuple[CClient, ...]
    visits: tuple[CVisit, ...]
    day_starts: tuple[int, ...]
    lateness_penalised: bool
    carer_index: Mapping[str, int] = field(repr=False)
    client_index: Mapping[str, int] = field(repr=False)
    visit_index: Mapping[str, int] = field(repr=False)
    # 0-0 `follows` partner of a visit, both ways; and every visit tied by `follows`, both ways
    sync_partner: Mapping[int, int] = field(default_factory=dict, repr=False)
    linked: Mapping[int, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def minutes(self, carer: CCarer, a: int | None, b: int | None) -> int:
        """Travel minutes from point a to point b in this carer's mode; 0 when either is None
        (a shift location set to null: travel from or to it is not counted)."""
        if a is None or b is None:
            return 0
        return int(self.travel.for_mode(carer.mode)[a, b])

    def day_of(self, minute: int) -> int:
        """Index of the calendar day containing `minute` (for daily caps)."""
        return max(0, bisect.bisect_right(self.day_starts, minute) - 1)


def problem_points(problem: Problem) -> tuple[list[str], list[tuple[float, float] | None], dict]:
    """The problem's points in a fixed order: homes, clients, then own shift locations.

    Returns (keys, coords, where) where `where` maps each key to the document
    path that defines it (for error messages). geodata builds OSM matrices
    over exactly this order.
    """
    keys: list[str] = []
    coords: list[tuple[float, float] | None] = []
    where: dict[str, str] = {}

    def add(key: str, loc, path: str) -> None:
        keys.append(key)
        coords.append((loc.lat, loc.lon) if loc.lat is not None else None)
        where[key] = path

    for i, carer in enumerate(problem.carers):
        add(f"home:{carer.id}", carer.home, f"carers[{i}].home")
    for i, client in enumerate(problem.clients):
        add(f"client:{client.id}", client.location, f"clients[{i}].location")
    for i, carer in enumerate(problem.carers):
        for j, shift in enumerate(carer.shifts):
            for end in ("start", "end"):
                loc = getattr(shift, f"{end}_location")
                if loc is not None:
                    add(f"shift:{carer.id}:{j}:{end}", loc, f"carers[{i}].shifts[{j}].{end}_location")
    return keys, coords, where


def _zone(problem: Problem) -> tzinfo | None:
    try:
        return ZoneInfo(problem.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DocumentError([FieldError("timezone", f"unknown time zone {problem.timezone!r}")]) from exc


def default_travel(problem: Problem, keys: list[str], coords: list) -> TravelMatrices:
    """Haversine or explicit-matrix travel (OSM travel is built by geodata)."""
    missing = [k for k, c in zip(keys, coords, strict=True) if c is None]
    if missing:
        raise DocumentError(
            [FieldError(k, "location not resolved (postcode or address): "
                        "load the problem through geodata.prepare")
             for k in missing]
        )
    modes = sorted({c.travel_mode for c in problem.carers} | {"drive"})
    t = problem.travel
    if t.source == "haversine":
        return haversine_travel(coords, modes, t.circuity, t.speed_kmh)
    if t.source == "matrix":
        assert t.keys is not None and t.minutes is not None
        known = set(t.keys)
        absent = [k for k in keys if k not in known]
        if absent:
            raise DocumentError([FieldError("travel.keys", f"missing key {k!r}") for k in absent])
        return matrix_travel(t.keys, t.minutes, keys, coords)
    raise DocumentError(
        [FieldError("travel.source", "osm travel needs geodata (geodata.prepare builds it)")]
    )


def compile_problem(problem: Problem, travel: TravelMatrices | None = None) -> CompiledProblem:
    """Convert a checked problem to integer minutes; `travel` is built here unless given."""
    keys, coords, _ = problem_points(problem)
    if travel is None:
        travel = default_travel(problem, keys, coords)
    point = {k: i for i, k in enumerate(keys)}
    zone = _zone(problem)
    clock = Clock(problem.horizon.start, zone)
    horizon_end = clock.minute(problem.horizon.end)

    carers = []
    for i, c in enumerate(problem.carers):
        home = point[f"home:{c.id}"]
        shifts = []
        for j, s in enumerate(c.shifts):
            sp = None if ("start_location" in s.model_fields_set and s.start_location is None) else (
                point[f"shift:{c.id}:{j}:start"] if s.start_location is not None else home
            )
            ep = None if ("end_location" in s.model_fields_set and s.end_location is None) else (
                point[f"shift:{c.id}:{j}:end"] if s.end_location is not None else home
            )
            shifts.append(CShift(j, clock.minute(s.start, up=True), clock.minute(s.end), sp, ep))
        br = c.break_rule
        carers.append(
            CCarer(
                index=i, id=c.id, mode=c.travel_mode, home_point=home,
                skills=frozenset(c.skills), gender=c.gender, languages=frozenset(c.languages),
                shifts=tuple(shifts), max_day=c.max_work_minutes_per_day,
                max_total=c.max_work_minutes, max_leg=c.max_leg_minutes,
                localities=frozenset(c.localities),
                break_after=br.after_work_minutes if br else None,
                break_minutes=br.break_minutes if br else 0,
                cost_per_hour=c.cost_per_hour,
            )
        )
    clients = [
        CClient(
            index=i, id=c.id, point=point[f"client:{c.id}"], locality=c.locality,
            required_gender=c.required_carer_gender, preferred_gender=c.preferred_carer_gender,
            languages=frozenset(c.languages), preferred=frozenset(c.preferred_carers),
            excluded=frozenset(c.excluded_carers), max_distinct=c.max_distinct_carers,
        )
        for i, c in enumerate(problem.clients)
    ]
    client_index = {c.id: c.index for c in clients}
    visit_index = {v.id: i for i, v in enumerate(problem.visits)}
    visits = []
    for i, v in enumerate(problem.visits):
        ci = client_index[v.client_id]
        fol = None
        if v.follows is not None:
            fol = CFollows(visit_index[v.follows.visit_id], v.follows.min_gap_minutes,
                           v.follows.max_gap_minutes)
        visits.append(
            CVisit(
                index=i, id=v.id, client=ci, point=clients[ci].point,
                earliest=clock.minute(v.earliest_start, up=True),
                latest=clock.minute(v.latest_start),
                preferred=clock.minute(v.preferred_start) if v.preferred_start else None,
                duration=v.duration_minutes, required=v.carers_required,
                skills=frozenset(v.skills), priority=v.priority, follows=fol,
            )
        )
    return CompiledProblem(
        problem=problem, clock=clock, horizon_end=horizon_end, point_keys=tuple(keys),
        travel=travel, carers=tuple(carers), clients=tuple(clients), visits=tuple(visits),
        day_starts=clock.day_starts(horizon_end),
        lateness_penalised=problem.lateness == "penalised",
        carer_index={c.id: c.index for c in carers}, client_index=client_index,
        visit_index=visit_index, sync_partner=_sync_partners(visits), linked=_links(visits),
    )


def _sync_partners(visits: list[CVisit]) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in visits:
        if v.follows is not None and v.follows.synchronised:
            out[v.index] = v.follows.pred
            out[v.follows.pred] = v.index
    return out


def _links(visits: list[CVisit]) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    for v in visits:
        if v.follows is not None:
            out.setdefault(v.index, []).append(v.follows.pred)
            out.setdefault(v.follows.pred, []).append(v.index)
    return {k: tuple(vs) for k, vs in out.items()}

