"""Reserving scarce carers for a construction: the portfolio's odd searches keep the only
carer some visit may have off the visits others can do; their search has every carer back."""

from __future__ import annotations

import time

from optimiser.domain.compiled import compile_problem
from optimiser.plan import score, to_solution
from optimiser.prune import build_eligibility, reserved
from optimiser.solve import SolveOptions, member_options, solve_plan
from optimiser.validate import validate


def _day():
    """Nurse n alone holds skill x (one call needs it) and also does personal care y, as
    carers a and b do; two y calls need one carer, one y call needs two."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    doc = problem(
        [carer("n", skills=["x", "y"]), carer("a", skills=["y"]), carer("b", skills=["y"])],
        [client("k"), client("m", lat=53.93), client("q", lat=53.91)],
        [visit("peg", "k", "08:00", "08:30", 30, skills=["x"]),
         visit("wash", "m", "08:00", "09:00", 30, skills=["y"]),
         visit("lunch", "q", "12:00", "13:00", 30, skills=["y"]),
         visit("hoist", "q", "09:30", "10:30", 30, skills=["y"], carers_required=2)],
        lateness="penalised")
    return compile_problem(load_problem(doc))


def test_a_scarce_carer_is_kept_off_visits_others_can_do() -> None:
    p = _day()
    el = build_eligibility(p)
    r = reserved(p, el)
    carers = {v.id: {p.carers[el.vehicles[k].carer].id for k in r.vehicles_of[v.index]}
              for v in p.visits}
    assert carers["peg"] == {"n"}  # only n can: kept
    assert carers["wash"] == carers["lunch"] == {"a", "b"}  # others can: n reserved
    assert carers["hoist"] == {"a", "b"}  # two others remain for a double-up


def test_a_double_up_keeps_the_scarce_carer_when_it_would_lack_a_second() -> None:
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    doc = problem(
        [carer("n", skills=["x", "y"]), carer("a", skills=["y"])], [client("k")],
        [visit("peg", "k", "08:00", "08:30", 30, skills=["x"]),
         visit("hoist", "k", "09:30", "10:30", 30, skills=["y"], carers_required=2)])
    p = compile_problem(load_problem(doc))
    el = build_eligibility(p)
    assert reserved(p, el).vehicles_of == el.vehicles_of


def test_odd_portfolio_searches_reserve_and_still_return_a_valid_full_rota() -> None:
    p = _day()
    el = build_eligibility(p)
    own = SolveOptions(time_limit=2, workers=1, seed=0)
    assert [member_options(p, own, i).reserve for i in range(4)] == [False, True, False, True]
    options = member_options(p, own, 1)
    result = solve_plan(p, el, options, time.monotonic() + options.time_limit)
    assert len(result.plan.start) == len(p.visits)
    assert validate(p, to_solution(p, el, result.plan, "feasible", 0.0, {})) == []
    assert score(p, el, result.plan).unassigned == 0


def test_a_carer_alone_only_by_shift_is_no_specialist() -> None:
    """Only a works into the evening, so only a may take the bed call: scarce by shift, not
    by skills (common over a week); a stays on the morning call too."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    late_shift = [{"start": "2026-11-30T07:00", "end": "2026-11-30T23:00"}]
    doc = problem(
        [carer("a", skills=["y"], shifts=late_shift), carer("b", skills=["y"])],
        [client("k")],
        [visit("bed", "k", "21:00", "21:30", 30, skills=["y"]),
         visit("wash", "k", "08:00", "09:00", 30, skills=["y"])])
    p = compile_problem(load_problem(doc))
    el = build_eligibility(p)
    assert len(el.vehicles_of[p.visit_index["bed"]]) == 1
    assert len(el.vehicles_of[p.visit_index["wash"]]) == 2
    assert reserved(p, el) == el
