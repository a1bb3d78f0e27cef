"""Settling a move: late stops tied to other routes by `follows` gaps are pulled earlier
together with their partners, exactly as far as every route and gap allows."""

from __future__ import annotations

from optimiser.construct import Builder, objective_delta
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import Eligibility, build_eligibility
from optimiser.validate import validate


def _pushed_pair() -> tuple[CompiledProblem, Eligibility, Plan, dict[str, int], dict[str, int]]:
    """Carer a does a long call f from 08:00, then m1 (due 08:00-08:30) late at 09:00+;
    carer b does m2 exactly 60 minutes after m1 (due by 09:15), so late as well."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    doc = problem(
        [carer("a", skills=["x"]), carer("b", skills=["y"])],
        [client("k"), client("far", lat=53.95, lon=-1.85)],
        [visit("f", "far", "08:00", "08:00", 60, skills=["x"]),
         visit("m1", "k", "08:00", "08:30", 30, skills=["x"]),
         visit("m2", "k", "08:00", "09:15", 30, skills=["y"], follows={
             "visit_id": "m1", "min_gap_minutes": 60, "max_gap_minutes": 60})],
        lateness="penalised")
    p = compile_problem(load_problem(doc))
    el = build_eligibility(p)
    ix = {v.id: v.index for v in p.visits}
    veh = {p.carers[v.carer].id: k for k, v in enumerate(el.vehicles)}
    plan = Plan.empty(len(el.vehicles))
    f, m1, m2 = ix["f"], ix["m1"], ix["m2"]
    plan.routes[veh["a"]], plan.routes[veh["b"]] = [f, m1], [m2]
    ready = p.visits[f].earliest + 60 + p.minutes(p.carers[el.vehicles[veh["a"]].carer],
                                                  p.visits[f].point, p.visits[m1].point)
    plan.start = {f: p.visits[f].earliest, m1: ready, m2: ready + 60}
    return p, el, plan, ix, veh


def test_taking_out_the_call_that_pushed_a_pair_pulls_both_halves_back_on_time() -> None:
    p, el, plan, ix, veh = _pushed_pair()
    m1, m2 = ix["m1"], ix["m2"]
    assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []
    assert plan.start[m1] > p.visits[m1].latest and plan.start[m2] > p.visits[m2].latest

    # Without the tied settle, m1 cannot move: its partner's start holds it.
    old = Builder(p, el, plan)
    old.take_out((ix["f"],))
    assert old.settle({veh["a"]}) == set()
    assert old.plan.start[m1] == plan.start[m1]

    b = Builder(p, el, plan)
    before = b.plan.copy()
    far = p.visits[ix["f"]].client
    pairs_before = {far: set(b.client_carers[far])}
    b.take_out((ix["f"],))
    moved = b.settle({veh["a"]}, tied=True)
    assert moved == {veh["a"], veh["b"]}
    # Both on time, the gap kept, and no earlier than needed: m2 at its window's end.
    assert b.plan.start[m2] == p.visits[m2].latest
    assert b.plan.start[m2] - b.plan.start[m1] == 60
    assert b.plan.start[m1] <= p.visits[m1].latest
    assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []
    # The delta over the vehicles settle reports is the full score's change (f now out).
    delta = objective_delta(p, el, b, before, moved, pairs_before)
    out = p.problem.weights.unassigned
    assert delta + out == score(p, el, b.plan).total - score(p, el, before).total
    assert score(p, el, b.plan).lateness_minutes == 0


def test_a_settled_rota_settles_to_itself() -> None:
    """Nothing late on the routes: the tied settle moves nothing (stops keep their slack)."""
    p, el, plan, ix, veh = _pushed_pair()
    b = Builder(p, el, plan)
    b.take_out((ix["f"],))
    b.settle({veh["a"]}, tied=True)
    settled = dict(b.plan.start)
    assert b.settle({veh["a"], veh["b"]}, tied=True) == set()
    assert b.plan.start == settled
