"""The working rota inside the search: routes per vehicle with fixed start minutes.

`Plan` is what construction, large-neighbourhood search and package matching
pass around. It is cheap to copy (tuples of ints) and knows how to score
itself with exactly the terms the CP-SAT model minimises, and how to become a
spec `Solution` at the edge.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import Metrics, Route, Solution, Stop, Unassigned, Weights
from optimiser.prune import Eligibility


@dataclass
class Plan:
    """Routes (visit indices in time order) per vehicle and one start minute per visit."""

    routes: list[list[int]]
    start: dict[int, int] = field(default_factory=dict)
    # visits construction never reached before its deadline (reason `time_limit` if still out)
    unattempted: frozenset[int] = frozenset()

    @classmethod
    def empty(cls, n_vehicles: int) -> Plan:
        return cls([[] for _ in range(n_vehicles)], {})

    def copy(self) -> Plan:
        return Plan([list(r) for r in self.routes], dict(self.start))

    def carers_of(self) -> dict[int, list[int]]:
        """visit -> vehicles doing it."""
        out: dict[int, list[int]] = defaultdict(list)
        for k, route in enumerate(self.routes):
            for v in route:
                out[v].append(k)
        return out

    def sort_routes(self) -> None:
        for route in self.routes:
            route.sort(key=lambda v: self.start[v])


def route_travel(p: CompiledProblem, el: Eligibility, k: int, route: list[int]) -> tuple[list[int], int]:
    """Incoming leg minutes per stop and the return leg of vehicle k's route."""
    veh = el.vehicles[k]
    carer = p.carers[veh.carer]
    legs = []
    prev = veh.shift.start_point
    for v in route:
        pt = p.visits[v].point
        legs.append(p.minutes(carer, prev, pt) if prev is not None else 0)
        prev = pt
    back = 0
    if route and veh.shift.end_point is not None:
        back = p.minutes(carer, p.visits[route[-1]].point, veh.shift.end_point)
    return legs, back


def vehicle_work(p: CompiledProblem, el: Eligibility, k: int, route: list[int],
                 starts: dict[int, int]) -> dict[int, int]:
    """Visit + travel minutes per calendar day (legs count on the arriving visit's day,
    the return leg on the last visit's day), as the validator counts them."""
    return work_by_day(p, route, starts, *route_travel(p, el, k, route))


def work_by_day(p: CompiledProblem, route: Sequence[int], starts: Mapping[int, int],
                legs: list[int], back: int) -> dict[int, int]:
    """`vehicle_work` from a route's legs, however they were looked up (the insertion
    builder reads its own list matrices)."""
    out: dict[int, int] = defaultdict(int)
    for v, t in zip(route, legs, strict=True):
        out[p.day_of(starts[v])] += p.visits[v].duration + t
    if route:
        out[p.day_of(starts[route[-1]])] += back
    return out


@dataclass(frozen=True)
class Score:
    """The objective split into its named terms (weights applied in `total`)."""

    unassigned: int
    travel_minutes: int
    lateness_minutes: int
    max_lateness: int
    preferred_deviation: int
    new_carer_pairs: int
    distinct_pairs: int
    mismatches: int
    total: int

    def lateness_cost(self, w: Weights) -> int:
        """What lateness (its minutes and the largest) adds to `total`."""
        return w.lateness_minute * self.lateness_minutes + w.max_lateness_minute * self.max_lateness


def mismatch(p: CompiledProblem, carer_index: int, visit_index: int) -> bool:
    """A soft gender/language preference of the client that this carer does not meet."""
    carer = p.carers[carer_index]
    client = p.clients[p.visits[visit_index].client]
    if client.preferred_gender and carer.gender != client.preferred_gender:
        return True
    return bool(client.languages) and not (client.languages & carer.languages)


def score(p: CompiledProblem, el: Eligibility, plan: Plan) -> Score:
    """Score a plan with the same terms and weights as the CP-SAT model."""
    w = p.problem.weights
    covered = plan.carers_of()
    unassigned = sum(v.weight * v.required for v in p.visits if v.index not in covered)
    travel = 0
    pairs: set[tuple[int, int]] = set()
    mism = 0
    for k, route in enumerate(plan.routes):
        legs, back = route_travel(p, el, k, route)
        travel += sum(legs) + back
        c = el.vehicles[k].carer
        for v in route:
            pairs.add((p.visits[v].client, c))
            mism += mismatch(p, c, v)
    late = [max(0, plan.start[v] - p.visits[v].latest) for v in covered]
    prefs = {v: p.visits[v].preferred for v in covered}
    dev = sum(abs(plan.start[v] - want) for v, want in prefs.items() if want is not None)
    new_pairs = sum(1 for cl, c in pairs if p.carers[c].id not in p.clients[cl].preferred)
    max_late = max(late, default=0)
    total = (w.unassigned * unassigned + w.travel_minute * travel + w.lateness_minute * sum(late)
             + w.max_lateness_minute * max_late + w.preferred_start_minute * dev
             + w.new_carer_for_client * new_pairs + w.distinct_carer * len(pairs)
             + w.preference_mismatch * mism)
    return Score(unassigned, travel, sum(late), max_late, dev, new_pairs, len(pairs), mism, total)


def to_solution(p: CompiledProblem, el: Eligibility, plan: Plan, status: str, seconds: float,
                reasons: dict[int, tuple[str, ...]]) -> Solution:
    """The spec's solution document for a plan (datetimes back at the edge)."""
    routes = []
    km = 0.0
    for k, route in enumerate(plan.routes):
        if not route:
            continue
        veh = el.vehicles[k]
        legs, back = route_travel(p, el, k, route)
        stops = [
            Stop(visit_id=p.visits[v].id, start=p.clock.at(plan.start[v]),
                 end=p.clock.at(plan.start[v] + p.visits[v].duration), travel_minutes=t)
            for v, t in zip(route, legs, strict=True)
        ]
        pts = [veh.shift.start_point] + [p.visits[v].point for v in route] + [veh.shift.end_point]
        km += sum(float(p.travel.km[a, b]) for a, b in itertools.pairwise(pts)
                  if a is not None and b is not None)
        routes.append(Route(carer_id=p.carers[veh.carer].id, shift_index=veh.shift.index,
                            stops=stops, return_travel_minutes=back))
    covered = plan.carers_of()
    unassigned = [
        Unassigned(visit_id=v.id, reasons=list(reasons.get(v.index) or ("capacity",)))
        for v in p.visits if v.index not in covered
    ]
    sc = score(p, el, plan)
    by_client: dict[int, set[int]] = defaultdict(set)
    for v, ks in covered.items():
        by_client[p.visits[v].client].update(el.vehicles[k].carer for k in ks)
    metrics = Metrics(
        visits_total=len(p.visits), visits_assigned=len(covered), travel_minutes=sc.travel_minutes,
        travel_km=round(km, 2), lateness_minutes=sc.lateness_minutes,
        max_distinct_carers_per_client=max((len(s) for s in by_client.values()), default=0),
        objective=float(sc.total),
    )
    return Solution(problem_id=p.problem.id, status=status, routes=routes,
                    unassigned=unassigned, metrics=metrics, solve_seconds=round(seconds, 3))


def plan_from_routes(p: CompiledProblem, el: Eligibility, routes: list[Route]) -> Plan:
    """A plan from a spec rota (e.g. a provider's committed rota), to start a search from.

    Stops naming unknown carers, shifts or visits are skipped; the caller validates first
    when it must be sure the rota is valid.
    """
    index = {(el.vehicles[k].carer, el.vehicles[k].shift.index): k for k in range(len(el.vehicles))}
    plan = Plan.empty(len(el.vehicles))
    for route in routes:
        c = p.carer_index.get(route.carer_id)
        k = index.get((c, route.shift_index)) if c is not None else None
        if k is None:
            continue
        for stop in route.stops:
            v = p.visit_index.get(stop.visit_id)
            if v is None:
                continue
            plan.routes[k].append(v)
            plan.start[v] = p.clock.minute(stop.start)
    plan.sort_routes()
    return plan
