"""The neighbourhood model: pinned stops, and the price of moving calls a caller wants kept."""

from __future__ import annotations

from ortools.sat.python import cp_model

from optimiser import compile_problem
from optimiser.construct import construct
from optimiser.generate import GeneratorOptions, generate
from optimiser.model import Neighbourhood, build_model, extract
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import build_eligibility
from optimiser.validate import validate


def _setup():
    p = compile_problem(generate(GeneratorOptions(carers=8, clients=20, seed=11, demand_ratio=0.4)))
    el = build_eligibility(p)
    return p, el, construct(p, el)


def _solve(p, el, plan: Plan, hood: Neighbourhood) -> Plan:
    built = build_model(p, el, plan, hood)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10
    assert solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    new = extract(p, el, plan, built, solver)
    assert validate(p, to_solution(p, el, new, "feasible", 0, {})) == []
    return new


def _moved(before: Plan, after: Plan) -> int:
    a, b = before.carers_of(), after.carers_of()
    return sum(1 for v in before.start if after.start.get(v) != before.start[v]
               or sorted(a[v]) != sorted(b.get(v, [])))


def test_free_neighbourhood_improves_and_a_move_price_keeps_calls_in_place() -> None:
    p, el, plan = _setup()
    busy = [k for k, r in enumerate(plan.routes) if r][:3]
    visits = sorted({v for k in busy for v in plan.routes[k]})
    free = _solve(p, el, plan, Neighbourhood(busy, visits))
    assert score(p, el, free).total <= score(p, el, plan).total
    assert _moved(plan, free) > 0  # re-timing and swaps pay off when nothing prices them
    by_visit = plan.carers_of()
    stay = {v: (frozenset(by_visit[v]), plan.start[v]) for v in visits if v in plan.start}
    kept = _solve(p, el, plan, Neighbourhood(busy, visits, stay=stay, move_weight=10**6))
    assert _moved(plan, kept) == 0


def test_pinned_stops_keep_carer_and_minute() -> None:
    p, el, plan = _setup()
    k = max(range(len(plan.routes)), key=lambda i: len(plan.routes[i]))
    route = plan.routes[k]
    pinned = set(route[::2])
    new = _solve(p, el, plan, Neighbourhood([k], sorted(route), pinned=pinned))
    assert all(v in new.routes[k] and new.start[v] == plan.start[v] for v in pinned)
