"""Synchronisation-aware cheapest insertion: the starting rota for the search.

Why this shape: CP-SAT finds nothing useful at 150+ visits without a complete
starting point (solver-lab notes), and routing libraries cannot insert a
double-up's two slots together. Here every *group* of slots that must start
at the same minute (a double-handed visit, or a 0-0 `follows` pair) is
inserted at once: each candidate vehicle offers the time intervals its gaps
allow, and a sweep over start minutes picks the cheapest set of distinct
carers sharing one start. Placed stops keep their start minutes (no pushing),
which keeps every check local and exact; re-timing is the LNS's job.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
import random
import time
from collections import defaultdict
from collections.abc import Container, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from optimiser.domain.compiled import CompiledProblem
from optimiser.plan import Plan, mismatch, work_by_day
from optimiser.prune import Eligibility, components

INF = 10**9


#: Passes over a route moving stops towards their preferred minutes (`toward_preferred`),
#: alternately forwards and backwards, so a stop held by its neighbour moves once it has.
PREFERRED_PASSES = 4
#: Places of each half a precedence pair's joint insertion weighs (`Builder.insert_pair`).
PAIR_LOOKAHEAD = 6


class Gap(NamedTuple):
    """A place in vehicle k's route where a visit fits, starting anywhere in [lo, hi].
    (A named tuple: half a million are made in 1,500 ruin steps on HHCRSP G1, and a frozen
    dataclass's init cost a fortieth of a step.)"""

    vehicle: int
    position: int
    lo: int
    hi: int
    delta_travel: int


class Builder:
    """Inserts visit groups into a plan, keeping every rule of the spec."""

    def __init__(self, p: CompiledProblem, el: Eligibility, plan: Plan | None = None,
                 banned: frozenset[int] = frozenset()) -> None:
        self.p, self.el = p, el
        self.plan = plan.copy() if plan is not None else Plan.empty(len(el.vehicles))
        self.banned = banned  # visits never to insert (e.g. kept out by the caller)
        # With penalised lateness an insertion may push untied neighbours past their windows
        # when that pays; its price then includes their added lateness (`start_cost`).
        w = p.problem.weights
        self.push_late = p.lateness_penalised and (w.lateness_minute > 0
                                                   or w.max_lateness_minute > 0)
        self._top: int | None = None  # the plan's max lateness, cached per insertion
        # The price of the last group `insert_group` placed (its objective change as
        # insertion prices it; `optimiser.local` stops a ruin step that can no longer pay).
        self.last_price = 0
        #: The search's random source while it anneals: a synchronised group then starts at a
        #: random minute its cheapest place allows, not always the first (`_jittered`).
        self.sync_jitter: random.Random | None = None
        self.latest_minute = [v.latest for v in p.visits]  # by visit index
        self._capped = [p.carers[veh.carer].max_day is not None
                        or p.carers[veh.carer].max_total is not None for veh in el.vehicles]
        self._slack: dict[tuple[int, bool], tuple[Hashable, tuple[list[int], list[int]]]] = {}
        self._mismatches: dict[tuple[int, int], bool] = {}
        n = len(p.point_keys)
        self.rows = p.travel.rows if n <= 4000 else dict(p.travel.minutes)
        # Each vehicle's own matrix, looked up once: `t` runs millions of times a search.
        self._mat = [self.rows.get(p.carers[veh.carer].mode, self.rows["drive"])
                     for veh in el.vehicles]
        self.followers: dict[int, list[int]] = defaultdict(list)
        self.partnered: set[int] = set()  # predecessors of 0-0 pairs
        # Visits tied to others only by `follows` gaps (not 0-0, not double-ups): insertion
        # may re-time them inside what their partners' current starts allow.
        self.gap_partners: dict[int, list[int]] = defaultdict(list)
        # Each visit's partners by `follows` of either kind, either way round (`_settle_tied`).
        ties: dict[int, list[int]] = defaultdict(list)
        for v in p.visits:
            if v.follows is not None and not v.follows.synchronised:
                self.followers[v.follows.pred].append(v.index)
                self.gap_partners[v.index].append(v.follows.pred)
                self.gap_partners[v.follows.pred].append(v.index)
            elif v.follows is not None:
                self.partnered.add(v.follows.pred)
            if v.follows is not None:
                ties[v.index].append(v.follows.pred)
                ties[v.follows.pred].append(v.index)
        self._ties = [tuple(ties[v]) for v in range(len(p.visits))]
        self.gap_tied = frozenset(
            v for v in self.gap_partners if p.visits[v].required == 1 and v not in self.partnered
            and not _synchronised(p, v))
        self._tied_to = [tuple(self.gap_partners[v]) if v in self.gap_tied else ()
                         for v in range(len(p.visits))]
        self._refresh_books()

    # --- bookkeeping -------------------------------------------------------
    def _refresh_books(self) -> None:
        self.work_day: dict[tuple[int, int], int] = defaultdict(int)
        self.work_total: dict[int, int] = defaultdict(int)
        self.client_carers: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for k in range(len(self.plan.routes)):
            self._book(k, 1)

    def _book(self, k: int, sign: int) -> None:
        """Add (sign 1) or take off (sign -1) vehicle k's work minutes and client counts."""
        c = self.el.vehicles[k].carer
        for day, minutes in self._work(k, self.plan.routes[k]).items():
            self.work_day[(c, day)] += sign * minutes
            self.work_total[c] += sign * minutes
        for v in self.plan.routes[k]:
            seen = self.client_carers[self.p.visits[v].client]
            seen[c] += sign
            if not seen[c]:
                del seen[c]

    def set_routes(self, routes: Mapping[int, list[int]]) -> None:
        """Give vehicles new routes of placed stops (starts unchanged), books kept exact; the
        caller checks the rules (`optimiser.exchange` swaps tails this way)."""
        for k in routes:
            self._book(k, -1)
        for k, route in routes.items():
            self.plan.routes[k] = route
        for k in routes:
            self._book(k, 1)

    def matrix(self, k: int) -> Any:
        """Vehicle k's travel minutes by its carer's mode, rows by point (list rows; a numpy
        matrix on problems of over 4,000 points)."""
        return self._mat[k]

    def restore(self, before: Plan, vehicles: Iterable[int]) -> None:
        """Undo every change since `before` was copied, when only `vehicles` changed: their
        routes and all starts come back, and only their books are recounted."""
        vehicles = set(vehicles)
        for k in vehicles:
            self._book(k, -1)
        self.plan.start = dict(before.start)
        for k in vehicles:
            self.plan.routes[k] = list(before.routes[k])
            self._book(k, 1)

    def settle(self, vehicles: Iterable[int], tied: bool = False) -> set[int]:
        """Pull late stops earlier, no earlier than their window's end, where their routes
        now allow (lateness-penalised problems only); the vehicles whose starts changed.

        Why: a stop pushed late keeps its minute when what pushed it leaves; without this,
        taking a visit out never lowers its neighbours' lateness, so moves that would cut
        tardiness looked useless. Earlier within the stop's own slot keeps every rule but
        the break, which is checked; a route that would lose its break stays as it was.
        Late stops tied to other routes move with them (`_settle_tied`)."""
        if not self.push_late:
            return set()
        vehicles = set(vehicles)
        if tied:
            moved = self._settle_tied(vehicles)
            if moved is not None:
                return moved
        p = self.p
        out: set[int] = set()
        for k in vehicles:
            veh, route = self.el.vehicles[k], self.plan.routes[k]
            prev_pt, prev_end = veh.shift.start_point, veh.shift.start
            changed: dict[int, int] = {}
            for v in route:
                vis, s = p.visits[v], self.plan.start[v]
                if s > vis.latest and self.movable(v):
                    ready = max(vis.earliest, prev_end + self.t(k, prev_pt, vis.point))
                    if max(ready, vis.latest) < s:
                        s = changed[v] = max(ready, vis.latest)
                prev_pt, prev_end = vis.point, s + vis.duration
            if not changed or (p.carers[veh.carer].break_after is not None
                               and not self.break_ok(k, route, changed)):
                continue
            self._book(k, -1)
            self.plan.start.update(changed)
            self._book(k, 1)
            out.add(k)
        return out

    def _settle_tied(self, vehicles: set[int]) -> set[int] | None:
        """`settle` where a late stop on these routes is tied to another route, over every
        route linked to them through `follows` gaps, 0-0 pairs and double-ups: first the
        least starts their orders, travel, windows' starts and gaps allow (which minimise
        every stop's lateness at once), then the latest starts with that lateness: no stop
        later than now, a stop late at its least start no later than that, any other no
        later than its window's end (both by label correcting over the difference
        constraints). Only stops on time at their least start keep room to move, so
        insertion before tied stops still finds room. None when no late stop is tied, or a
        carer would lose the break or a capped carer's stop its day (then `settle` pulls
        untied stops alone).

        Why: a late stop tied to a partner on another route could not move, so taking a
        visit out of a congested route whose later stops all have partners (HHCRSP D10: the
        one carer with skill s0, 15 of whose 17 stops have a second service by another
        carer) showed little gain. On one D10 rota (36,213), taking that carer's stop p11
        out left 11,876 minutes of lateness where the routes allowed 9,413. Moving p11 to
        the other carer able to take it (and one of that carer's stops later) is 0.9%
        cheaper with every route re-timed, and a search from there reached 35,169 (1.018 x
        best-known) in 30 s; the search itself had never kept the move. One search, 60 s,
        against before: D10 -1.0% over seeds 0-3 (35,653 at seed 0 against 36,213); over
        seeds 0-1, D5 -0.7%, E1 +0.6%, and C2, D1, D4, E2, E5, F1, F5, G1 +0.2% summed."""
        p, start, routes, latest = self.p, self.plan.start, self.plan.routes, self.latest_minute
        if not any(start[v] > latest[v] and not self.movable(v) for k in vehicles
                   for v in routes[k]):
            return None
        where = self.plan.carers_of()
        linked, todo = set(vehicles), list(vehicles)
        while todo:
            for v in routes[todo.pop()]:
                for w in (v, *self._ties[v]):
                    for k in where.get(w, ()):
                        if k not in linked:
                            linked.add(k)
                            todo.append(k)
        low: dict[int, int] = {}
        edges: list[tuple[int, int, int, int]] = []  # (start now of a, a, b, minutes)
        for k in linked:
            veh, route = self.el.vehicles[k], routes[k]
            prev: int | None = None
            for v in route:
                vis = p.visits[v]
                floor = vis.earliest
                if prev is None:
                    floor = max(floor, veh.shift.start + self.t(k, veh.shift.start_point, vis.point))
                else:
                    pv = p.visits[prev]
                    edges.append((start[prev], prev, v, pv.duration + self.t(k, pv.point, vis.point)))
                low[v] = max(low.get(v, floor), floor)
                prev = v
        for v in low:
            f = p.visits[v].follows
            if f is not None and f.pred in low:
                edges += [(start[f.pred], f.pred, v, f.lo), (start[v], v, f.pred, -f.hi)]
        edges.sort()
        least = earliest_times(low, [(a, b, gap) for _s, a, b, gap in edges])
        if least is None:
            return None
        # Packed at their least starts, tied stops left insertion no room: ruin steps on D10
        # that took out two stops and put them back ended 19-30% worse. The latest starts
        # are the least of the negated times, every edge turned round.
        top = {v: -min(start[v], max(m, latest[v])) for v, m in least.items()}
        latest_first = earliest_times(top, [(b, a, gap) for _s, a, b, gap in reversed(edges)])
        if latest_first is None:
            return None
        t = {v: -int(m) for v, m in latest_first.items()}
        moved = {v: m for v, m in t.items() if m != start[v]}
        if not moved:
            return set()
        if any(m > start[v] for v, m in moved.items()):
            return None  # not from a valid rota
        ks = {k for v in moved for k in where[v]}
        for k in ks:
            mine = {v: moved[v] for v in routes[k] if v in moved}
            if self._capped[k] and any(p.day_of(m) != p.day_of(start[v]) for v, m in mine.items()):
                return None  # a capped carer's day would lose or gain work minutes
            if p.carers[self.el.vehicles[k].carer].break_after is not None and \
                    not self.break_ok(k, routes[k], mine):
                return None
        for k in ks:
            self._book(k, -1)
        start.update(moved)
        for k in ks:
            self._book(k, 1)
        return ks

    def toward_preferred(self, vehicles: Iterable[int]) -> int:
        """Move untied stops towards their preferred start minutes, as far as their
        neighbours, windows and shift allow (where the preferred start is weighted).

        Why: insertion takes each place at its gap's first minute, packing routes so that
        later insertions fit (placing at the preferred minute instead left fewer crossover
        children that fit: 9 of 18 against 13); the rota then kept visits early. On the
        planted week (whose hidden rota starts every visit at its preferred minute) ruin
        and recreate ended with 11,000 minutes of deviation, a third of its cost beyond
        travel. A stop moves only within its day and never past its window's end, so work
        minutes, caps and lateness stay, and not where a carer would lose the break. A
        double-up moves when both its carers' routes have room (untied ones: stops tied by
        `follows` stay where the search put them). Returns the objective change (at most 0)."""
        w = self.p.problem.weights
        if not w.preferred_start_minute:
            return 0
        p, start = self.p, self.plan.start
        gain, top = 0, None  # the objective change; the max lateness before, once asked
        for k in vehicles:
            route = self.plan.routes[k]
            n = len(route)
            for turn in range(PREFERRED_PASSES):  # forwards, backwards, ...: chains move
                moved = False
                for i in (range(n) if turn % 2 == 0 else range(n - 1, -1, -1)):
                    v = route[i]
                    vis, s = p.visits[v], start[v]
                    if vis.preferred is None or vis.preferred == s:
                        continue
                    if self.movable(v):
                        lo, hi = self._room(k, i)
                    elif self._double(v):  # both carers' routes must have room
                        other = [j for j in self.vehicles_doing(v) if j != k]
                        if len(other) != 1:
                            continue
                        lo, hi = self._room(k, i)
                        lo2, hi2 = self._room(other[0], self.plan.routes[other[0]].index(v))
                        lo, hi = max(lo, lo2), min(hi, hi2)
                    else:
                        continue
                    hi = min(hi, max(vis.latest, s))
                    to = lo if vis.preferred < lo else hi if vis.preferred > hi else vis.preferred
                    change = self.time_cost(v, to) - self.time_cost(v, s)
                    if lo <= hi and change < 0 and p.day_of(to) == p.day_of(s) \
                            and self._breaks_kept(v, to):
                        if s > vis.latest and top is None and w.max_lateness_minute:
                            top = max_lateness(start, self.latest_minute)
                        gain += change
                        start[v], moved = to, True
                if not moved:
                    break
        if top is not None:  # a late stop moved earlier: the plan's max lateness may fall
            gain += w.max_lateness_minute * (max_lateness(start, self.latest_minute) - top)
        return gain

    def _room(self, k: int, i: int) -> tuple[int, int]:
        """Earliest and latest start of route k's i-th stop with its neighbours where they
        are, inside its window's start (its end is the caller's)."""
        p, start, route, veh = self.p, self.plan.start, self.plan.routes[k], self.el.vehicles[k]
        vis = p.visits[route[i]]
        if i:
            prev = p.visits[route[i - 1]]
            lo = start[route[i - 1]] + prev.duration + self.t(k, prev.point, vis.point)
        else:
            lo = veh.shift.start + self.t(k, veh.shift.start_point, vis.point)
        if i + 1 < len(route):
            nxt = p.visits[route[i + 1]]
            hi = start[route[i + 1]] - self.t(k, vis.point, nxt.point)
        else:
            hi = veh.shift.end - self.t(k, vis.point, veh.shift.end_point)
        return max(lo, vis.earliest), hi - vis.duration

    def _double(self, v: int) -> bool:
        """A double-up tied to no other visit: its two carers' stops move together."""
        return self.p.visits[v].required == 2 and self._untied(v)

    def _breaks_kept(self, v: int, to: int) -> bool:
        """Whether every carer doing v keeps the break rule with v starting at `to`."""
        for k in self.vehicles_doing(v):
            if self.p.carers[self.el.vehicles[k].carer].break_after is not None \
                    and not self.break_ok(k, self.plan.routes[k], {v: to}):
                return False
        return True

    def vehicles_doing(self, v: int) -> list[int]:
        """The vehicles doing visit v now (two for a double-up)."""
        return [k for k in self.el.vehicles_of[v] if v in self.plan.routes[k]]

    def vehicles_of_group(self, group: Iterable[int]) -> set[int]:
        """The vehicles doing any visit of `group` now."""
        return {k for v in group for k in self.vehicles_doing(v)}

    def take_out(self, group: Iterable[int]) -> None:
        """Take a placed group off every carer doing it, books kept exact."""
        for v in group:
            ks = self.vehicles_doing(v)
            for i, k in enumerate(ks):
                self._take_out(k, v, last=i == len(ks) - 1)

    def t(self, k: int, a: int | None, b: int | None) -> int:
        if a is None or b is None:
            return 0
        return int(self._mat[k][a][b])

    def vehicle_work(self, k: int, route: Sequence[int], extra: dict[int, int] | None = None
                     ) -> dict[int, int]:
        """Visit + travel minutes per calendar day of a route, as the validator counts them."""
        starts: Mapping[int, int] = self.plan.start if not extra else _Overlay(self.plan.start, extra)
        legs, back = self.route_travel(k, route)
        if route:  # one calendar day (most shifts): no per-stop day lookups
            day = self.p.day_of(starts[route[0]])
            if day == self.p.day_of(starts[route[-1]]):
                visits = self.p.visits
                return {day: sum(legs) + back + sum(visits[v].duration for v in route)}
        return work_by_day(self.p, route, starts, legs, back)

    def route_travel(self, k: int, route: Sequence[int]) -> tuple[list[int], int]:
        """`optimiser.plan.route_travel` on the Builder's list matrices (numpy indexing one
        leg at a time cost a fifth of a ruin-and-recreate step on planted days)."""
        veh, mat, visits = self.el.vehicles[k], self._mat[k], self.p.visits
        prev, legs = veh.shift.start_point, []
        for v in route:
            pt = visits[v].point
            legs.append(int(mat[prev][pt]) if prev is not None else 0)
            prev = pt
        end = veh.shift.end_point
        back = int(mat[prev][end]) if route and end is not None and prev is not None else 0
        return legs, back

    def _work(self, k: int, route: Sequence[int], extra: dict[int, int] | None = None
              ) -> dict[int, int]:
        """`vehicle_work` where the books need it: only carers with a daily or horizon cap
        are counted (a third of a ruin-and-recreate step went on counting uncapped ones)."""
        return self.vehicle_work(k, route, extra) if self._capped[k] else {}

    def _work_with(self, gap: Gap, v: int, route: Sequence[int], old: dict[int, int],
                   moved: dict[int, int]) -> dict[int, int]:
        """`_work` of `route`, vehicle `gap.vehicle`'s route with v inserted at the gap and
        `moved` re-timed, from its work before (`old`): when the route stays on one calendar
        day its work grows by v's minutes and the gap's added travel, as `vehicle_work` sums
        them. Why: recounting the route per checked placement was a fifth of a ruin step on
        the planted week (capped carers)."""
        k = gap.vehicle
        if not self._capped[k] or len(old) > 1:
            return self._work(k, route, moved)
        start, day_of = self.plan.start, self.p.day_of
        first, last = route[0], route[-1]
        day = day_of(moved[first] if first in moved else start[first])
        if day != day_of(moved[last] if last in moved else start[last]) or (old and day not in old):
            return self._work(k, route, moved)
        return {day: old.get(day, 0) + self.p.visits[v].duration + gap.delta_travel}

    # --- candidate gaps ----------------------------------------------------
    def bounds(self, v: int) -> tuple[int, int]:
        """Start interval of visit v from its window and assigned `follows` partners."""
        vis = self.p.visits[v]
        lo, hi = vis.earliest, self.el.latest_of[v]
        f = vis.follows
        if f is not None and not f.synchronised and f.pred in self.plan.start:
            ps = self.plan.start[f.pred]
            lo, hi = max(lo, ps + f.lo), min(hi, ps + f.hi)
        for w in self.followers.get(v, ()):
            if w in self.plan.start:
                fw = self.p.visits[w].follows
                assert fw is not None
                ws = self.plan.start[w]
                lo, hi = max(lo, ws - fw.hi), min(hi, ws - fw.lo)
        return lo, hi

    def movable(self, v: int) -> bool:
        """A placed stop that insertion may re-time inside its window: single-carer and not
        tied to another visit, so moving it moves nothing on any other route."""
        return self.p.visits[v].required == 1 and self._untied(v)

    def _untied(self, v: int) -> bool:
        """Tied to no other visit by a `follows` gap or a 0-0 pair, either way round."""
        return self.p.visits[v].follows is None and v not in self.followers \
            and v not in self.partnered

    def partner_range(self, v: int, on_route: Container[int]) -> tuple[int, int] | None:
        """Start interval a placed stop may move in without moving any other route: its
        window's start up for an untied stop, `bounds` (its window and its `follows` gaps to
        its partners' current starts) for a gap-tied one; None when pinned (double-ups,
        0-0 pairs, and gap-tied stops whose partner is on the same route, which a push
        could move as well).

        Why gap-tied stops move at all: HHCRSP's precedence pairs leave gaps of hours
        between the two services (F1: 58 of 260 stops), and a pinned stop blocks every
        insertion that would push or pull it. One worker, 30 s, seeds 0-2, summed set cost:
        C1 -2.0%, D1 -0.4%, E1 -0.7%, F1 -0.4%, G1 -2.2%. (`settle` pulling them back as
        well was worse on E1, +5.7%, as in session 5.)"""
        if self.movable(v):
            return self.p.visits[v].earliest, INF
        if v not in self.gap_tied or any(w in on_route for w in self.gap_partners[v]):
            return None
        return self.bounds(v)

    def slack(self, k: int, late: bool = False) -> tuple[list[int], list[int]]:
        """Earliest and latest start of each stop of route k, others re-timed within windows
        (cached on the route, its minutes and its gap-tied stops' partners' minutes: repair
        asks for the same routes many times).
        `late`: a stop on time now may be pushed past its window (penalised lateness)."""
        route = self.plan.routes[k]
        start = self.plan.start
        # Built with C-level maps: this key is checked on every gap scan (a tenth of a step).
        key = (tuple(route), tuple(map(start.__getitem__, route)), late,
               tuple(map(start.get, itertools.chain.from_iterable(
                   map(self._tied_to.__getitem__, route)))) if self.gap_tied else ())
        hit = self._slack.get((k, late))
        if hit is not None and hit[0] == key:
            return hit[1]
        out = self._slack_of(k, late)
        self._slack[(k, late)] = (key, out)
        return out

    def _slack_of(self, k: int, late: bool) -> tuple[list[int], list[int]]:
        # Travel read in place and comparisons, not `t`/max/min calls: a seventh of a ruin
        # step on HHCRSP G1 went here. (Visits always have a point; shift ends may not.)
        p, veh = self.p, self.el.vehicles[k]
        visits, start, mat = p.visits, self.plan.start, self._mat[k]
        route = self.plan.routes[k]
        n = len(route)
        es, ls = [0] * n, [0] * n
        on_route = set(route) if self.gap_tied else ()
        ranges = [self.partner_range(v, on_route) for v in route]
        prev_pt, prev_end = veh.shift.start_point, veh.shift.start
        for i, v in enumerate(route):
            vis, r, cur = visits[v], ranges[i], start[v]
            e = cur
            if r:  # as early as its range and the stops before allow, never later than now
                e = prev_end + (int(mat[prev_pt][vis.point]) if prev_pt is not None else 0)
                if e < r[0]:
                    e = r[0]
                if e > cur:
                    e = cur
            es[i] = e
            prev_pt, prev_end = vis.point, e + vis.duration
        latest_of = self.el.latest_of
        next_pt, next_start = veh.shift.end_point, veh.shift.end
        for i in range(n - 1, -1, -1):
            v = route[i]
            vis, r, cur = visits[v], ranges[i], start[v]
            x = cur
            if r:  # as late as its window (or allowed lateness), range and the stops after allow
                x = next_start - vis.duration - (
                    int(mat[vis.point][next_pt]) if next_pt is not None else 0)
                limit = latest_of[v] if late else (vis.latest if vis.latest > cur else cur)
                if x > limit:
                    x = limit
                if x > r[1]:
                    x = r[1]
                if x < cur:
                    x = cur
            ls[i] = x
            next_pt, next_start = vis.point, x
        return es, ls

    def gaps(self, k: int, v: int, lo_v: int, hi_v: int, late: bool = False) -> Iterator[Gap]:
        """Every gap of vehicle k's route where visit v fits inside [lo_v, hi_v], its
        neighbours pulled earlier or pushed later inside their windows where they can be
        (`late`: pushed past their windows too, up to what the solver allows).

        Why only single visits push late (`late` is set for them alone): a synchronised
        group's start sweep would then see nearly every gap at every minute, which halved
        the ruin-and-recreate rate on HHCRSP F1."""
        p, veh = self.p, self.el.vehicles[k]
        carer = p.carers[veh.carer]
        vis = p.visits[v]
        route = self.plan.routes[k]
        es, ls = self.slack(k, late) if route else ([], [])
        max_leg = carer.max_leg
        # Hot loop (most of a ruin-and-recreate step): the matrix and the visit's own row
        # are bound once, and positions whose next stop starts too soon are skipped first,
        # by bisection (latest starts never fall along a route).
        mat, vp, dur = self._mat[k], vis.point, vis.duration
        row = mat[vp]
        n = len(route)
        first = bisect.bisect_left(ls, lo_v + dur)
        prev_pt: int | None
        if first:
            before = p.visits[route[first - 1]]
            prev_pt, prev_end = before.point, es[first - 1] + before.duration
        else:
            prev_pt, prev_end = veh.shift.start_point, veh.shift.start
        for i in range(first, n + 1):
            if prev_end > hi_v:
                return
            next_pt: int | None
            if i < n:
                nxt = p.visits[route[i]]
                next_pt, next_start = nxt.point, ls[i]
                if next_start - dur < lo_v:  # no room before it, whatever the travel
                    prev_pt, prev_end = next_pt, es[i] + nxt.duration
                    continue
            else:
                next_pt, next_start = veh.shift.end_point, veh.shift.end
            t1 = int(mat[prev_pt][vp]) if prev_pt is not None else 0
            t2 = int(row[next_pt]) if next_pt is not None else 0
            # Comparisons, not max/min calls: 3.6 million calls in 1,500 G1 ruin steps.
            lo = prev_end + t1
            if lo < lo_v:
                lo = lo_v
            hi = next_start - t2 - dur
            if hi > hi_v:
                hi = hi_v
            if lo <= hi and (max_leg is None or (t1 <= max_leg and t2 <= max_leg)):
                t0 = int(mat[prev_pt][next_pt]) if route and prev_pt is not None \
                    and next_pt is not None else 0
                yield Gap(k, i, lo, hi, t1 + t2 - t0)
            if i < n:
                prev_pt, prev_end = next_pt, es[i] + nxt.duration

    def retimed(self, k: int, position: int, v: int, start: int) -> dict[int, int]:
        """Start minutes after putting v at `position` of route k at `start`: neighbours
        pushed later or pulled earlier just enough (`gaps` made sure they can be)."""
        p = self.p
        route = list(self.plan.routes[k])
        route.insert(position, v)
        out = {v: start}
        for i in range(position + 1, len(route)):
            a, b = p.visits[route[i - 1]], p.visits[route[i]]
            need = out[route[i - 1]] + a.duration + self.t(k, a.point, b.point)
            if self.plan.start[route[i]] >= need:
                break
            out[route[i]] = need
        for i in range(position - 1, -1, -1):
            a, b = p.visits[route[i]], p.visits[route[i + 1]]
            latest = out[route[i + 1]] - self.t(k, a.point, b.point) - a.duration
            if self.plan.start[route[i]] <= latest:
                break
            out[route[i]] = latest
        return out

    def places(self, v: int, vehicles: Iterable[int], lo: int, hi: int, late: bool = False
               ) -> list[tuple[Gap, int]]:
        """v's gaps on `vehicles` inside [lo, hi], each with its price without the start-time
        terms (travel added, plus `carer_cost`). The carer's part is the same for all of a
        vehicle's gaps, so it is priced once a vehicle."""
        wt = self.p.problem.weights.travel_minute
        out = []
        for k in vehicles:
            gaps = self.gaps(k, v, lo, hi, late)
            first = next(gaps, None)
            if first is None:  # priced only where v fits (most of a day's carers have no room)
                continue
            own = self.carer_cost(k, v)
            out.append((first, own + wt * first.delta_travel))
            out += [(g, own + wt * g.delta_travel) for g in gaps]
        return out

    def carer_cost(self, k: int, v: int) -> int:
        """Continuity and preference terms of vehicle k's carer doing v."""
        w = self.p.problem.weights
        c = self.el.vehicles[k].carer
        client = self.p.visits[v].client
        cost = 0
        if self.client_carers[client].get(c, 0) == 0:
            cost += w.distinct_carer
            if self.p.carers[c].id not in self.p.clients[client].preferred:
                cost += w.new_carer_for_client
        if w.preference_mismatch and self._mismatch(c, v):
            cost += w.preference_mismatch
        return cost

    def _mismatch(self, c: int, v: int) -> bool:
        """`mismatch`, cached by carer and client (it depends on nothing else)."""
        key = (c, self.p.visits[v].client)
        hit = self._mismatches.get(key)
        if hit is None:
            hit = self._mismatches[key] = mismatch(self.p, c, v)
        return hit

    def start_cost(self, gap: Gap, v: int, start: int) -> int:
        """Objective change from the start minutes of doing v in `gap` at `start`: v's own
        lateness and preferred-start terms and, when lateness is only penalised, what the
        neighbours it pushes add (their lateness, and the plan's max lateness)."""
        if not self.push_late or not self._pushes(gap, v, start):
            return self._own_start_cost(v, start)
        moved = self.retimed(gap.vehicle, gap.position, v, start)
        cost = sum(self.time_cost(u, s) - self.time_cost(u, self.plan.start[u])
                   for u, s in moved.items() if u != v) + self.time_cost(v, start)
        return cost + self._worse_top(moved)

    def _pushes(self, gap: Gap, v: int, start: int) -> bool:
        """Whether doing v at `start` in `gap` moves a neighbour (see `retimed`)."""
        route, i, vis = self.plan.routes[gap.vehicle], gap.position, self.p.visits[v]
        if i < len(route):
            nxt = route[i]
            if self.plan.start[nxt] < start + vis.duration + self.t(gap.vehicle, vis.point,
                                                                     self.p.visits[nxt].point):
                return True
        if i > 0:
            prv = self.p.visits[route[i - 1]]
            if self.plan.start[route[i - 1]] + prv.duration + self.t(
                    gap.vehicle, prv.point, vis.point) > start:
                return True
        return False

    def _own_start_cost(self, v: int, start: int) -> int:
        """`time_cost(v, start) + _worse_top({v: start})` in one pass: the price of a place
        that moves no neighbour, asked for on most insertion places (176,000 times in 3,000
        F1 ruin steps)."""
        w, vis = self.p.problem.weights, self.p.visits[v]
        late = start - vis.latest
        cost = w.lateness_minute * late if late > 0 else 0
        if vis.preferred is not None:
            cost += w.preferred_start_minute * abs(start - vis.preferred)
        if late > 0 and self.push_late and w.max_lateness_minute:
            cost += w.max_lateness_minute * max(0, late - self._plan_top())
        return cost

    def _worse_top(self, moved: dict[int, int]) -> int:
        """What `moved` start minutes add to the max-lateness term (when it is weighted)."""
        w = self.p.problem.weights
        if not (self.push_late and w.max_lateness_minute):
            return 0
        worst = max(s - self.p.visits[u].latest for u, s in moved.items())
        if worst <= 0:
            return 0
        return w.max_lateness_minute * max(0, worst - self._plan_top())

    def _plan_top(self) -> int:
        """The plan's max lateness, cached per insertion (`_top` is reset on each)."""
        if self._top is None:
            self._top = max_lateness(self.plan.start, self.latest_minute)
        return self._top

    def time_cost(self, v: int, start: int) -> int:
        w = self.p.problem.weights
        vis = self.p.visits[v]
        cost = w.lateness_minute * max(0, start - vis.latest)
        if vis.preferred is not None:
            cost += w.preferred_start_minute * abs(start - vis.preferred)
        return cost

    # --- exact checks of a chosen placement -----------------------------------
    def placement_ok(self, placements: list[tuple[Gap, int]], start: int) -> bool:
        """Caps, breaks and max distinct carers for a group placed at `start`."""
        p = self.p
        new_by_client: dict[int, set[int]] = defaultdict(set)
        seen_carers: set[int] = set()
        all_moved: dict[int, int] = {}
        for gap, v in placements:
            c = self.el.vehicles[gap.vehicle].carer
            if c in seen_carers:
                return False
            seen_carers.add(c)
            client = p.visits[v].client
            if self.client_carers[client].get(c, 0) == 0:
                new_by_client[client].add(c)
            carer = p.carers[c]
            route = list(self.plan.routes[gap.vehicle])
            old = self._work(gap.vehicle, route)
            route.insert(gap.position, v)
            moved = self.retimed(gap.vehicle, gap.position, v, start)
            all_moved.update(moved)
            new = self._work_with(gap, v, route, old, moved)
            if carer.max_day is not None:
                for day, minutes in new.items():
                    if self.work_day[(c, day)] - old.get(day, 0) + minutes > carer.max_day:
                        return False
            if carer.max_total is not None and (
                self.work_total[c] - sum(old.values()) + sum(new.values()) > carer.max_total
            ):
                return False
            if carer.break_after is not None and not self.break_ok(gap.vehicle, route, moved):
                return False
        for client, carers in new_by_client.items():
            limit = p.clients[client].max_distinct
            if limit is not None and len(self.client_carers[client]) + len(carers) > limit:
                return False
        return len(placements) == 1 or self._gaps_hold(all_moved)

    def _gaps_hold(self, moved: dict[int, int]) -> bool:
        """Whether gap-tied stops re-timed on two routes at once (a group's placements) still
        keep their `follows` gaps: each route's slack assumed its partners stay put."""
        start = self.plan.start
        for u, s in moved.items():
            f = self.p.visits[u].follows
            if u not in self.gap_tied or f is None or f.pred not in start:
                continue
            ps = moved.get(f.pred, start[f.pred])
            if not ps + f.lo <= s <= ps + f.hi:
                return False
        return True

    def break_ok(self, k: int, route: list[int], extra: dict[int, int]) -> bool:
        carer = self.p.carers[self.el.vehicles[k].carer]
        assert carer.break_after is not None
        starts = _Overlay(self.plan.start, extra)
        first = starts[route[0]]
        last = starts[route[-1]] + self.p.visits[route[-1]].duration
        if last - first <= carer.break_after:
            return True
        for a, b in itertools.pairwise(route):
            va, vb = self.p.visits[a], self.p.visits[b]
            idle = starts[b] - starts[a] - va.duration - self.t(k, va.point, vb.point)
            if idle >= carer.break_minutes:
                return True
        return False

    # --- insertion -------------------------------------------------------------
    def insert_group(self, group: Sequence[int], only: set[int] | None = None) -> bool:
        """Insert every slot of `group` (visits starting together) or none; True if placed.

        `only`: a single visit goes on one of these vehicles (the ones a caller just
        changed, when nothing else can have room)."""
        if any(v in self.banned or v in self.plan.start or not self.el.vehicles_of[v]
               for v in group):
            return False
        lo, hi = -INF, INF
        for v in group:
            a, b = self.bounds(v)
            lo, hi = max(lo, a), min(hi, b)
        if lo > hi:
            return False
        slots = [v for v in group for _ in range(self.p.visits[v].required)]
        cands: dict[int, list[tuple[Gap, int]]] = {}
        for v in group:
            ks: Sequence[int] = self.el.vehicles_of[v]
            if only is not None and len(group) == 1 and self.p.visits[v].required == 1:
                ks = [k for k in ks if k in only]
            cands[v] = self.places(v, ks, lo, hi, late=self.push_late and len(slots) == 1)
            if not cands[v]:
                return False
        times = sorted({g.lo for v in group for g, _ in cands[v]})
        self._top = None  # the plan changed since the last insertion
        if len(slots) == 1:
            return self._place_single(slots[0], cands[slots[0]])
        return self._place_synchronised(slots, cands, times)

    def gap_pair(self, v: int) -> int | None:
        """The other half of v's precedence pair when v is tied by one `follows` gap to
        exactly one single-carer visit and nothing else (`insert_pair` places such pairs)."""
        tied = self._tied_to[v]
        if len(tied) != 1 or tied[0] not in self.gap_tied or len(self._tied_to[tied[0]]) != 1:
            return None
        return tied[0]

    def insert_pair(self, v: int, w: int) -> bool:
        """Insert precedence pair v, w (both out; see `gap_pair`): the first half at the place
        whose price plus the cheapest compatible place of the second half (on another
        carer) is least, then the second half at its cheapest place; True if both went in.

        Why: one at a time, the first half takes its own cheapest place and the second
        must then go within the gap of it, wherever that is dear. On HHCRSP D2 (12
        precedence pairs, 98 visits) a search started from the published best rota's
        precedence stops reached 1.01-1.02 x its objective in 10 s, from its 0-0 pairs
        1.10-1.11, from nothing 1.10-1.11: the gap lay in where the pairs go. One
        portfolio member, 60 s, summed objective: D2 -4.7% (seeds 0-5, all six better),
        E3 -1.1%, E2 -0.3%; E5 +0.6% (seeds 0-5), D5 +1.0%, D1, E1, F1, G1 within +0.4%."""
        pred, succ = (v, w) if w in self.followers.get(v, ()) else (w, v)
        f = self.p.visits[succ].follows
        assert f is not None
        lo_p, hi_p = self.bounds(pred)
        lo_s, hi_s = self.bounds(succ)
        lo_p, hi_p = max(lo_p, lo_s - f.hi), min(hi_p, hi_s - f.lo)
        lo_s, hi_s = max(lo_s, lo_p + f.lo), min(hi_s, hi_p + f.hi)
        if lo_p > hi_p or lo_s > hi_s or any(
                x in self.banned or not self.el.vehicles_of[x] for x in (pred, succ)):
            return False
        self._top = None
        top: dict[int, list[tuple[Gap, int, int]]] = {}
        for x, lo, hi in ((pred, lo_p, hi_p), (succ, lo_s, hi_s)):
            cands = self.places(x, self.el.vehicles_of[x], lo, hi, late=self.push_late)
            top[x] = list(itertools.islice(self._ranked(x, cands), PAIR_LOOKAHEAD))
        vehicles = self.el.vehicles
        best: tuple[int, int, Gap, int] | None = None  # pair price, first's minute, place, price
        for gp, cp, price_p in top[pred]:
            carer = vehicles[gp.vehicle].carer
            for gs, cs, price_s in top[succ]:
                tp = max(gp.lo, gs.lo - f.hi)  # both as early as the gap allows: time
                ts = max(gs.lo, tp + f.lo)     # terms grow with lateness
                if tp > gp.hi or ts > gs.hi or vehicles[gs.vehicle].carer == carer:
                    continue
                first = price_p if tp == gp.lo else cp + self.start_cost(gp, pred, tp)
                second = price_s if ts == gs.lo else cs + self.start_cost(gs, succ, ts)
                if best is None or first + second < best[0]:
                    best = (first + second, tp, gp, first)
        if best is None or not self.placement_ok([(best[2], pred)], best[1]):
            if not self.insert_group([pred]):  # one at a time, as without a partner out
                return False
            first = self.last_price
        else:
            self._commit([(best[2], pred)], best[1])
            first = best[3]
        if not self.insert_group([succ]):
            return False
        self.last_price += first  # the pair's price, as a ruin step counts it
        return True

    def _place_single(self, v: int, cands: list[tuple[Gap, int]]) -> bool:
        for gap, _cost, price in itertools.islice(self._ranked(v, cands), 12):
            if self.placement_ok([(gap, v)], gap.lo):
                self._commit([(gap, v)], gap.lo)
                self.last_price = price
                return True
        return False

    def _place_synchronised(self, slots: list[int], cands: dict[int, list[tuple[Gap, int]]],
                            times: list[int]) -> bool:
        best: tuple[int, int, list[tuple[Gap, int]]] | None = None
        tried = 0
        # Sorted by cost once (stable, so each minute's four cheapest are those a sort of
        # that minute's gaps would give): sorting per minute was a fifth of a step on G1.
        by_cost = {v: sorted(((c, g) for g, c in cands[v]), key=lambda cg: cg[0])
                   for v in set(slots)}
        for t in times:
            options = {v: list(itertools.islice(
                ((c, g) for c, g in ranked if g.lo <= t <= g.hi), 4)) for v, ranked in by_cost.items()}
            choice = self._distinct(slots, options)
            if choice is None:
                continue
            total = sum(c for c, _ in choice) + sum(self.time_cost(v, t) for v in set(slots))
            if best is None or total < best[0]:
                placements = [(g, v) for (_c, g), v in zip(choice, slots, strict=True)]
                if self.placement_ok(placements, t):
                    best = (total, t, placements)
            tried += 1
            if tried > 200:
                break
        if best is None:
            return False
        total, t, placements = best
        if self.sync_jitter is not None:
            t, total = self._jittered(self.sync_jitter, placements, t, total)
        self._commit(placements, t)
        self.last_price = total
        return True

    def _jittered(self, rng: random.Random, placements: list[tuple[Gap, int]], t: int,
                  total: int) -> tuple[int, int]:
        """A synchronised group's start drawn between `t`, its cheapest place's first minute,
        and the last minute its gaps allow without lateness; `t` when the caps or the break
        refuse it. Returns the start and the place's price there.

        Why: a synchronised stop is pinned (no insertion re-times it), so it keeps the minute
        it went in at, and insertion always took the first. On HHCRSP F5 our 0-0 pairs then
        started at 0.28 of their windows on average, the published best rota's at 0.50, and
        that rota's 0-0 stops alone, fixed, led our search to within 1.1% of its objective
        (from nothing: 6-8% over). A random minute lets the annealing walk try where pairs
        sit; it keeps the ones that leave the single visits room. One portfolio member, 60 s,
        side by side, seeds 0-2, summed objective: F5 -3.5%, F9 -1.8% (3 of 3 better each),
        G10 -1.0%, G1 -0.6% (2 of 3). Drawing in descents too went either way (E6 -2.2%, E5
        +1.1%, D10 +0.6%), so only annealing draws."""
        group = {v for _gap, v in placements}
        top = min(min(gap.hi for gap, _v in placements), min(self.p.visits[v].latest for v in group))
        if top <= t:
            return t, total
        drawn = rng.randint(t, top)
        if not self.placement_ok(placements, drawn):
            return t, total
        return drawn, total + sum(self.time_cost(v, drawn) - self.time_cost(v, t) for v in group)

    def _ranked(self, v: int, cands: list[tuple[Gap, int]]) -> Iterator[tuple[Gap, int, int]]:
        """v's places, each at its gap's first minute, cheapest first, priced lazily; each
        with its price without the start-time terms (as `places` gives it) and with them.

        When insertion may push neighbours late, the price of pushing is known only after
        re-timing the route, so places are priced in order of their price without it (a
        lower bound) and one is handed out once no unpriced place can undercut it. Callers
        take the first that passes `placement_ok`, usually the first: pricing a fixed dozen
        up front re-timed routes for places never used (a quarter of a ruin step on HHCRSP
        G1). Pushing can only add lateness, so the bound holds, except where a place pulls
        a late stop before it earlier, or moves a stop with a preferred start: such places
        are priced up front. The plan must not change while the places are read."""
        w, vis = self.p.problem.weights, self.p.visits[v]
        if vis.preferred is None or not w.preferred_start_minute:  # `time_cost`, inlined
            late, latest = w.lateness_minute, vis.latest  # (a million calls in 1,500 G1 steps)
            ranked = sorted(cands, key=lambda gc: (gc[1] + late * max(0, gc[0].lo - latest),
                                                   gc[0].lo))
        else:
            ranked = sorted(cands, key=lambda gc: (gc[1] + self.time_cost(v, gc[0].lo), gc[0].lo))
        if not self.push_late:
            for gap, cost in ranked:
                yield gap, cost, cost + self.time_cost(v, gap.lo)
            return
        saving: dict[int, int] = {}  # vehicle -> first position where a place may save
        priced: list[tuple[int, int, int, Gap, int]] = []
        lazy: list[tuple[int, Gap, int]] = []
        for i, (gap, cost) in enumerate(ranked):
            k = gap.vehicle
            if k not in saving:
                saving[k] = self._first_saving(k)
            if gap.position >= saving[k]:
                priced.append((cost + self.start_cost(gap, v, gap.lo), gap.lo, i, gap, cost))
            else:
                lazy.append((i, gap, cost))
        heapq.heapify(priced)
        for i, gap, cost in lazy:
            bound = (cost + self.time_cost(v, gap.lo), gap.lo, i)
            while priced and priced[0][:3] < bound:
                price, _, _, g, c = heapq.heappop(priced)
                yield g, c, price
            heapq.heappush(priced, (cost + self.start_cost(gap, v, gap.lo), gap.lo, i, gap, cost))
        while priced:
            price, _, _, g, c = heapq.heappop(priced)
            yield g, c, price

    def _first_saving(self, k: int) -> int:
        """First position of route k where an insertion's re-timing may lower the objective:
        after its first late stop (pulled earlier), anywhere if a stop has a weighted
        preferred start (moved towards it); else past the end."""
        visits, start, route = self.p.visits, self.plan.start, self.plan.routes[k]
        if self.p.problem.weights.preferred_start_minute and any(
                visits[u].preferred is not None for u in route):
            return 0
        for i, u in enumerate(route):
            if start[u] > visits[u].latest:
                return i + 1
        return len(route) + 1

    def _distinct(self, slots: list[int], options: dict[int, list[tuple[int, Gap]]]
                  ) -> list[tuple[int, Gap]] | None:
        """Cheapest choice of one option per slot with pairwise different carers (tiny DFS;
        two slots, the usual double-up or 0-0 pair, by a plain double loop: the recursion was
        a tenth of a ruin-and-recreate step on HHCRSP G1). Ties go to the first in order."""
        vehicles = self.el.vehicles
        if len(slots) == 2:
            pair: tuple[int, list[tuple[int, Gap]]] | None = None
            for c0, g0 in options[slots[0]]:
                carer = vehicles[g0.vehicle].carer
                for c1, g1 in options[slots[1]]:
                    if (pair is None or c0 + c1 < pair[0]) and vehicles[g1.vehicle].carer != carer:
                        pair = (c0 + c1, [(c0, g0), (c1, g1)])
            return None if pair is None else pair[1]
        best: tuple[int, list[tuple[int, Gap]]] | None = None

        def dfs(i: int, used: set[int], acc: list[tuple[int, Gap]], cost: int) -> None:
            nonlocal best
            if best is not None and cost >= best[0]:
                return
            if i == len(slots):
                best = (cost, list(acc))
                return
            for c, g in options[slots[i]]:
                carer = self.el.vehicles[g.vehicle].carer
                if carer in used:
                    continue
                used.add(carer)
                acc.append((c, g))
                dfs(i + 1, used, acc, cost + c)
                acc.pop()
                used.discard(carer)

        dfs(0, set(), [], 0)
        return None if best is None else best[1]

    def _commit(self, placements: list[tuple[Gap, int]], start: int) -> None:
        for gap, v in placements:
            k = gap.vehicle
            c = self.el.vehicles[k].carer
            old = self._work(k, self.plan.routes[k])
            moved = self.retimed(k, gap.position, v, start)
            self.plan.routes[k].insert(gap.position, v)
            new = self._work_with(gap, v, self.plan.routes[k], old, moved)
            self.plan.start.update(moved)
            for day in set(old) | set(new):
                self.work_day[(c, day)] += new.get(day, 0) - old.get(day, 0)
            self.work_total[c] += sum(new.values()) - sum(old.values())
            self.client_carers[self.p.visits[v].client][c] += 1

    def _take_out(self, k: int, u: int, last: bool = True) -> None:
        """Remove one stop from vehicle k, keeping the books exact (no full recount); a
        double-up's start stays until its `last` carer is taken off."""
        c = self.el.vehicles[k].carer
        route = self.plan.routes[k]
        old = self._work(k, route)
        i = route.index(u)
        route.pop(i)
        new: dict[int, int] = {}
        if len(old) == 1 and route:  # one calendar day, as `_work_with` (it stays so)
            (day, minutes), = old.items()
            new[day] = minutes - self.p.visits[u].duration - self._added_travel(k, i, u)
        elif route:
            new = self._work(k, route)
        if last:
            self.plan.start.pop(u)
        for day in set(old) | set(new):
            self.work_day[(c, day)] += new.get(day, 0) - old.get(day, 0)
        self.work_total[c] += sum(new.values()) - sum(old.values())
        seen = self.client_carers[self.p.visits[u].client]
        seen[c] -= 1
        if not seen[c]:
            del seen[c]

    def _best_single(self, v: int, exclude: int | None = None) -> tuple[Gap, int] | None:
        """The cheapest valid place for single visit v (not on vehicle `exclude`)."""
        lo, hi = self.bounds(v)
        if lo > hi:
            return None
        cands = self.places(v, [k for k in self.el.vehicles_of[v] if k != exclude], lo, hi,
                            late=self.push_late)
        self._top = None
        for gap, _cost, _price in itertools.islice(self._ranked(v, cands), 8):
            if self.placement_ok([(gap, v)], gap.lo):
                return gap, gap.lo
        return None

    def eject_insert(self, v: int, tries: int = 40) -> bool:
        """Place single visit v by moving one untied stop u out of its way to another carer.

        The classic repair for tight rotas: v fits nowhere as things stand, but a carer who
        could take v is busy with u, and u has somewhere else to go. Each trial is checked
        without touching the books; only a trial that works is committed.
        """
        p = self.p
        vis = p.visits[v]
        if vis.required != 1 or not self.movable(v) or v in self.plan.start or v in self.banned:
            return False
        lo, hi = self.bounds(v)
        trials = 0
        for k in self.el.vehicles_of[v]:
            route = self.plan.routes[k]
            for pos, u in enumerate(route):
                su = self.plan.start[u]
                if su + p.visits[u].duration < lo - 90 or su > hi + 90 or not self.movable(u) \
                        or not self.can_take_out((u,)):
                    continue
                trials += 1
                if trials > tries:
                    return False
                route.pop(pos)  # dry run: u out of the way, books untouched (conservative)
                self.plan.start.pop(u)
                spot_v = self._best_single(v)
                spot_u = None
                if spot_v is not None and spot_v[0].vehicle == k:
                    spot_u = self._best_single(u, exclude=k)
                route.insert(pos, u)
                self.plan.start[u] = su
                if spot_v is None or spot_u is None or spot_v[0].vehicle != k:
                    continue
                self._take_out(k, u)
                placed_v = self._best_single(v)
                if placed_v is None or placed_v[0].vehicle != k:
                    self._commit([(self._gap_back(k, u, su), u)], su)  # nothing changed
                    continue
                self._commit([(placed_v[0], v)], placed_v[1])
                placed_u = self._best_single(u, exclude=k)
                if placed_u is None:  # rare (same carer's other shift, distinct cap): undo v
                    self._take_out(k, v)
                    self.insert_group([u])  # a checked insertion: the plan stays valid
                    continue
                self._commit([(placed_u[0], u)], placed_u[1])
                return True
        return False

    def _gap_back(self, k: int, u: int, start: int) -> Gap:
        """The place u left on route k, with its travel as `gaps` counts it."""
        pos = sum(1 for w in self.plan.routes[k] if self.plan.start[w] < start)
        return Gap(k, pos, start, start, self._added_travel(k, pos, u))

    def _added_travel(self, k: int, pos: int, u: int) -> int:
        """Travel minutes u adds at position `pos` of route k (u not on it), as `gaps`
        counts a gap's: from the stop before (or the shift's start) and on to the stop
        there (or the shift's end), less the leg between them."""
        route, visits, shift = self.plan.routes[k], self.p.visits, self.el.vehicles[k].shift
        a = visits[route[pos - 1]].point if pos else shift.start_point
        c = visits[route[pos]].point if pos < len(route) else shift.end_point
        u_pt = visits[u].point
        return self.t(k, a, u_pt) + self.t(k, u_pt, c) - (self.t(k, a, c) if route else 0)

    def can_take_out(self, visits: Iterable[int]) -> bool:
        """Taking `visits` out keeps the two rules a removal can break: walkers' max leg
        where their neighbours become adjacent, and the break when the stop was at the
        start or end of a long stretch whose only long-enough gap it bounded."""
        p = self.p
        for v in visits:
            for k in self.vehicles_doing(v):
                route = self.plan.routes[k]
                carer = p.carers[self.el.vehicles[k].carer]
                i = route.index(v)
                if carer.max_leg is not None:
                    shift = self.el.vehicles[k].shift
                    a = p.visits[route[i - 1]].point if i > 0 else shift.start_point
                    c = p.visits[route[i + 1]].point if i + 1 < len(route) else shift.end_point
                    if self.t(k, a, c) > carer.max_leg:
                        return False
                rest = route[:i] + route[i + 1:]
                if carer.break_after is not None and rest and not self.break_ok(k, rest, {}):
                    return False
        return True

    def remove(self, visits: Iterable[int]) -> None:
        """Take visits out of the plan (their whole group must be removed by the caller)."""
        gone = set(visits)
        for k, route in enumerate(self.plan.routes):
            if any(v in gone for v in route):
                self.plan.routes[k] = [v for v in route if v not in gone]
        for v in gone:
            self.plan.start.pop(v, None)
        self._refresh_books()


def objective_delta(p: CompiledProblem, el: Eligibility, b: Builder, before: Plan,
                    touched: set[int], pairs_before: dict[int, set[int]]) -> int:
    """Exact change of the objective (`optimiser.plan.score`) by a relocation that only
    changed `touched` vehicles and the clients in `pairs_before`: the terms of those
    vehicles' routes and clients, plus the max-lateness term, which is global."""
    w = p.problem.weights

    def part(plan: Plan) -> int:
        travel = mism = 0
        seen: set[int] = set()
        for k in touched:
            legs, back = b.route_travel(k, plan.routes[k])
            travel += sum(legs) + back
            if w.preference_mismatch:  # a walk over the route for a term often weighted 0
                c = el.vehicles[k].carer
                mism += sum(mismatch(p, c, v) for v in plan.routes[k])
            seen.update(plan.routes[k])
        timing = 0
        for v in seen:
            vis, s = p.visits[v], plan.start[v]
            timing += w.lateness_minute * max(0, s - vis.latest)
            if vis.preferred is not None:
                timing += w.preferred_start_minute * abs(s - vis.preferred)
        return w.travel_minute * travel + w.preference_mismatch * mism + timing

    def pairs(carers: dict[int, set[int]]) -> int:
        return sum(w.distinct_carer * len(cs) + w.new_carer_for_client * sum(
            1 for c in cs if p.carers[c].id not in p.clients[cl].preferred)
            for cl, cs in carers.items())

    out = part(b.plan) - part(before)
    out += pairs({cl: set(b.client_carers[cl]) for cl in pairs_before}) - pairs(pairs_before)
    if p.lateness_penalised and w.max_lateness_minute:
        out += w.max_lateness_minute * (max_lateness(b.plan.start, b.latest_minute)
                                        - max_lateness(before.start, b.latest_minute))
    return out


def earliest_times(
    lower: Mapping[Any, float], edges: Sequence[tuple[Any, Any, float]]
) -> dict[Any, float] | None:
    """Least times with t >= lower and t[b] >= t[a] + w for every edge (a, b, w).

    Bellman-Ford on longest paths. The least solution minimises every start at
    once, hence every tardiness; None when the constraints contradict each other
    (a positive cycle: e.g. a precedence gap the routes cannot honour). Edges in
    roughly time order settle in few passes. Used by `Builder._settle_tied` (both
    ways) and to re-time HHCRSP rotas in the set's float minutes.
    """
    t = dict(lower)
    for _ in range(len(t) + 1):
        changed = False
        for a, b, w in edges:
            if t[a] + w > t[b] + 1e-9:
                t[b] = t[a] + w
                changed = True
        if not changed:
            return t
    return None


def max_lateness(start: Mapping[int, int], latest: Sequence[int]) -> int:
    """Minutes the latest stop starts past its window's end, 0 when none is late (C-level
    maps: it runs over every start, on each insertion and each move's delta)."""
    return max(0, max(map(operator.sub, start.values(), map(latest.__getitem__, start)),
                      default=0))


class _Overlay(Mapping[int, int]):
    """The plan's start minutes with a few changed ones on top, without copying the plan's
    (a copy per cap or break check was a tenth of a ruin-and-recreate step on a week)."""

    def __init__(self, base: Mapping[int, int], top: Mapping[int, int]) -> None:
        self.base, self.top = base, top

    def __getitem__(self, v: int) -> int:
        top = self.top
        return top[v] if v in top else self.base[v]

    def __iter__(self) -> Iterator[int]:
        return iter({**self.base, **self.top})

    def __len__(self) -> int:
        return len(self.base.keys() | self.top.keys())


def _synchronised(p: CompiledProblem, v: int) -> bool:
    """Whether visit v is the second half of a 0-0 pair."""
    f = p.visits[v].follows
    return f is not None and f.synchronised


def groups(p: CompiledProblem) -> list[list[int]]:
    """Visits that must start together: 0-0 `follows` pairs joined, others alone."""
    label = components(len(p.visits), ((v.index, v.follows.pred) for v in p.visits
                                       if v.follows is not None and v.follows.synchronised))
    out: dict[int, list[int]] = defaultdict(list)
    for v in p.visits:
        out[label[v.index]].append(v.index)
    return list(out.values())


def construct(p: CompiledProblem, el: Eligibility, plan: Plan | None = None,
              banned: frozenset[int] = frozenset(), deadline: float | None = None,
              rng: random.Random | None = None) -> Plan:
    """A complete valid rota: hard groups first (double-ups, critical), then the rest by time.

    With a `deadline` (time.monotonic()), insertion stops when it passes, so even a huge
    problem under a tiny time limit returns a valid (partial) rota on time. An `rng` jitters
    the order by up to 30 minutes, for restarts that explore other orders.
    """
    builder = Builder(p, el, plan, banned)
    # Construction keeps on-time stops on time: its own relaxation of windows (see
    # `optimiser.solve`) rations lateness better at this stage (HHCRSP E1: 1.20 against
    # 1.26 x best-known at 20 s, mean of six seeds); the local search then trades it.
    builder.push_late = False
    todo = [g for g in groups(p) if not any(v in builder.plan.start for v in g)]

    def hard(g: list[int]) -> bool:
        return len(g) > 1 or any(p.visits[v].required > 1 or p.visits[v].priority == "critical"
                                 for v in g)

    noise = {id(g): (rng.uniform(0, 30) if rng else 0.0) for g in todo}

    def key(g: list[int]) -> tuple[float, int, int]:
        return (min(el.latest_of[v] for v in g) + noise[id(g)], min(p.visits[v].earliest for v in g),
                -sum(p.visits[v].duration for v in g))

    first = sorted((g for g in todo if hard(g)), key=key)
    rest = sorted((g for g in todo if not hard(g)), key=key)
    failed = []
    ordered = first + rest
    for i, g in enumerate(ordered):
        if deadline is not None and time.monotonic() > deadline:
            builder.plan.unattempted = frozenset(v for h in ordered[i:] for v in h)
            break
        if not builder.insert_group(g):
            failed.append(g)
    for g in failed:  # a second chance once everything else is in place
        if deadline is not None and time.monotonic() > deadline:
            break
        if not builder.insert_group(g) and len(g) == 1:
            builder.eject_insert(g[0])
    builder.plan.sort_routes()
    return builder.plan


def without_half_pairs(p: CompiledProblem, el: Eligibility, plan: Plan) -> Plan:
    """Take out placed visits whose `follows` partner is unplaced, so a later pass can place
    the two together (a partner fixed on its own leaves the other no room)."""
    orphaned = set()
    for v in p.visits:
        f = v.follows
        if f is not None and (v.index in plan.start) != (f.pred in plan.start):
            orphaned.add(v.index if v.index in plan.start else f.pred)
    if not orphaned:
        return plan
    builder = Builder(p, el, plan)
    builder.remove(orphaned)
    return builder.plan
