"""The neighbourhood model: pinned stops, and the price of moving calls a caller wants kept."""

from __future__ import annotations

from ortools.sat.python import cp_model

from optimiser import compile_problem
from optimiser.construct import construct
from optimiser.generate import GeneratorOptions, generate
from optimiser.model import Built, Neighbourhood, build_model, extract
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import build_eligibility
from optimiser.validate import validate


def _setup():
    p = compile_problem(generate(GeneratorOptions(carers=8, clients=20, seed=11, demand_ratio=0.4)))
    el = build_eligibility(p)
    return p, el, construct(p, el)


def solve_built(p, el, plan: Plan, built: Built, seconds: float = 10
                ) -> tuple[Plan, cp_model.CpSolver]:
    """One worker, a found rota required and checked by the validator."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = seconds
    assert solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    new = extract(p, el, plan, built, solver)
    assert validate(p, to_solution(p, el, new, "feasible", 0, {})) == []
    return new, solver


def _solve(p, el, plan: Plan, hood: Neighbourhood) -> Plan:
    return solve_built(p, el, plan, build_model(p, el, plan, hood))[0]


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


def test_few_successors_still_follow_the_round_in_time_not_the_nearest_evening_calls() -> None:
    """With 2 successors a visit, the morning call's next call is the one 15 minutes away at
    08:45, not the evening calls next door: ranked by travel alone, the model could not
    cover both morning calls."""
    from optimiser import load_problem
    from optimiser.model import ModelBuilder
    from tests.test_solve import carer, client, problem, visit

    near = [client(f"x{i}", 53.92 + 0.0005 * i, -1.82) for i in range(5)]
    far = client("y", 53.99, -1.82)
    visits = [visit("morning-x", "x0", "08:00", "08:00", 30),
              visit("morning-y", "y", "08:45", "09:00", 30)]
    visits += [visit(f"evening-{i}", f"x{i}", f"{16 + i}:00", f"{16 + i}:00", 30) for i in range(1, 5)]
    data = problem([carer("a", shifts=[{"start": "2026-11-30T07:00", "end": "2026-11-30T22:00"}])],
                   [*near, far], visits)
    p = compile_problem(load_problem(data))
    el = build_eligibility(p)
    plan = Plan.empty(len(el.vehicles))
    hood = Neighbourhood(list(range(len(el.vehicles))), [v.index for v in p.visits])
    new, solver = solve_built(p, el, plan, ModelBuilder(p, el, plan, hood, successors=2).build())
    assert solver.objective_value == solver.best_objective_bound  # proved optimal
    assert len(new.start) == len(p.visits)


def _whole_tight_day() -> tuple:
    """A planted day (a hidden rota covers all 61 visits) and that rota."""
    from benchmarks.planted import planted
    from optimiser.plan import plan_from_routes

    problem, hidden = planted(10, 1, 4)
    p = compile_problem(problem)
    el = build_eligibility(p)
    hood = Neighbourhood(list(range(len(el.vehicles))), [v.index for v in p.visits], cover_only=True)
    return p, el, hood, plan_from_routes(p, el, hidden.routes)


def test_the_model_admits_a_full_cover_rota_fixed_to_it() -> None:
    """Soundness of the model's rules, the redundant no-overlap among them: the hidden rota,
    every variable fixed to it, is a solution (a rule that cut off valid rotas would make
    this infeasible)."""
    p, el, hood, hidden = _whole_tight_day()
    built = build_model(p, el, hidden, hood)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.max_time_in_seconds = 20
    assert solver.solve(built.model) == cp_model.OPTIMAL
    new = extract(p, el, hidden, built, solver)
    assert len(new.start) == len(p.visits)
    assert new.start == hidden.start


def test_the_cover_model_repacks_a_tight_day_the_greedy_left_short() -> None:
    """The no-overlap intervals let CP-SAT pack a tight day: from construction (4 visits
    out), one worker and 2 deterministic seconds leave at most 1 out; the circuit alone
    left all 4 out here."""
    from optimiser.repair import uncovered

    p, el, hood, _hidden = _whole_tight_day()
    plan = construct(p, el)
    assert len(uncovered(p, el, plan)) == 4
    built = build_model(p, el, plan, hood)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = 2.0
    solver.parameters.max_time_in_seconds = 60  # a safety stop only
    assert solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    new = extract(p, el, plan, built, solver)
    assert validate(p, to_solution(p, el, new, "feasible", 0, {})) == []
    assert len(uncovered(p, el, new)) <= 1
