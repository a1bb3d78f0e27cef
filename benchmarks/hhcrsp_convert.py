"""Mankowska HHCRSP instances as carerota/1 problems, and rotas back as set solutions.

carerota's travel is whole minutes; the set's distances are floats
(38.470768). To keep rounding small, time is scaled: one problem minute is
1/`scale` of an instance unit (default scale 10: every time, duration and
distance is multiplied by 10). Travel is rounded UP (ceil), so any rota valid
in the problem is also feasible in the set's float terms when its times are
divided by `scale`; the rota is then re-timed in floats (every service as
early as the routes, windows and double-service rules allow, which never
raises tardiness) and priced by `benchmarks.hhcrsp.evaluate`.

Mapping (ids follow the text file's 0-based indices):
- patient node i -> client `p<i>` at its own location; service s of it ->
  visit `p<i>-s<s>` needing skill `s<s>`;
- a double-service patient's second service `follows` its first: 0-0 when
  simultaneous (two different carers, different skills), min/max gap otherwise;
- staff v -> carer `c<v>` with skills `s<k>` for each qualified service, home
  at the depot, one shift from minute 0 with no practical end;
- `lateness: penalised`, weights travel 1, lateness 1, max lateness 1 per
  scaled minute, continuity and preference terms 0, so the problem's
  objective is 3 * scale * the set's cost up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from benchmarks.hhcrsp import HhcrspInstance, parse_routes
from optimiser.construct import earliest_times
from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import (
    Carer,
    Client,
    Follows,
    Horizon,
    Location,
    Metrics,
    Problem,
    Route,
    Shift,
    Solution,
    Stop,
    Travel,
    Unassigned,
    Visit,
    Weights,
)

SCALE = 10
#: The set has no shift end; best-known routes return by ~760 instance minutes.
SHIFT_END_UNITS = 2000
ORIGIN = datetime(2026, 1, 5)
#: Covering every service dwarfs any travel or lateness saving.
UNASSIGNED_WEIGHT = 10_000_000


def carer_id(staff: int) -> str:
    return f"c{staff}"


def client_id(node: int) -> str:
    return f"p{node}"


def visit_id(node: int, service: int) -> str:
    return f"p{node}-s{service}"


def parse_visit_id(text: str) -> tuple[int, int]:
    """`p8-s4` -> (8, 4)."""
    node, service = text.split("-")
    return int(node[1:]), int(service[1:])


def _location(inst: HhcrspInstance, node: int) -> Location:
    # A made-up place around Leeds, 1 unit = 0.001 degree: only travel_km uses it.
    return Location(lat=53.8 + inst.y[node] / 1000, lon=-1.55 + inst.x[node] / 1000)


def scaled_travel(inst: HhcrspInstance, scale: int) -> list[list[int]]:
    """Whole scaled minutes, rounded up, between every pair of nodes."""
    return [[max(0, math.ceil(round(float(d) * scale, 6))) for d in row] for row in inst.distance]


def to_problem(inst: HhcrspInstance, scale: int = SCALE, time_limit: float = 30) -> Problem:
    """The instance as a carerota/1 problem (see the module docstring for the mapping)."""
    at = lambda minute: ORIGIN + timedelta(minutes=minute)  # noqa: E731
    end = SHIFT_END_UNITS * scale
    carers = [
        Carer(id=carer_id(v), home=_location(inst, 0),
              skills=[f"s{k}" for k in sorted(inst.qualified[v])],
              shifts=[Shift(start=at(0), end=at(end))])
        for v in range(inst.n_staff)
    ]
    clients = [Client(id=client_id(i), location=_location(inst, i)) for i in inst.patients]
    visits = []
    for i in inst.patients:
        first: str | None = None
        for s in inst.requires[i]:
            durations = {float(inst.processing[i, v, s]) for v in range(inst.n_staff)}
            follows = None
            if first is not None:
                lo = math.ceil(round(inst.min_gap[i] * scale, 6))
                hi = math.floor(round(inst.max_gap[i] * scale, 6))
                follows = Follows(visit_id=first, min_gap_minutes=lo, max_gap_minutes=hi)
            visits.append(Visit(
                id=visit_id(i, s), client_id=client_id(i),
                earliest_start=at(math.ceil(round(inst.earliest[i] * scale, 6))),
                latest_start=at(math.floor(round(inst.latest[i] * scale, 6))),
                duration_minutes=math.ceil(round(max(durations) * scale, 6)),
                skills=[f"s{s}"], follows=follows,
            ))
            first = first or visit_id(i, s)
    nodes = [0] * inst.n_staff + list(inst.patients)
    full = scaled_travel(inst, scale)
    keys = [f"home:{carer_id(v)}" for v in range(inst.n_staff)] + [
        f"client:{client_id(i)}" for i in inst.patients]
    minutes = [[full[a][b] for b in nodes] for a in nodes]
    return Problem(
        id=f"hhcrsp-{inst.name}", horizon=Horizon(start=at(0), end=at(end)),
        travel=Travel(source="matrix", keys=keys, minutes={"drive": minutes}),
        carers=carers, clients=clients, visits=visits, lateness="penalised",
        weights=Weights(unassigned=UNASSIGNED_WEIGHT, travel_minute=1, lateness_minute=1,
                        preferred_start_minute=0, new_carer_for_client=0, preference_mismatch=0,
                        distinct_carer=0, max_lateness_minute=1),
        time_limit_seconds=time_limit, seed=0,
    )


def _double_edges(inst: HhcrspInstance, present: set[tuple[int, int]],
                  lo_hi: Mapping[int, tuple[float, float]]) -> list[tuple[Any, Any, float]]:
    edges: list[tuple[Any, Any, float]] = []
    for i in sorted(inst.double):
        s1, s2 = inst.requires[i]
        if (i, s1) in present and (i, s2) in present:
            lo, hi = lo_hi[i]
            edges += [((i, s1), (i, s2), lo), ((i, s2), (i, s1), -hi)]
    return edges


def retime(inst: HhcrspInstance, routes: Mapping[int, Sequence[tuple[int, int]]],
           travel: Sequence[Sequence[float]], duration: Any, earliest: Sequence[float],
           gaps: Mapping[int, tuple[float, float]]) -> dict[tuple[int, int], float] | None:
    """Earliest start of every (node, service) given each staff member's order of stops."""
    lower: dict[tuple[int, int], float] = {}
    edges: list[tuple[Any, Any, float]] = []
    for staff, stops in routes.items():
        prev = None
        for node, service in stops:
            lower[node, service] = max(earliest[node], travel[0][node] if prev is None else 0)
            if prev is not None:
                edges.append((prev, (node, service),
                              duration(prev[0], staff, prev[1]) + travel[prev[0]][node]))
            prev = (node, service)
    edges += _double_edges(inst, set(lower), gaps)
    return earliest_times(lower, edges)


def set_routes(inst: HhcrspInstance, solution: Solution) -> dict[int, list[tuple[int, int]]]:
    """staff -> ordered (node, service) stops of a carerota rota of a converted instance."""
    routes: dict[int, list[tuple[int, int]]] = {v: [] for v in range(inst.n_staff)}
    for route in solution.routes:
        staff = int(route.carer_id[1:])
        routes[staff] += [parse_visit_id(stop.visit_id) for stop in route.stops]
    return routes


def to_set_solution(inst: HhcrspInstance, solution: Solution, scale: int = SCALE) -> dict[str, Any]:
    """A rota of the converted problem in the JSON shape of the set's published solutions.

    Times are recomputed in floats (see `retime`); if that fails (it cannot for a
    valid rota) the rota's own times divided by `scale` are kept.
    """
    routes = set_routes(inst, solution)
    dist = inst.distance.tolist()
    gaps = {i: (inst.min_gap[i], inst.max_gap[i]) for i in inst.double}
    times = retime(inst, routes, dist, inst.duration, inst.earliest, gaps)
    if times is None:
        origin = ORIGIN
        times = {parse_visit_id(s.visit_id): (s.start - origin).total_seconds() / 60 / scale
                 for r in solution.routes for s in r.stops}
    out = []
    for staff in range(inst.n_staff):
        locations = []
        for node, service in routes[staff]:
            start = round(times[node, service], 6)
            locations.append({
                "patient": f"p{node}", "service": f"s{service + 1}", "arrival_time": start,
                "departure_time": round(start + inst.duration(node, staff, service), 6),
            })
        out.append({"caregiver_id": f"c{staff + 1}", "locations": locations})
    return {"routes": out}


def from_set_solution(p: CompiledProblem, inst: HhcrspInstance, data: Mapping[str, Any],
                      scale: int = SCALE) -> Solution:
    """A published solution as a carerota rota of the converted problem (integer re-timing).

    Used to check the conversion both ways and to seed a solver with a known rota.
    """
    parsed = parse_routes(inst, data)
    routes = {v: [(node, s) for node, s, _t in sorted(stops, key=lambda x: x[2])]
              for v, stops in parsed.items()}
    full = scaled_travel(inst, scale)
    dur = {v.id: v.duration for v in p.visits}
    duration = lambda node, _staff, s: dur[visit_id(node, s)]  # noqa: E731
    earliest = [0.0] * inst.n_nodes
    gaps: dict[int, tuple[float, float]] = {}
    for v in p.visits:
        node, _s = parse_visit_id(v.id)
        earliest[node] = v.earliest
        if v.follows is not None:
            gaps[node] = (v.follows.lo, v.follows.hi)
    times = retime(inst, routes, full, duration, earliest, gaps)
    if times is None:
        raise ValueError(f"{inst.name}: the solution's order cannot be timed in scaled minutes")
    return rota_solution(p, inst, routes, {k: int(t) for k, t in times.items()})


def rota_solution(p: CompiledProblem, inst: HhcrspInstance,
                  routes: Mapping[int, Sequence[tuple[int, int]]],
                  starts: Mapping[tuple[int, int], int]) -> Solution:
    """A carerota solution document from ordered stops and integer start minutes."""
    out_routes = []
    assigned = set()
    for staff, stops in sorted(routes.items()):
        if not stops:
            continue
        carer = p.carers[p.carer_index[carer_id(staff)]]
        point = carer.shifts[0].start_point
        doc_stops = []
        for node, s in stops:
            v = p.visits[p.visit_index[visit_id(node, s)]]
            leg = p.minutes(carer, point, v.point) if point is not None else 0
            start = starts[node, s]
            doc_stops.append(Stop(visit_id=v.id, start=p.clock.at(start),
                                  end=p.clock.at(start + v.duration), travel_minutes=leg))
            point = v.point
            assigned.add(v.id)
        end_point = carer.shifts[0].end_point
        back = p.minutes(carer, point, end_point) if end_point is not None else 0
        out_routes.append(Route(carer_id=carer.id, shift_index=0, stops=doc_stops,
                                return_travel_minutes=back))
    unassigned = [Unassigned(visit_id=v.id, reasons=["time_limit"]) for v in p.visits
                  if v.id not in assigned]
    return Solution(problem_id=p.problem.id, status="feasible", routes=out_routes,
                    unassigned=unassigned,
                    metrics=Metrics(visits_total=len(p.visits), visits_assigned=len(assigned)))


def own_cost(travel_minutes: int, lateness_minutes: int, max_lateness_minutes: int,
             scale: int = SCALE) -> float:
    """The set's cost as the converted problem sees it: (D + T + Tmax) / 3 in scaled minutes."""
    return (travel_minutes + lateness_minutes + max_lateness_minutes) / scale / 3
