"""Peer optimisers on what they can model: single-carer visits with time windows.

Each peer gets the same compiled problem (the same integer travel matrix) and
the same wall-clock limit as carerota, and its result is turned into a
carerota Solution so the same validator and the same scoring judge it.

What a peer cannot model is dropped before it starts and reported: visits
needing two carers and visits linked by `follows` (synchronised or spaced
services). Every Mankowska HHCRSP instance has such visits, so there a peer's
rota is incomplete and gets no set cost. Rules neither peer models (breaks,
distinct-carer limits, per-leg limits) are left to the validator to flag.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from optimiser.domain.compiled import CCarer, CompiledProblem, CShift, CVisit
from optimiser.domain.documents import Metrics, Route, Solution, Stop, Unassigned

log = logging.getLogger(__name__)


class PeerUnavailable(RuntimeError):
    """The peer's library is not installed (an optional extra)."""


@dataclass(frozen=True)
class PeerResult:
    solution: Solution
    dropped: int
    note: str


def modellable(p: CompiledProblem) -> list[CVisit]:
    """Visits a single-carer VRP can model: one carer, no `follows` link either way."""
    linked = {v.follows.pred for v in p.visits if v.follows is not None}
    return [v for v in p.visits
            if v.required == 1 and v.follows is None and v.index not in linked]


def eligible(p: CompiledProblem, carer: CCarer, shift: CShift, v: CVisit) -> bool:
    """Whether this carer's shift could take the visit (skills, client rules, times)."""
    if not qualified(p, carer, v):
        return False
    latest = p.horizon_end if p.lateness_penalised else v.latest
    return shift.start <= latest and max(v.earliest, shift.start) + v.duration <= shift.end


def qualified(p: CompiledProblem, carer: CCarer, v: CVisit) -> bool:
    """Skills, exclusions, required gender and localities (time aside)."""
    client = p.clients[v.client]
    if not v.skills <= carer.skills or carer.id in client.excluded:
        return False
    if client.required_gender and carer.gender != client.required_gender:
        return False
    return not (carer.localities and client.locality and client.locality not in carer.localities)


def vehicles(p: CompiledProblem) -> list[tuple[CCarer, CShift]]:
    return [(c, s) for c in p.carers for s in c.shifts]


def drop_note(p: CompiledProblem, kept: list[CVisit]) -> str:
    dropped = len(p.visits) - len(kept)
    if not dropped:
        return ""
    return (f"dropped {dropped} of {len(p.visits)} visits it cannot model "
            "(double-handed or linked by follows)")


PeerRoute = tuple[CCarer, CShift, list[tuple[CVisit, int]]]


def build_solution(p: CompiledProblem, routes: list[PeerRoute], status: str,
                   seconds: float) -> Solution:
    """A carerota solution from (carer, shift, [(visit, start)]) with legs from the matrix."""
    doc_routes, assigned = [], set()
    for carer, shift, stops in routes:
        if not stops:
            continue
        point, doc_stops = shift.start_point, []
        for v, start in stops:
            leg = p.minutes(carer, point, v.point) if point is not None else 0
            doc_stops.append(Stop(visit_id=v.id, start=p.clock.at(start),
                                  end=p.clock.at(start + v.duration), travel_minutes=leg))
            point = v.point
            assigned.add(v.index)
        back = p.minutes(carer, point, shift.end_point) if shift.end_point is not None else 0
        doc_routes.append(Route(carer_id=carer.id, shift_index=shift.index, stops=doc_stops,
                                return_travel_minutes=back))
    unassigned = [Unassigned(visit_id=v.id, reasons=["time_limit"]) for v in p.visits
                  if v.index not in assigned]
    return Solution(
        problem_id=p.problem.id, status=status if assigned or not p.visits else "no_solution",
        routes=doc_routes, unassigned=unassigned, solve_seconds=seconds,
        metrics=Metrics(visits_total=len(p.visits), visits_assigned=len(assigned)),
    )


# --- OR-Tools routing ------------------------------------------------------------


def solve_ortools_routing(p: CompiledProblem, time_limit: float, seed: int = 0) -> PeerResult:
    """OR-Tools routing: parallel cheapest insertion, then guided local search.

    Vehicles are (carer, shift) pairs; a visit's allowed vehicles encode skills,
    exclusions, gender and localities; lateness (when penalised) is a soft upper
    bound on the start with the problem's lateness weight.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    del seed  # routing's search is deterministic for a given model
    t0 = time.monotonic()
    kept = modellable(p)
    fleet = vehicles(p)
    n_v = len(kept)
    # Nodes: kept visits, then each vehicle's start and end node.
    point = [v.point for v in kept]
    for _carer, shift in fleet:
        point += [-1 if shift.start_point is None else shift.start_point,
                  -1 if shift.end_point is None else shift.end_point]
    service = np.array([v.duration for v in kept] + [0] * (2 * len(fleet)), dtype=np.int64)
    pts = np.array(point, dtype=np.int64)
    if not fleet or not kept:
        return PeerResult(build_solution(p, [], "feasible", time.monotonic() - t0),
                          len(p.visits) - n_v, drop_note(p, kept))
    starts = [n_v + 2 * k for k in range(len(fleet))]
    ends = [n_v + 2 * k + 1 for k in range(len(fleet))]
    manager = pywrapcp.RoutingIndexManager(len(point), len(fleet), starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    w = p.problem.weights
    travel_w = int(getattr(w, "travel_minute", 1))
    modes = sorted({c.mode for c, _s in fleet})
    time_cb, cost_cb = {}, {}
    for mode in modes:
        mat = np.asarray(p.travel.for_mode(mode), dtype=np.int64)
        time_cb[mode] = _register(routing, manager, pts, mat, service, 1)
        cost_cb[mode] = _register(routing, manager, pts, mat, None, travel_w)
    for k, (carer, _shift) in enumerate(fleet):
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[carer.mode], k)
    horizon = p.horizon_end + max((v.duration for v in kept), default=0) + 1
    routing.AddDimensionWithVehicleTransits(
        [time_cb[c.mode] for c, _s in fleet], horizon, horizon, False, "time")
    dim = routing.GetDimensionOrDie("time")
    late_w = int(getattr(w, "lateness_minute", 1))
    for node, v in enumerate(kept):
        index = manager.NodeToIndex(node)
        hi = p.horizon_end if p.lateness_penalised else v.latest
        dim.CumulVar(index).SetRange(v.earliest, max(v.earliest, hi))
        if p.lateness_penalised:
            dim.SetCumulVarSoftUpperBound(index, v.latest, late_w)
        allowed = [k for k, (c, s) in enumerate(fleet) if eligible(p, c, s, v)]
        if len(allowed) < len(fleet):  # SetAllowedVehiclesForIndex's binding is broken in 9.15
            routing.VehicleVar(index).SetValues([-1, *allowed])
        routing.AddDisjunction([index], int(getattr(w, "unassigned", 10_000)) * v.weight)
    for k, (_carer, shift) in enumerate(fleet):
        dim.CumulVar(routing.Start(k)).SetRange(shift.start, shift.end)
        dim.CumulVar(routing.End(k)).SetRange(shift.start, shift.end)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    remaining = max(1.0, time_limit - (time.monotonic() - t0))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    assignment = routing.SolveWithParameters(params)
    routes = []
    if assignment is not None:
        for k, (carer, shift) in enumerate(fleet):
            index, stops = routing.Start(k), []
            index = assignment.Value(routing.NextVar(index))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                stops.append((kept[node], int(assignment.Value(dim.CumulVar(index)))))
                index = assignment.Value(routing.NextVar(index))
            routes.append((carer, shift, stops))
    status = "feasible" if assignment is not None else "no_solution"
    return PeerResult(build_solution(p, routes, status, time.monotonic() - t0),
                      len(p.visits) - n_v, drop_note(p, kept))


def _register(routing, manager, pts: np.ndarray, mat: np.ndarray, service: np.ndarray | None,
              factor: int) -> int:
    """Transit = factor * travel (+ service of the origin): a C++ matrix when small.

    Nodes whose point is -1 (a shift location that is not counted) travel 0.
    Large instances get a Python callback over the point matrix instead, so
    memory stays linear in the nodes (it is slower, and that is the peer's cost).
    """
    none = pts < 0
    safe = np.where(none, 0, pts)
    if len(pts) <= 2500:
        full = mat[np.ix_(safe, safe)] * factor
        full[none, :] = 0
        full[:, none] = 0
        if service is not None:
            full = full + service[:, None]
        return routing.RegisterTransitMatrix(full.tolist())
    rows = (mat * factor).tolist()
    point = [-1 if n else int(q) for n, q in zip(none, safe, strict=True)]
    serve = [0] * len(pts) if service is None else service.tolist()

    def transit(i: int, j: int) -> int:
        a, b = point[manager.IndexToNode(i)], point[manager.IndexToNode(j)]
        leg = 0 if a < 0 or b < 0 else rows[a][b]
        return serve[manager.IndexToNode(i)] + leg

    return routing.RegisterTransitCallback(transit)


# --- PyVRP -------------------------------------------------------------------------

#: Travel into a location a vehicle may not serve (PyVRP has no per-client vehicle list).
FORBIDDEN = 1_000_000


def solve_pyvrp(p: CompiledProblem, time_limit: float, seed: int = 0) -> PeerResult:
    """PyVRP's iterated local search on the same integer matrix.

    Each kept visit is its own location; vehicles are (carer, shift) pairs whose
    routing profile (travel mode plus the visits they may serve) makes every
    other visit unreachable. PyVRP's windows are hard, so with `lateness:
    penalised` a visit may start any time from its earliest start (lateness is
    then not priced by PyVRP, only by the benchmark's scoring).
    """
    try:
        import pyvrp
        from pyvrp.stop import MaxRuntime
    except ImportError as exc:
        raise PeerUnavailable("pyvrp is not installed (pip install 'carerota[peers]')") from exc

    t0 = time.monotonic()
    kept = modellable(p)
    fleet = vehicles(p)
    if not fleet or not kept:
        return PeerResult(build_solution(p, [], "feasible", time.monotonic() - t0),
                          len(p.visits) - len(kept), drop_note(p, kept))
    depot_points = sorted({pt for _c, s in fleet for pt in (s.start_point, s.end_point)},
                          key=lambda pt: -1 if pt is None else pt)
    depot_of = {pt: i for i, pt in enumerate(depot_points)}
    n_dep = len(depot_points)
    pts = np.array([-1 if pt is None else pt for pt in depot_points] + [v.point for v in kept])
    none, safe = pts < 0, np.where(pts < 0, 0, pts)
    w = p.problem.weights
    travel_w = int(getattr(w, "travel_minute", 1))
    profiles: dict[tuple[str, tuple[bool, ...]], int] = {}
    dist_mats, dur_mats, vehicle_types = [], [], []
    for carer, shift in fleet:
        allowed = tuple(qualified(p, carer, v) for v in kept)
        key = (carer.mode, allowed)
        if key not in profiles:
            mat = np.asarray(p.travel.for_mode(carer.mode), dtype=np.int64)[np.ix_(safe, safe)]
            mat[none, :] = 0
            mat[:, none] = 0
            banned = n_dep + np.flatnonzero(~np.array(allowed))
            mat[banned, :] = FORBIDDEN
            mat[:, banned] = FORBIDDEN
            np.fill_diagonal(mat, 0)
            profiles[key] = len(profiles)
            dur_mats.append(mat)
            dist_mats.append(mat * travel_w)
        vehicle_types.append(pyvrp.VehicleType(
            num_available=1, start_depot=depot_of[shift.start_point],
            end_depot=depot_of[shift.end_point], tw_early=shift.start, tw_late=shift.end,
            profile=profiles[key], name=f"{carer.id}#{shift.index}"))
    unassigned_w = int(getattr(w, "unassigned", 10_000))
    clients = [pyvrp.Client(
        location=n_dep + i, service_duration=v.duration, tw_early=v.earliest,
        tw_late=p.horizon_end if p.lateness_penalised else v.latest,
        prize=unassigned_w * v.weight, required=False, name=v.id) for i, v in enumerate(kept)]
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(x=0, y=0) for _ in pts], clients=clients,
        depots=[pyvrp.Depot(location=i) for i in range(n_dep)], vehicle_types=vehicle_types,
        distance_matrices=dist_mats, duration_matrices=dur_mats)
    remaining = max(1.0, time_limit - (time.monotonic() - t0))
    result = pyvrp.solve(data, stop=MaxRuntime(remaining), seed=seed, display=False)
    routes = []
    for route in result.best.routes():
        carer, shift = fleet[route.vehicle_type()]
        stops = [(kept[a.idx], int(a.start_time)) for a in route.schedule()
                 if a.type == pyvrp.ActivityType.CLIENT]
        routes.append((carer, shift, stops))
    note = drop_note(p, kept)
    if not result.is_feasible():
        note = "; ".join(x for x in (note, "PyVRP found no feasible solution") if x)
    status = "feasible" if result.is_feasible() else "no_solution"
    return PeerResult(build_solution(p, routes, status, time.monotonic() - t0),
                      len(p.visits) - len(kept), note)
