"""Local search between construction and CP-SAT: relocation, then ruin and recreate.

Why: a CP-SAT neighbourhood costs 0.1-1.5 s, a relocation about 1 ms and a ruin-and-
recreate step 7-15 ms, and a greedy rota is far from any local optimum. Measured on
HHCRSP F1 (260 visits): construction 121,855 -> 57,253 by relocation passes in about
5 s, where 30 s of neighbourhoods alone reached 66,693; 20 s of ruin and recreate then
took it to 45,263. The CP-SAT search starts from there and spends its sub-solves on
what insertion moves cannot see (re-timing chains, lateness traded against travel).

Every move takes groups (a visit, or a synchronised pair) out and lets `Builder` insert
them where they are cheapest; it is kept only if the whole objective drops (an exact
incremental delta; ruin and recreate also keeps some that raise it a little, by simulated
annealing), so every rota on the way keeps every rule. Plain moves never uncover a
visit; covering moves (`cover_ruin`, and ruin-and-recreate steps while visits are out)
insert an uncovered visit first and may leave out one that weighs less.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from optimiser.construct import Builder, groups, objective_delta
from optimiser.domain.compiled import CompiledProblem
from optimiser.exchange import tail_exchange
from optimiser.plan import Plan, Score, score
from optimiser.prune import Eligibility, vehicle_components

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepCost:
    """What one step of a phase costs on this machine: a fixed overhead plus a share per
    insertion place scanned (one-worker budgets count steps, not the clock)."""

    places_per_second: int
    overhead_seconds: float = 0.0

    def steps_per_second(self, places: float) -> float:
        return 1.0 / (places / self.places_per_second + self.overhead_seconds)


#: Relocate moves, as insertion places scanned a second over `insertion_places` plus a fixed
#: overhead a move (see `steps_per_second`). Why the overhead: without it, moves on small
#: problems ran 1.5-3x slower than counted (HHCRSP A1 77 us against 24 counted, a 20-visit
#: day 196 against 78), so one worker's restarts outran their count and the clock, not the
#: budget, cut the last neighbourhood: the same seed gave two rotas. Measured here (us a
#: move, counted now): A1 77 (124), C1 155 (208), F1 459 (479), G1 586 (751).
MOVE_COST = StepCost(300_000, 100e-6)
#: Groups taken out per ruin-and-recreate step, and minutes of start difference that weigh
#: like one minute of travel when choosing which groups are related.
RUIN_MIN, RUIN_MAX, RELATED_MINUTES = 3, 12, 4
#: Added to a group's relatedness when no vehicle could trade it with the seed's (another
#: component of the eligibility graph): beyond any travel and time difference.
APART = 10**9
#: Ruin-and-recreate steps, likewise; a string step counts as its groups over a related
#: removal's mean. Measured after session 7's faster books: 30,000 (HHCRSP C1),
#: 41,000-46,000 (F1, G1, the planted week) and 75,000-120,000 (planted c40, c120) places
#: a second. 35,000 against 25,000 (one worker, 30 s, seeds 0-2): planted week 825/826/826
#: covered against 823/825/826 with lower objectives, c120 691/688/689 against 690/688/689;
#: HHCRSP equal (its ruin ends on RUIN_STALL first) or up to 1% better. Session 13 added the
#: step's overhead (see MOVE_COST) and 38,000 for 35,000, which keeps large problems' budgets
#: within 4% (F1 3,389 us a step against 3,246; G1 5,536 against 5,576; measured 2,977 and
#: 4,607) and counts small ones' nearer to what they take (A1 592 against 209, measured 441;
#: a 20-visit day 1,013 against 666, measured 1,068).
STEP_COST = StepCost(38_000, 400e-6)
#: Minutes either side of an uncovered visit's window whose stops `cover_ruin` may take out.
COVER_REACH = 120
#: A cover step may keep a rota worse by up to this many travel minutes' worth (a random
#: share of it each step), to wander across rotas of equal cover.
COVER_SLACK_MINUTES = 6
#: Share of ruin steps that take out strings of consecutive stops (SISR), their most
#: routes and longest string.
STRING_SHARE, STRING_ROUTES, STRING_MAX = 0.5, 3, 8
#: Share of moves that re-insert in window order, and in tightest-window order (else random),
#: as SISR varies its insertion order. One worker, 30 s, seeds 0-2, summed HHCRSP cost:
#: C1 -7.5%, E1 -6.3%, G1 -2.3%, D1 and F1 equal; planted days and week: as many covered.
ORDER_SHARE = 1 / 3
#: Share of ruin steps seeded at one of the latest stops when lateness is only penalised,
#: while lateness weighs at least 1/LATE_SEED_SCALE of the objective; less in proportion
#: below that, rescored every LATE_SEED_EVERY steps (`_late_share`).
LATE_SEED_SHARE, LATE_SEED_SCALE, LATE_SEED_EVERY = 0.3, 30, 256
#: Share of annealing's other ruin steps seeded at one of the DETOUR_TOP stops whose removal
#: saves the most travel (`_detour_seed`) where travel is all of the objective; in
#: proportion to travel's weight in it otherwise (`_detour_share`).
DETOUR_SEED_SHARE, DETOUR_TOP = 0.2, 5
#: Most stops a cover step also takes from anywhere in a cap-bound eligible carer's day.
CAPPED_EXTRA = 3
#: Steps without a better rota before ruin and recreate tries a round of tail exchanges
#: (`optimiser.exchange`) on the rota it holds.
RUIN_STALL = 400
#: Steps without a new best rota before ruin and recreate ends (the solve then restarts it,
#: or hands over to the CP-SAT search). 800 did no better on HHCRSP E1, whose rugged
#: landscape favours more restarts (six seeds at 60 s: +1.7% against the descent, 2,000
#: +2.5%).
RUIN_END = 2000
#: An annealing run that finds no new best in RUIN_END steps before this share of its
#: progress (steps or clock) goes on from its best rota, at the temperature its schedule has
#: reached; later, it ends. Why: on HHCRSP F1 at 60 s annealing ended at 20-37 s, and the
#: CP-SAT neighbourhoods then gained 0.2% in the rest (objective 40,401 -> 40,317).
RESUME_BEFORE = 0.8
#: Simulated annealing's temperature at the start and end of a ruin-and-recreate run, as a
#: share of the start rota's travel objective per stop (a step is kept when it adds less
#: than -T ln U, U uniform in (0, 1]; the temperature falls geometrically with the run's
#: progress, its steps or its clock). See `_Annealing`. 0.03 and 0.001 gave E1 the same.
#: 1.0 at the start, not 0.1 (session 20): HHCRSP F1, 30 s from one start, seeds 0-2,
#: 120,516 summed against 124,730 (0.3: 123,859; 3.0: 120,184), G1 166,215 against 166,066;
#: whole solves (all cores, 60 s, seeds 0, 2, 4) F1 121,899 against 123,984, G1 159,603
#: against 160,600, planted week objective 77,320 / 79,105 / 89,473 against 78,281 /
#: 79,577 / 90,423 (covered 830 / 830 / 829 both ways).
#: 10.0, not 1.0 (session 27): a hotter start lets the walk leave the basin its first
#: placement of the tied visits (0-0 and precedence pairs) decides, where session 26 found
#: HHCRSP F1's gap to best-known (not measured per tied visit here); one
#: portfolio member, 60 s, summed objective against 1.0: F1 -3.0% (seeds 0-5; 2.5: -1.1%,
#: 5: -1.8%, 20: -2.8%, 40: -2.9%), and 5 against 1.0 -3.7% on seeds 6-11; G1 -0.1%
#: (seeds 0-5); planted c40, c120 and week -2.7%, -2.5%, -6.7% (seeds 0-2).
ANNEAL_HOT, ANNEAL_COLD = 10.0, 0.002
#: What a round of tail exchanges costs, in ruin-and-recreate steps per vehicle (one worker's
#: budget counts it): measured 0.02-0.03 s a round on HHCRSP G1 (40 vehicles, 5 ms steps)
#: and 0.13 s on a 144-vehicle generated day (2.6 ms steps).
EXCHANGE_STEPS_PER_VEHICLE = 0.33


def insertion_places(p: CompiledProblem, el: Eligibility, plan: Plan) -> float:
    """Route places an insertion of an average visit scans (its eligible vehicles' stops + 1).

    Why: a step's cost grows with it (HHCRSP C1: 32, a 120-carer day: 396, a 500-carer
    day: 902), so one-worker step budgets scale by it instead of one rate for all sizes,
    which left small instances most of their limit unused and ran large ones into the clock.
    """
    if not p.visits:
        return 1.0
    lengths = [len(r) + 1 for r in plan.routes]
    return sum(lengths[k] for v in p.visits for k in el.vehicles_of[v.index]) / len(p.visits) or 1.0


def steps_per_second(p: CompiledProblem, el: Eligibility, plan: Plan, cost: StepCost) -> float:
    """A phase's reproducible step rate on this problem (see `insertion_places`)."""
    return cost.steps_per_second(insertion_places(p, el, plan))


def relocate(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float,
             rng: random.Random, keep: frozenset[int] = frozenset(),
             max_moves: int = 10**9, used: list[int] | None = None) -> Plan:
    """Passes of best-place relocation in random order until one pass finds nothing, the
    deadline passes or `max_moves` moves were tried; `keep` visits are never taken
    out (they stay with their carers; a neighbour's insertion may re-time them).
    `used` gets the number of moves tried appended."""
    b = Builder(p, el, plan)
    movable = [tuple(g) for g in groups(p) if not any(v in keep for v in g)]
    tried = better = 1
    while better:
        todo = [g for g in movable if all(v in b.plan.start for v in g)]
        rng.shuffle(todo)
        better = 0
        for g in todo:
            if tried > max_moves or time.monotonic() > deadline:
                better = 0
                break
            tried += 1
            better += _move_groups(p, el, b, [g], rng)
    if used is not None:
        used.append(tried - 1)
    return _done(b)


def _move_groups(p: CompiledProblem, el: Eligibility, b: Builder, chosen: list[tuple[int, ...]],
                 rng: random.Random, first: tuple[tuple[int, ...], ...] = (),
                 threshold: int = 0, deltas: list[int] | None = None,
                 polish: bool = False) -> bool:
    """Take the chosen groups off their carers (those a removal may leave: `can_take_out`)
    and insert them again in random order, double-ups first, each at its cheapest place;
    keep the result if the objective drops, else undo. True when kept.

    `first`: uncovered groups to insert before the others. Then a group that no longer
    fits may stay out, and the objective (with its uncovered-visit terms) decides; without
    `first`, a move never uncovers a visit. `deltas`, when given, gets a kept move's
    objective change appended. `polish`: a kept move's routes then have their stops moved
    towards their preferred minutes (`Builder.toward_preferred`); the caller sets it once
    every visit is in, as insertion packs routes so that missing ones fit."""
    before = b.plan.copy()
    touched: set[int] = set()
    pairs_before: dict[int, set[int]] = {}
    out = []
    for g in chosen:  # one by one: two stops out of one route leave new neighbours
        if not b.can_take_out(g):
            continue
        touched |= b.vehicles_of_group(g)
        for v in g:
            cl = p.visits[v].client
            pairs_before.setdefault(cl, set(b.client_carers[cl]))
        b.take_out(g)
        out.append(g)
    if not out and not first:
        return False
    touched |= b.settle(touched)  # their late neighbours may start earlier now
    rng.shuffle(out)
    order = rng.random()
    if order < ORDER_SHARE:  # earliest window first: routes rebuilt in time order
        out.sort(key=lambda g: p.visits[g[0]].earliest)
    elif order < 2 * ORDER_SHARE:  # tightest window first
        out.sort(key=lambda g: el.latest_of[g[0]] - p.visits[g[0]].earliest)
    out.sort(key=lambda g: -sum(p.visits[v].required for v in g))  # double-ups first
    for g in first:
        for v in g:
            cl = p.visits[v].client
            pairs_before.setdefault(cl, set(b.client_carers[cl]))
    if first:
        placed = all(b.insert_group(list(g)) for g in first)
        for g in out if placed else ():
            b.insert_group(list(g))  # one that fits nowhere stays out: the objective decides
    else:  # stops at the first that fits nowhere, or once the step cannot be kept
        placed = _reinsert(p, el, b, out, before, touched, pairs_before, threshold)
    if placed:
        moved = [g for g in (*first, *out) if g[0] in b.plan.start]
        touched |= b.settle(touched | {k for g in moved for k in b.vehicles_of_group(g)}, tied=True)
        if not first and all(b.plan.routes[k] == before.routes[k] and all(
                b.plan.start[v] == before.start[v] for v in before.routes[k]) for k in touched):
            return False  # all back where they were, neighbours unmoved: the same rota
        touched |= {k for g in moved for k in b.vehicles_of_group(g)}
        lost = sum(p.visits[v].weight * p.visits[v].required for g in out for v in g
                   if v not in b.plan.start) - sum(
            p.visits[v].weight * p.visits[v].required for g in first for v in g)
        delta = objective_delta(p, el, b, before, touched, pairs_before) \
            + p.problem.weights.unassigned * lost
        if delta < threshold:
            if polish:  # on kept steps only: it costs a tenth of a step
                delta += b.toward_preferred(touched)
            if deltas is not None:
                deltas.append(delta)
            return True
    touched |= {k for g in (*first, *out) for k in b.vehicles_of_group(g)}  # insertions
    b.restore(before, touched)
    return False


def _reinsert(p: CompiledProblem, el: Eligibility, b: Builder, out: list[tuple[int, ...]],
              before: Plan, touched: set[int], pairs_before: dict[int, set[int]],
              threshold: int) -> bool:
    """Insert the groups of `out` in order; False at the first that fits nowhere, or as soon
    as the objective's change so far reaches `threshold`: a step is kept only below it,
    and later insertions nearly always add (7 of 40,345 F1 insertions lowered it).

    The change so far is the removal's (exact) plus each insertion's price, recounted
    exactly (`objective_delta`) before the step ends: prices were the exact change on 99.9%
    of 59,546 F1 insertions, but can miss what re-timed neighbours change. The last group
    always goes back, so the caller's full count (late stops settled) decides as before.
    Why: over four in five annealing steps on HHCRSP F1 are rejected, most of them before
    their last groups go back. The rotas are the same at a fixed step budget (F1 and G1,
    5,000 annealing steps), in 5-10% less time."""
    room = threshold - objective_delta(p, el, b, before, touched, pairs_before)
    waiting = {g[0] for g in out if len(g) == 1}
    for i, g in enumerate(out, 1):
        if g[0] in b.plan.start:  # went back with its precedence partner
            continue
        w = b.gap_pair(g[0]) if len(g) == 1 else None
        # Were w earlier in `out`, its turn would have put g back with it.
        if not (b.insert_pair(g[0], w) if w in waiting else b.insert_group(list(g))):
            return False
        room -= b.last_price
        if room <= 0 and i < len(out):  # the vehicles changed: the removal's and those put on
            done = touched | b.vehicles_of_group([v for put in out[:i] for v in put])
            room = threshold - objective_delta(p, el, b, before, done, pairs_before)
            if room <= 0:
                return False
    return True


def _done(b: Builder) -> Plan:
    b.plan.sort_routes()
    return b.plan


def ruin_recreate(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float,
                  rng: random.Random, keep: frozenset[int] = frozenset(),
                  max_iterations: int = 10**9, used: list[int] | None = None,
                  anneal: bool = False) -> Plan:
    """Take out a few groups close in space and time to a random one (related removal) and
    insert them again one by one, double-ups first, each at its cheapest place; keep the
    result when the objective drops (`anneal`: or rises by less than simulated annealing's
    threshold, `_Annealing`), else undo. While visits are out, every other step is a
    `cover_ruin` step instead (kept only when the objective drops). After RUIN_STALL steps
    without a new best rota a round of tail exchanges (`optimiser.exchange`) runs; a
    descent ends when it finds none. After RUIN_END steps without a new best a descent
    ends, and so does annealing past RESUME_BEFORE of its run; earlier, annealing goes on
    from its best rota. A descent's steps also take out the `follows`-gap partners of what
    they take (`_with_partners`). Returns the best rota seen, its stops moved towards their
    preferred minutes when every visit is in (`polished`). `used` gets the number of steps
    taken appended (a step that takes out more than a related removal's groups, strings
    and partners, weighted by its size, as budgets are).

    Half the steps take out strings of consecutive stops on the related groups' routes
    instead (SISR, Christiaens and Vanden Berghe 2020): one worker, 30 s, seeds 0-2, summed
    HHCRSP cost D1 -0.6%, E1 -1.2%, F1 -2.2%, G1 -1.4%, C1 equal; planted c40, c120 and
    week objective -9%, -8%, -4% (2-3 more visits covered in all).

    Why beside relocation: one group at a time cannot empty a stretch of a route so that a
    neighbour's stops move in; a handful at once can. Measured from the relocation optimum
    of HHCRSP F1 and G1, 20 s of this took 57,253 -> 45,263 and 101,428 -> 58,517, where
    20 s of CP-SAT neighbourhoods took F1 only to about 50,000 (each costs 100 times more)."""
    b = Builder(p, el, plan)
    movable = [tuple(g) for g in groups(p) if not any(v in keep for v in g)]
    group_of, todo = _coverable(p, el)
    related = _Related(p, el, movable, b.rows["drive"], by_part=not anneal)
    now = score(p, el, b.plan)
    heat = _Annealing.for_plan(p, b.plan, now.travel_minutes, deadline, max_iterations) \
        if anneal else None
    if anneal:  # synchronised groups start at random minutes of their places (`_jittered`)
        b.sync_jitter = rng
    current = best_total = now.total
    late_share, ruins = _late_share(p, now), 0  # ruin steps under penalised lateness
    detour_share = _detour_share(p, now)
    best = b.plan.copy()
    stall = since_best = 0
    deltas: list[int] = []  # the objective change of a kept step
    steps = 0.0  # a step counts its groups over a related removal's mean (strings run longer)
    mean = (RUIN_MIN + RUIN_MAX) / 2
    while steps < max_iterations and time.monotonic() <= deadline:
        if since_best > RUIN_END:
            if heat is None or heat.progress(steps) > RESUME_BEFORE:
                break
            b = Builder(p, el, best)  # resume from the best rota (a copy), no hotter
            b.sync_jitter = rng
            current, stall, since_best = best_total, 0, 0
        if stall > RUIN_STALL:
            # Near a local optimum whole afternoons may still swap between carers.
            steps += len(b.plan.routes) * EXCHANGE_STEPS_PER_VEHICLE
            stall = 0
            if tail_exchange(p, el, b, deadline, keep):
                current = score(p, el, b.plan).total
                if current < best_total:
                    best, best_total, since_best = b.plan.copy(), current, 0
            elif heat is None:
                break  # a descent at a local optimum of both moves
        steps += 1
        stall += 1
        since_best += 1
        deltas.clear()
        missing = [g for g in todo if g[0] not in b.plan.start]
        if missing and rng.random() < 0.5:  # while visits are out, every other step covers
            kept = _cover_step(p, el, b, rng.choice(missing), group_of, keep, rng, 0, deltas)
        else:
            start = b.plan.start
            placed = [g for g in movable if g[0] in start and (len(g) == 1 or all(
                v in start for v in g))]
            if len(placed) < 2:
                steps -= 1
                break
            seed = rng.choice(placed)
            at_late = False
            if b.push_late:
                ruins += 1
                if ruins % LATE_SEED_EVERY == 0:
                    late_share = _late_share(p, score(p, el, b.plan))
                at_late = rng.random() < late_share
            if at_late:
                seed = _late_seed(p, b, placed, rng) or seed
            elif heat is not None and rng.random() < detour_share:  # annealing only
                seed = _detour_seed(p, b, placed, group_of, rng) or seed
            size = rng.randint(RUIN_MIN, RUIN_MAX)
            near = related.nearest(seed, size, placed, start, rng)
            if rng.random() < STRING_SHARE:
                near = _strings(b, near, group_of, keep, rng)
                steps += len(near) / mean - 1
            if heat is None:  # a descent (see `_with_partners`)
                more = _with_partners(b, near, group_of, keep)
                steps += (len(more) - len(near)) / mean
                near = more
            worse = heat.threshold(steps, rng, since_best) if heat is not None else 0
            kept = _move_groups(p, el, b, near, rng, threshold=worse, deltas=deltas,
                                polish=not missing)
        if kept:
            current += deltas[0]
            if current < best_total:
                best, best_total = b.plan.copy(), current
                stall = since_best = 0
    if used is not None:
        used.append(round(steps))
    if not any(g[0] not in best.start for g in todo):  # every route, those never touched too
        best = polished(p, el, best)
    best.sort_routes()
    return best


def polished(p: CompiledProblem, el: Eligibility, plan: Plan) -> Plan:
    """`plan` with every route's untied stops moved towards their preferred minutes
    (`Builder.toward_preferred`); `plan` itself when the objective does not weigh them."""
    if not p.problem.weights.preferred_start_minute:
        return plan
    b = Builder(p, el, plan)
    b.toward_preferred(range(len(plan.routes)))
    return b.plan


class _Related:
    """Related removal's choice: the `size` placed groups nearest a seed group, by travel
    from it plus RELATED_MINUTES of start difference per minute of travel (plus a random
    fraction, to break ties). Groups of another component of the eligibility graph than
    the seed's (`vehicle_components`) come last.

    Why components: such groups can never trade places with the seed's, so taking them out
    with it only joins an unrelated move to the step, and a gain in one is lost to a loss
    in the other. HHCRSP splits by skills (carers with skills 0-2 and 3-5), and each
    component's ruin was about half other-component groups. One portfolio member, 60 s,
    seeds 0-3, summed objective against mixing them: E2 -2.7%, E1 -1.7%, D2 -3.0% (4 of 4
    better on each), E5 -2.0%, D1 -0.2%, E7 +0.3%. Not for annealing (`by_part` off): there
    it lost, F2 +3.7% and G2 +3.1% (0 of 4 better on each).

    Why a time index: scoring every placed group was an eighth of a ruin step on the
    planted week (830 visits), where a seed's related groups are all on its own day.
    Groups are sorted by window opening; only those whose start can lie within
    RELATED_MINUTES x (the seed's farthest travel + 1) of the seed's are scored, and any
    other scores at least that far travel + 1. When the `size`-th nearest scored less, the
    choice is exactly the full scan's; else (few groups near) the full scan runs. Only
    where the window holds under half the groups: on a small day, scanning twice made
    one-worker steps slower than budgeted, and the safety clock then cut a run (a
    reproducibility test failed 3 times in 4)."""

    def __init__(self, p: CompiledProblem, el: Eligibility, movable: list[tuple[int, ...]],
                 drive: Any, by_part: bool = True) -> None:
        self.drive = drive  # list rows: numpy indexing per group was a tenth of a step
        self.point = [v.point for v in p.visits]
        self.order = sorted(movable, key=lambda g: p.visits[g[0]].earliest)
        self.opens = [p.visits[g[0]].earliest for g in self.order]
        self.width = max((el.latest_of[g[0]] - p.visits[g[0]].earliest for g in movable),
                         default=0)
        self._far: dict[int, int] = {}  # point -> its farthest travel
        comp = vehicle_components(el) if by_part else []
        # Each group's components (a group spans two when its visits' carers do); None when
        # there is only one (or `by_part` is off), so the common case pays nothing.
        self.comps = {g: frozenset(comp[k] for v in g for k in el.vehicles_of[v])
                      for g in movable} if len(set(comp)) > 1 else None

    def nearest(self, seed: tuple[int, ...], size: int, placed: list[tuple[int, ...]],
                start: dict[int, int], rng: random.Random) -> list[tuple[int, ...]]:
        pt, t0 = self.point[seed[0]], start[seed[0]]
        row, point = self.drive[pt], self.point
        far = self._far.get(pt)
        if far is None:
            far = self._far[pt] = int(max(row))
        reach = RELATED_MINUTES * (far + 1)

        def key(g: tuple[int, ...]) -> float:
            return row[point[g[0]]] + abs(start[g[0]] - t0) // RELATED_MINUTES + rng.random()

        comps = self.comps
        if comps is not None:
            mine, plain = comps[seed], key

            def key(g: tuple[int, ...]) -> float:  # other components after every own group
                return plain(g) + (APART if comps[g].isdisjoint(mine) else 0)

        lo = bisect.bisect_left(self.opens, t0 - reach - self.width)
        hi = bisect.bisect_right(self.opens, t0 + reach)
        if 2 * (hi - lo) < len(placed):  # else the full scan costs about the same
            window = [(key(g), g) for g in self.order[lo:hi] if g[0] in start
                      and (len(g) == 1 or all(v in start for v in g))]
            near = heapq.nsmallest(size, window)
            if len(near) == size and near[-1][0] < far + 1:
                return [g for _, g in near]
        return heapq.nsmallest(size, placed, key=key)


@dataclass(frozen=True)
class _Annealing:
    """Simulated annealing's acceptance of ruin-and-recreate steps, as in SISR: a step is
    kept when it adds less than -T ln U (U uniform), T falling geometrically from `hot` to
    `cold` over the run (its step budget with one worker, so runs repeat; else its clock).

    Why: a pure descent (the acceptance before session 18) stalled on HHCRSP G1 after
    4,500-6,500 steps (16-20 s), and a restart from a fresh construction spent the rest of
    the limit getting back (57,285 against the stalled 54,109). All cores, 60 s, seeds 0, 2
    and 4, summed objective against the descent: G1 -2.7% (all three better), F1 -0.9%,
    D1 +0.2%, C1 at best-known on all three; E1 +2.5% (six seeds, 0-10), where the
    descent's more frequent restarts found better basins. The temperature also falls with
    the steps since the last new best, so a run that ends for want of gain ends cold."""

    hot: float
    cold: float
    begin: float
    seconds: float
    budget: int | None  # steps, or None: the clock measures progress

    @classmethod
    def for_plan(cls, p: CompiledProblem, plan: Plan, travel_minutes: int, deadline: float,
                 max_iterations: int) -> _Annealing:
        """Temperatures scaled to the rota's travel objective per stop (HHCRSP G1: 130);
        `travel_minutes` is the plan's, from the score the caller already holds."""
        stops = sum(map(len, plan.routes))
        per_stop = p.problem.weights.travel_minute * travel_minutes / max(1, stops)
        now = time.monotonic()
        return cls(ANNEAL_HOT * per_stop, ANNEAL_COLD * per_stop, now, max(1e-6, deadline - now),
                   max_iterations if max_iterations < 10**9 else None)

    def progress(self, steps: float) -> float:
        """How far through its run a walk is, `steps` into it: a share of its step budget
        (one worker) or of its clock."""
        if self.budget:
            return steps / self.budget
        return (time.monotonic() - self.begin) / self.seconds

    def threshold(self, steps: float, rng: random.Random, since_best: int) -> int:
        """What a step may add and still be kept (0: only a drop is kept), `steps` into the
        run and `since_best` steps after its last new best."""
        if self.cold <= 0:
            return 0
        # A run that ends for want of gain ends cold.
        done = max(self.progress(steps), since_best / RUIN_END)
        temp = self.hot * (self.cold / self.hot) ** min(1.0, done)
        return int(-temp * math.log(1.0 - rng.random()))


def _strings(b: Builder, near: list[tuple[int, ...]], group_of: dict[int, tuple[int, ...]],
             keep: frozenset[int], rng: random.Random) -> list[tuple[int, ...]]:
    """SISR's string removal: on the routes of the first few related groups, a run of
    consecutive stops around each (so a stretch of the route empties, not scattered stops)."""
    out: dict[tuple[int, ...], None] = {}
    seen: set[int] = set()
    for g in near[:rng.randint(1, STRING_ROUTES)]:
        for v0, k in [(v, k) for v in g for k in b.vehicles_doing(v)]:
            if k in seen:
                continue
            seen.add(k)
            route = b.plan.routes[k]
            i = route.index(v0)
            length = rng.randint(1, min(len(route), STRING_MAX))
            j = rng.randint(max(0, i - length + 1), min(i, len(route) - length))
            for v in route[j:j + length]:
                h = group_of[v]
                if not any(w in keep for w in h):
                    out[h] = None
    return list(out) or near


def _with_partners(b: Builder, near: list[tuple[int, ...]], group_of: dict[int, tuple[int, ...]],
                   keep: frozenset[int]) -> list[tuple[int, ...]]:
    """`near` and the placed groups tied to them by a `follows` gap (not kept ones); a
    descent's ruin steps take them.

    Why: with one half of a pair out and the other in place, the half out can only go back
    within the gap of its partner's current start, so a descent never moves the pair as one
    (HHCRSP E1: 15 such pairs of 130 visits). One portfolio member, 60 s, seeds 0-11, summed
    objective: E1 -3.1% (better on 8 of 12). Not in annealing, which can move a pair in two
    steps, keeping the worse one between: F1 +1.0% (seeds 0-8) with them."""
    out = dict.fromkeys(near)
    for g in near:
        for v in g:
            for w in b.gap_partners.get(v, ()):
                h = group_of[w]
                if w in b.plan.start and not any(x in keep for x in h):
                    out[h] = None
    return list(out)


def _detour_seed(p: CompiledProblem, b: Builder, placed: list[tuple[int, ...]],
                 group_of: dict[int, tuple[int, ...]], rng: random.Random
                 ) -> tuple[int, ...] | None:
    """The group of one of the DETOUR_TOP stops (of `placed` groups) whose removal saves the
    most travel on its route (the legs to and from it less the leg that would replace them):
    the ruin then frees the stretch around a stop the rota reaches out of its way.

    Why: worst removal (Ropke and Pisinger 2006) beside SISR's random seeds; travel is what
    keeps HHCRSP F1 and G1 off best-known (their late stops are few). One portfolio member,
    60 s, two variants side by side, summed objective against random seeds only: G1 -0.6%
    (seeds 0-11, better on 8 of 12), F1 equal (-0.06%, 7 of 12). Not in a descent: E1
    (which descends) +1.2% (seeds 0-5). The five stops saving most, not ten (DETOUR_TOP):
    F1 -0.7% (seeds 0-4, 4 of 5 better), G1 -0.65% (3 of 5). The scan is O(stops),
    against a step's O(stops x eligible vehicles) insertion."""
    ok = set(placed)
    saved: list[tuple[int, int]] = []
    for k, route in enumerate(b.plan.routes):
        if not route:
            continue
        shift = b.el.vehicles[k].shift
        pts = [shift.start_point, *[p.visits[v].point for v in route], shift.end_point]
        for i, v in enumerate(route):  # `Builder.t`: a leg from or to no point is 0
            a, x, c = pts[i], pts[i + 1], pts[i + 2]
            saved.append((b.t(k, a, x) + b.t(k, x, c) - b.t(k, a, c), v))
    # A double-up's two stops may both rank: twice the top, then its groups.
    top = [v for _d, v in heapq.nlargest(2 * DETOUR_TOP, saved) if group_of[v] in ok][:DETOUR_TOP]
    return group_of[rng.choice(top)] if top else None


def _detour_share(p: CompiledProblem, now: Score) -> float:
    """The share of annealing's ruin steps to seed at a detour (`_detour_seed`):
    DETOUR_SEED_SHARE times travel's share of the objective.

    Why in proportion: detour seeds aim at travel alone. On the planted days, whose
    objective is mostly preferred minutes and continuity, a fixed 0.2 did worse (planted
    c40, seeds 0-2 side by side: +2.3%), where HHCRSP's objective is nearly all travel."""
    travel = p.problem.weights.travel_minute * now.travel_minutes
    return DETOUR_SEED_SHARE * min(1.0, travel / max(1, now.total))


def _late_share(p: CompiledProblem, now: Score) -> float:
    """The share of ruin steps to seed at a late stop (`_late_seed`): LATE_SEED_SHARE while
    lateness (its minutes and the max) weighs at least 1/LATE_SEED_SCALE of the objective,
    in proportion below.

    Why: a fixed 30% put nearly a third of all seeds on a handful of stops where lateness
    hardly counts (HHCRSP F1's rotas: 0-5 late stops, lateness under 1% of the objective).
    One portfolio member, 60 s, seeds 0-8, summed objective against a fixed 30%: scale 30
    F1 -1.1% (better on 7 of 9), G1 equal (-0.03%); scale 10 F1 -2.0% (8 of 9) but G1
    +0.9% (seeds 0-13, 4 of 14 better). Lateness-heavy rotas (E1's: a third of the
    objective, as in the published best) keep 30%."""
    late = now.lateness_cost(p.problem.weights)
    return LATE_SEED_SHARE * min(1.0, LATE_SEED_SCALE * late / max(1, now.total))


def _late_seed(p: CompiledProblem, b: Builder, placed: list[tuple[int, ...]],
               rng: random.Random) -> tuple[int, ...] | None:
    """One of the five latest groups, if any is late: the ruin then frees the stretch around
    the stops that carry the lateness (and the max-lateness term), as the LNS's late focus
    does. Measured from the relocation optimum (1,200 steps, three seeds): HHCRSP C1
    48,503/44,285/43,679 -> 35,203/37,558/42,791, E1 about 4% lower, D1 unchanged."""
    def late(g: tuple[int, ...]) -> int:
        return b.plan.start[g[0]] - p.visits[g[0]].latest

    worst = [g for g in heapq.nlargest(5, placed, key=late) if late(g) > 0]
    return rng.choice(worst) if worst else None


#: Most groups a crossover child re-inserts (the nearest of those its parents disagree on):
#: on HHCRSP F1, children of two basins' optima with 99-101 groups out never fitted again.
CROSSOVER_MAX = 60


def crossover(p: CompiledProblem, el: Eligibility, a: Plan, b: Plan, rng: random.Random,
              keep: frozenset[int] = frozenset()) -> Plan | None:
    """A child of two rotas: `a` with the groups it places on other carers than `b` does, in
    the half of the placed groups nearest a random stop, taken out and inserted again
    (double-ups first, else in random order, each at its cheapest place). None when one no
    longer fits (a child never leaves a visit out that `a` covers).

    Why: two local optima of ruin and recreate agree on most of a rota; where they disagree
    is where neither is sure, and re-inserting exactly that stretch, then ruin and recreate
    again, reaches optima neither run found. HHCRSP F1, from pairs of ruin-and-recreate
    optima (seeds 0-3), four children each: -3.9%, 0, -8.5%, -0.8% against the better
    parent, where as many random groups taken out gave 0, 0, -1.2%, 0."""
    carers_a, carers_b = a.carers_of(), b.carers_of()
    placed = [tuple(g) for g in groups(p) if g[0] in a.start
              and not any(v in keep for v in g)]
    if not placed:
        return None
    row = p.travel.for_mode("drive")[p.visits[rng.choice(placed)[0]].point]
    placed.sort(key=lambda g: int(row[p.visits[g[0]].point]))
    differ = [g for g in placed[:len(placed) // 2]
              if sorted(carers_a[g[0]]) != sorted(carers_b.get(g[0], ()))][:CROSSOVER_MAX]
    # Insertion orders as ruin and recreate varies them (random, earliest window, tightest
    # window; double-ups first): where one strands a group, another often fits them all.
    orders = (lambda g: 0, lambda g: p.visits[g[0]].earliest,
              lambda g: el.latest_of[g[0]] - p.visits[g[0]].earliest)
    for order in orders:
        builder = Builder(p, el, a)
        out = []
        for g in differ:
            if builder.can_take_out(g):
                builder.take_out(g)
                out.append(g)
        if not out:
            return None
        rng.shuffle(out)
        out.sort(key=lambda g: (-len(g), order(g)))
        if all(builder.insert_group(list(g)) for g in out):
            log.debug("crossover: %d groups out and in again", len(out))
            return _done(builder)
    log.debug("crossover: %d groups out, one no longer fits", len(out))
    return None


def cover_ruin(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float,
               rng: random.Random, keep: frozenset[int] = frozenset(),
               max_iterations: int = 10**9) -> Plan:
    """Cover more visits: take out a few groups that eligible carers of an uncovered group
    do around its window, insert the uncovered group first, then the others where they
    fit; keep the result when the objective (uncovered terms first) drops, else undo.

    Why beside the ejection-pool repair: that walk evicts what blocks one carer's slot and
    queues it; this one clears a random stretch of several carers at once and re-places
    everything in one move, the chains of moves the last uncovered visits need."""
    b = Builder(p, el, plan)
    group_of, todo = _coverable(p, el)
    slack = COVER_SLACK_MINUTES * max(1, p.problem.weights.travel_minute)
    best, best_key = b.plan.copy(), (score(p, el, b.plan).unassigned, score(p, el, b.plan).total)
    for _ in range(max_iterations):
        if time.monotonic() > deadline:
            break
        missing = [g for g in todo if g[0] not in b.plan.start]
        if not missing:
            break
        # A slightly worse rota may be kept (threshold acceptance), so the walk can cross
        # plateaus of equal cover; the best rota seen is what is returned.
        if _cover_step(p, el, b, rng.choice(missing), group_of, keep, rng,
                       int(rng.random() * slack)):
            now = score(p, el, b.plan)
            if (now.unassigned, now.total) < best_key:
                best, best_key = b.plan.copy(), (now.unassigned, now.total)
    best.sort_routes()
    return best


def _coverable(p: CompiledProblem, el: Eligibility
               ) -> tuple[dict[int, tuple[int, ...]], list[tuple[int, ...]]]:
    """Each visit's group, and the groups some carers could cover."""
    group_of = {v: tuple(g) for g in groups(p) for v in g}
    todo = [g for g in dict.fromkeys(group_of.values())
            if all(el.vehicles_of[v] and not el.reasons[v] for v in g)]
    return group_of, todo


def _cover_step(p: CompiledProblem, el: Eligibility, b: Builder, u: tuple[int, ...],
                group_of: dict[int, tuple[int, ...]], keep: frozenset[int], rng: random.Random,
                threshold: int, deltas: list[int] | None = None) -> bool:
    """Take out up to 2 x RUIN_MAX groups that u's eligible carers do around u's window
    (nearest in space and time first), insert u, then them; kept when the objective, its
    uncovered terms included, changes by less than `threshold`."""
    vis = p.visits[u[0]]
    lo, hi = vis.earliest - COVER_REACH, vis.latest + vis.duration + COVER_REACH
    near = {group_of[w] for v in u for k in el.vehicles_of[v] for w in b.plan.routes[k]
            if lo <= b.plan.start[w] <= hi}
    near = {g for g in near if not any(v in keep for v in g)}
    if not near:
        return False
    row, mid = b.rows["drive"][vis.point], (vis.earliest + vis.latest) // 2
    chosen = heapq.nsmallest(rng.randint(2, 2 * RUIN_MAX), sorted(near), key=lambda g: int(
        row[p.visits[g[0]].point]) + abs(b.plan.start[g[0]] - mid)
        // RELATED_MINUTES + rng.random())
    chosen += [g for g in _capped_extra(p, el, b, u, group_of, keep, rng) if g not in chosen]
    return _move_groups(p, el, b, chosen, rng, first=(u,), threshold=threshold,
                        deltas=deltas)


def _capped_extra(p: CompiledProblem, el: Eligibility, b: Builder, u: tuple[int, ...],
                  group_of: dict[int, tuple[int, ...]], keep: frozenset[int], rng: random.Random
                  ) -> list[tuple[int, ...]]:
    """A few stops from anywhere in the day of one of u's eligible carers whose daily cap
    has no room for u: only work taken off elsewhere in that day makes room, and stops
    around u's window alone never free it (the planted week's last uncovered visits had
    one to seven eligible carers, most within 15 minutes of their cap). Only stops three or
    more vehicles could do: others rarely find another carer and only churn the step.
    One worker, 30 s, seeds 0-6: planted c120 4,833 visits covered against 4,825 (a full
    cover on seed 0), the week 4,972 against 4,976."""
    capped = []
    for v in u:
        vis = p.visits[v]
        day = p.day_of(vis.earliest)
        for k in el.vehicles_of[v]:
            carer = p.carers[el.vehicles[k].carer]
            if b.plan.routes[k] and carer.max_day is not None and (
                    b.work_day[(carer.index, day)] + vis.duration > carer.max_day):
                capped.append(k)
    if not capped:
        return []
    route = [w for w in b.plan.routes[rng.choice(capped)] if len(el.vehicles_of[w]) > 2]
    picks = rng.sample(route, min(len(route), rng.randint(1, CAPPED_EXTRA)))
    return [group_of[w] for w in picks if not any(x in keep for x in group_of[w])]
