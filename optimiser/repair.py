"""Ejection-pool repair: cover the visits a greedy rota left out by evicting easier ones.

Why: on tight rotas (every carer busy to the end of the shift, windows of an
hour) the last few visits fit nowhere as things stand, and a CP-SAT
neighbourhood of a few carers rarely holds the whole chain of moves that
makes room (measured on planted instances: 2-4 visits stayed out at 30 s). The
route-minimisation heuristic of Nagata and Braysy (2009) is built for this:
take a visit from the pool of uncovered ones; insert it if it fits, else
evict the stops in its way whose eviction counters are lowest, insert it,
and put the evicted stops in the pool. Counters grow each time a visit fails
to fit, so hard visits get in and easy ones, which fit elsewhere, go out; the
pool empties when a full cover is reachable. Every step is a Builder
insertion, so every plan on the way keeps every rule; each step costs
milliseconds, thousands of times cheaper than a sub-solve.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict

from optimiser.construct import Builder, groups
from optimiser.domain.compiled import CompiledProblem
from optimiser.local import STEP_COST, StepCost, cover_ruin, steps_per_second
from optimiser.plan import Plan
from optimiser.prune import Eligibility

#: Stops whose time is this close to a visit's window are candidates for eviction.
REACH = 45
#: Travel allowance around a visit when clearing a carer's time for it.
SLACK = 15
#: Start minutes tried across a visit's window, and the largest eviction sets (single
#: visit, double-up) built from what a carer does while the visit would run.
STEP, MAX_SINGLE, MAX_DOUBLE = 10, 4, 6
#: Steps without a better plan before the walk starts over.
RESTART = 300
#: Pool steps a second when runs must be reproducible (one worker), as insertion places
#: scanned a second (see `optimiser.local.steps_per_second`): about half the rate measured
#: on planted days and weeks.
POOL_COST = StepCost(20_000)
#: Uncovered visits above the best before the walk restarts from the best.
DRIFT = 2
#: A visit just placed cannot be evicted again for this many steps (+ up to as many more at
#: random): without it two visits evict each other forever (measured on a planted week).
TABU = 8
#: Eviction sets tried per pool visit before it waits for another turn.
TRIES = 40


def has_uncovered(p: CompiledProblem, el: Eligibility, plan: Plan) -> bool:
    """Some visit that a carer could take is not covered (not one pruning already ruled out,
    such as a double-up with a single eligible carer: every repair burst and cover
    neighbourhood spent on it would be wasted)."""
    return bool(uncovered(p, el, plan))


def uncovered(p: CompiledProblem, el: Eligibility, plan: Plan) -> list[int]:
    """The visits `has_uncovered` looks for."""
    return [v.index for v in p.visits if v.index not in plan.start and el.vehicles_of[v.index]
            and not el.reasons[v.index]]


def cover_more(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float, seconds: float,
               rng: random.Random, must: frozenset[int], reproducible: bool,
               ruin: bool = False, spent: list[float] | None = None) -> Plan:
    """`repair` as the solver calls it: only while visits are out, keeping the `must` visits
    already covered, and with `reproducible` (one worker) on a step budget worth `seconds`
    instead of the clock. `ruin`: cover by ruin and recreate (`optimiser.local.cover_ruin`)
    instead of the ejection pool. `spent` gets the ejection pool's steps in seconds of
    budget when `reproducible`, so one worker's later phases get what it left."""
    if not has_uncovered(p, el, plan):
        return plan
    keep = frozenset(v for v in must if v in plan.start)
    # The rate walks every visit's eligible vehicles: only one worker's budget needs it,
    # and the LNS calls this on every burst.
    rate = steps_per_second(p, el, plan, STEP_COST if ruin else POOL_COST) \
        if reproducible else None
    steps = int(rate * seconds) if rate is not None else 10**9
    if ruin:
        return cover_ruin(p, el, plan, deadline, rng, keep, steps)
    used: list[int] = []
    out = repair(p, el, plan, deadline, rng, keep=keep, max_steps=steps, used=used)
    if spent is not None and rate is not None:
        spent.append(used[0] / rate)
    return out


def uncovered_weight(p: CompiledProblem, plan: Plan, visits: list[int]) -> int:
    """The objective's coverage term (critical x10, high x3, double-ups count twice)."""
    return sum(p.visits[v].weight * p.visits[v].required for v in visits if v not in plan.start)


class _Repair:
    def __init__(self, p: CompiledProblem, el: Eligibility, plan: Plan, rng: random.Random,
                 keep: frozenset[int]) -> None:
        self.p, self.el, self.rng = p, el, rng
        self.b = Builder(p, el, plan)
        self.keep = keep  # never evicted (package matching's committed calls)
        self.group_of: dict[int, tuple[int, ...]] = {}
        for g in groups(p):
            for v in g:
                self.group_of[v] = tuple(g)
        self.counter: dict[tuple[int, ...], int] = defaultdict(int)
        self.steps = 0
        self.tabu_until: dict[tuple[int, ...], int] = {}

    def coverable(self, g: tuple[int, ...]) -> bool:
        return all(self.el.vehicles_of[v] for v in g)

    def _placement(self, g: tuple[int, ...]) -> dict[int, tuple[list[int], int]]:
        return {v: (self.b.vehicles_doing(v), self.b.plan.start[v]) for v in g}

    def _put_back(self, g: tuple[int, ...], where: dict[int, tuple[list[int], int]]) -> None:
        for v in g:
            ks, start = where[v]
            self.b._commit([(self.b._gap_back(k, v, start), v) for k in ks], start)

    def _evictable(self, h: tuple[int, ...]) -> bool:
        return not self.tabu(h) and not any(x in self.keep for x in h)

    def _candidates(self, g: tuple[int, ...]) -> list[tuple[float, tuple[tuple[int, ...], ...]]]:
        """Eviction sets in the way of g, cheapest counters first: one or two nearby stops of
        a carer, or everything a carer (two carers for a double-up) does while g would run
        at one of a few start minutes (a long or double-handed visit needs a clear hour)."""
        p, plan = self.p, self.b.plan
        lo = min(p.visits[v].earliest for v in g)
        hi = max(self.el.latest_of[v] for v in g)
        dur = max(p.visits[v].duration for v in g)
        slots = sum(p.visits[v].required for v in g)
        vehicles = sorted({k for v in g for k in self.el.vehicles_of[v]})

        def blocking(k: int, a: int, b: int) -> tuple[tuple[int, ...], ...] | None:
            out: list[tuple[int, ...]] = []
            for u in plan.routes[k]:
                su = plan.start[u]
                if su < b and su + p.visits[u].duration > a:
                    h = self.group_of[u]
                    if not self._evictable(h):
                        return None
                    if h not in out:
                        out.append(h)
            return tuple(out)

        sets: set[tuple[tuple[int, ...], ...]] = set()
        for k in vehicles if slots == 1 else ():
            near = blocking(k, lo - REACH, hi + dur + REACH) or ()
            sets.update((h,) for h in near)
            sets.update(tuple(sorted(pair)) for pair in itertools.combinations(near, 2))
            if any(True for _gap in self.b.gaps(k, g[0], *self.b.bounds(g[0]))):
                sets.update((h,) for h in self._capped(k, lo, dur))  # time is there, minutes not
        for t in range(lo, hi + 1, STEP):
            blocks = [b for k in vehicles if (b := blocking(k, t - SLACK, t + dur + SLACK))]
            if slots == 1:
                sets.update(tuple(sorted(b)) for b in blocks if len(b) <= MAX_SINGLE)
            else:
                for b1, b2 in itertools.combinations(blocks, 2):
                    both = tuple(sorted(set(b1) | set(b2)))
                    if len(both) <= MAX_DOUBLE:
                        sets.add(both)
        sets.discard(())
        scored = [(sum(self.counter[h] for h in s) + 0.5 * len(s) + self.rng.random() * 0.1, s)
                  for s in sets]
        scored.sort()
        return scored[:TRIES]

    def _capped(self, k: int, lo: int, dur: int) -> list[tuple[int, ...]]:
        """Any stop of k's day when the carer's daily or horizon cap leaves no room for `dur`
        more minutes (then the stop in the way is not the problem: the minutes are)."""
        p, b = self.p, self.b
        c = self.el.vehicles[k].carer
        carer = p.carers[c]
        day = p.day_of(lo)
        by_day = carer.max_day is not None and b.work_day[(c, day)] + dur > carer.max_day
        by_total = carer.max_total is not None and b.work_total[c] + dur > carer.max_total
        if not (by_day or by_total):
            return []
        out = []
        for u in b.plan.routes[k]:
            h = self.group_of[u]
            if (by_total or p.day_of(b.plan.start[u]) == day) and h not in out \
                    and self._evictable(h):
                out.append(h)
        return out

    def tabu(self, h: tuple[int, ...]) -> bool:
        return self.tabu_until.get(h, 0) > self.steps

    def step(self, g: tuple[int, ...]) -> list[tuple[int, ...]] | None:
        """Place g, evicting what is in its way; the evicted groups, or None if g cannot go in."""
        self.steps += 1
        self.tabu_until[g] = self.steps + TABU + self.rng.randrange(TABU + 1)
        if self.b.insert_group(g):
            return []
        self.counter[g] += 1
        for _cost, evict in self._candidates(g):
            where = {h: self._placement(h) for h in evict}
            touched = {k for h in evict for ks, _start in where[h].values() for k in ks}
            taken = []
            for h in evict:  # one by one: two stops out of one route leave new neighbours
                if not self.b.can_take_out(h):
                    break
                self.b.take_out(h)
                taken.append(h)
            if len(taken) == len(evict) and self.b.insert_group(g, only=touched):
                return list(evict)
            for h in taken:
                self._put_back(h, where[h])
        return None


def repair(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float, rng: random.Random,
           keep: frozenset[int] = frozenset(), max_steps: int = 20_000,
           used: list[int] | None = None) -> Plan:
    """The plan with the fewest uncovered visits (by weight) the ejection pool reached.

    Stops when every coverable visit is in, when the deadline passes, or after
    `max_steps` pool steps (`used` gets the count); `keep` visits are never evicted. A
    walk that drifts DRIFT visits above the best goes back to the best plan (counters
    kept); one that goes RESTART steps without a better plan starts over from the best
    with fresh counters.
    """
    r = _Repair(p, el, plan, rng, keep)
    coverable = el.coverable

    def pool_of(current: Plan) -> list[tuple[int, ...]]:
        out = [g for g in {r.group_of[v] for v in coverable if v not in current.start}
               if r.coverable(g)]
        out.sort()
        rng.shuffle(out)
        return out

    pool = pool_of(plan)
    best, best_weight, best_size = plan, uncovered_weight(p, plan, coverable), len(pool)
    stuck: list[tuple[int, ...]] = []
    since = 0  # steps since the best improved
    steps = 0
    for _ in range(max_steps):
        if not pool:  # everything left was stuck for now: give it another round
            pool, stuck = stuck, []
            rng.shuffle(pool)
        if not pool or time.monotonic() > deadline:
            break
        steps += 1
        g = pool.pop()
        evicted = r.step(g)
        if evicted is None:
            stuck.append(g)
            continue
        since += 1
        if since > RESTART:
            # Runs either finish fast or cycle (measured: under a second, or not in 10 s on
            # 50-90 visit days), so a cycling walk starts over with fresh counters.
            r = _Repair(p, el, best, rng, keep)
            pool, stuck, since = pool_of(best), [], 0
            continue
        pool.extend(evicted)
        weight = uncovered_weight(p, r.b.plan, coverable)
        if weight < best_weight:
            best, best_weight, best_size = r.b.plan.copy(), weight, len(pool) + len(stuck)
            best.sort_routes()
            since = 0
            if not best_weight:
                break
        elif len(pool) + len(stuck) > best_size + DRIFT:
            r.b = Builder(p, el, best)
            pool, stuck = pool_of(best), []
    if used is not None:
        used.append(steps)
    return best
