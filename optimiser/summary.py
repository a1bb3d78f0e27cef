"""A rota in a few readable lines, for the CLI and logs.

Figures are recomputed from the routes where they can be (visits covered,
care hours, travel minutes), so the summary stays honest even if a solver's
own metrics were wrong; the distance comes from the solution's metrics.
"""

from __future__ import annotations

from collections import Counter

from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import Solution


def summary_lines(compiled: CompiledProblem, solution: Solution) -> list[str]:
    """Status, coverage, care hours, double-ups, travel, carers used and why visits were dropped."""
    visits = compiled.visits
    carers_of: dict[str, set[str]] = {}
    for route in solution.routes:
        for stop in route.stops:
            carers_of.setdefault(stop.visit_id, set()).add(route.carer_id)
    index = compiled.visit_index
    covered = [visits[index[v]] for v in carers_of if v in index]
    doubles = [v for v in visits if v.required == 2]
    doubles_covered = sum(1 for v in covered if v.required == 2)
    care_minutes = sum(v.duration * v.required for v in visits)
    covered_minutes = sum(v.duration * len(carers_of[v.id]) for v in covered)
    travel = sum(s.travel_minutes for r in solution.routes for s in r.stops)
    travel += sum(r.return_travel_minutes for r in solution.routes if r.stops)
    used = {r.carer_id for r in solution.routes if r.stops}
    reasons: Counter[str] = Counter()
    for u in solution.unassigned:
        reasons.update(list(u.reasons) if u.reasons else ["unexplained"])
    lines = [
        f"status: {solution.status} in {solution.solve_seconds:.1f} s",
        f"visits covered: {len(covered)} / {len(visits)}"
        + (f" ({100 * len(covered) / len(visits):.1f}%)" if visits else ""),
        f"care hours delivered: {covered_minutes / 60:.1f} of {care_minutes / 60:.1f} "
        "(carer-hours, double-handed count twice)",
        f"double-handed visits covered: {doubles_covered} / {len(doubles)}",
        f"travel: {travel} min, {solution.metrics.travel_km:.1f} km",
        f"carers used: {len(used)} of {len(compiled.carers)}",
    ]
    if solution.unassigned:
        parts = ", ".join(f"{code} {n}" for code, n in sorted(reasons.items(), key=lambda x: -x[1]))
        lines.append(f"unassigned: {len(solution.unassigned)} ({parts})")
    else:
        lines.append("unassigned: none")
    return lines
