"""Improve a valid rota: exact CP-SAT when small, large-neighbourhood search when not.

Why LNS with exact sub-solves: one monolithic CP-SAT model stops finding
anything useful beyond ~150 visits (solver-lab notes), but a neighbourhood of
a few carers close in space and time (<= ~60 visits) is re-solved to
optimality in about a second from a complete hint. Every accepted step is a
valid rota, so stopping at any moment returns the best one found. When steps
stop paying while visits are still out, an ejection-pool burst
(`optimiser.repair`) moves visits across many carers at once: the chains of
moves that make room for the last visits rarely fit in one neighbourhood.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from optimiser.domain.compiled import CompiledProblem
from optimiser.local import ruin_recreate
from optimiser.model import Neighbourhood, build_model, extract
from optimiser.plan import Plan, score, vehicle_work
from optimiser.prune import Eligibility
from optimiser.repair import cover_more, has_uncovered, uncovered

if TYPE_CHECKING:
    from optimiser.solve import Result, SolveOptions

log = logging.getLogger(__name__)


DTIME_PER_SECOND = 0.5  # CP-SAT deterministic seconds per wall second, measured here
#: One-worker LNS budget, per second of the limit it is given; 0.45, not 0.7: model building
#: and extraction are not deterministic time, and HHCRSP F1/G1 ran into the clock.
DETERMINISTIC_SHARE = 0.45 * DTIME_PER_SECOND
#: The whole model also runs up to this size while visits are still out after repair: it found
#: full covers of 80-94 visit planted days that neighbourhoods missed, whereas on covered
#: starts with lateness (HHCRSP C1, 65 visits) neighbourhoods did better (1.12 vs 1.41 x BKS).
COVER_MODEL_MAX_VISITS = 100
#: Building the whole model costs about this many seconds per eligible (carer, visit) pair
#: (25-carer test day, 576 pairs: 0.55 s quiet, 0.8 s beside two busy processes), before
#: CP-SAT's own time limit starts. The whole model is only tried when its solve share is at
#: least twice its build: with 1 s left it found nothing (UNKNOWN at 0.5 s), and its build
#: alone ran a 6 s solve to 6.6 s on a loaded CI host.
WHOLE_BUILD_SECONDS_PER_PAIR = 0.0015
#: While visits are out, this share of neighbourhoods are cover neighbourhoods (`_cover_hood`).
COVER_HOOD_SHARE = 0.5
#: Minutes either side of the uncovered visit's window a cover neighbourhood frees (one at
#: random), its most free visits, and its sub-solve's seconds. Measured on a one-worker
#: planted-week rota with 7 visits out, every vehicle at work in the band, 10 s per visit:
#: 60 minutes covered 4 (two proved in 0.9 and 2.4 s), 30 and 90 minutes 3 each. On the
#: 40-carer day such bands held 46-74 free visits and covered nothing in 10 s; cut to 45
#: free visits, one of two 232/233 rotas was covered in full in 8.5 s.
COVER_BANDS, COVER_MAX_FREE, COVER_SECONDS = (45, 60, 75), 45, 4.0
#: Most uncovered visits a cover neighbourhood takes in (its focus and the nearest others).
COVER_ORPHANS = 8
#: Share of cover neighbourhoods that free cap-bound eligible carers' whole day
#: (`_capped_days`, when there are any), and the most other vehicles put in to take their
#: stops. All of them since the model's no-overlap (session 14): on six planted-week rotas as
#: the LNS gets them (60 s solves, seeds 0-5), 20 s of LNS left 11 and 12 visits out in all
#: against 13 and 13 at 0.5 (and 16 at 0); on six others (35 s) 13 against 16 and 15.
CAPPED_SHARE, COVER_TAKERS = 1.0, 12
#: Neighbourhoods that cover no more visits before an ejection-pool burst (while visits are
#: out). Counted on coverage, not the objective, and 3, not 8 on any gain: cover
#: neighbourhoods take 4 s and most improve travel, so on the planted week no burst came
#: after the first. 60 s, all cores, with FIRST_BURST_SHARE: seeds 0, 2, 4, 6, 8 covered
#: 829, 830, 830, 830, 830; std-c40-day and std-c120-day at 5 and 30 s 259, 256, 690, 751
#: against 249, 254, 692, 738 with 8 on any gain.
REPAIR_AFTER = 3
REPAIR_BURST = 2.0  # seconds per burst
#: While visits are out the search starts with a burst of this share of the limit (at least
#: REPAIR_BURST). Why: on the planted week ruin and recreate hands over with 1-6 visits out,
#: and cover neighbourhoods (4 s each, 'feasible') kept improving travel, so no later burst
#: came; from such a 829/830 rota the ejection pool covers the last visit in 1-3.4 s (three
#: seeds), where CP-SAT with the whole day free needed 20-60 s. 60 s, all cores: seeds
#: 0, 2, 4, 6 covered 830, 830, 829, 830 (829 in the bench run of seed 0), against 829 for
#: seeds 0 and 2 before. std-c40-day and std-c120-day at 5 and 30 s: 249, 254, 692, 738
#: covered against 241, 252, 691, 744 (within run-to-run noise).
FIRST_BURST_SHARE = 0.1


#: Share of the neighbourhoods around a placed visit that free every stop of 2-4 vehicles
#: (`_route_hood`) instead of a time band (session 38). One portfolio member, 60 s, two at
#: a time, objective: HHCRSP B1 reached its proven optimum (12,875) on seeds 0-3 at shares
#: 1.0, 3 of 4 at 0.7, 2 of 4 at 0.3, 1 of 4 at 0 (12,880 otherwise). Share 0 against 1.0,
#: seeds 0-1, summed: C9 0.0%, D5 +0.2%, D6 +0.05%, D10 0.0%, E2 +0.1%, E3 +4.0%, E6
#: -0.8%, F5 +0.3%, F9 +0.05%, G1 +1.5%, planted c20 day -1.3%, c40 +1.9%, c120 +0.3%
#: (30 s; all covered); 0.5 against 1.0 (B1, D5, D10, E2, E3, G1, seeds 0-1): +0.1%. 0.5,
#: not 1: bands are what cover and late focuses had to themselves, and the c20 day kept them.
ROUTE_HOOD_SHARE, ROUTE_HOOD_VEHICLES = 0.5, (2, 3, 3, 4)


@dataclass
class _Adaptive:
    """Target count of free visits per neighbourhood: grows while sub-solves prove optimality
    quickly, shrinks when they time out (measured: ~15 free visits prove in 0.1-0.3 s, ~30
    rarely prove in 1.5 s)."""

    free: int = 14
    max_vehicles: int = 12
    sub_seconds: float = 1.5

    def update(self, proved: bool) -> None:
        self.free = min(self.free + 1, 60) if proved else max(self.free - 2, 6)


def _configure(solver: cp_model.CpSolver, options: SolveOptions, seconds: float,
               wall_cap: float | None = None) -> None:
    params = solver.parameters
    params.max_time_in_seconds = max(0.05, seconds)
    workers = options.workers or os.cpu_count() or 1
    params.num_workers = workers
    params.random_seed = options.seed
    params.cp_model_probing_level = 0  # presolve probing dominated sub-solve time (solver lab)
    if workers == 1:
        # Reproducible for a seed: stop on deterministic time (about 0.3-0.45 of wall seconds
        # here), with a looser wall limit that only binds on a heavily loaded machine.
        params.max_deterministic_time = max(0.02, DTIME_PER_SECOND * seconds)
        params.max_time_in_seconds = max(0.05, min(2 * seconds, wall_cap or 2 * seconds))


def _solve(p: CompiledProblem, el: Eligibility, plan: Plan, hood: Neighbourhood,
           options: SolveOptions, seconds: float, work: list[float] | None = None,
           deadline: float | None = None) -> tuple[Plan | None, bool, float | None]:
    """Re-solve one neighbourhood; returns (plan or None, proved optimal, bound).

    `work`, when given, accumulates CP-SAT's deterministic time (one-worker budgets).
    `deadline` (time.monotonic()) caps CP-SAT's wall time at what is left of it once the
    model is built: given its seconds before the build, a neighbourhood whose build took 1 s
    ran a 12 s solve (1,000 calls, 120 carers) to 13.1 s. (One worker: only the safety
    stop, so deterministic budgets still decide.)"""
    built = build_model(p, el, plan, hood)
    wall_cap = None
    if deadline is not None:
        wall_cap = max(0.05, deadline - time.monotonic())
        if options.workers != 1:
            seconds = min(seconds, wall_cap)
    solver = cp_model.CpSolver()
    _configure(solver, options, seconds, wall_cap)
    status = solver.solve(built.model)
    if work is not None:
        work.append(solver.deterministic_time)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False, None
    return extract(p, el, plan, built, solver), status == cp_model.OPTIMAL, solver.best_objective_bound


def improve(p: CompiledProblem, el: Eligibility, plan: Plan, options: SolveOptions,
            deadline: float, must: frozenset[int]) -> Result:
    """Best plan found before the deadline; optimal only when the whole model is proved."""
    from optimiser.solve import Result

    if not p.visits or not el.vehicles:
        return Result(plan, True, 0.0)
    # With one worker every sub-solve draws on one deterministic work budget (see _lns).
    work: list[float] | None = [] if options.workers == 1 else None
    whole = small(el, options) or (
        len(el.coverable) <= COVER_MODEL_MAX_VISITS and has_uncovered(p, el, plan))
    remaining = deadline - time.monotonic()
    # Half the time to prove the whole model optimal; if it cannot, neighbourhoods finish
    # the job (on one worker they found full covers the whole model missed). With one
    # worker the share comes from the limit, not the clock, so runs repeat.
    share = 0.4 * options.time_limit if options.workers == 1 else 0.5 * remaining
    if whole:
        result = whole_model(p, el, plan, options, share, deadline, must, work)
        if result.optimal:
            return result
        plan = result.plan
    return Result(_lns(p, el, plan, options, deadline, must, work), False, None)


def whole_model(p: CompiledProblem, el: Eligibility, plan: Plan, options: SolveOptions,
                seconds: float, deadline: float, must: frozenset[int],
                work: list[float] | None = None) -> Result:
    """The whole problem re-solved by CP-SAT from `plan` for up to `seconds`: the better
    plan of the two, optimal when proved (not tried when the build alone would take over
    half of `seconds`)."""
    from optimiser.solve import Result

    hood = Neighbourhood(list(range(len(el.vehicles))), el.coverable,
                         set(kept_covered(p, el, plan, must)))
    if seconds >= 2 * _build_seconds(el, hood):
        new, proved, bound = _solve(p, el, plan, hood, options, seconds, work,
                                    deadline=deadline - 0.1)
        if new is not None and plan_key(p, el, new, must) <= plan_key(p, el, plan, must):
            return Result(new, proved, bound)
    return Result(plan, False, None)


def _lns(p: CompiledProblem, el: Eligibility, plan: Plan, options: SolveOptions, deadline: float,
         must: frozenset[int], work: list[float] | None = None) -> Plan:
    rng = random.Random(options.seed)
    state = _Adaptive()
    best = plan
    best_score = plan_key(p, el, best, must)
    rep = _representative_points(p, el, best)
    iterations = improved = bursts = 0
    kept, kept_for = must, None  # `kept_covered` of the rota `kept_for`
    stall = REPAIR_AFTER  # visits still out: an ejection-pool burst first (FIRST_BURST_SHARE)
    # With one worker the search stops on a deterministic work budget (CP-SAT's deterministic
    # seconds), so the same problem and seed give the same rota; the wall limit stays a hard stop.
    budget = DETERMINISTIC_SHARE * options.time_limit
    ended = "clock"  # why the search ended, logged: one worker should end on its budget
    while True:
        remaining = deadline - time.monotonic()
        if remaining < 0.2:
            break
        if work is not None:
            left = budget - sum(work)
            if left < 0.02:
                ended = "budget"
                break
        out = has_uncovered(p, el, best)
        if stall >= REPAIR_AFTER and out:
            # The neighbourhoods stopped finding room: an ejection-pool burst moves visits
            # across many carers at once, then the LNS polishes what it changed.
            stall = 0
            # One worker: from the deterministic budget, not the clock, and charged to it, so
            # the same seed gives the same rota (the first burst now comes straight away,
            # when the clock's share of a short limit varies from run to run).
            burst = min(max(REPAIR_BURST, FIRST_BURST_SHARE * options.time_limit) if not bursts
                        else REPAIR_BURST,
                        0.5 * (remaining if work is None else left / DTIME_PER_SECOND))
            if work is not None:
                work.append(burst * DTIME_PER_SECOND)
            # Ejection pool and ruin and recreate take turns: each places visits the other
            # misses (measured on planted days after a repair had stalled).
            bursts += 1
            stop = deadline if work is not None else time.monotonic() + burst  # steps decide
            fuller = cover_more(p, el, best, stop, burst, rng, must,
                                reproducible=work is not None, ruin=bursts % 2 == 0)
            fuller_score = plan_key(p, el, fuller, must)
            log.debug("%s burst: %d -> %d visits covered", "ruin" if bursts % 2 == 0 else "pool",
                      len(best.start), len(fuller.start))
            if fuller_score < best_score:
                best, best_score = fuller, fuller_score
                rep = _representative_points(p, el, best)
                improved += 1
            continue
        cover = out and rng.random() < COVER_HOOD_SHARE
        cap = COVER_SECONDS if cover else state.sub_seconds
        seconds = min(cap, remaining - 0.1) if work is None else min(cap, left / DTIME_PER_SECOND)
        if not cover and kept_for is not best:  # once per rota: most sub-solves keep it
            kept, kept_for = kept_covered(p, el, best, must), best
        hood = _cover_hood(p, el, best, rng, must) if cover else \
            _choose(p, el, best, rng, state, rep, kept)
        if hood is None:
            ended = "lack of a neighbourhood"
            break
        if _build_seconds(el, hood) > remaining:
            break  # its model alone would outlast the limit (the build is outside CP-SAT's)
        t_sub = time.monotonic()
        new, proved, _bound = _solve(p, el, best, hood, options, seconds, work,
                                     deadline=deadline - 0.1)
        iterations += 1
        stall += 1
        log.debug("hood %d vehicles, %d free, %d pinned: %s in %.2fs", len(hood.vehicles),
                  len(hood.visits) - len(hood.pinned), len(hood.pinned),
                  "optimal" if proved else ("feasible" if new else "none"), time.monotonic() - t_sub)
        if new is not None:
            new = _reinsert(p, el, new, rng)
            new_score = plan_key(p, el, new, must)
            if new_score <= best_score:
                if len(new.start) > len(best.start):
                    stall = 0  # bursts wait while neighbourhoods cover more
                if new_score < best_score:
                    improved += 1
                    log.debug("improved to %s", new_score)
                best, best_score = new, new_score
                for k in hood.vehicles:
                    rep[k] = _rep_point(p, el, best, k)
        if not cover:  # a cover neighbourhood's size is its own
            state.update(proved)
    tail = deadline - TAIL_MARGIN - time.monotonic()
    if work is None and ended == "clock" and tail >= TAIL_MIN:
        best, best_score = _ruin_tail(p, el, best, best_score, deadline - TAIL_MARGIN, rng, must)
        ended += f", then {tail:.2f} s of ruin and recreate"
    log.info("LNS: %d neighbourhoods, %d improvements, objective %s, deterministic work %s, "
             "stopped by the %s", iterations, improved, best_score,
             None if work is None else round(sum(work), 2), ended)
    return best


#: Wall-clock runs: what the neighbourhoods leave of the limit because no model fits in it
#: (a 2 s solve of a 329-visit day left 0.5 s: ruin and recreate ended at 1.5 s and the
#: first neighbourhood's build estimate was longer) goes to ruin and recreate, down to
#: TAIL_MARGIN before the deadline, if at least TAIL_MIN seconds. One worker never: its
#: search ends on deterministic budgets.
TAIL_MIN = 0.1
TAIL_MARGIN = 0.1


def _ruin_tail(p: CompiledProblem, el: Eligibility, plan: Plan, key: tuple[int, int],
               stop: float, rng: random.Random, must: frozenset[int]
               ) -> tuple[Plan, tuple[int, int]]:
    """Ruin and recreate until `stop`; the better of its plan and `plan` (whose `plan_key`
    the search already holds), with its key."""
    keep = frozenset(v for v in must if v in plan.start)
    tail = ruin_recreate(p, el, plan, stop, rng, keep)
    tail_key = plan_key(p, el, tail, must)
    return (tail, tail_key) if tail_key < key else (plan, key)


def _build_seconds(el: Eligibility, hood: Neighbourhood) -> float:
    """Estimated seconds to build the hood's model: its free (vehicle, visit) pairs at the
    whole model's measured rate."""
    vehicles = set(hood.vehicles)
    pairs = sum(sum(1 for k in el.vehicles_of[v] if k in vehicles)
                for v in hood.visits if v not in hood.pinned)
    return WHOLE_BUILD_SECONDS_PER_PAIR * pairs


def _reinsert(p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random) -> Plan:
    """Cheap insertion of still-unassigned groups into the gaps a re-timing opened."""
    from optimiser.construct import Builder, groups

    todo = [g for g in groups(p) if not any(v in plan.start for v in g)
            and all(el.vehicles_of[v] for v in g)]
    if not todo:
        return plan
    rng.shuffle(todo)
    builder = Builder(p, el, plan)
    placed = sum(builder.insert_group(g) or (len(g) == 1 and builder.eject_insert(g[0], tries=15))
                 for g in todo[:25])
    if not placed:
        return plan
    builder.plan.sort_routes()
    return builder.plan


def small(el: Eligibility, options: SolveOptions) -> bool:
    """A problem the whole model is tried on first (`solve_plan`) and again at the end
    (`improve`): at most `full_model_max_visits` visits a carer could take."""
    return len(el.coverable) <= options.full_model_max_visits


def kept_covered(p: CompiledProblem, el: Eligibility, plan: Plan,
                 must: frozenset[int]) -> frozenset[int]:
    """What a sub-model must keep covered: `must`, and every covered visit when every
    visit a carer could take is in and dropping any one visit costs more than the plan's
    whole objective but coverage (so no rota that drops one can beat this plan).

    Why: a sub-model may otherwise drop visits, and its LP relaxation then counts each
    coverage penalty as a saving: HHCRSP B1's whole model (10,000,000 a service) kept its
    bound near -2e7 for 60 s; with coverage stated it was 7,284 at 10 s and 8,261 at 20 s,
    and the published optimum's rota came in 20 s in one of two runs (60 s before, one run).
    Rigorous, so never a loss; on default weights (10,000 a visit) it binds only while the
    rest of the objective is smaller than that."""
    if not p.visits or has_uncovered(p, el, plan):
        return must
    w = p.problem.weights
    sc = score(p, el, plan)
    cheapest = min(w.unassigned * v.weight * v.required for v in p.visits)
    if cheapest <= sc.total - w.unassigned * sc.unassigned:
        return must
    return must | frozenset(plan.start)


def plan_key(p: CompiledProblem, el: Eligibility, plan: Plan, must: frozenset[int]) -> tuple[int, int]:
    """Compare plans: visits that must stay covered first, then the objective."""
    return sum(1 for v in must if v not in plan.start), score(p, el, plan).total


def _rep_point(p: CompiledProblem, el: Eligibility, plan: Plan, k: int) -> int:
    route = plan.routes[k]
    if route:
        return p.visits[route[len(route) // 2]].point
    veh = el.vehicles[k]
    return veh.shift.start_point if veh.shift.start_point is not None else p.carers[veh.carer].home_point


def _representative_points(p: CompiledProblem, el: Eligibility, plan: Plan) -> list[int]:
    return [_rep_point(p, el, plan, k) for k in range(len(el.vehicles))]


def _choose(p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random, state: _Adaptive,
            rep: list[int], must: frozenset[int]) -> Neighbourhood | None:
    """A time band and a few vehicles close in space working in it; their band visits go free.

    Visits of those vehicles outside the band stay pinned (same carer, same minute) but are
    in the model, so travel around them, caps and breaks stay exact. Unassigned visits whose
    window meets the band join, nearest first.
    """
    unassigned = [v.index for v in p.visits if v.index not in plan.start and el.vehicles_of[v.index]]
    late = sorted((v for v in plan.start if plan.start[v] > p.visits[v].latest),
                  key=lambda v: p.visits[v].latest - plan.start[v])
    if unassigned and rng.random() < 0.7:
        focus = rng.choice(unassigned)
    elif late and rng.random() < 0.5:  # the latest visits, where lateness is won back
        focus = late[min(int(rng.expovariate(0.3)), len(late) - 1)]
    else:
        placed = list(plan.start)
        if not placed:
            return None
        focus = rng.choice(placed)
    if focus in plan.start and rng.random() < ROUTE_HOOD_SHARE:
        return _route_hood(p, el, plan, rng, state, rep, focus, must)
    centre = plan.start.get(focus, (p.visits[focus].earliest + el.latest_of[focus]) // 2)
    half = rng.choice((45, 60, 90) if focus not in plan.start else (45, 60, 90, 120, 180))
    while True:
        hood = _band_hood(p, el, plan, rng, state, rep, focus, centre, half, unassigned)
        if len(hood.visits) - len(hood.pinned) >= state.free // 2 or half >= 24 * 60:
            break
        half *= 2  # too few stops in the band: widen it
    hood.must_cover = set(must) & set(hood.visits)
    return hood


def _route_hood(p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random,
                state: _Adaptive, rep: list[int], focus: int, must: frozenset[int]) -> Neighbourhood:
    """The focus visit's vehicle and a few others, every stop of theirs free: first the
    other carers of the focus (a double-up) and of its `follows` partners, then those of
    any free stop's, then the nearest.

    Why: a band neighbourhood pins each vehicle's stops outside the band, so a change whose
    knock-on runs along whole routes (which carer does which half of a precedence pair, and
    every stop after it re-timed) is out of its reach."""
    carers_of = plan.carers_of()
    drive = p.travel.for_mode("drive")
    seed = rng.choice(carers_of[focus])
    size = rng.choice(ROUTE_HOOD_VEHICLES)
    chosen, free = [seed], set(plan.routes[seed])
    while len(chosen) < size:
        linked = _partner_vehicles(p, carers_of, free, chosen)
        others = [k for k in range(len(el.vehicles)) if k not in chosen and k not in linked
                  and plan.routes[k]]
        others.sort(key=lambda k: int(drive[rep[seed], rep[k]]) + 30 * rng.random())
        own = _partner_vehicles(p, carers_of, (focus,), chosen)  # all in `linked`: focus is free
        pick = [*dict.fromkeys([*own, *rng.sample(linked, len(linked))]), *others]
        pick = [k for k in pick if len(free) + len(plan.routes[k]) <= 1.5 * max(state.free, 20)]
        if not pick:
            break
        chosen.append(pick[0])
        free.update(plan.routes[pick[0]])
    _add_partners(p, plan, free)
    return Neighbourhood(chosen, sorted(free), set(must) & free, set())


def _cover_hood(p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random,
                must: frozenset[int], focus: int | None = None) -> Neighbourhood:
    """Every vehicle at work around an uncovered visit's window, their stops there free, and
    the objective the uncovered visits alone (`Neighbourhood.cover_only`).

    Why: the last visits of a tight day (planted days and week: every morning carer busy
    from 07:00, windows of an hour) need the whole band re-packed, not the few nearby
    carers `_choose` frees, and with travel in the objective CP-SAT spent its time on
    travel: on a one-worker week rota with 7 visits out, the same bands covered 2 with the
    full objective at 20 s a visit and 4 with coverage alone at 10 s. The travel it gives up
    is won back by the next neighbourhoods; a result is kept only if the whole objective
    drops. Eligible vehicles come first, then the nearest, up to COVER_MAX_FREE free visits."""
    unassigned = uncovered(p, el, plan)
    if focus is None:
        focus = rng.choice(unassigned)
    vis, reach = p.visits[focus], rng.choice(COVER_BANDS)
    lo, hi = vis.earliest - reach, el.latest_of[focus] + vis.duration + reach
    drive, able = p.travel.for_mode("drive"), set(el.vehicles_of[focus])

    # Each at-work vehicle's stops in the band, once (the ordering and the loop both read them).
    band = {k: [v for v in plan.routes[k] if lo <= plan.start[v] <= hi]
            for k, veh in enumerate(el.vehicles) if veh.shift.start < hi and lo < veh.shift.end}

    def order(k: int) -> tuple[bool, float]:
        pts = [p.visits[v].point for v in band[k]] or [_rep_point(p, el, plan, k)]
        return k not in able, min(int(drive[vis.point, q]) for q in pts) + rng.random()

    day = p.day_of(vis.earliest)
    chosen: list[int] = []
    free: set[int] = set()
    # Half the time, the whole day of eligible carers with no room under their cap (within
    # the free budget: on a 120-carer day after construction, 35 such vehicles freed 239
    # visits and the model took 4.5 s to build, outside CP-SAT's time limit).
    for k in _capped_days(p, el, plan, focus) if rng.random() < CAPPED_SHARE else ():
        mine = [v for v in plan.routes[k] if p.day_of(plan.start[v]) == day]
        if not chosen or len(free) + len(mine) <= COVER_MAX_FREE:
            chosen.append(k)
            free.update(mine)
    # Vehicles at work that day that could take a stop freed off a capped carer, those that
    # could take most first: in the model with their stops where they are, so their idle
    # gaps can take it.
    could = Counter(k for v in free for k in el.vehicles_of[v]
                    if k not in chosen and p.day_of(el.vehicles[k].shift.start) == day)
    takers = {k for k, _n in sorted(could.items(), key=lambda kn: (-kn[1], kn[0]))[:COVER_TAKERS]}
    for k in sorted(band, key=order):
        if k in chosen:
            continue
        mine = band[k]
        if chosen and len(free) + len(mine) > COVER_MAX_FREE:
            if k in takers:
                chosen.append(k)
            continue
        chosen.append(k)
        free.update(mine)
    chosen += sorted(takers - set(chosen))
    chosen_set = set(chosen)
    # The focus and the nearest other orphans that meet the band, not all of them: on an
    # overloaded day (120 carers, 1,000 calls, 538 out) all of them made 247 free visits,
    # whose model took 3.3 s to build and ran a 3 s solve to 5.9 s.
    orphans = sorted((v for v in unassigned if v != focus and p.visits[v].earliest <= hi
                      and el.latest_of[v] >= lo and any(k in chosen_set for k in el.vehicles_of[v])),
                     key=lambda v: int(drive[vis.point, p.visits[v].point]))
    free.update([focus, *orphans[:COVER_ORPHANS - 1]])
    _add_partners(p, plan, free)
    pinned = {v for k in chosen for v in plan.routes[k] if v not in free}
    visits = free | pinned
    return Neighbourhood(chosen, sorted(visits), set(must) & visits, pinned, cover_only=True)


def _capped_days(p: CompiledProblem, el: Eligibility, plan: Plan, focus: int) -> list[int]:
    """Vehicles of the focus visit's eligible carers whose daily cap has no room for it that
    day: their whole day goes free, as only work moved off elsewhere in the day makes room
    (one of the week's uncovered visits had a single eligible carer, 14 minutes under its
    cap). From the same 7-out rota, 4 s sub-solves: 4 covered in 21 s with these days free,
    3 in 58 s without."""
    vis = p.visits[focus]
    day = p.day_of(vis.earliest)
    out: list[int] = []
    for c in dict.fromkeys(el.vehicles[k].carer for k in el.vehicles_of[focus]):
        cap = p.carers[c].max_day
        mine = [k for k, veh in enumerate(el.vehicles) if veh.carer == c]
        if cap is None or sum(vehicle_work(p, el, k, plan.routes[k], plan.start).get(day, 0)
                              for k in mine) + vis.duration <= cap:
            continue
        out += [k for k in mine if any(p.day_of(plan.start[v]) == day for v in plan.routes[k])]
    return out


def _band_hood(p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random, state: _Adaptive,
               rep: list[int], focus: int, centre: int, half: int, unassigned: list[int]
               ) -> Neighbourhood:
    """Vehicles nearest the focus that work in [centre - half, centre + half], until the
    band's stops reach the target; their other stops pinned; nearby orphans added."""
    drive = p.travel.for_mode("drive")
    lo, hi = centre - half, centre + half
    if focus not in plan.start:
        tied = [plan.start[q] for q in _linked(p, focus) if q in plan.start]
        lo, hi = min([lo, *tied]), max([hi, *tied])
    elif plan.start[focus] > p.visits[focus].latest:  # free the stretch it was pushed across
        lo = min(lo, p.visits[focus].earliest)
    point = p.visits[focus].point

    def band_visits(k: int) -> list[int]:
        return [v for v in plan.routes[k] if lo <= plan.start[v] <= hi]

    able = set(el.vehicles_of[focus])

    def near(k: int) -> float:
        """Close in space, and able to take the focus visit (else nothing can move to it)."""
        pts = [p.visits[v].point for v in band_visits(k)] or [rep[k]]
        return (min(int(drive[point, q]) for q in pts) + rng.random() * 5
                + (0 if k in able else 60))

    candidates = [k for k, veh in enumerate(el.vehicles) if veh.shift.start < hi and lo < veh.shift.end]
    candidates.sort(key=near)
    if focus not in plan.start:  # an orphan tied by `follows` needs its partner's carers free too
        carers_of = plan.carers_of()
        linked = [k for q in _linked(p, focus) for k in carers_of.get(q, [])]
        candidates = linked + [k for k in candidates if k not in linked]
    chosen: list[int] = []
    free: set[int] = set()
    orphan = focus not in plan.start
    target = max(state.free, 20) if orphan else state.free  # an orphan needs room to land
    for k in candidates:
        if len(chosen) >= state.max_vehicles or len(free) >= target:
            break
        mine = band_visits(k)
        if chosen and len(free) + len(mine) > target * 1.5:
            continue
        chosen.append(k)
        free.update(mine)
    _close_links(p, plan, chosen, free, band_visits, limit=state.max_vehicles + 4)
    chosen_set = set(chosen)
    room = max(3, min(2 * len(chosen), state.free - len(free)))
    orphans = sorted(
        (v for v in unassigned
         if p.visits[v].earliest <= hi and el.latest_of[v] >= lo
         and any(k in chosen_set for k in el.vehicles_of[v])),
        key=lambda v: int(drive[point, p.visits[v].point]),
    )[:room]
    free.update(orphans)
    _add_partners(p, plan, free)
    pinned = {v for k in chosen for v in plan.routes[k] if v not in free}
    return Neighbourhood(chosen, sorted(free | pinned), set(), pinned)


def _close_links(p: CompiledProblem, plan: Plan, chosen: list[int], free: set[int], band_visits,
                 limit: int) -> None:
    """Add the vehicles holding the other half of free visits' links (the second carer of a
    double-up, a `follows` partner): otherwise those starts stay pinned and nothing moves."""
    for k in _partner_vehicles(p, plan.carers_of(), free, chosen):
        if len(chosen) >= limit:
            break
        chosen.append(k)
        free.update(band_visits(k))


def _partner_vehicles(p: CompiledProblem, carers_of: dict[int, list[int]], visits: Iterable[int],
                      chosen: list[int]) -> list[int]:
    """Vehicles not in `chosen` holding `visits` or their `follows` partners, in that order,
    each once: the other carer of a double-up, a partner's carers."""
    return list(dict.fromkeys(k for v in visits for q in (v, *_linked(p, v))
                              for k in carers_of.get(q, ()) if k not in chosen))


def _linked(p: CompiledProblem, v: int) -> tuple[int, ...]:
    """Visits tied to v by `follows`, in either direction."""
    return p.linked.get(v, ())


def _add_partners(p: CompiledProblem, plan: Plan, visits: set[int]) -> None:
    """An unassigned 0-0 partner joins its free partner, so the pair can be covered together."""
    for v in list(visits):
        f = p.visits[v].follows
        if f is not None and f.synchronised and f.pred not in plan.start:
            visits.add(f.pred)
    for w in p.visits:
        f = w.follows
        if f is not None and f.synchronised and f.pred in visits and w.index not in plan.start:
            visits.add(w.index)
