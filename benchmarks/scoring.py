"""Score any rota the same way, whoever produced it.

The benchmark never trusts a solver's report of itself: coverage, care
minutes, travel and lateness are recomputed here from the rota and the
problem's integer travel matrix, and the objective is the spec's weighted sum
of those terms (docs/benchmarks.md lists them). So carerota and its peers are
ranked on one yardstick, and the validator says separately whether each rota
keeps every rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import Solution
from optimiser.plan import mismatch


@dataclass(frozen=True)
class Score:
    """What a rota achieves, in whole minutes and the problem's weights."""

    visits_total: int
    visits_covered: int
    care_minutes_total: int
    care_minutes_covered: int
    travel_minutes: int
    lateness_minutes: int
    max_lateness_minutes: int
    objective: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _weight(weights: Any, name: str) -> float:
    return float(getattr(weights, name, 0) or 0)


def score(p: CompiledProblem, solution: Solution) -> Score:
    """Recompute coverage, travel, lateness and the weighted objective of `solution`."""
    carers_of: dict[int, set[int]] = defaultdict(set)
    start_of: dict[int, int] = {}
    travel = 0
    for route in solution.routes:
        ci = p.carer_index.get(route.carer_id)
        if ci is None or route.shift_index >= len(p.carers[ci].shifts):
            continue
        carer, shift = p.carers[ci], p.carers[ci].shifts[route.shift_index]
        points = []
        for stop in route.stops:
            vi = p.visit_index.get(stop.visit_id)
            if vi is None:
                continue
            carers_of[vi].add(ci)
            start_of.setdefault(vi, p.clock.minute(stop.start))
            points.append(p.visits[vi].point)
        if not points:
            continue
        if shift.start_point is not None:
            points.insert(0, shift.start_point)
        if shift.end_point is not None:
            points.append(shift.end_point)
        travel += sum(p.minutes(carer, a, b) for a, b in pairwise(points))
    covered = [v for v in p.visits if len(carers_of.get(v.index, ())) >= v.required]
    late = [max(0, start_of[v.index] - v.latest) for v in covered]
    w = p.problem.weights
    # Per carer-slot, as the solver counts it: a dropped double-up costs twice.
    uncovered = sum(v.weight * v.required for v in p.visits
                    if len(carers_of.get(v.index, ())) < v.required)
    preferred = sum(abs(start_of[v.index] - v.preferred) for v in covered
                    if v.preferred is not None)
    pairs = {(p.visits[vi].client, ci) for vi, cs in carers_of.items() for ci in cs}
    mismatches = sum(1 for vi, cs in carers_of.items() for ci in cs if mismatch(p, ci, vi))
    not_preferred = sum(1 for client, ci in pairs
                        if p.carers[ci].id not in p.clients[client].preferred)
    objective = (
        _weight(w, "unassigned") * uncovered
        + _weight(w, "travel_minute") * travel
        + _weight(w, "lateness_minute") * sum(late)
        + _weight(w, "max_lateness_minute") * max(late, default=0)
        + _weight(w, "preferred_start_minute") * preferred
        + _weight(w, "distinct_carer") * len(pairs)
        + _weight(w, "new_carer_for_client") * not_preferred
        + _weight(w, "preference_mismatch") * mismatches
    )
    return Score(
        visits_total=len(p.visits),
        visits_covered=len(covered),
        care_minutes_total=sum(v.duration * v.required for v in p.visits),
        care_minutes_covered=sum(v.duration * v.required for v in covered),
        travel_minutes=travel,
        lateness_minutes=sum(late),
        max_lateness_minutes=max(late, default=0),
        objective=objective,
    )
