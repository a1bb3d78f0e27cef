"""Instances built around a hidden full-coverage rota.

Issue 3's target: whenever a rota covering every visit exists, carerota covers
every visit with travel no worse than that rota's. A random instance does not
say whether such a rota exists; a planted one does, by construction:

1. Carers as `optimiser.generate` draws them (homes around the Wharfedale
   towns, drivers and walkers, skills, early/late/split/long-day shifts, two
   days off a week).
2. For every day, every shift is WALKED, all shifts of the day at once in time
   order: from where the carer is, pick a client location (an existing client
   nearby or a new one; walkers only within their locality and max leg, and
   never further from home than one leg), arrive, start a minute or a few
   later, stay 30/45/60 min, and go on until the next stop would not leave
   time to get home before the shift ends or would break the daily cap. A
   shift that would run past `after_work_minutes` waits out its break first.
3. Double-handed visits: a carer starting a double-up asks the carers on shift
   who can reach the client within 15 minutes of the planned start (their own
   routes, caps and break rule permitting); the pair meets there at the same
   minute.
4. Each planted stop becomes a visit: window = planted start +/- 30 min (+/- 15
   for time-critical medication), preferred_start = planted start, skills the
   client's needs (a subset of what its carers hold). Some clients prefer the
   carer who visits them most, some exclude a carer who never visits them,
   some cap their distinct carers at no fewer than the hidden rota uses, and
   some spaced medication is linked by `follows` around the planted gap.

The hidden rota is returned as a `Solution` and checked with
`optimiser.validate.validate` before `planted` returns. Travel is the spec's
haversine default, computed with the same floating-point steps as
`optimiser.travel.haversine_travel`; every planted leg keeps a minute of slack
on top so a one-ulp difference could never invalidate the rota.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchmarks.report import seeds_of
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.domain.documents import (
    BreakRule,
    Carer,
    Client,
    Follows,
    Horizon,
    Locality,
    Location,
    Metrics,
    Problem,
    Route,
    Solution,
    Stop,
    Visit,
)
from optimiser.generate import GeneratorOptions, _Area, _areas, _CarerPlan, _carers, _shifts
from optimiser.travel import DEFAULT_CIRCUITY, DEFAULT_SPEED_KMH, EARTH_RADIUS_KM

log = logging.getLogger(__name__)

START = date(2026, 11, 30)  # a Monday, as the generator's default
DURATIONS = (30, 45, 60)
DURATION_WEIGHTS = (0.45, 0.35, 0.2)
#: Minutes of slack on every planted leg, shift end and cap (see the module docstring).
MARGIN = 1
#: A double-up's first carer waits at most this long for the second.
PAIR_WAIT = 15
#: Visits of one client on one day start at least this far apart, at most this many a day.
CLIENT_GAP, CLIENT_CALLS = 150, 4
#: Drivers pick existing clients within this many minutes; new clients land about this far.
DRIVE_REACH, DRIVE_SIGMA = 15, (0.008, 0.013)
WALK_SIGMA = (0.004, 0.006)
NEED_SHARES = (("medication", 0.65), ("dementia", 0.2), ("peg_feed", 0.03), ("end_of_life", 0.05))


def _minutes_from(mode: str, lat: float, lon: float, lats: np.ndarray,
                  lons: np.ndarray) -> np.ndarray:
    """Travel minutes from one point to many, exactly as `haversine_travel` computes them."""
    phi = np.radians(np.asarray([lat], dtype=np.float64))[:, None]
    phj = np.radians(np.asarray(lats, dtype=np.float64))[None, :]
    dphi = phj - phi
    dlmb = (np.radians(np.asarray(lons, dtype=np.float64))[None, :]
            - np.radians(np.asarray([lon], dtype=np.float64))[:, None])
    a = np.sin(dphi / 2) ** 2 + np.cos(phi) * np.cos(phj) * np.sin(dlmb / 2) ** 2
    km = (2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))[0]
    raw = np.round(km * DEFAULT_CIRCUITY[mode] / DEFAULT_SPEED_KMH[mode] * 60.0, 9)
    out = np.ceil(raw).astype(np.int64)
    out[km == 0.0] = 0
    return out


def _minutes(mode: str, a: tuple[float, float], b: tuple[float, float]) -> int:
    return int(_minutes_from(mode, a[0], a[1], np.array([b[0]]), np.array([b[1]]))[0])


@dataclass
class _PClient:
    id: str
    area: _Area
    lat: float
    lon: float
    double: bool
    needs: set[str]
    time_critical: bool
    starts: dict[int, list[int]] = field(default_factory=dict)  # day -> planted starts

    def free_at(self, day: int, start: int) -> bool:
        """Room for another call starting about `start` on `day`."""
        taken = self.starts.get(day, [])
        return len(taken) < CLIENT_CALLS and all(abs(start - s) >= CLIENT_GAP for s in taken)


@dataclass
class _PVisit:
    client: _PClient
    day: int
    start: int
    duration: int
    skills: set[str]
    critical: bool = False
    id: str = ""


@dataclass
class _Route:
    """One shift being walked: where the carer is and what the shift has used so far."""

    carer: _CarerPlan
    ci: int  # carer index
    shift_index: int  # index into the carer's shift list in the problem
    start: int
    end: int
    pos: tuple[float, float]
    free: int
    work: int = 0  # visit + incoming travel minutes
    first: int | None = None
    had_break: bool = False
    closed: bool = False
    version: int = 0
    stops: list[_PVisit] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "walk" if self.carer.walker else "drive"

    @property
    def home(self) -> tuple[float, float]:
        return self.carer.lat, self.carer.lon


@dataclass
class _Day:
    """All routes of one day, so caps and pairs can see the carer's other shift."""

    day: int
    routes: list[_Route]

    def other_work(self, r: _Route) -> int:
        """Committed work of the carer's other routes today, their way home included."""
        return sum(o.work + (_minutes(o.mode, o.pos, o.home) if o.stops else 0)
                   for o in self.routes if o.ci == r.ci and o is not r)


def _cap(carer: _CarerPlan) -> int:
    return 600 if carer.pattern == "long_day" else 480


def _break(carer: _CarerPlan) -> tuple[int, int]:
    return 360, 30 if carer.pattern == "long_day" else 20


class _Planter:
    """The walk over every day and shift (one instance per `planted` call)."""

    def __init__(self, rng: random.Random, carers: list[_CarerPlan], areas: list[_Area],
                 days: int, double_share: float) -> None:
        self.rng = rng
        self.carers = carers
        self.areas = areas
        self.days = days
        self.p_double = double_share / (2 - double_share) if double_share < 1 else 1.0
        self.clients: list[_PClient] = []
        self.lats: list[float] = []
        self.lons: list[float] = []
        self.visits: list[_PVisit] = []
        self.routes: list[_Route] = []

    # --- places -------------------------------------------------------------

    def _area_of(self, lat: float, lon: float) -> tuple[_Area, float, float]:
        for a in self.areas:
            if a.lat0 < lat < a.lat1 and a.lon0 < lon < a.lon1:
                lat, lon = a.clip(lat, lon, 0.02)
                return a, lat, lon
        a = min(self.areas, key=lambda a: (a.centre[0] - lat) ** 2 + ((a.centre[1] - lon) * 0.6) ** 2)
        lat, lon = a.clip(lat, lon, 0.05)
        return a, lat, lon

    def _new_place(self, r: _Route) -> tuple[_Area, float, float] | None:
        """A new client location near the carer (walkers: in reach of here and of home)."""
        k = r.carer
        for _ in range(25):
            if k.walker:
                lat = r.pos[0] + self.rng.gauss(0, WALK_SIGMA[0])
                lon = r.pos[1] + self.rng.gauss(0, WALK_SIGMA[1])
                lat, lon = k.area.clip(lat, lon, 0.05)
                area = k.area
            else:
                area, lat, lon = self._area_of(r.pos[0] + self.rng.gauss(0, DRIVE_SIGMA[0]),
                                               r.pos[1] + self.rng.gauss(0, DRIVE_SIGMA[1]))
            lat, lon = round(lat, 5), round(lon, 5)
            if self._reachable(r, (lat, lon)):
                return area, lat, lon
        return None

    def _reachable(self, r: _Route, where: tuple[float, float]) -> bool:
        k = r.carer
        if not k.walker:
            return True
        assert k.max_leg is not None
        limit = k.max_leg - MARGIN
        return _minutes("walk", r.pos, where) <= limit and _minutes("walk", r.home, where) <= limit

    def _existing(self, r: _Route, day: int, double: bool) -> list[_PClient]:
        """Known clients this carer could take next, nearest first."""
        if not self.clients:
            return []
        k = r.carer
        lats, lons = np.array(self.lats), np.array(self.lons)
        t = _minutes_from(r.mode, r.pos[0], r.pos[1], lats, lons)
        if k.walker:
            assert k.max_leg is not None
            home = _minutes_from("walk", k.lat, k.lon, lats, lons)
            ok = (t <= k.max_leg - MARGIN) & (home <= k.max_leg - MARGIN)
        else:
            ok = t <= DRIVE_REACH
        out = []
        for i in np.flatnonzero(ok)[np.argsort(t[ok], kind="stable")]:
            c = self.clients[int(i)]
            if (c.double == double and c.needs <= k.skills
                    and (not k.walker or c.area.id == k.area.id)
                    and c.free_at(day, r.free + int(t[i]))):
                out.append(c)
        return out

    # --- one step of a route ------------------------------------------------

    def _fits(self, d: _Day, r: _Route, where: tuple[float, float], start: int,
              duration: int) -> int | None:
        """The incoming leg if `r` can start a visit at `where` at `start`, else None."""
        t = _minutes(r.mode, r.pos, where)
        if start < r.free + t + MARGIN:
            return None
        back = _minutes(r.mode, where, r.home)
        if start + duration + back + MARGIN > r.end:
            return None
        if r.work + t + duration + back + d.other_work(r) + MARGIN > _cap(r.carer):
            return None
        after, minutes = _break(r.carer)
        idle = start - r.free - t
        if (r.first is not None and not r.had_break and start + duration - r.first > after
                and idle < minutes + MARGIN):
            return None
        return t

    def _planned_start(self, r: _Route, t: int, duration: int) -> int:
        start = r.free + t + MARGIN + self.rng.randint(0, 7)
        after, minutes = _break(r.carer)
        if r.first is not None and not r.had_break and start + duration - r.first > after:
            start = r.free + t + minutes + MARGIN + self.rng.randint(0, 10)
        return start

    def _commit(self, r: _Route, where: tuple[float, float], t: int, v: _PVisit) -> None:
        _, minutes = _break(r.carer)
        if r.first is None:
            r.first = v.start
        elif v.start - r.free - t >= minutes + MARGIN:
            r.had_break = True
        r.work += t + v.duration
        r.free = v.start + v.duration
        r.pos = where
        r.version += 1
        r.stops.append(v)

    def _partner(self, d: _Day, r: _Route, where: tuple[float, float], start: int,
                 duration: int, client: _PClient | None) -> tuple[_Route, int, int] | None:
        """The second carer for a double-up at `where`: (route, its leg, the shared start)."""
        best: list[tuple[int, int, _Route, int]] = []
        for o in d.routes:
            if o.ci == r.ci or o.closed or o.free > start + PAIR_WAIT:
                continue
            if client is not None and not client.needs <= o.carer.skills:
                continue
            k = o.carer
            if k.walker:
                area, _, _ = self._area_of(*where)
                if area.id != k.area.id or not self._reachable(o, where):
                    continue
            t = _minutes(o.mode, o.pos, where)
            shared = max(start, o.free + t + MARGIN)
            if shared - start > PAIR_WAIT:
                continue
            if self._fits(d, o, where, shared, duration) is None:
                continue
            if self._fits(d, r, where, shared, duration) is None:
                continue
            best.append((shared, self.rng.random(), o, t))  # type: ignore[arg-type]
        if not best:
            return None
        shared, _, o, t = min(best, key=lambda b: (b[0], b[1]))
        return o, t, shared

    def _needs(self, skills: set[str], double: bool) -> set[str]:
        needs = {s for s, share in NEED_SHARES if s in skills and self.rng.random() < share}
        if double and "hoist" in skills and self.rng.random() < 0.85:
            needs.add("hoist")
        return needs

    def _add_client(self, area: _Area, lat: float, lon: float, double: bool,
                    needs: set[str]) -> _PClient:
        width = 4
        c = _PClient(id=f"client-{len(self.clients) + 1:0{width}d}", area=area, lat=lat, lon=lon,
                     double=double, needs=needs,
                     time_critical="medication" in needs and self.rng.random() < 0.15)
        self.clients.append(c)
        self.lats.append(lat)
        self.lons.append(lon)
        return c

    def _visit_skills(self, c: _PClient) -> tuple[set[str], bool]:
        skills = set(c.needs)
        if "medication" in skills and not c.time_critical and self.rng.random() < 0.3:
            skills.discard("medication")  # not every call gives medication
        return skills, c.time_critical and "medication" in skills

    def step(self, d: _Day, r: _Route) -> bool:
        """Plant r's next stop; False when the shift has no room for another."""
        want_double = self.rng.random() < self.p_double
        for double in ((True, False) if want_double else (False,)):
            for _attempt in range(3):
                if self._try(d, r, double):
                    return True
        return False

    def _try(self, d: _Day, r: _Route, double: bool) -> bool:
        duration = self.rng.choices(DURATIONS, DURATION_WEIGHTS)[0]
        known = self._existing(r, d.day, double)
        client: _PClient | None = None
        if known and self.rng.random() < (0.8 if d.day > 0 else 0.55):
            client = known[self.rng.randrange(min(4, len(known)))]
            where = (client.lat, client.lon)
            area = client.area
        else:
            place = self._new_place(r)
            if place is None:
                return False
            area, lat, lon = place
            where = (lat, lon)
        t = _minutes(r.mode, r.pos, where)
        start = self._planned_start(r, t, duration)
        if self._fits(d, r, where, start, duration) is None:
            shorter = [x for x in DURATIONS if x < duration]
            if not shorter or self._fits(d, r, where, start, shorter[0]) is None:
                return False
            duration = shorter[0]
        if client is not None and not client.free_at(d.day, start):
            return False
        pair = None
        if double:
            pair = self._partner(d, r, where, start, duration, client)
            if pair is None:
                return False
            start = pair[2]
        if client is None:
            skills = r.carer.skills & (pair[0].carer.skills if pair else r.carer.skills)
            client = self._add_client(area, where[0], where[1], double, self._needs(skills, double))
        skills, critical = self._visit_skills(client)
        v = _PVisit(client=client, day=d.day, start=start, duration=duration, skills=skills,
                    critical=critical)
        client.starts.setdefault(d.day, []).append(start)
        self.visits.append(v)
        self._commit(r, where, _minutes(r.mode, r.pos, where), v)
        if pair is not None:
            o, t_o, _ = pair
            self._commit(o, where, t_o, v)
        return True

    # --- the days -----------------------------------------------------------

    def walk(self) -> None:
        shift_counter = [0] * len(self.carers)
        for day in range(self.days):
            routes = []
            for ci, k in enumerate(self.carers):
                for s, e in _shifts(k, day):
                    routes.append(_Route(carer=k, ci=ci, shift_index=shift_counter[ci], start=s,
                                         end=e, pos=(k.lat, k.lon), free=s))
                    shift_counter[ci] += 1
            d = _Day(day, routes)
            heap = [(r.free, i, r.version) for i, r in enumerate(routes)]
            heapq.heapify(heap)
            while heap:
                free, i, version = heapq.heappop(heap)
                r = routes[i]
                if r.closed or version != r.version or free != r.free:
                    continue
                if self.step(d, r):
                    heapq.heappush(heap, (r.free, i, r.version))
                    for o in routes:  # a partner's route moved: requeue it at its new time
                        if o is not r and o.stops and o.stops[-1] is r.stops[-1]:
                            heapq.heappush(heap, (o.free, routes.index(o), o.version))
                else:
                    r.closed = True
            self.routes.extend(routes)


def _carer_docs(carers: list[_CarerPlan], days: int, origin: datetime) -> list[Carer]:
    from optimiser.domain.documents import Shift

    def at(day: int, minute: int) -> datetime:
        return origin + timedelta(days=day, minutes=minute)

    out = []
    for k in carers:
        after, minutes = _break(k)
        out.append(Carer(
            id=k.id, provider_id="wharfe-care", home=Location(lat=k.lat, lon=k.lon),
            travel_mode="walk" if k.walker else "drive", skills=sorted(k.skills),
            gender="female" if k.female else "male",
            shifts=[Shift(start=at(d, s), end=at(d, e)) for d in range(days)
                    for s, e in _shifts(k, d)],
            max_work_minutes_per_day=_cap(k), max_leg_minutes=k.max_leg,
            localities=[k.area.id] if k.walker else [],
            break_rule=BreakRule(after_work_minutes=after, break_minutes=minutes),
            cost_per_hour=k.cost_per_hour,
        ))
    return out


def _client_docs(rng: random.Random, pl: _Planter, days: int) -> list[Client]:
    """Clients with preferences and hard rules the hidden rota keeps."""
    seen: dict[str, dict[str, int]] = {}
    for r in pl.routes:
        for v in r.stops:
            seen.setdefault(v.client.id, {})
            seen[v.client.id][r.carer.id] = seen[v.client.id].get(r.carer.id, 0) + 1
    gender = {k.id: ("female" if k.female else "male") for k in pl.carers}
    docs = []
    for c in pl.clients:
        who = seen.get(c.id, {})
        preferred: list[str] = []
        if who and rng.random() < 0.4:
            preferred = [max(sorted(who), key=lambda k: who[k])]
        required = None
        genders = {gender[k] for k in who}
        if not c.double and len(genders) == 1 and rng.random() < 0.08:
            required = genders.pop()
        excluded: list[str] = []
        if rng.random() < 0.05:
            others = [k.id for k in pl.carers if k.id not in who]
            if others:
                excluded = [rng.choice(others)]
        max_distinct = None
        if rng.random() < 0.25:
            max_distinct = max(len(who), 4 if days <= 3 else 6)
        docs.append(Client(
            id=c.id, location=Location(lat=c.lat, lon=c.lon), locality=c.area.id,
            required_carer_gender=required,
            preferred_carer_gender="female" if rng.random() < 0.1 else None,
            preferred_carers=preferred, excluded_carers=excluded,
            max_distinct_carers=max_distinct,
        ))
    return docs


def _visit_docs(rng: random.Random, pl: _Planter, origin: datetime) -> list[Visit]:
    def at(day: int, minute: int) -> datetime:
        return origin + timedelta(days=day, minutes=minute)

    by_client_day: dict[tuple[str, int], list[_PVisit]] = {}
    for v in pl.visits:
        v.id = f"{v.client.id}-d{v.day + 1}-{v.start // 60:02d}{v.start % 60:02d}"
        by_client_day.setdefault((v.client.id, v.day), []).append(v)
    follows: dict[str, Follows] = {}
    for group in by_client_day.values():
        group.sort(key=lambda v: v.start)
        meds = [v for v in group if "medication" in v.skills]
        for a, b in itertools.pairwise(meds):
            gap = b.start - a.start
            if 180 <= gap <= 420 and rng.random() < 0.3:  # spaced medication
                follows[b.id] = Follows(visit_id=a.id, min_gap_minutes=gap - 30,
                                        max_gap_minutes=gap + 30)
    docs = []
    for v in pl.visits:
        half = 15 if v.critical else 30
        priority: Literal["critical", "high", "normal"] = (
            "critical" if v.critical else "high" if "end_of_life" in v.client.needs else "normal")
        docs.append(Visit(
            id=v.id, client_id=v.client.id, earliest_start=at(v.day, v.start - half),
            latest_start=at(v.day, v.start + half), preferred_start=at(v.day, v.start),
            duration_minutes=v.duration, carers_required=2 if v.client.double else 1,
            skills=sorted(v.skills), priority=priority, follows=follows.get(v.id),
        ))
    docs.sort(key=lambda v: (v.earliest_start, v.id))
    return docs


def _hidden(compiled: CompiledProblem, pl: _Planter, origin: datetime) -> Solution:
    """The planted rota, legs priced on the compiled matrix (what the validator reads)."""
    def at(day: int, minute: int) -> datetime:
        return origin + timedelta(days=day, minutes=minute)

    routes = []
    travel = 0
    km = 0.0
    for r in pl.routes:
        if not r.stops:
            continue
        carer = compiled.carers[compiled.carer_index[r.carer.id]]
        shift = carer.shifts[r.shift_index]
        point = shift.start_point
        stops = []
        for v in r.stops:
            vp = compiled.visits[compiled.visit_index[v.id]].point
            t = compiled.minutes(carer, point, vp) if point is not None else 0
            km += float(compiled.travel.km[point, vp]) if point is not None else 0.0
            travel += t
            stops.append(Stop(visit_id=v.id, start=at(v.day, v.start),
                              end=at(v.day, v.start + v.duration), travel_minutes=t))
            point = vp
        assert point is not None  # the route has a stop
        back = compiled.minutes(carer, point, shift.end_point) if shift.end_point is not None else 0
        km += float(compiled.travel.km[point, shift.end_point]) if shift.end_point is not None else 0
        travel += back
        routes.append(Route(carer_id=r.carer.id, shift_index=r.shift_index, stops=stops,
                            return_travel_minutes=back))
    n = len(compiled.visits)
    return Solution(problem_id=compiled.problem.id, status="feasible", routes=routes,
                    metrics=Metrics(visits_total=n, visits_assigned=n, travel_minutes=travel,
                                    travel_km=round(km, 3)))


def planted(carers: int, days: int, seed: int, double_share: float = 0.3,
            walker_share: float = 0.25) -> tuple[Problem, Solution]:
    """A problem with a hidden rota covering every visit, and that rota.

    Deterministic for the arguments. Raises AssertionError if the hidden rota
    does not validate (a bug here, never expected).
    """
    if carers < 1 or days < 1:
        raise ValueError("carers and days must be at least 1")
    rng = random.Random(seed)
    opts = GeneratorOptions(carers=carers, clients=1, days=days, seed=seed,
                            walker_share=walker_share, double_share=double_share, start=START)
    areas = _areas(opts.localities)
    plans = _carers(rng, opts, areas)
    pl = _Planter(rng, plans, areas, days, double_share)
    pl.walk()
    origin = datetime.combine(START, datetime.min.time())
    visits = _visit_docs(rng, pl, origin)
    problem = Problem(
        id=f"planted-{carers}c-{days}d-s{seed}",
        horizon=Horizon(start=origin, end=origin + timedelta(days=days)),
        localities=[Locality(id=a.id, name=a.name, boundary=a.boundary()) for a in areas],
        carers=_carer_docs(plans, days, origin), clients=_client_docs(rng, pl, days),
        visits=visits, seed=seed,
    )
    compiled = compile_problem(problem)
    hidden = _hidden(compiled, pl, origin)
    from optimiser.validate import validate

    broken = validate(compiled, hidden)
    assert not broken, f"planted rota of {problem.id} breaks: " + "; ".join(map(str, broken[:5]))
    log.info("planted %s: %d visits, %d clients, hidden travel %d min", problem.id, len(visits),
             len(problem.clients), hidden.metrics.travel_minutes)
    return problem, hidden


def hidden_figures(problem: Problem, hidden: Solution) -> dict[str, Any]:
    """What the hidden rota achieves: its visits and travel (scored as the benchmark scores)."""
    from benchmarks.scoring import score

    s = score(compile_problem(problem), hidden)
    return {"hidden_visits": s.visits_covered, "hidden_travel_minutes": s.travel_minutes}


def compare(row: dict[str, Any], hidden: dict[str, Any]) -> dict[str, Any]:
    """A result row's figures against the hidden rota's."""
    out = dict(hidden)
    if row.get("error") or row.get("travel_minutes") is None:
        return {**out, "travel_vs_hidden": None, "full_cover": False}
    ht = hidden["hidden_travel_minutes"]
    out["travel_vs_hidden"] = round(row["travel_minutes"] / ht, 3) if ht else None
    out["full_cover"] = bool(row.get("valid")) and row["visits_covered"] == row["visits_total"]
    return out


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The report.md section comparing each row with its instance's hidden rota."""
    several = len(seeds_of(rows)) > 1
    lines = [
        "## Against the hidden rota", "",
        "Each planted instance is built around a rota covering every visit (the hidden rota). "
        "`full cover`: a valid rota covering every visit; `travel vs hidden`: our travel minutes "
        "over the hidden rota's (below 1 is better).", "",
        f"| instance | solver | limit s |{' seed |' if several else ''} visits | covered "
        "| full cover | travel | hidden travel | travel vs hidden | valid |",
        "|" + "---|" * (11 if several else 10),
    ]
    for r in rows:
        if "hidden_visits" not in r:
            continue
        ratio = r.get("travel_vs_hidden")
        seed = f" {r.get('seed', '–')} |" if several else ""
        lines.append(
            f"| {r['instance']} | {r['solver']} | {r['time_limit']:g} |{seed} {r['hidden_visits']} | "
            f"{r.get('visits_covered', '–')} | {'yes' if r.get('full_cover') else 'no'} | "
            f"{r.get('travel_minutes', '–')} | {r['hidden_travel_minutes']} | "
            f"{f'{ratio:.3f}' if ratio is not None else '–'} | "
            f"{'yes' if r.get('valid') else 'no'} |")
    return [*lines, ""]


@functools.lru_cache(maxsize=8)
def _hidden_of(options: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    problem, hidden = planted(**dict(options))
    return hidden_figures(problem, hidden)


def add_hidden(row: dict[str, Any], options: dict[str, Any] | None) -> None:
    """Give a bench row of a planted instance its hidden-rota columns (in place)."""
    if options is not None:
        row.update(compare(row, _hidden_of(tuple(sorted(options.items())))))


def finish_run(out: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite results.json with the hidden-rota columns and add their section to report.md.

    The runner writes results.json before the CLI sees each row, so the last
    row's columns land only here.
    """
    if not any("hidden_visits" in r for r in rows):
        return
    path = out / "results.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["rows"] = rows
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    report = out / "report.md"
    if report.exists():
        text = report.read_text(encoding="utf-8")
        report.write_text(text.rstrip("\n") + "\n\n" + "\n".join(report_lines(rows)),
                          encoding="utf-8")
