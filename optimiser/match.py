"""Package matching for brokerage: which providers can take a new package, ranked.

`match(district, package, options)` answers spec/brokerage.md. For each
candidate provider the package's client joins the provider's own problem and
the package's visits are placed into its committed rota:

1. **Screen** (cheap necessary conditions): pruning gives, per package visit,
   the carer shifts that hold the skills, meet gender, exclusions and
   localities, are on shift in the window and can reach the client; a visit
   nobody passes carries the pruning's reason code and is never searched.
2. **Insert** each package visit (a double-up's two carers together) into
   the gaps of the committed rota, committed visits keeping carer and minute.
3. **Repair** with CP-SAT only where insertion fails: a few carers eligible
   for the failed visit are freed around its time, committed visits there may
   be re-timed inside their windows and swapped among those carers, and every
   committed visit must stay covered (`moved_visits` reports the changes).

Providers run in parallel threads (CP-SAT releases the GIL; each solve uses
one worker). Ranking, the two-provider split and suggestions are documented
in docs/matching.md.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model
from pydantic import BaseModel, Field

from optimiser.construct import Builder, groups
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.domain.documents import (
    CONTRACT_ORDER,
    CQC_ORDER,
    WEEKDAYS,
    Call,
    Client,
    CqcRating,
    District,
    Horizon,
    Package,
    Problem,
    Provider,
    ReasonCode,
    Solution,
    Visit,
)
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.model import Neighbourhood, build_model, extract
from optimiser.plan import Plan, plan_from_routes, score, to_solution, vehicle_work
from optimiser.prune import Eligibility, build_eligibility
from optimiser.travel import TravelMatrices

log = logging.getLogger(__name__)

Prepare = Callable[[Problem], tuple[Problem, TravelMatrices | None]]

# Score weights (lower score is better); see docs/matching.md.
SCORE_TRAVEL_PER_MINUTE = 0.25  # per added travel minute per week, on top of its cost
SCORE_PER_CARER = 2.0  # per distinct carer the new client meets (continuity)
SCORE_PER_MOVED = 0.5  # per committed visit re-timed or given another carer
PLACEMENT_SECONDS = 0.015  # measuring one finished placement (rota document, costs)
MAX_FAILED_REPAIRS = 2  # per provider: after two failed repairs its rota is full at those times


class MatchOptions(BaseModel):
    """How to match. With the same inputs and seed the answer is the same.

    time_limit: wall-clock seconds for the whole answer (screening, insertion,
    repair, split and suggestions). workers: providers placed in parallel (each
    CP-SAT repair uses one worker); 0 = all cores. repair_seconds: the CP-SAT
    budget of one repair neighbourhood (stopped at its first rota);
    polish_seconds: then spent improving that rota (less travel, fewer moves of
    committed visits' start times). min_cqc_rating: the rating floor;
    providers: consider only these ids. suggestions: look for the smallest
    change when nobody can take the whole package.
    """

    min_cqc_rating: CqcRating | None = None
    providers: list[str] | None = None
    time_limit: float = Field(10.0, gt=0)
    workers: int = Field(0, ge=0)
    repair_seconds: float = Field(1.0, gt=0)
    repair_vehicles: int = Field(6, ge=2)
    polish_seconds: float = Field(0.3, ge=0)
    seed: int = 0
    suggestions: bool = True


class UncoveredVisit(BaseModel):
    """A package visit a provider cannot cover, with the spec's reason codes."""

    visit_id: str
    reasons: list[ReasonCode]


class Placement(BaseModel):
    """One provider's answer: can it take the package, and at what cost to its rota."""

    provider_id: str
    provider_name: str | None = None
    tier: str
    cqc_rating: str
    feasible: bool
    covered_visits: int
    total_visits: int
    added_travel_minutes: int = Field(description="over the package's days")
    added_cost: float = Field(description="GBP per week: added carer minutes (care + travel) x rate")
    distinct_carers: int = Field(description="carers the new client would meet")
    moved_visits: list[str] = Field(description="committed visits whose carer or time changed")
    repaired: bool = Field(False, description="CP-SAT repair was needed (insertion alone failed)")
    score: float = Field(description="lower is better; docs/matching.md")
    package_visits: list[str]
    uncovered: list[UncoveredVisit]
    rota: Solution


class ExcludedProvider(BaseModel):
    """A provider not considered, and why (rating floor, locality, not listed)."""

    provider_id: str
    reason: str


class SplitShare(BaseModel):
    provider_id: str
    visits: list[str]
    calls: list[str] = Field(default_factory=list, description="whole calls taken, as 'hh:mm'")
    placement: Placement


class Split(BaseModel):
    """Two providers that together cover every package visit."""

    by_call: bool = Field(description="each call goes whole to one provider")
    shares: list[SplitShare]


class MatchResult(BaseModel):
    """Placements ranked best first; a split and suggestions when nobody takes it whole."""

    format: str = "carerota/1"
    package_id: str
    client_id: str
    client_locality: str | None
    package_visits: list[str]
    ranked: list[str]
    placements: list[Placement]
    excluded: list[ExcludedProvider] = Field(default_factory=list)
    split: Split | None = None
    suggestions: list[str] = Field(default_factory=list)
    solve_seconds: float = 0.0


# --- package expansion ------------------------------------------------------------


@dataclass(frozen=True)
class PackageVisit:
    """A package visit and the call it comes from (for splits and suggestions)."""

    visit: Visit
    call: int
    day: int  # offset from the package start
    weekday: str


def expand_package(package: Package, aware: bool = False, timezone: str = "Europe/London"
                   ) -> list[PackageVisit]:
    """The package's calls as visits over its days: window = time +/- tolerance.

    Ids are `<package id>-<yyyy-mm-dd>-<hh:mm>` (a second call at the same minute
    gets `-2`). Datetimes are naive local times unless the district's are aware.
    """
    _check_calendar(package)
    zone = ZoneInfo(timezone) if aware else None
    out: list[PackageVisit] = []
    seen: set[str] = set()
    for d in range(package.days):
        day = package.start + timedelta(days=d)
        weekday = WEEKDAYS[day.weekday()]
        for ci, call in enumerate(package.calls):
            if weekday not in call.days:
                continue
            hh, mm = map(int, call.time.split(":"))
            at = datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone)
            vid = f"{package.id}-{day.isoformat()}-{call.time}"
            n = 2
            while vid in seen:
                vid = f"{package.id}-{day.isoformat()}-{call.time}-{n}"
                n += 1
            seen.add(vid)
            tol = timedelta(minutes=call.tolerance_minutes)
            visit = Visit(
                id=vid, client_id=package.client.id, earliest_start=at - tol, latest_start=at + tol,
                preferred_start=at, duration_minutes=call.duration_minutes,
                carers_required=call.carers_required, skills=list(call.skills),
                priority=call.priority,
            )
            out.append(PackageVisit(visit, ci, d, weekday))
    return out


def _check_calendar(package: Package) -> None:
    """Every visit's window and end must be a representable datetime.

    Python's datetimes run from year 1 to 9999: a package starting at either
    end of that (or with enormous days or minutes) is reported by field rather
    than escaping as an OverflowError. The bounds are generous: the first day
    minus the tolerance, and the day after the last plus tolerance and duration.
    """
    def past(what: str) -> str:
        return f"{what} from {package.start} run(s) off the calendar (years 1-9999)"

    try:
        first = datetime(package.start.year, package.start.month, package.start.day)
        last = first + timedelta(days=package.days + 1)
    except OverflowError:
        where = "package.days" if package.days > 62 else "package.start"
        raise DocumentError([FieldError(where, past(f"{package.days} day(s)"))], "package") from None
    errors: list[FieldError] = []
    for i, call in enumerate(package.calls):
        try:
            tol = timedelta(minutes=call.tolerance_minutes)
            _earliest, latest = first - tol, last + tol  # only whether they overflow matters
        except OverflowError:
            errors.append(FieldError(f"package.calls[{i}].tolerance_minutes",
                                     past(f"{call.tolerance_minutes} minutes")))
            continue
        try:
            _ends = latest + timedelta(minutes=call.duration_minutes)
        except OverflowError:
            errors.append(FieldError(f"package.calls[{i}].duration_minutes",
                                     past(f"{call.duration_minutes} minutes")))
    if errors:
        raise DocumentError(errors, "package")


def _point_in_ring(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def client_locality(client: Client, district: District) -> str | None:
    """The client's locality: as given, else the district boundary containing the point."""
    if client.locality is not None:
        return client.locality
    lat, lon = client.location.lat, client.location.lon
    if lat is None or lon is None:
        return None
    for loc in district.localities:
        b = loc.boundary or {}
        polys = b.get("coordinates", [])
        if b.get("type") == "Polygon":
            polys = [polys]
        elif b.get("type") != "MultiPolygon":
            continue
        for poly in polys:
            if poly and _point_in_ring(lon, lat, poly[0]) and not any(
                    _point_in_ring(lon, lat, hole) for hole in poly[1:]):
                return loc.id
    return None


# --- which providers are asked ------------------------------------------------------


def candidates(district: District, options: MatchOptions, locality: str | None
               ) -> tuple[list[Provider], list[ExcludedProvider]]:
    """Providers to ask: listed (if a list is given), rated at/above the floor, contracted.

    Rating: outstanding > good > requires_improvement > inadequate; `not_rated`
    passes only when no floor is set. Locality and step contracts cover only
    the localities they list (an unknown client locality passes); framework
    and spot providers may take any locality.
    """
    known = {p.id for p in district.providers}
    if options.providers is not None:
        bad = [FieldError(f"providers[{i}]", f"unknown provider {p!r}")
               for i, p in enumerate(options.providers) if p not in known]
        if bad:
            raise DocumentError(bad, "match options")
    keep, excluded = [], []
    floor = CQC_ORDER.index(options.min_cqc_rating) if options.min_cqc_rating else None
    for p in district.providers:
        why = None
        if options.providers is not None and p.id not in options.providers:
            why = "not in the requested provider list"
        elif floor is not None and (p.cqc_rating == "not_rated" or CQC_ORDER.index(p.cqc_rating) > floor):
            why = f"CQC rating {p.cqc_rating} is below {options.min_cqc_rating}"
        elif p.contract in ("locality", "step") and locality is not None and locality not in p.localities:
            why = f"{p.contract} contract does not cover locality {locality}"
        if why is None:
            keep.append(p)
        else:
            excluded.append(ExcludedProvider(provider_id=p.id, reason=why))
    return keep, excluded


# --- one provider -------------------------------------------------------------------


@dataclass
class Work:
    """One provider's placement in progress (kept for splits and suggestions)."""

    provider: Provider
    compiled: CompiledProblem
    el: Eligibility
    committed: Plan
    plan: Plan
    package: list[int]  # visit indices of the package visits
    pvisits: list[PackageVisit]
    days: int
    reasons: dict[int, tuple[str, ...]] = field(default_factory=dict)
    short: dict[int, int] = field(default_factory=dict)  # carers missing for a failed visit
    repaired: bool = False


def _aware(district: District) -> bool:
    for p in district.providers:
        for v in p.visits:
            return v.earliest_start.tzinfo is not None
        for c in p.carers:
            for s in c.shifts:
                return s.start.tzinfo is not None
    if district.horizon is not None:
        return district.horizon.start.tzinfo is not None
    return False


def provider_problem(district: District, provider: Provider, package: Package,
                     pvisits: list[PackageVisit]) -> Problem:
    """The provider's own problem with the package's client and visits added."""
    clash = [FieldError("package.client.id", f"provider {provider.id} already has a client "
                        f"{package.client.id!r}")] if any(
        c.id == package.client.id for c in provider.clients) else []
    ids = {v.id for v in provider.visits}
    clash += [FieldError("package.id", f"visit id {pv.visit.id!r} exists at provider {provider.id}")
              for pv in pvisits[:1] if pv.visit.id in ids]
    if clash:
        raise DocumentError(clash, "package")
    stamps = [s.start for c in provider.carers for s in c.shifts]
    stamps += [v.earliest_start for v in provider.visits] + [pv.visit.earliest_start for pv in pvisits]
    ends = [s.end for c in provider.carers for s in c.shifts]
    ends += [v.latest_start + timedelta(minutes=v.duration_minutes)
             for v in [*provider.visits, *(pv.visit for pv in pvisits)]]
    if district.horizon is not None:
        stamps.append(district.horizon.start)
        ends.append(district.horizon.end)
    start = min(stamps)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return Problem(
        id=f"{provider.id}+{package.id}", horizon=Horizon(start=start, end=max(ends)),
        timezone=district.timezone, travel=district.travel, localities=district.localities,
        carers=provider.carers, clients=[*provider.clients, package.client],
        visits=[*provider.visits, *(pv.visit for pv in pvisits)],
    )


def _prepared(problem: Problem, prepare: Prepare | None) -> CompiledProblem:
    if prepare is None:
        return compile_problem(problem)
    problem, travel = prepare(problem)
    return compile_problem(problem, travel)


_PROBLEM_PATH = re.compile(r"^(carers|clients|visits)\[(\d+)\](.*)$")
_WINDOW_FIELDS = (".earliest_start", ".latest_start", ".preferred_start")


def document_path(path: str, i: int, provider: Provider, package: Package,
                  pvisits: list[PackageVisit]) -> str:
    """A path in provider i's problem (package joined) as a path in the district or package.

    The package client is appended to the provider's clients and the package
    visits to its visits, so those indices map back to `package.client` and the
    call (`package.calls[c]`) a visit comes from; everything else of the
    provider is `providers[i]....`. Paths outside carers, clients and visits
    (travel, localities, timezone) are already the district's. compile_problem's
    point keys (`home:<carer>`, `client:<id>`, `shift:<carer>:<j>:<end>`) are
    mapped too.
    """
    own = f"providers[{i}]"
    kind, _, rest = path.partition(":")
    if rest and kind in ("home", "client", "shift"):
        if kind == "client":
            if rest == package.client.id:
                return "package.client.location"
            j = next((k for k, c in enumerate(provider.clients) if c.id == rest), None)
            return path if j is None else f"{own}.clients[{j}].location"
        carer_id, *shift = rest.rsplit(":", 2) if kind == "shift" else (rest,)
        j = next((k for k, c in enumerate(provider.carers) if c.id == carer_id), None)
        if j is None:
            return path
        if kind == "home":
            return f"{own}.carers[{j}].home"
        return f"{own}.carers[{j}].shifts[{shift[0]}].{shift[1]}_location"
    m = _PROBLEM_PATH.match(path)
    if m is None:
        return path
    field_, n, tail = m.group(1), int(m.group(2)), m.group(3)
    if field_ == "clients" and n >= len(provider.clients):
        return f"package.client{tail}"
    if field_ == "visits" and n >= len(provider.visits):
        k = n - len(provider.visits)
        if k >= len(pvisits):
            return path
        tail = ".time" if tail in _WINDOW_FIELDS else tail
        return f"package.calls[{pvisits[k].call}]{tail}"
    return f"{own}.{path}"


def _kind(errors: list[FieldError]) -> str:
    """Which documents the errors are in: 'package', 'district' or both."""
    package = {e.path.startswith("package") for e in errors}
    return {frozenset({True}): "package", frozenset({False}): "district"}.get(
        frozenset(package), "district and package")


def start_work(district: District, provider: Provider, package: Package,
               pvisits: list[PackageVisit], prepare: Prepare | None = None) -> Work:
    """Compile the provider's problem with the package and read its committed rota.

    Errors from geodata or compiling (an unknown postcode, an address nobody can
    geocode) name the field in the district or package document, not in the
    provider problem built here.
    """
    i = next(j for j, p in enumerate(district.providers) if p.id == provider.id)
    try:
        compiled = _prepared(provider_problem(district, provider, package, pvisits), prepare)
    except DocumentError as exc:
        errors = [FieldError(document_path(e.path, i, provider, package, pvisits), e.message)
                  for e in exc.errors]
        raise DocumentError(errors, _kind(errors)) from exc
    el = build_eligibility(compiled)
    committed = plan_from_routes(compiled, el, provider.rota.routes)
    pkg = [compiled.visit_index[pv.visit.id] for pv in pvisits]
    missing = [v.id for v in compiled.visits[: len(provider.visits)] if v.index not in committed.start]
    if missing:
        raise DocumentError([FieldError(f"providers[{i}].rota", f"committed visit {m!r} is not "
                                        "in the rota (every visit must be covered)")
                             for m in missing[:5]], "district")
    return Work(provider, compiled, el, committed, committed.copy(), pkg, pvisits, package.days)


def insert_package(work: Work) -> list[list[int]]:
    """Insert the package's visit groups into the rota; returns the groups that failed."""
    p, el = work.compiled, work.el
    mine = set(work.package)
    todo = [g for g in groups(p) if any(v in mine for v in g)]
    todo.sort(key=lambda g: (-max(p.visits[v].required for v in g),
                             min(len(el.vehicles_of[v]) for v in g), p.visits[g[0]].earliest))
    builder = Builder(p, el, work.plan)
    failed = [g for g in todo if all(el.vehicles_of[v] for v in g) and not builder.insert_group(g)]
    failed = [g for g in failed if not builder.insert_group(g)]  # second chance
    builder.plan.sort_routes()
    work.plan = builder.plan
    for v in work.package:
        if el.reasons[v]:
            work.reasons[v] = el.reasons[v]
    return failed


MOVE_WEIGHT = 100  # objective units per committed call moved in a repair (10 travel minutes)


def repair(work: Work, group: list[int], options: MatchOptions, deadline: float) -> bool:
    """CP-SAT around the failed group's time; True if it is now covered.

    Small first (4 carers, committed visits within 90 minutes of the window free),
    then wider (`repair_vehicles` carers, 150 minutes), so as few committed visits
    move as possible. Free committed visits may move in time (inside their windows)
    or to another freed carer but must stay covered; the freed carers' other visits
    stay pinned; everything else is fixed. A found rota is then polished briefly.
    """
    for vehicles, band in ((4, 90), (options.repair_vehicles, 150)):
        seconds = min(options.repair_seconds, deadline - time.monotonic())
        if seconds < 0.05:
            return False
        new = _repair_once(work, group, options, vehicles, band, seconds, first=True)
        if new is not None:
            work.plan = new
            work.repaired = True
            polish = min(options.polish_seconds, deadline - time.monotonic())
            if polish >= 0.05:
                better = _repair_once(work, group, options, vehicles, band, polish, first=False)
                if better is not None and _cost_with_moves(work, better) <= _cost_with_moves(work, new):
                    work.plan = better
            return True
    return False


def _cost_with_moves(work: Work, plan: Plan) -> int:
    """The objective plus the price of every committed call moved (what the polish minimises)."""
    base = work.committed
    before, after = base.carers_of(), plan.carers_of()
    moved = sum(1 for v in base.start
                if plan.start.get(v) != base.start[v] or set(after.get(v, [])) != set(before.get(v, [])))
    return score(work.compiled, work.el, plan).total + MOVE_WEIGHT * moved


def _repair_once(work: Work, group: list[int], options: MatchOptions, vehicles: int, band: int,
                 seconds: float, first: bool) -> Plan | None:
    p, el, plan = work.compiled, work.el, work.plan
    lo = min(p.visits[v].earliest for v in group) - band
    hi = max(el.latest_of[v] + p.visits[v].duration for v in group) + band
    point = p.visits[group[0]].point
    drive = p.travel.for_mode("drive")

    def near(k: int) -> int:
        pts = [p.visits[v].point for v in plan.routes[k] if lo <= plan.start[v] <= hi]
        home = p.carers[el.vehicles[k].carer].home_point
        return min((int(drive[point, q]) for q in pts), default=int(drive[point, home]))

    # Vehicles already doing a group visit (after a first repair) must stay free.
    doing = {k for v in group for k in plan.carers_of().get(v, [])} if not first else set()
    eligible = sorted({k for v in group for k in el.vehicles_of[v]} - doing, key=near)
    chosen = sorted(doing) + eligible[: max(0, vehicles - len(doing))]
    free = {v for k in chosen for v in plan.routes[k] if lo <= plan.start[v] <= hi} | set(group)
    pinned = {v for k in chosen for v in plan.routes[k] if v not in free}
    # The group is forced in: CP-SAT then either proves it cannot be done here or finds
    # a rota that does it, starting from the current rota as a hint.
    must = ((free | pinned) - set(work.package)) | set(group) | (
        {v for v in free | pinned if v in plan.start})
    hood = Neighbourhood(chosen, sorted(free | pinned), must, pinned)
    if not first:  # the polish keeps the provider's committed calls where they were if it can
        committed = work.committed
        by_visit = committed.carers_of()
        hood.stay = {v: (frozenset(by_visit.get(v, [])), committed.start[v])
                     for v in free if v in committed.start}
        hood.move_weight = MOVE_WEIGHT
    built = build_model(p, el, plan, hood)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = seconds
    params.num_workers = 1
    params.random_seed = options.seed
    params.cp_model_probing_level = 0
    params.stop_after_first_solution = first
    status = solver.solve(built.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    new = extract(p, el, plan, built, solver)
    if not all(v in new.start for v in group) or any(v not in new.start for v in work.committed.start):
        return None  # never drop a committed visit (the model forbids it; belt and braces)
    return new


def _capacity_reasons(work: Work, v: int) -> tuple[str, ...]:
    """Why an eligible visit still failed: one carer free but no second, or everyone busy."""
    p, el = work.compiled, work.el
    builder = Builder(p, el, work.plan)
    lo, hi = builder.bounds(v)
    free = {el.vehicles[g.vehicle].carer for k in el.vehicles_of[v] for g in builder.gaps(k, v, lo, hi)}
    work.short[v] = max(1, p.visits[v].required - len(free))
    if p.visits[v].required == 2 and len(free) == 1:
        return ("no_second_carer_free",)
    return ("capacity",)


def place(work: Work, options: MatchOptions, deadline: float) -> Placement:
    """Screen, insert, repair where needed (one provider alone); the provider's placement."""
    finish(work, insert_package(work), options, deadline)
    return placement(work)


def finish(work: Work, failed: list[list[int]], options: MatchOptions, deadline: float) -> None:
    """Repair failed groups until two repairs fail (the rota is full there) or time runs out."""
    misses = 0
    for group in failed:
        ok = misses < MAX_FAILED_REPAIRS and repair(work, group, options, deadline)
        misses += not ok
        if not ok:
            out_of_time = time.monotonic() >= deadline - 0.05
            for v in group:
                why = _capacity_reasons(work, v)
                work.reasons[v] = (*why, "time_limit") if out_of_time else why


def _rate(work: Work, carer: int) -> float:
    c = work.compiled.carers[carer]
    if c.cost_per_hour is not None:
        return c.cost_per_hour
    return work.provider.hourly_rate or 0.0


def placement(work: Work) -> Placement:
    """Measure a finished plan against the committed rota."""
    p, el, plan, base = work.compiled, work.el, work.plan, work.committed
    per_week = 7 / work.days
    travel = score(p, el, plan).travel_minutes - score(p, el, base).travel_minutes
    cost = 0.0
    for k in range(len(el.vehicles)):
        if plan.routes[k] == base.routes[k] and all(plan.start[v] == base.start[v] for v in base.routes[k]):
            continue
        before = sum(vehicle_work(p, el, k, base.routes[k], base.start).values())
        after = sum(vehicle_work(p, el, k, plan.routes[k], plan.start).values())
        cost += (after - before) * _rate(work, el.vehicles[k].carer) / 60
    old_of, new_of = base.carers_of(), plan.carers_of()

    def carers_doing(of: dict[int, list[int]], v: int) -> set[int]:
        return {el.vehicles[k].carer for k in of.get(v, [])}

    moved = sorted(p.visits[v].id for v in base.start if base.start[v] != plan.start.get(v)
                   or carers_doing(old_of, v) != carers_doing(new_of, v))
    covered = [v for v in work.package if v in plan.start]
    carers = {el.vehicles[k].carer for v in covered for k in new_of[v]}
    uncovered = [UncoveredVisit(visit_id=p.visits[v].id,
                                reasons=list(work.reasons.get(v) or ("capacity",)))
                 for v in work.package if v not in plan.start]
    status = "feasible"
    rota = to_solution(p, el, plan, status, 0.0, {v: tuple(u.reasons) for v, u in zip(
        [v for v in work.package if v not in plan.start], uncovered, strict=True)})
    added_cost = round(cost * per_week, 2)
    the_score = (added_cost + SCORE_TRAVEL_PER_MINUTE * travel * per_week
                 + SCORE_PER_CARER * len(carers) + SCORE_PER_MOVED * len(moved))
    return Placement(
        provider_id=work.provider.id, provider_name=work.provider.name,
        tier=work.provider.contract, cqc_rating=work.provider.cqc_rating,
        feasible=not uncovered, covered_visits=len(covered), total_visits=len(work.package),
        added_travel_minutes=travel, added_cost=added_cost, distinct_carers=len(carers),
        moved_visits=moved, repaired=work.repaired, score=round(the_score, 2),
        package_visits=[p.visits[v].id for v in work.package], uncovered=uncovered, rota=rota,
    )


def rank_key(pl: Placement) -> tuple:
    """Feasible first, then more visits covered, then contract tier, then score."""
    return (not pl.feasible, -pl.covered_visits, CONTRACT_ORDER.index(pl.tier), pl.score,
            pl.provider_id)


# --- the whole answer -------------------------------------------------------------------


def _insert(district: District, provider: Provider, package: Package,
            pvisits: list[PackageVisit], prepare: Prepare | None
            ) -> tuple[Work, list[list[int]]]:
    work = start_work(district, provider, package, pvisits, prepare)
    return work, insert_package(work)


def place_all(district: District, providers: list[Provider], package: Package,
              pvisits: list[PackageVisit], options: MatchOptions, deadline: float,
              prepare: Prepare | None = None) -> list[tuple[Work, Placement]]:
    """Every provider's placement, in the given provider order.

    Two phases, each over providers in parallel threads: insertion for all
    (fast), then CP-SAT repairs, most promising providers first (fewest
    visits screened out, then fewest failed insertions, then contract tier),
    so a tight time limit is spent where a feasible answer is likeliest.
    """
    workers = min(options.workers or os.cpu_count() or 1, max(1, len(providers)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        inserted = list(pool.map(lambda pr: _insert(district, pr, package, pvisits, prepare),
                                 providers))
        def promise(i: int) -> tuple[int, int, int]:
            work, failed = inserted[i]
            screened = sum(1 for v in work.package if work.el.reasons[v])
            return screened, sum(len(g) for g in failed), CONTRACT_ORDER.index(providers[i].contract)

        order = sorted(range(len(inserted)), key=promise)
        todo = [i for i in order if inserted[i][1]]
        list(pool.map(lambda i: finish(inserted[i][0], inserted[i][1], options, deadline), todo))
    return [(work, placement(work)) for work, _ in inserted]


def match(district: District, package: Package, options: MatchOptions | None = None,
          prepare: Prepare | None = None) -> MatchResult:
    """Rank the district's providers for a package (spec/brokerage.md).

    `prepare` (optional) turns each provider problem into (problem, travel) before
    compiling, e.g. `geodata.prepare.prepare` for postcodes and OSM travel.
    """
    from optimiser.explain import best_split, suggestions

    options = options or MatchOptions()
    t0 = time.monotonic()
    deadline = t0 + options.time_limit
    locality = client_locality(package.client, district)
    if locality is not None and package.client.locality is None:
        package = package.model_copy(update={"client": package.client.model_copy(
            update={"locality": locality})})
    pvisits = expand_package(package, _aware(district), district.timezone)
    if not pvisits:
        raise DocumentError([FieldError("package.calls", "no call falls on any of the package's "
                                        "days (check days and start)")], "package")
    providers, excluded = candidates(district, options, locality)
    # Leave a fifth of the budget for the split and suggestions, and time to measure
    # every placement (about 15 ms each) after the repairs stop.
    phase_end = t0 + options.time_limit * 0.8 - PLACEMENT_SECONDS * len(providers)
    done = place_all(district, providers, package, pvisits, options, phase_end, prepare)
    done.sort(key=lambda wp: rank_key(wp[1]))
    placements = [pl for _, pl in done]
    result = MatchResult(
        package_id=package.id, client_id=package.client.id, client_locality=locality,
        package_visits=[pv.visit.id for pv in pvisits], ranked=[pl.provider_id for pl in placements],
        placements=placements, excluded=excluded,
    )
    if placements and not placements[0].feasible:
        result.split = best_split(district, package, pvisits, done, options, deadline, prepare)
        if options.suggestions:
            result.suggestions = suggestions(district, package, pvisits, done, options, deadline,
                                             prepare)
    result.solve_seconds = round(time.monotonic() - t0, 3)
    log.info("matched %s over %d providers in %.2fs: %d feasible", package.id, len(placements),
             result.solve_seconds, sum(pl.feasible for pl in placements))
    return result


def restrict(package: Package, calls: list[Call] | None = None, **changes: object) -> Package:
    """A copy of the package with other calls or fields (for splits and suggestions)."""
    update: dict[str, object] = dict(changes)
    if calls is not None:
        update["calls"] = calls
    return package.model_copy(update=update)
