"""Ejection-pool repair: tight rotas the greedy leaves short are completed, every rule kept."""

from __future__ import annotations

import random
import time

import pytest

from benchmarks.planted import planted
from optimiser.construct import construct
from optimiser.domain.compiled import compile_problem
from optimiser.plan import to_solution
from optimiser.prune import build_eligibility
from optimiser.repair import repair, uncovered_weight
from optimiser.validate import validate


def _tight(carers: int = 20, seed: int = 20):
    problem, _hidden = planted(carers, 1, seed)  # a hidden rota covers every visit
    p = compile_problem(problem)
    el = build_eligibility(p)
    return p, el, construct(p, el)


@pytest.mark.parametrize(("carers", "seed"), [(8, 2), (8, 3), (20, 20)])
def test_repair_covers_what_the_greedy_left_out(carers: int, seed: int) -> None:
    p, el, plan = _tight(carers, seed)
    everyone = [v.index for v in p.visits]
    assert uncovered_weight(p, plan, everyone) > 0  # the greedy strands some visits here
    new = repair(p, el, plan, time.monotonic() + 30, random.Random(0), max_steps=1000)
    assert uncovered_weight(p, new, everyone) < uncovered_weight(p, plan, everyone)
    if carers == 8:  # small tight days: the whole day is covered (in well under a second)
        assert len(new.start) == len(p.visits)
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_repair_never_evicts_kept_visits() -> None:
    p, el, plan = _tight()
    keep = frozenset(plan.start)
    new = repair(p, el, plan, time.monotonic() + 5, random.Random(1), keep=keep)
    assert keep <= set(new.start)  # moved perhaps, but still covered
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_repair_step_budget_is_reproducible() -> None:
    p, el, plan = _tight()
    a = repair(p, el, plan, time.monotonic() + 60, random.Random(3), max_steps=200)
    b = repair(p, el, plan, time.monotonic() + 60, random.Random(3), max_steps=200)
    assert a.start == b.start and a.routes == b.routes
