"""Solver-agnostic check of a rota against every rule of the spec.

Written before the model and independent of it: the solver never grades its
own homework. Each check is a small function returning `Violation`s in plain
words (visit, carer, times, the rule), so the CLI can print them, the API can
return them, and tests can assert exactly which rule a broken rota breaks.

Conventions the spec leaves open (documented in docs/rules.md):
- work minutes = visit minutes + reported travel minutes (incoming legs and the
  return leg); a visit and the leg arriving at it count on the day the visit
  starts, the return leg on the day of the route's last visit;
- a break is an idle gap between consecutive stops net of the reported travel.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from optimiser.domain.compiled import CCarer, CompiledProblem, CShift
from optimiser.domain.documents import Route, Solution, Stop

RULES: dict[str, str] = {
    "unknown_id": "every id in a rota names a visit, carer and shift of the problem",
    "coverage": "a visit has exactly carers_required distinct carers, or is listed once as unassigned",
    "window": "a stop starts inside its visit's window",
    "duration": "a stop ends duration_minutes after it starts",
    "synchronised": "all stops of one visit start at the same minute",
    "order": "stops of a route are in time order",
    "shift": "a route lies inside its shift, travel from and back to its locations included",
    "travel": "consecutive stops leave room for the carer's travel; reported legs are not below it",
    "follows": "follows gaps hold; a 0-0 pair is covered together by different carers",
    "skills": "every assigned carer holds every skill the visit lists",
    "exclusion": "a client's excluded carers never visit",
    "gender": "a client's required carer gender holds",
    "locality": "a carer works only in the carer's localities",
    "max_distinct_carers": "a client sees at most max_distinct_carers carers over the horizon",
    "max_leg": "no travel leg exceeds the carer's max_leg_minutes",
    "daily_cap": "visit + travel minutes in a calendar day stay within max_work_minutes_per_day",
    "horizon_cap": "visit + travel minutes over the horizon stay within max_work_minutes",
    "break": "a working stretch over after_work_minutes contains an idle gap of break_minutes",
    "overlap": "a carer is never in two places at once",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule, in words a rota planner understands."""

    rule: str
    message: str
    visit_id: str | None = None
    carer_id: str | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "message": self.message, "visit_id": self.visit_id,
                "carer_id": self.carer_id}


@dataclass(frozen=True)
class _Leg:
    """A stop placed in integer minutes, with the route it belongs to."""

    route: Route
    carer: CCarer
    shift: CShift
    stop: Stop
    visit: int
    start: int
    end: int


def _hm(p: CompiledProblem, minute: int) -> str:
    return p.clock.text(minute).replace("T", " ")


def _minute(p: CompiledProblem, dt: datetime) -> int:
    return p.clock.minute(dt)


def validate(p: CompiledProblem, solution: Solution) -> list[Violation]:
    """Every violation of the spec's rules by `solution`; empty when the rota is valid."""
    out: list[Violation] = []
    routes = _resolve_routes(p, solution, out)
    out.extend(_check_coverage(p, solution, routes))
    for carer, shift, legs in routes:
        out.extend(_check_route(p, carer, shift, legs))
    out.extend(_check_visits(p, routes))
    out.extend(_check_follows(p, routes))
    out.extend(_check_carer_totals(p, routes))
    return out


def _resolve_routes(
    p: CompiledProblem, solution: Solution, out: list[Violation]
) -> list[tuple[CCarer, CShift, list[_Leg]]]:
    resolved = []
    for ri, route in enumerate(solution.routes):
        ci = p.carer_index.get(route.carer_id)
        if ci is None:
            out.append(Violation("unknown_id", f"routes[{ri}] names unknown carer {route.carer_id!r}",
                                 carer_id=route.carer_id))
            continue
        carer = p.carers[ci]
        if route.shift_index >= len(carer.shifts):
            out.append(Violation("unknown_id", f"carer {carer.id} has no shift {route.shift_index}",
                                 carer_id=carer.id))
            continue
        shift = carer.shifts[route.shift_index]
        legs = []
        for stop in route.stops:
            vi = p.visit_index.get(stop.visit_id)
            if vi is None:
                out.append(Violation("unknown_id", f"carer {carer.id} visits unknown visit "
                                     f"{stop.visit_id!r}", stop.visit_id, carer.id))
                continue
            legs.append(_Leg(route, carer, shift, stop, vi, _minute(p, stop.start),
                             _minute(p, stop.end)))
        resolved.append((carer, shift, legs))
    return resolved


def _check_coverage(p: CompiledProblem, solution: Solution, routes) -> Iterator[Violation]:
    carers_of: dict[int, list[str]] = defaultdict(list)
    for carer, _shift, legs in routes:
        for leg in legs:
            carers_of[leg.visit].append(carer.id)
    unassigned_count: dict[str, int] = defaultdict(int)
    for u in solution.unassigned:
        unassigned_count[u.visit_id] += 1
        if u.visit_id not in p.visit_index:
            yield Violation("unknown_id", f"unassigned lists unknown visit {u.visit_id!r}", u.visit_id)
    for v in p.visits:
        who = carers_of.get(v.index, [])
        listed = unassigned_count.get(v.id, 0)
        if who and listed:
            yield Violation("coverage", f"visit {v.id} is both assigned ({', '.join(who)}) and "
                            "listed as unassigned", v.id)
        elif listed > 1:
            yield Violation("coverage", f"visit {v.id} is listed {listed} times as unassigned", v.id)
        elif not who and not listed:
            yield Violation("coverage", f"visit {v.id} is neither assigned nor listed as unassigned",
                            v.id)
        elif who:
            if len(set(who)) != len(who):
                yield Violation("coverage", f"visit {v.id} lists carer(s) {', '.join(who)}: the same "
                                "carer twice", v.id)
            elif len(who) != v.required:
                yield Violation("coverage", f"visit {v.id} needs {v.required} carer(s) but has "
                                f"{len(who)} ({', '.join(who)})", v.id)


def _check_route(p: CompiledProblem, carer: CCarer, shift: CShift, legs: list[_Leg]) -> Iterator[Violation]:
    """Windows, durations, order, shift bounds, travel, max leg and break of one route."""
    cid = carer.id
    for leg in legs:
        v = p.visits[leg.visit]
        if leg.start < v.earliest or (leg.start > v.latest and not p.lateness_penalised):
            yield Violation("window", f"{cid} starts {v.id} at {_hm(p, leg.start)}, outside its window "
                            f"{_hm(p, v.earliest)}-{_hm(p, v.latest)}", v.id, cid)
        if leg.end - leg.start != v.duration:
            yield Violation("duration", f"{cid}'s stop at {v.id} lasts {leg.end - leg.start} min, not "
                            f"{v.duration}", v.id, cid)
    for a, b in itertools.pairwise(legs):
        if b.start < a.start:
            yield Violation("order", f"{cid}'s stops are out of time order: {p.visits[b.visit].id} at "
                            f"{_hm(p, b.start)} after {p.visits[a.visit].id} at {_hm(p, a.start)}",
                            p.visits[b.visit].id, cid)
    if not legs:
        return
    first, last = legs[0], legs[-1]
    fv, lv = p.visits[first.visit], p.visits[last.visit]
    t_in = p.minutes(carer, shift.start_point, fv.point) if shift.start_point is not None else 0
    if first.start < shift.start + t_in:
        yield Violation("shift", f"{cid} starts {fv.id} at {_hm(p, first.start)}, before shift start "
                        f"{_hm(p, shift.start)} + {t_in} min travel", fv.id, cid)
    if first.stop.travel_minutes < t_in:
        yield Violation("travel", f"{cid} reports {first.stop.travel_minutes} min to reach {fv.id}; "
                        f"the journey takes {t_in}", fv.id, cid)
    t_out = p.minutes(carer, lv.point, shift.end_point) if shift.end_point is not None else 0
    if last.end + t_out > shift.end:
        yield Violation("shift", f"{cid} ends {lv.id} at {_hm(p, last.end)} and needs {t_out} min to get "
                        f"back, past shift end {_hm(p, shift.end)}", lv.id, cid)
    if last.route.return_travel_minutes < t_out:
        yield Violation("travel", f"{cid} reports {last.route.return_travel_minutes} min back from "
                        f"{lv.id}; the journey takes {t_out}", lv.id, cid)
    for a, b in itertools.pairwise(legs):
        if b.start < a.start:
            continue  # already reported as `order`; its travel would only repeat it
        va, vb = p.visits[a.visit], p.visits[b.visit]
        t = p.minutes(carer, va.point, vb.point)
        if b.start < a.end + t:
            yield Violation("travel", f"{cid} ends {va.id} at {_hm(p, a.end)} and cannot reach {vb.id} "
                            f"({t} min away) by {_hm(p, b.start)}", vb.id, cid)
        if b.stop.travel_minutes < t:
            yield Violation("travel", f"{cid} reports {b.stop.travel_minutes} min from {va.id} to "
                            f"{vb.id}; the journey takes {t}", vb.id, cid)
    if carer.max_leg is not None:
        yield from _check_max_leg(p, carer, shift, legs)
    if carer.break_after is not None and last.end - first.start > carer.break_after:
        idle = max((b.start - a.end - b.stop.travel_minutes for a, b in itertools.pairwise(legs)), default=0)
        if idle < carer.break_minutes:
            yield Violation("break", f"{cid} works {_hm(p, first.start)}-{_hm(p, last.end)} "
                            f"({last.end - first.start} min) with no idle gap of "
                            f"{carer.break_minutes} min (longest {max(idle, 0)})", None, cid)


def _check_max_leg(p: CompiledProblem, carer: CCarer, shift: CShift, legs: list[_Leg]) -> Iterator[Violation]:
    assert carer.max_leg is not None
    points = [p.visits[leg.visit].point for leg in legs]
    hops = list(itertools.pairwise(points))
    if shift.start_point is not None:
        hops.insert(0, (shift.start_point, points[0]))
    if shift.end_point is not None:
        hops.append((points[-1], shift.end_point))
    for a, b in hops:
        t = p.minutes(carer, a, b)
        if t > carer.max_leg:
            yield Violation("max_leg", f"{carer.id} travels {t} min from {p.point_keys[a]} to "
                            f"{p.point_keys[b]}, over the {carer.max_leg}-min limit", None, carer.id)


def _check_visits(p: CompiledProblem, routes) -> Iterator[Violation]:
    """Per-visit rules: synchronised starts, skills, exclusions, gender, localities, distinct carers."""
    starts: dict[int, set[int]] = defaultdict(set)
    carers_by_client: dict[int, set[str]] = defaultdict(set)
    for carer, _shift, legs in routes:
        for leg in legs:
            v = p.visits[leg.visit]
            client = p.clients[v.client]
            starts[v.index].add(leg.start)
            carers_by_client[client.index].add(carer.id)
            missing = sorted(v.skills - carer.skills)
            if missing:
                yield Violation("skills", f"{carer.id} lacks {', '.join(missing)} for {v.id}", v.id,
                                carer.id)
            if carer.id in client.excluded:
                yield Violation("exclusion", f"{client.id} has excluded {carer.id}, who is given "
                                f"{v.id}", v.id, carer.id)
            if client.required_gender and carer.gender != client.required_gender:
                yield Violation("gender", f"{client.id} requires a {client.required_gender} carer; "
                                f"{carer.id} ({carer.gender or 'unstated'}) is given {v.id}", v.id,
                                carer.id)
            if carer.localities and client.locality and client.locality not in carer.localities:
                yield Violation("locality", f"{carer.id} may work in {', '.join(sorted(carer.localities))}"
                                f" but is given {v.id} in {client.locality}", v.id, carer.id)
    for vi, s in starts.items():
        if len(s) > 1:
            v = p.visits[vi]
            times = ", ".join(_hm(p, m) for m in sorted(s))
            yield Violation("synchronised", f"the carers of {v.id} start at different times ({times})",
                            v.id)
    for client in p.clients:
        seen = carers_by_client.get(client.index, set())
        if client.max_distinct is not None and len(seen) > client.max_distinct:
            yield Violation("max_distinct_carers", f"{client.id} sees {len(seen)} carers "
                            f"({', '.join(sorted(seen))}), over the limit of {client.max_distinct}")


def _check_follows(p: CompiledProblem, routes) -> Iterator[Violation]:
    start: dict[int, int] = {}
    carers: dict[int, set[str]] = defaultdict(set)
    for carer, _shift, legs in routes:
        for leg in legs:
            start.setdefault(leg.visit, leg.start)
            carers[leg.visit].add(carer.id)
    for v in p.visits:
        f = v.follows
        if f is None:
            continue
        pred = p.visits[f.pred]
        if f.synchronised:
            if (v.index in start) != (pred.index in start):
                done, missing = (v, pred) if v.index in start else (pred, v)
                yield Violation("follows", f"{done.id} and {missing.id} must be covered together "
                                f"(a 0-0 pair), but {missing.id} is not", v.id)
                continue
            if v.index in start and carers[v.index] & carers[pred.index]:
                both = ", ".join(sorted(carers[v.index] & carers[pred.index]))
                yield Violation("follows", f"{v.id} and {pred.id} start together so need different "
                                f"carers; {both} is on both", v.id)
        if v.index not in start or pred.index not in start:
            continue
        gap = start[v.index] - start[pred.index]
        if not f.lo <= gap <= f.hi:
            yield Violation("follows", f"{v.id} starts {gap} min after {pred.id}; it must be "
                            f"{f.lo}-{f.hi} min after", v.id)


def _check_carer_totals(p: CompiledProblem, routes) -> Iterator[Violation]:
    """Daily and horizon work caps, and no carer in two places at once."""
    by_carer: dict[int, list[tuple[CShift, list[_Leg]]]] = defaultdict(list)
    for carer, shift, legs in routes:
        by_carer[carer.index].append((shift, legs))
    for ci, shifts in by_carer.items():
        carer = p.carers[ci]
        per_day: dict[int, int] = defaultdict(int)
        for _shift, legs in shifts:
            for leg in legs:
                per_day[p.day_of(leg.start)] += leg.end - leg.start + leg.stop.travel_minutes
            if legs:
                per_day[p.day_of(legs[-1].start)] += legs[-1].route.return_travel_minutes
        if carer.max_day is not None:
            for day, work in sorted(per_day.items()):
                if work > carer.max_day:
                    yield Violation("daily_cap", f"{carer.id} works {work} min on "
                                    f"{p.clock.at(p.day_starts[day]).date()}, over the "
                                    f"{carer.max_day}-min daily cap", None, carer.id)
        total = sum(per_day.values())
        if carer.max_total is not None and total > carer.max_total:
            yield Violation("horizon_cap", f"{carer.id} works {total} min over the horizon, over the "
                            f"{carer.max_total}-min cap", None, carer.id)
        all_legs = sorted((leg for _s, legs in shifts for leg in legs), key=lambda x: (x.start, x.end))
        for a, b in itertools.pairwise(all_legs):
            if b.start < a.end:
                yield Violation("overlap", f"{carer.id} is at {p.visits[a.visit].id} until "
                                f"{_hm(p, a.end)} and at {p.visits[b.visit].id} from {_hm(p, b.start)}",
                                p.visits[b.visit].id, carer.id)
