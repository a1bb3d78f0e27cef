"""Local search: cheaper rotas, every rule kept, nothing uncovered, exact deltas; covering
more by ruin and recreate; lateness traded when it is only penalised."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from optimiser.construct import Builder, construct, groups, objective_delta
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.generate import GeneratorOptions, generate
from optimiser.local import (
    APART,
    RELATED_MINUTES,
    _Related,
    _strings,
    cover_ruin,
    crossover,
    relocate,
    ruin_recreate,
)
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import Eligibility, build_eligibility, vehicle_components
from optimiser.validate import validate


def _late_problem() -> CompiledProblem:
    """The generated three days with lateness only penalised and a max-lateness weight."""
    doc = generate(GeneratorOptions(carers=12, clients=30, days=3, seed=7))
    weights = doc.weights.model_copy(update={"max_lateness_minute": 20})
    return compile_problem(doc.model_copy(update={"lateness": "penalised", "weights": weights}))


@pytest.fixture(scope="module")
def late() -> tuple[CompiledProblem, Eligibility, Plan]:
    p = _late_problem()
    el = build_eligibility(p)
    return p, el, construct(p, el)


@pytest.fixture(scope="module")
def week() -> tuple[CompiledProblem, Eligibility, Plan]:
    """Walkers, double-ups, preferred carers and continuity terms over three days."""
    p = compile_problem(generate(GeneratorOptions(carers=12, clients=30, days=3, seed=7,
                                                   demand_ratio=0.6)))
    el = build_eligibility(p)
    return p, el, construct(p, el)


def test_relocation_lowers_the_objective_and_keeps_every_rule(week) -> None:
    p, el, plan = week
    new = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    assert score(p, el, new).total < score(p, el, plan).total  # the greedy is no local optimum
    assert set(new.start) == set(plan.start)  # a move never uncovers a visit
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_relocation_ends_in_a_local_optimum(week) -> None:
    p, el, plan = week
    new = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    again = relocate(p, el, new, time.monotonic() + 60, random.Random(5))
    assert score(p, el, again).total == score(p, el, new).total


def test_kept_visits_stay_with_their_carers(week) -> None:
    """Kept visits are never taken out (a neighbour's insertion may still re-time them)."""
    p, el, plan = week
    keep = frozenset(sorted(plan.start)[::2])
    new = relocate(p, el, plan, time.monotonic() + 60, random.Random(0), keep=keep)
    carers, new_carers = plan.carers_of(), new.carers_of()
    for v in keep:
        assert sorted(new_carers[v]) == sorted(carers[v])
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_move_budget_is_reproducible(week) -> None:
    p, el, plan = week
    a = relocate(p, el, plan, time.monotonic() + 60, random.Random(2), max_moves=40)
    b = relocate(p, el, plan, time.monotonic() + 60, random.Random(2), max_moves=40)
    assert a.start == b.start and a.routes == b.routes


def test_incremental_delta_equals_the_full_score_difference(week) -> None:
    """The search trusts `objective_delta` instead of rescoring: it must match `score` exactly,
    continuity, preference, lateness and travel terms included."""
    p, el, plan = week
    b = Builder(p, el, plan)
    checked = 0
    for g in groups(p):
        if not all(v in b.plan.start for v in g):
            continue
        before, s0 = b.plan.copy(), score(p, el, b.plan).total
        touched = b.vehicles_of_group(g)
        pairs = {p.visits[v].client: set(b.client_carers[p.visits[v].client]) for v in g}
        b.take_out(g)
        if b.insert_group(g):  # the plan moves on: later groups start from changed rotas
            touched |= b.vehicles_of_group(g)
            assert objective_delta(p, el, b, before, touched, pairs) == score(p, el, b.plan).total - s0
            checked += 1
        else:
            b.restore(before, touched)
            assert score(p, el, b.plan).total == s0
    assert checked > 20


def test_work_minutes_of_a_placement_match_a_full_recount(week) -> None:
    """Placement checks price a capped carer's day from its work before and the gap's added
    travel (`Builder._work_with`); that must equal recounting the whole route, for every
    place of every visit, and the books must stay exact as visits move."""
    p, el, plan = week
    b = Builder(p, el, plan)
    compared = 0
    for g in groups(p):
        if len(g) != 1 or g[0] not in b.plan.start:
            continue
        v = g[0]
        before = b.plan.copy()
        touched = b.vehicles_of_group(g)
        b.take_out(g)
        lo, hi = b.bounds(v)
        for gap, _cost in b.places(v, el.vehicles_of[v], lo, hi):
            route = list(b.plan.routes[gap.vehicle])
            old = b._work(gap.vehicle, route)
            route.insert(gap.position, v)
            moved = b.retimed(gap.vehicle, gap.position, v, gap.lo)
            assert b._work_with(gap, v, route, old, moved) == b._work(gap.vehicle, route, moved)
            compared += 1
        if not b.insert_group(g):
            b.restore(before, touched)
        fresh = Builder(p, el, b.plan)
        assert {k: m for k, m in b.work_day.items() if m} == \
            {k: m for k, m in fresh.work_day.items() if m}
    assert compared > 200


def test_related_removal_takes_the_nearest_groups_in_travel_and_time(week) -> None:
    """`_Related.nearest` scores only groups whose start may be near the seed's; it must
    still pick the groups a full scan would: none left out scores lower (up to the random
    tie-break, under one), on a three-day rota where most groups are days away."""
    p, el, plan = week
    movable = [tuple(g) for g in groups(p)]
    start = plan.start
    placed = [g for g in movable if all(v in start for v in g)]
    drive = Builder(p, el, plan).rows["drive"]
    related = _Related(p, el, movable, drive)
    comp = vehicle_components(el)
    assert len(set(comp)) == 3  # one per day: groups of other days come last

    def comps(g: tuple[int, ...]) -> set[int]:
        return {comp[k] for v in g for k in el.vehicles_of[v]}

    rng = random.Random(3)
    for seed in rng.sample(placed, 40):
        def score_of(g: tuple[int, ...], seed: tuple[int, ...] = seed) -> int:
            return drive[p.visits[seed[0]].point][p.visits[g[0]].point] \
                + abs(start[g[0]] - start[seed[0]]) // RELATED_MINUTES \
                + (APART if comps(g).isdisjoint(comps(seed)) else 0)

        size = rng.randint(3, 12)
        near = related.nearest(seed, size, placed, start, rng)
        assert len(set(near)) == size and seed in near and set(near) <= set(placed)
        others = [score_of(g) for g in placed if g not in near]
        assert max(map(score_of, near)) <= min(others)


def test_related_removal_keeps_to_the_seeds_component_of_carers() -> None:
    """Carers split by skills into two teams no visit crosses (as in the HHCRSP instances):
    the related groups of a seed are all its own team's while it has enough placed, and
    ruin and recreate on such a rota keeps every rule."""
    doc = generate(GeneratorOptions(carers=12, clients=30, days=1, seed=7))
    team = {c.id: "a" if i % 2 else "b" for i, c in enumerate(doc.carers)}
    need = {c.id: "a" if i % 2 else "b" for i, c in enumerate(doc.clients)}
    doc = doc.model_copy(update={
        "carers": [c.model_copy(update={"skills": [team[c.id]]}) for c in doc.carers],
        "visits": [v.model_copy(update={"skills": [need[v.client_id]]}) for v in doc.visits]})
    p = compile_problem(doc)
    el = build_eligibility(p)
    comp = vehicle_components(el)
    skill_of = {k: p.carers[veh.carer].skills for k, veh in enumerate(el.vehicles)}
    assert len(set(comp)) == 2
    assert all((comp[i] == comp[j]) == (skill_of[i] == skill_of[j])
               for i in range(len(comp)) for j in range(len(comp)))
    plan = construct(p, el)
    movable = [tuple(g) for g in groups(p)]
    placed = [g for g in movable if all(v in plan.start for v in g)]
    related = _Related(p, el, movable, Builder(p, el, plan).rows["drive"])
    rng = random.Random(5)
    mixed = 0
    for seed in placed:
        own = [g for g in placed if comp[el.vehicles_of[g[0]][0]] == comp[el.vehicles_of[seed[0]][0]]]
        near = related.nearest(seed, 12, placed, plan.start, rng)
        assert len(own) >= 12 and set(near) <= set(own)
        # a plain scan by travel and time alone would have mixed the teams
        plain = sorted(placed, key=lambda g, s=seed: related.drive[related.point[s[0]]][related.point[g[0]]]
                       + abs(plan.start[g[0]] - plan.start[s[0]]) // RELATED_MINUTES)[:12]
        mixed += not set(plain) <= set(own)
    assert mixed > len(placed) // 2
    new = ruin_recreate(p, el, plan, time.monotonic() + 60, random.Random(1), max_iterations=300)
    assert score(p, el, new).total < score(p, el, plan).total
    assert score(p, el, new).unassigned <= score(p, el, plan).unassigned
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_stops_move_towards_their_preferred_minutes_keeping_every_rule(week) -> None:
    """`Builder.toward_preferred` lowers the preferred-start deviation of a packed rota
    without touching anything else the objective counts, and the rota stays valid."""
    p, el, plan = week
    before = score(p, el, plan)
    b = Builder(p, el, plan)
    change = b.toward_preferred(range(len(b.plan.routes)))
    after = score(p, el, b.plan)
    assert change == after.total - before.total < 0  # the change it reports, exactly
    assert after.preferred_deviation < before.preferred_deviation
    assert (after.travel_minutes, after.lateness_minutes, after.distinct_pairs) == \
        (before.travel_minutes, before.lateness_minutes, before.distinct_pairs)
    assert after.total == before.total - p.problem.weights.preferred_start_minute * (
        before.preferred_deviation - after.preferred_deviation)
    assert b.plan.routes == plan.routes
    assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []
    fresh = Builder(p, el, b.plan)  # the books need no change: same minutes, same days
    assert {k: m for k, m in b.work_day.items() if m} == \
        {k: m for k, m in fresh.work_day.items() if m}


def test_ruin_and_recreate_improves_on_the_relocation_optimum(week) -> None:
    """Taking out several related groups at once finds what single moves cannot."""
    p, el, plan = week
    local = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    new = ruin_recreate(p, el, local, time.monotonic() + 60, random.Random(0), max_iterations=400)
    assert score(p, el, new).total < score(p, el, local).total
    assert score(p, el, new).unassigned <= score(p, el, local).unassigned  # it covers, too
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_ruin_and_recreate_keeps_kept_visits_and_repeats(week) -> None:
    p, el, plan = week
    keep = frozenset(sorted(plan.start)[1::2])
    a = ruin_recreate(p, el, plan, time.monotonic() + 60, random.Random(4), keep, max_iterations=150)
    b = ruin_recreate(p, el, plan, time.monotonic() + 60, random.Random(4), keep, max_iterations=150)
    assert a.start == b.start and a.routes == b.routes
    carers, new_carers = plan.carers_of(), a.carers_of()
    assert all(sorted(new_carers[v]) == sorted(carers[v]) for v in keep)
    assert validate(p, to_solution(p, el, a, "feasible", 0.0, {})) == []


def test_crossover_children_keep_what_their_parents_agree_on(week) -> None:
    """A child re-inserts only groups its parents place on different carers; it keeps every
    rule, every visit its first parent covers and the kept visits' carers."""
    p, el, plan = week
    local = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    made, new = 0, 0  # children of three pairs of optima (some pairs' rarely fit again)
    for seeds in ((1, 2), (3, 4), (5, 6)):
        a, b = (ruin_recreate(p, el, local, time.monotonic() + 60, random.Random(seed),
                              max_iterations=300) for seed in seeds)
        carers_a, carers_b = a.carers_of(), b.carers_of()
        agreed = [v for g in groups(p) if g[0] in a.start
                  and sorted(carers_a[g[0]]) == sorted(carers_b.get(g[0], ())) for v in g]
        keep = frozenset(sorted(a.start)[::5])
        assert len(agreed) < len(a.start)  # the two optima differ somewhere
        children = [crossover(p, el, a, b, random.Random(seed), keep) for seed in range(6)]
        for child in (c for c in children if c is not None):
            made += 1
            assert validate(p, to_solution(p, el, child, "feasible", 0.0, {})) == []
            assert set(a.start) <= set(child.start)
            carers = child.carers_of()
            assert all(sorted(carers[v]) == sorted(carers_a[v]) for v in [*agreed, *keep])
            new += child.carers_of() != carers_a
        assert crossover(p, el, a, a, random.Random(0)) is None  # nothing to cross
    assert made and new  # some children differ from their first parent


def test_can_take_out_agrees_with_the_validator() -> None:
    """Removal breaks two rules only: walkers' max leg, and the break when the stop ended a
    long stretch next to its only long gap (a bug relocation once hit on planted days)."""
    from benchmarks.planted import planted

    problem, _hidden = planted(20, 1, 1)  # 123 stops, two of them hold a long stretch's break
    p = compile_problem(problem)
    el = build_eligibility(p)
    plan = construct(p, el)
    builder = Builder(p, el, plan)
    verdicts = []
    for v in sorted(plan.start):
        trial = Builder(p, el, plan)
        trial.take_out((v,))
        broken = {x.rule for x in validate(p, to_solution(p, el, trial.plan, "feasible", 0.0, {}))}
        assert builder.can_take_out((v,)) == (not broken & {"break", "max_leg"}), v
        verdicts.append(builder.can_take_out((v,)))
    assert not all(verdicts)  # some removals are refused on this tight day


def test_incremental_delta_is_exact_when_lateness_is_penalised(late) -> None:
    """Insertion may now push neighbours past their windows and removal lets them settle
    back: the delta must still equal the full score difference, max lateness included."""
    p, el, plan = late
    b = Builder(p, el, plan)
    assert b.push_late
    checked = 0
    for g in groups(p):
        if not all(v in b.plan.start for v in g) or not b.can_take_out(g):
            continue
        before, s0 = b.plan.copy(), score(p, el, b.plan).total
        touched = b.vehicles_of_group(g)
        pairs = {p.visits[v].client: set(b.client_carers[p.visits[v].client]) for v in g}
        b.take_out(g)
        b.settle(touched)
        if b.insert_group(g):
            touched |= b.vehicles_of_group(g)
            b.settle(touched)
            assert objective_delta(p, el, b, before, touched, pairs) == score(p, el, b.plan).total - s0
            checked += 1
        else:
            b.restore(before, touched)
    assert checked > 20
    assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []


def test_lazy_ranking_hands_out_places_in_full_price_order(late) -> None:
    """Places are re-timed (priced in full) only when no unpriced place can undercut them:
    the lazy order must be the order a full pricing of every place gives, cheapest first,
    each place handed out with that full price."""
    p, el, plan = late
    b = Builder(p, el, plan)
    singles = [g[0] for g in groups(p) if len(g) == 1 and p.visits[g[0]].required == 1
               and g[0] in b.plan.start]
    checked = pushed = 0
    for v in random.Random(3).sample(singles, 40):
        before, touched = b.plan.copy(), set(b.vehicles_doing(v))
        b.take_out([v])
        b._top = None
        cands = b.places(v, el.vehicles_of[v], *b.bounds(v), late=True)
        full = sorted((cost + b.start_cost(gap, v, gap.lo), gap.lo) for gap, cost in cands)
        lazy = [(cost + b.start_cost(gap, v, gap.lo), gap.lo, price)
                for gap, cost, price in b._ranked(v, cands)]
        assert [price for price, _, _ in lazy] == [price for price, _ in full]
        assert all(full_price == price for full_price, _, price in lazy)  # the price handed out
        pushed += sum(b._pushes(gap, v, gap.lo) for gap, _ in cands)
        checked += len(cands) > 1
        b.restore(before, touched)
    assert checked > 30 and pushed > 0


def test_insertion_pushes_a_neighbour_late_when_lateness_is_penalised() -> None:
    """One carer, two hour-long calls both due to start at 08:00: with lateness forbidden
    only one goes in; penalised, the second goes in too, late."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    for lateness, placed in (("forbidden", 1), ("penalised", 2)):
        doc = problem([carer("c")], [client("k"), client("m")],
                      [visit("a", "k", "08:00", "08:00", 60), visit("b", "m", "08:00", "08:00", 60)],
                      lateness=lateness)
        p = compile_problem(load_problem(doc))
        el = build_eligibility(p)
        plan = construct(p, el)
        assert len(plan.start) == placed
        assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []


def _two_carers(clients: list, visits: list
                ) -> tuple[CompiledProblem, Eligibility, list[int], dict[str, int]]:
    """Carers a (skill x) and b (skill y) and these visits: the problem, its eligibility,
    the visits' indices in order and each carer's vehicle."""
    from optimiser import load_problem
    from tests.test_solve import carer, problem

    doc = problem([carer("a", skills=["x"]), carer("b", skills=["y"])], clients, visits)
    p = compile_problem(load_problem(doc))
    el = build_eligibility(p)
    vehicle = {p.carers[veh.carer].id: k for k, veh in enumerate(el.vehicles)}
    return p, el, [p.visit_index[v["id"]] for v in visits], vehicle


def test_insertion_re_times_a_gap_tied_stop_within_its_gap() -> None:
    """Carer b does afternoon meds m2 at 09:00, 60-240 minutes after m1 (carer a, 08:00); a
    new 09:00 call fits on b only if m2 moves to 10:00, which its gap allows up to 12:00
    but not when the gap ends at 09:30. Before session 7, gap-tied stops never moved."""
    from tests.test_solve import client, visit

    for max_gap, placed in ((240, True), (90, False)):
        p, el, (m1, m2, v), vehicle = _two_carers([client("k")], [
            visit("m1", "k", "08:00", "08:00", 30, skills=["x"]),
            visit("m2", "k", "08:00", "13:00", 60, skills=["y"], follows={
                "visit_id": "m1", "min_gap_minutes": 60, "max_gap_minutes": max_gap}),
            visit("v", "k", "09:00", "09:00", 60, skills=["y"])])
        plan = Plan.empty(len(el.vehicles))
        plan.routes[vehicle["a"]], plan.routes[vehicle["b"]] = [m1], [m2]
        plan.start = {m1: p.visits[m1].earliest, m2: p.visits[m1].earliest + 60}
        assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []
        b = Builder(p, el, plan)
        assert b.insert_group([v]) is placed
        if placed:
            assert b.plan.routes[vehicle["b"]] == [v, m2]
            assert b.plan.start[m2] >= b.plan.start[v] + 60
            assert b.plan.start[m2] - b.plan.start[m1] <= max_gap
        assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []


def test_a_precedence_pair_goes_in_where_its_second_half_fits() -> None:
    """m2 (carer b) must start exactly 60 minutes after m1 (carer a); b is away at 09:30.
    One half at a time, m1 takes 08:00, its cheapest minute, and m2 then has no room at
    09:00; together, m1 goes later so that m2 fits after b's call."""
    from tests.test_solve import client, visit

    p, el, (m1, m2, f), vehicle = _two_carers([client("k"), client("far", lat=54.0, lon=-1.7)], [
        visit("m1", "k", "08:00", "10:00", 30, skills=["x"]),
        visit("m2", "k", "08:00", "13:00", 30, skills=["y"], follows={
            "visit_id": "m1", "min_gap_minutes": 60, "max_gap_minutes": 60}),
        visit("f", "far", "09:30", "09:30", 30, skills=["y"])])
    plan = Plan.empty(len(el.vehicles))
    plan.routes[vehicle["b"]], plan.start = [f], {f: p.visits[f].earliest}
    one = Builder(p, el, plan)
    assert one.insert_group([m1]) and one.plan.start[m1] == p.visits[m1].earliest
    assert not one.insert_group([m2])
    b = Builder(p, el, plan)
    assert b.gap_pair(m1) == m2 and b.gap_pair(m2) == m1 and b.gap_pair(f) is None
    assert b.insert_pair(m2, m1)
    assert b.plan.routes[vehicle["b"]] == [f, m2]
    assert b.plan.start[m2] - b.plan.start[m1] == 60
    assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []


def test_annealing_starts_a_synchronised_pair_at_random_minutes_of_its_place() -> None:
    """A 0-0 pair (s1 on carer a, s2 on carer b), window 08:00-10:00; b has a call at 09:30
    here. Insertion puts the pair at 08:00, its cheapest place's first minute, every time;
    with the annealing's random source (`Builder.sync_jitter`) at minutes up to 09:00, the
    last that place allows without moving b's call, and never past the window."""
    from tests.test_solve import client, visit

    p, el, (s1, s2, f), vehicle = _two_carers([client("k")], [
        visit("s1", "k", "08:00", "10:00", 30, skills=["x"]),
        visit("s2", "k", "08:00", "10:00", 30, skills=["y"], follows={
            "visit_id": "s1", "min_gap_minutes": 0, "max_gap_minutes": 0}),
        visit("f", "k", "09:30", "09:30", 30, skills=["y"])])
    plan = Plan.empty(len(el.vehicles))
    plan.routes[vehicle["b"]], plan.start = [f], {f: p.visits[f].earliest}
    first = p.visits[s1].earliest
    starts = []
    for seed in range(12):
        b = Builder(p, el, plan)
        if seed % 2:
            b.sync_jitter = random.Random(seed)
        assert b.insert_group([s1, s2])
        assert b.plan.start[s1] == b.plan.start[s2]
        assert b.plan.start[f] == p.visits[f].earliest  # b's call never moves
        assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []
        if seed % 2 == 0:
            assert b.plan.start[s1] == first
        else:
            starts.append(b.plan.start[s1])
    assert all(first <= s <= first + 60 for s in starts)
    assert len(set(starts)) >= 3


def test_settle_pulls_late_stops_back_when_room_opens(late) -> None:
    """Taking out the stop that made its successor late lets the successor start earlier,
    but never earlier than its window's end."""
    p, el, plan = late
    pulled = 0
    for k, route in enumerate(plan.routes):
        for a, c in itertools.pairwise(route):
            b = Builder(p, el, plan)
            if not (plan.start[c] > p.visits[c].latest and b.movable(c) and b.movable(a)
                    and b.can_take_out((a,))):
                continue
            b.take_out((a,))
            b.settle([k])
            assert p.visits[c].latest <= b.plan.start[c] <= plan.start[c]
            pulled += b.plan.start[c] < plan.start[c]
            assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []
    assert pulled


@pytest.fixture(scope="module")
def short_day() -> tuple[CompiledProblem, Eligibility, Plan]:
    """A tight planted day (a hidden rota covers all 114 visits) that construction leaves
    a few visits short of."""
    from benchmarks.planted import planted

    problem, _hidden = planted(20, 1, 20)
    p = compile_problem(problem)
    el = build_eligibility(p)
    return p, el, construct(p, el)


def test_cover_ruin_covers_more_and_keeps_every_rule(short_day) -> None:
    """Clearing stretches around an uncovered visit and re-placing everything covers more."""
    p, el, plan = short_day
    new = cover_ruin(p, el, plan, time.monotonic() + 60, random.Random(0), max_iterations=300)
    assert score(p, el, new).unassigned < score(p, el, plan).unassigned
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []
    keep = frozenset(sorted(plan.start)[::3])
    kept = cover_ruin(p, el, plan, time.monotonic() + 60, random.Random(0), keep, 100)
    assert all(sorted(kept.carers_of()[v]) == sorted(plan.carers_of()[v]) for v in keep)
    assert validate(p, to_solution(p, el, kept, "feasible", 0.0, {})) == []


def test_cover_step_frees_a_capped_carers_day() -> None:
    """Only carer a can do u (08:00) and w0 (09:30), and a's 140-minute daily cap is full
    with w0 and w1 (12:50, anyone's): u goes in only if w1, hours from both windows, moves to
    b or c. Stops around u's window alone never make that room."""
    from optimiser import load_problem
    from tests.test_solve import carer, client, problem, visit

    doc = problem([carer("a", skills=["x"], max_work_minutes_per_day=140), carer("b"),
                   carer("c", lat=53.93)],
                  [client("k"), client("m", lat=53.93)], [
        visit("u", "k", "08:00", "08:00", 60, skills=["x"]),
        visit("w0", "k", "09:30", "09:30", 30, skills=["x"]),
        visit("w1", "m", "12:50", "12:50", 60)])
    p = compile_problem(load_problem(doc))
    el = build_eligibility(p)
    u, w0, w1 = (p.visit_index[i] for i in ("u", "w0", "w1"))
    vehicle = {p.carers[veh.carer].id: k for k, veh in enumerate(el.vehicles)}
    plan = Plan.empty(len(el.vehicles))
    plan.routes[vehicle["a"]] = [w0, w1]
    plan.start = {w0: p.visits[w0].earliest, w1: p.visits[w1].earliest}
    assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []
    assert not Builder(p, el, plan).insert_group([u])  # a's cap has no room for u
    new = cover_ruin(p, el, plan, time.monotonic() + 60, random.Random(0), max_iterations=40)
    assert set(new.start) == {u, w0, w1}
    assert new.routes[vehicle["a"]] == [u, w0] and w1 not in new.routes[vehicle["a"]]
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_ruin_and_recreate_covers_while_visits_are_out(short_day) -> None:
    """Every other step is a covering one while visits are out: the ruin-and-recreate
    phase no longer leaves a rota short when it could place a visit."""
    p, el, plan = short_day
    new = ruin_recreate(p, el, plan, time.monotonic() + 60, random.Random(0), max_iterations=300)
    assert score(p, el, new).unassigned < score(p, el, plan).unassigned
    assert score(p, el, new).total < score(p, el, plan).total
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_string_removal_takes_runs_of_consecutive_stops(week) -> None:
    """A string step takes distinct groups, never a kept visit, and empties at least one
    contiguous stretch of a route (a kept stop or a tied partner may break the others)."""
    p, el, plan = week
    b = Builder(p, el, plan)
    group_of = {v: tuple(g) for g in groups(p) for v in g}
    rng = random.Random(3)
    keep = frozenset(v for v in list(plan.start)[::7])
    # As ruin and recreate picks them: related groups are never kept ones.
    placed = [tuple(g) for g in groups(p)
              if all(v in plan.start and v not in keep for v in g)]
    for _ in range(50):
        near = rng.sample(placed, 8)
        out = _strings(b, near, group_of, keep, rng)
        assert out and len(set(out)) == len(out)
        assert not any(v in keep for g in out for v in g)
        taken = {v for g in out for v in g}
        runs = 0
        for route in plan.routes:
            hit = [i for i, v in enumerate(route) if v in taken]
            if hit and all(route[i] in taken for i in range(hit[0], hit[-1] + 1)):
                runs += 1
        assert runs >= 1  # at least the seed's route lost a contiguous stretch


def test_builders_share_one_list_copy_of_the_travel_minutes_which_pickling_leaves_out() -> None:
    """Each Builder used to convert the matrices to lists (25 ms at 1,000 points, a fifth
    of a 0.5 s solve); now the problem holds one copy, equal to the matrices, and a
    pickled problem (a spawned search) rebuilds it rather than carrying it."""
    import pickle

    p = compile_problem(generate(GeneratorOptions(carers=4, clients=10, seed=2)))
    el = build_eligibility(p)
    a, b = Builder(p, el), Builder(p, el)
    assert a.rows is b.rows
    for mode, mat in p.travel.minutes.items():
        assert a.rows[mode] == mat.tolist()
    copy = pickle.loads(pickle.dumps(p))
    assert "rows" not in copy.travel.__dict__
    assert copy.travel.rows == a.rows


def test_ruin_and_recreate_keeps_worse_steps_and_returns_the_best_rota(week, monkeypatch) -> None:
    """Annealing keeps some steps that raise the objective (a descent never does), and the
    rota returned is the best one the walk went through, every rule kept. (Hot enough that
    600 steps keep worse ones: this day's travel is 6 minutes a stop.)"""
    import optimiser.local as local

    p, el, plan = week
    start = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    kept: list[int] = []
    move = local._move_groups

    def spy(*args, **kwargs):
        deltas = kwargs.get("deltas")
        done = move(*args, **kwargs)
        if done and deltas:
            kept.append(deltas[-1])
        return done

    monkeypatch.setattr(local, "_move_groups", spy)
    monkeypatch.setattr(local, "tail_exchange", lambda *a, **k: 0)  # only steps change it
    monkeypatch.setattr(local, "ANNEAL_HOT", 2.0)
    monkeypatch.setattr(local, "ANNEAL_COLD", 0.5)
    # (Without the polish of preferred minutes at the end, which lowers the best further.)
    monkeypatch.setattr(local.Builder, "toward_preferred", lambda *a: 0)
    new = ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3), max_iterations=600,
                        anneal=True)
    walk = list(itertools.accumulate(kept, initial=score(p, el, start).total))
    assert any(d > 0 for d in kept)  # worse steps were kept
    assert score(p, el, new).total == min(walk)  # the best rota seen, exactly
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []

    kept.clear()  # a descent (the default) keeps no worse step
    ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3), max_iterations=600)
    assert kept and all(d < 0 for d in kept)


def test_annealing_that_stalls_early_resumes_from_its_best_rota(week, monkeypatch) -> None:
    """An annealing run with no new best for RUIN_END steps goes on from its best rota while
    it is under RESUME_BEFORE of its budget, and ends after that; a descent ends on its first
    such stall."""
    import optimiser.local as local

    p, el, plan = week
    start = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    monkeypatch.setattr(local, "RUIN_END", 20)  # stalls come early on this small week
    # Hot, so that the walk is often above its best when it stalls.
    monkeypatch.setattr(local, "ANNEAL_HOT", 3.0)
    monkeypatch.setattr(local, "ANNEAL_COLD", 1.0)
    monkeypatch.setattr(local, "tail_exchange", lambda *a, **k: 0)
    monkeypatch.setattr(local, "polished", lambda p_, el_, plan_: plan_)
    origins: list[int] = []  # the objective of every rota a walk (re)starts from
    builder = local.Builder

    def spy(p_: CompiledProblem, el_: Eligibility, plan_: Plan) -> Builder:
        origins.append(score(p_, el_, plan_).total)
        return builder(p_, el_, plan_)

    monkeypatch.setattr(local, "Builder", spy)
    used: list[int] = []
    new = ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3),
                        max_iterations=600, used=used, anneal=True)
    assert len(origins) > 2  # it resumed, more than once
    assert origins[1:] == sorted(origins[1:], reverse=True)  # from the best so far each time
    assert origins[1] <= origins[0] and score(p, el, new).total <= origins[-1]
    # It ended on a stall past RESUME_BEFORE of its budget, not on the budget.
    assert local.RESUME_BEFORE * 600 <= used[0] < 600
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []

    origins.clear()
    used.clear()  # a descent does not resume
    ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3), max_iterations=600,
                  used=used)
    assert len(origins) == 1 and used[0] < local.RESUME_BEFORE * 600


def test_a_ruin_step_takes_out_the_gap_tied_partners_of_what_it_takes(week, monkeypatch) -> None:
    """A ruin step that takes one half of a pair tied by a `follows` gap takes the other
    half too when it is placed and not kept, so the pair can move as one; a kept half stays.
    """
    import optimiser.local as local

    p, el, plan = week
    start = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    group_of = {v: tuple(g) for g in groups(p) for v in g}
    partners: dict[int, list[int]] = {}
    for v in p.visits:
        if v.follows is not None and not v.follows.synchronised:
            partners.setdefault(v.index, []).append(v.follows.pred)
            partners.setdefault(v.follows.pred, []).append(v.index)
    keep = frozenset([next(iter(partners))])  # one half of one pair stays where it is
    steps: list[tuple[set[tuple[int, ...]], set[tuple[int, ...]]]] = []  # (taken, owed)
    move = local._move_groups

    def spy(p_, el_, b, chosen, *args, **kwargs):
        if not kwargs.get("first"):  # a ruin step, not a cover step
            owed = {group_of[w] for g in chosen for v in g for w in partners.get(v, ())
                    if w in b.plan.start and w not in keep}
            steps.append((set(chosen), owed))
        return move(p_, el_, b, chosen, *args, **kwargs)

    monkeypatch.setattr(local, "_move_groups", spy)
    new = ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3),
                        keep=keep, max_iterations=400)
    assert sum(1 for _, owed in steps if owed) >= 10  # steps did touch tied pairs
    assert all(owed <= taken for taken, owed in steps)
    assert not any(v in keep for taken, _ in steps for g in taken for v in g)
    assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []


def test_a_ruin_step_stops_putting_groups_back_once_it_cannot_be_kept(late, monkeypatch) -> None:
    """A ruin step is kept only when its objective change is under the threshold, so it
    stops putting groups back as soon as the change so far reaches the threshold, and
    leaves the rota as it was; a step whose change stays under it is kept as before. The
    change so far after each group is recounted here from the full objective of the
    vehicles touched, independently of insertion's prices."""
    import optimiser.local as local

    p, el, plan = late
    placed = [tuple(g) for g in groups(p) if all(v in plan.start for v in g)]
    reinsert = local._reinsert
    so_far: list[int] = []  # the objective's change after the removal and after each group
    inserted = [0]

    def recounted(p_, el_, b, out, before, touched, pairs, threshold):
        vehicles = set(touched)
        so_far.append(objective_delta(p, el, b, before, vehicles, pairs))
        for g in out:
            if not b.insert_group(list(g)):
                return False
            vehicles |= b.vehicles_of_group(g)
            so_far.append(objective_delta(p, el, b, before, vehicles, pairs))
        return threshold > 10**8

    def counted(p_, el_, b, out, *args):
        insert = b.insert_group

        def one(group):
            inserted[0] += 1
            return insert(group)

        b.insert_group = one
        return reinsert(p_, el_, b, out, *args)

    final: list[int] = []  # a kept step's whole change, its late stops settled

    def step(chosen: list[tuple[int, ...]], trial: int, threshold: int) -> tuple[bool, Builder]:
        b = Builder(p, el, plan)
        inserted[0] = 0
        final.clear()
        kept = local._move_groups(p, el, b, chosen, random.Random(trial), threshold=threshold,
                                  deltas=final)
        return kept, b

    checked = on_time = late_stops = kept_steps = 0
    for trial in range(40):
        chosen = random.Random(trial).sample(placed, 6)
        so_far.clear()
        monkeypatch.setattr(local, "_reinsert", recounted)
        whole, _ = step(chosen, trial, 10**9)
        monkeypatch.setattr(local, "_reinsert", counted)
        if not whole:  # a group fitted nowhere, or all went back where they were
            continue
        whole_change = final[0]
        checked += 1
        last = len(so_far) - 1  # groups put back by the whole step
        for threshold in (so_far[-2], so_far[len(so_far) // 2], so_far[-1] + 1):
            kept, b = step(chosen, trial, threshold)
            reached = [i for i, change in enumerate(so_far) if i and change >= threshold]
            if not reached:
                assert kept and inserted[0] == last
                kept_steps += 1
                assert validate(p, to_solution(p, el, b.plan, "feasible", 0.0, {})) == []
            elif reached[0] < last and whole_change >= threshold:
                # (else settling late stops at the end, their tied partners with them, may
                # take the whole step under the threshold)
                assert not kept and inserted[0] >= reached[0]  # never before it is reached
                assert b.plan.routes == plan.routes and b.plan.start == plan.start
                on_time += inserted[0] == reached[0]
                late_stops += inserted[0] > reached[0]
    # Stopping waits for the prices to reach the threshold, and a price can miss part of
    # what re-timed neighbours change: a few steps stop one group later.
    assert checked >= 20 and kept_steps >= checked // 2
    assert on_time >= checked and late_stops <= 0.1 * (on_time + late_stops)


def test_ruin_seeds_at_late_stops_as_far_as_lateness_weighs(late, monkeypatch) -> None:
    """A ruin step starts from a late stop in LATE_SEED_SHARE of steps while lateness weighs
    1/LATE_SEED_SCALE of the objective or more, in proportion below, and never when it
    weighs nothing."""
    import dataclasses

    import optimiser.local as local

    p, el, plan = late
    start = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    now = score(p, el, start)
    w = p.problem.weights
    weight = w.lateness_minute * now.lateness_minutes + w.max_lateness_minute * now.max_lateness
    assert weight >= now.total / local.LATE_SEED_SCALE  # this day's lateness weighs much
    assert local._late_share(p, now) == local.LATE_SEED_SHARE
    light = dataclasses.replace(now, lateness_minutes=now.total // 100 // w.lateness_minute,
                                max_lateness=0)  # a hundredth of the objective
    assert local._late_share(p, light) == pytest.approx(
        local.LATE_SEED_SHARE * local.LATE_SEED_SCALE / 100, rel=0.01)
    assert local._late_share(p, dataclasses.replace(
        now, lateness_minutes=0, max_lateness=0)) == 0

    seeded, ruins = [], []  # late seeds, and ruin steps (each finds its related groups)
    late_seed, nearest = local._late_seed, local._Related.nearest
    monkeypatch.setattr(local, "_late_seed", lambda *a: seeded.append(1) or late_seed(*a))
    monkeypatch.setattr(local._Related, "nearest", lambda *a: ruins.append(1) or nearest(*a))
    shares = []
    for scale in (1e9, 1e-9):  # lateness weighing all, and nothing, of the objective
        monkeypatch.setattr(local, "LATE_SEED_SCALE", scale)
        seeded.clear()
        ruins.clear()
        new = ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3),
                            max_iterations=600, anneal=True)
        shares.append(len(seeded) / len(ruins))
        assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []
    assert len(ruins) > 200
    assert abs(shares[0] - local.LATE_SEED_SHARE) < 0.08
    assert shares[1] < 0.02


def test_ruin_seeds_at_the_stops_whose_removal_saves_most_travel(week, monkeypatch) -> None:
    """A detour seed is the group of one of the DETOUR_TOP stops whose removal saves the most
    travel (recounted here from `optimiser.plan.route_travel`), and about DETOUR_SEED_SHARE
    of annealing's ruin steps (times travel's share of the objective) take one where
    lateness is forbidden (no step is seeded at a late stop); a descent takes none."""
    import optimiser.local as local
    from optimiser.plan import route_travel

    p, el, plan = week
    start = relocate(p, el, plan, time.monotonic() + 60, random.Random(0))
    assert not p.lateness_penalised

    def travel(k: int, route: list[int]) -> int:
        legs, back = route_travel(p, el, k, route)
        return sum(legs) + back

    savings = [(travel(k, r) - travel(k, [u for u in r if u != v]), v)
               for k, r in enumerate(start.routes) for v in r]
    saved: dict[int, int] = {}  # a double-up's stop: the more its two routes save
    for d, v in savings:
        saved[v] = max(saved.get(v, d), d)
    cut = sorted((d for d, _v in savings), reverse=True)[local.DETOUR_TOP - 1]
    group_of = {v: tuple(g) for g in groups(p) for v in g}
    placed = list(dict.fromkeys(group_of[v] for v in start.start))
    b, rng = Builder(p, el, start), random.Random(5)
    drawn = {local._detour_seed(p, b, placed, group_of, rng) for _ in range(200)}
    assert len(drawn) > 1
    for g in drawn:
        assert g is not None and max(saved[v] for v in g if v in saved) >= cut
    assert local._detour_seed(p, b, [], group_of, rng) is None  # no placed group to take

    # In proportion to travel's weight in the objective (here: a little of it), so as if
    # travel were all of it below.
    now = score(p, el, start)
    travel_cost = p.problem.weights.travel_minute * now.travel_minutes
    assert 0 < travel_cost < now.total
    assert local._detour_share(p, now) == pytest.approx(
        local.DETOUR_SEED_SHARE * travel_cost / now.total)
    monkeypatch.setattr(local, "_detour_share", lambda *a: local.DETOUR_SEED_SHARE)

    seeded, ruins = [], []  # detour seeds, and ruin steps (each finds its related groups)
    detour_seed, nearest = local._detour_seed, local._Related.nearest
    monkeypatch.setattr(local, "_detour_seed", lambda *a: seeded.append(1) or detour_seed(*a))
    monkeypatch.setattr(local._Related, "nearest", lambda *a: ruins.append(1) or nearest(*a))
    for anneal in (True, False):
        seeded.clear()
        ruins.clear()
        new = ruin_recreate(p, el, start, time.monotonic() + 60, random.Random(3),
                            max_iterations=600, anneal=anneal)
        assert validate(p, to_solution(p, el, new, "feasible", 0.0, {})) == []
        assert len(ruins) > 200
        # Annealing only: a descent's steps are seeded as before.
        share = local.DETOUR_SEED_SHARE if anneal else 0
        assert abs(len(seeded) / len(ruins) - share) < 0.06
