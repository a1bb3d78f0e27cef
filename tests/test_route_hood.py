"""Route neighbourhoods: a few vehicles with every stop of theirs free, partners' carers first."""

from __future__ import annotations

import random

import pytest

from optimiser import search
from optimiser.construct import construct
from optimiser.domain.compiled import compile_problem
from optimiser.generate import GeneratorOptions, generate
from optimiser.plan import score, to_solution
from optimiser.prune import build_eligibility
from optimiser.search import _Adaptive, _choose, _representative_points, _route_hood, _solve
from optimiser.solve import SolveOptions
from optimiser.validate import validate


@pytest.fixture(scope="module")
def day():
    p = compile_problem(generate(GeneratorOptions(carers=8, clients=24, seed=3)))
    el = build_eligibility(p)
    return p, el, construct(p, el)


def test_a_route_hood_frees_both_carers_of_a_double_up_whole(day, monkeypatch) -> None:
    p, el, plan = day
    carers_of = plan.carers_of()
    doubles = [v for v, ks in carers_of.items() if len(ks) == 2]
    assert doubles
    monkeypatch.setattr(search, "ROUTE_HOOD_VEHICLES", (2,))
    rep = _representative_points(p, el, plan)
    for i, focus in enumerate(doubles[:4]):
        hood = _route_hood(p, el, plan, random.Random(i), _Adaptive(), rep, focus, frozenset())
        # The other carer of the double-up comes before any nearer vehicle.
        assert set(hood.vehicles) == set(carers_of[focus])
        assert not hood.pinned
        assert set(hood.visits) == {v for k in hood.vehicles for v in plan.routes[k]}
        new, _proved, _bound = _solve(p, el, plan, hood, SolveOptions(workers=1, seed=0), 3.0)
        assert new is not None
        assert score(p, el, new).total <= score(p, el, plan).total
        assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_a_route_hood_stays_within_its_vehicle_count_and_free_budget(day, monkeypatch) -> None:
    p, el, plan = day
    monkeypatch.setattr(search, "ROUTE_HOOD_VEHICLES", (4,))
    rep = _representative_points(p, el, plan)
    state = _Adaptive(free=6)
    for focus in list(plan.start)[:10]:
        hood = _route_hood(p, el, plan, random.Random(focus), state, rep, focus, frozenset())
        assert 1 <= len(hood.vehicles) <= 4
        assert hood.vehicles[0] in plan.carers_of()[focus]
        longest = max(len(plan.routes[k]) for k in hood.vehicles)
        # Vehicles after the first join only while the free stops stay within 1.5 x max(free, 20).
        assert len(hood.visits) <= max(1.5 * 20, longest)


def test_choose_gives_route_hoods_at_full_share_and_band_hoods_at_none(day, monkeypatch) -> None:
    p, el, plan = day
    rep = _representative_points(p, el, plan)

    def hoods(share: float) -> list:
        monkeypatch.setattr(search, "ROUTE_HOOD_SHARE", share)
        rng = random.Random(1)
        return [_choose(p, el, plan, rng, _Adaptive(), rep, frozenset()) for _ in range(30)]

    # An uncovered focus always gets a band; a placed one gets whole routes at share 1.
    whole = [h for h in hoods(1.0) if not h.pinned]
    assert whole and all(set(h.visits) >= {v for k in h.vehicles for v in plan.routes[k]}
                         for h in whole)
    assert sum(not h.pinned for h in hoods(0.0)) < len(whole)
