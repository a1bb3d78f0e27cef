"""Cover neighbourhoods: CP-SAT re-packs the band around an uncovered visit, coverage alone."""

from __future__ import annotations

import random
import time

from benchmarks.planted import planted
from optimiser.construct import construct
from optimiser.domain.compiled import compile_problem
from optimiser.generate import GeneratorOptions, generate
from optimiser.model import Neighbourhood, build_model
from optimiser.plan import Plan, score, to_solution, vehicle_work
from optimiser.prune import build_eligibility
from optimiser.repair import has_uncovered, uncovered
from optimiser.search import (
    COVER_MODEL_MAX_VISITS,
    COVER_ORPHANS,
    COVER_TAKERS,
    FIRST_BURST_SHARE,
    REPAIR_BURST,
    _capped_days,
    _cover_hood,
    _solve,
)
from optimiser.solve import SolveOptions
from optimiser.validate import validate
from tests.test_model import solve_built


def _tight(carers: int, seed: int):
    problem, _hidden = planted(carers, 1, seed)  # a hidden rota covers every visit
    p = compile_problem(problem)
    el = build_eligibility(p)
    return p, el, construct(p, el)


def test_cover_only_objective_is_the_uncovered_visits_alone() -> None:
    p, el, plan = _tight(8, 2)
    assert uncovered(p, el, plan)  # the greedy strands some visits here
    ks = list(range(len(el.vehicles)))
    hood = Neighbourhood(ks, [v.index for v in p.visits], cover_only=True)
    new, solver = solve_built(p, el, plan, build_model(p, el, plan, hood), seconds=20)
    w = p.problem.weights.unassigned
    out_weight = sum(p.visits[v].weight * p.visits[v].required for v in uncovered(p, el, new))
    # Travel and every other term are left out: the objective is the coverage term exactly.
    assert solver.objective_value == w * out_weight
    assert score(p, el, new).travel_minutes > 0
    assert len(uncovered(p, el, new)) < len(uncovered(p, el, plan))


def test_cover_hood_frees_the_band_around_an_uncovered_visit_and_covers_more() -> None:
    p, el, plan = _tight(20, 20)
    before = len(uncovered(p, el, plan))
    assert before
    rng = random.Random(0)
    for _ in range(6):
        if not uncovered(p, el, plan):
            break
        hood = _cover_hood(p, el, plan, rng, frozenset())
        assert hood.cover_only
        free = set(hood.visits) - hood.pinned
        out_in_hood = [v for v in uncovered(p, el, plan) if v in free]
        assert out_in_hood  # the focus visit is free to be placed
        assert all(plan.start.get(v) is not None or v in out_in_hood for v in free)
        # Stops of chosen vehicles are either free or pinned where they are.
        assert {v for k in hood.vehicles for v in plan.routes[k]} <= set(hood.visits)
        new, _proved, _bound = _solve(p, el, plan, hood, SolveOptions(workers=1, seed=0), 3.0)
        if new is not None and score(p, el, new).total < score(p, el, plan).total:
            plan = new
    assert len(uncovered(p, el, plan)) < before
    assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []


def test_a_cap_bound_carer_gets_its_whole_day_freed(monkeypatch) -> None:
    problem, _hidden = planted(20, 1, 20)
    p = compile_problem(problem)
    el = build_eligibility(p)
    plan = construct(p, el)
    v = uncovered(p, el, plan)[0]
    day = p.day_of(p.visits[v].earliest)

    def day_work(c: int) -> int:
        return sum(vehicle_work(p, el, k, plan.routes[k], plan.start).get(day, 0)
                   for k, veh in enumerate(el.vehicles) if veh.carer == c)

    busy = [c for c in dict.fromkeys(el.vehicles[k].carer for k in el.vehicles_of[v]) if day_work(c)]
    assert len(busy) >= 2
    capped = busy[0]
    # The same day with that carer's cap at the minutes it already works: no room for v.
    carers = [c.model_copy(update={"max_work_minutes_per_day": day_work(i)}) if i == capped
              else c.model_copy(update={"max_work_minutes_per_day": None})
              for i, c in enumerate(problem.carers)]
    p = compile_problem(problem.model_copy(update={"carers": carers}))
    el = build_eligibility(p)
    assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []
    ks = _capped_days(p, el, plan, v)
    assert {el.vehicles[k].carer for k in ks} == {capped}
    day_stops = {u for k in ks for u in plan.routes[k] if p.day_of(plan.start[u]) == day}
    assert day_stops
    monkeypatch.setattr("optimiser.search.CAPPED_SHARE", 1.0)
    hood = _cover_hood(p, el, plan, random.Random(0), frozenset(), focus=v)
    free = set(hood.visits) - hood.pinned
    assert hood.cover_only and v in free
    assert day_stops <= free  # its whole day, not only the band around v
    could = {k for u in day_stops for k in el.vehicles_of[u]
             if k not in ks and p.day_of(el.vehicles[k].shift.start) == day}
    # Vehicles that could take its stops are in the model (the COVER_TAKERS likeliest at least).
    assert len(could & set(hood.vehicles)) >= min(COVER_TAKERS, len(could)) > 0


def test_a_visit_pruning_ruled_out_is_not_worth_covering() -> None:
    """A double-up only one carer may do cannot be covered: no repair burst or cover
    neighbourhood should be spent on it, while a visit a carer could take still counts."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    data = problem([carer("a", skills=["hoist"]), carer("b")], [client("k")],
                   [visit("hoist", "k", carers_required=2, skills=["hoist"]),
                    visit("tea", "k", "11:00", "12:00")])
    p = compile_problem(load_problem(data))
    el = build_eligibility(p)
    hoist, tea = p.visit_index["hoist"], p.visit_index["tea"]
    assert el.vehicles_of[hoist] and el.reasons[hoist] == ("no_second_carer_free",)
    plan = Plan.empty(len(el.vehicles))
    assert uncovered(p, el, plan) == [tea] and has_uncovered(p, el, plan)
    plan = construct(p, el)
    assert tea in plan.start and hoist not in plan.start
    assert uncovered(p, el, plan) == [] and not has_uncovered(p, el, plan)


def _overloaded():
    """A day with far more calls than carers: most visits stay out whatever the search does."""
    p = compile_problem(generate(GeneratorOptions(carers=12, clients=90, days=1, seed=5,
                                                  demand_ratio=3.0)))
    el = build_eligibility(p)
    return p, el, construct(p, el)


def test_cover_hood_takes_in_its_focus_and_at_most_a_few_other_orphans() -> None:
    """On an overloaded day every orphan meeting the band used to join: hundreds of free
    visits, whose model build alone outlasted the time limit."""
    p, el, plan = _overloaded()
    out = uncovered(p, el, plan)
    focus = out[0]
    hood = _cover_hood(p, el, plan, random.Random(1), frozenset(), focus=focus)
    orphans = {v for v in hood.visits if v not in plan.start}
    vis, chosen = p.visits[focus], set(hood.vehicles)
    meeting = [v for v in out if p.visits[v].earliest <= el.latest_of[focus] + vis.duration + 45
               and el.latest_of[v] >= vis.earliest - 45 and chosen & set(el.vehicles_of[v])]
    assert len(meeting) > 2 * COVER_ORPHANS  # so the cap is what keeps the hood small
    assert focus in orphans
    # The focus and its nearest others, with the 0-0 partners that must come along.
    assert len(orphans) <= 2 * COVER_ORPHANS


def test_a_neighbourhood_solve_ends_by_its_deadline_whatever_its_seconds(monkeypatch) -> None:
    """CP-SAT gets what is left of the deadline once the model is built, not the seconds
    it was given before the build."""
    import optimiser.search as search

    p, el, plan = _overloaded()
    hood = Neighbourhood(list(range(len(el.vehicles))), [v.index for v in p.visits])
    built_at: list[float] = []

    def build(*args):
        out = build_model(*args)
        built_at.append(time.monotonic())
        return out

    monkeypatch.setattr(search, "build_model", build)
    deadline = time.monotonic() + 2.0
    new, proved, _bound = _solve(p, el, plan, hood, SolveOptions(workers=2, seed=0), 60.0,
                                 deadline=deadline)
    # Not proved (else it could have ended early anyway); ended by the deadline, or just
    # after the build where a slow host built past it.
    assert not proved and time.monotonic() - max(deadline, built_at[0]) < 0.5
    if new is not None:
        assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_neighbourhood_search_starts_with_an_ejection_pool_burst_while_visits_are_out(
        monkeypatch) -> None:
    """With visits out when the local phases hand over, the first thing the search does is
    an ejection-pool burst of FIRST_BURST_SHARE of the limit: the cover neighbourhoods that
    came first kept improving travel, so no later burst ever came (planted week)."""
    import optimiser.search as search

    p, el, plan = _tight(20, 20)
    before = len(uncovered(p, el, plan))
    assert before and len(p.visits) > COVER_MODEL_MAX_VISITS  # neighbourhoods, not one model
    events: list[tuple[str, float]] = []
    real_cover, real_solve = search.cover_more, search._solve

    def spy_cover(*args, **kwargs):
        events.append(("burst", args[4]))
        return real_cover(*args, **kwargs)

    def spy_solve(*args, **kwargs):
        events.append(("hood", args[5]))
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(search, "cover_more", spy_cover)
    monkeypatch.setattr(search, "_solve", spy_solve)
    options = SolveOptions(time_limit=6, workers=2, seed=0)
    result = search.improve(p, el, plan, options, time.monotonic() + 6, frozenset())
    assert events[0] == ("burst", max(REPAIR_BURST, FIRST_BURST_SHARE * 6))
    assert len(uncovered(p, el, result.plan)) < before
    assert validate(p, to_solution(p, el, result.plan, "feasible", 0.0, {})) == []
