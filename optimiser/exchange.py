"""Tail exchange between two carers' routes (2-opt*), every stop keeping its start minute.

Why: ruin and recreate moves a handful of groups at a time and re-inserts them one by one,
so it rarely swaps whole afternoons between two carers, where each does the other's
stretch closer to their own morning. 2-opt* (Potvin and Rousseau 1995) is the classic
inter-route move for time-window routing: cut routes A and B after a stop each and swap
what follows. With fixed starts every check is local: the two new legs must arrive in
time, the tails' own legs are unchanged when both carers travel alike (else re-checked),
and a double-up keeps its start, so its two carers stay synchronised. From a ruin-and-
recreate optimum of HHCRSP G1 (4,000 steps) one round found 8 improving exchanges, -0.5%
of the objective in under 0.1 s, and ruin and recreate went on from there.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from typing import Any

from optimiser.construct import INF, Builder, objective_delta
from optimiser.domain.compiled import CompiledProblem
from optimiser.plan import Plan
from optimiser.prune import Eligibility

#: A vehicle's travel minutes (list rows, or a numpy matrix on very large problems).
Matrix = Any

#: Candidate exchanges tried (cheapest travel first) per pass over all route pairs.
TRIES_PER_PASS = 200


def tail_exchange(p: CompiledProblem, el: Eligibility, b: Builder, deadline: float,
                  keep: frozenset[int] = frozenset()) -> int:
    """Passes of improving tail exchanges on the builder's plan until one finds nothing or
    the deadline passes; returns the exchanges kept. Each is checked with every rule a
    changed route can break and kept only when the exact objective drops."""
    kept = 0
    while time.monotonic() < deadline:
        cands = sorted(_candidates(p, el, b, keep, deadline))
        changed: set[int] = set()
        found = 0
        for _travel, ka, kb, i, j in cands[:TRIES_PER_PASS]:
            if time.monotonic() > deadline:
                break
            if ka in changed or kb in changed:
                continue  # its routes moved on: the next pass sees them afresh
            if _apply(p, el, b, ka, kb, i, j):
                changed |= {ka, kb}
                found += 1
        kept += found
        if not found:
            break
    return kept


def _candidates(p: CompiledProblem, el: Eligibility, b: Builder, keep: frozenset[int],
                deadline: float) -> list[tuple[int, int, int, int, int]]:
    """Every exchange (travel change, vehicle a, vehicle b, cut i on a, cut j on b) whose
    travel drops and whose cuts leave room in time, by route pairs: A keeps A[:i] and takes
    B[j:]. The cuts where both junctions can fit are found by bisection on the routes' times;
    the legs themselves are checked when an exchange is tried (`_valid`)."""
    visits, start, vehicles = p.visits, b.plan.start, el.vehicles
    routes = b.plan.routes
    eligible = [set(ks) for ks in el.vehicles_of]
    ends: list[list[int]] = []  # per route, at index i: end of R[i - 1] (shift start at 0)
    nexts: list[list[int]] = []  # at index i: start of R[i] (INF past the last)
    for k, route in enumerate(routes):
        shift = vehicles[k].shift
        ends.append([shift.start] + [start[v] + visits[v].duration for v in route])
        nexts.append([start[v] for v in route] + [INF])
    info = [_Route(p, b, k) for k in range(len(routes))]
    out = []
    for ka, a_route in enumerate(routes):
        if time.monotonic() > deadline:
            break
        for kb in range(ka + 1, len(routes)):  # (a, b, i, j) is (b, a, j, i)
            if vehicles[ka].carer != vehicles[kb].carer and (a_route or routes[kb]):
                out += _pair(b, ka, kb, info, ends, nexts, eligible, keep)
    return out


def _pair(b: Builder, ka: int, kb: int, info: Sequence[_Route], ends: Sequence[Sequence[int]],
          nexts: Sequence[Sequence[int]], eligible: Sequence[set[int]], keep: frozenset[int]
          ) -> list[tuple[int, int, int, int, int]]:
    a_route, b_route = b.plan.routes[ka], b.plan.routes[kb]
    na, nb = len(a_route), len(b_route)
    # The tails that may move: every stop eligible for the other vehicle and none kept.
    a_from = _movable_from(a_route, kb, eligible, keep)
    b_from = _movable_from(b_route, ka, eligible, keep)
    if a_from == na and b_from == nb:
        return []  # nothing may move either way
    ra, rb = info[ka], info[kb]
    # Each tail's own legs as the other carer travels (the same sums when they travel alike).
    a_on_b, b_on_a = ra.tail_legs(rb.mat), rb.tail_legs(ra.mat)
    old = ra.travel(ra.prefix[na], ra.pts[na], na) + rb.travel(rb.prefix[nb], rb.pts[nb], nb)
    end_a, next_a, end_b, next_b = ends[ka], nexts[ka], ends[kb], nexts[kb]
    out = []
    for i in range(a_from, na + 1):  # A keeps its first i stops
        # B's cut j (B keeps its first j stops): B[j] starts after A's stop i - 1 ends, and
        # B's stop j - 1 ends before A's stop i starts.
        lo = max(b_from, bisect.bisect_left(next_b, end_a[i]))
        hi = bisect.bisect_right(end_b, next_a[i]) - 1
        for j in range(lo, hi + 1):
            if (i == na and j == nb) or (i == 0 and j == 0):
                continue
            new = ra.joined(i, rb, j, b_on_a) + rb.joined(j, ra, i, a_on_b)
            if new < old:
                out.append((new - old, ka, kb, i, j))
    return out


class _Route:
    """A route's points and leg sums, to price each exchange in O(1)."""

    def __init__(self, p: CompiledProblem, b: Builder, k: int) -> None:
        shift = b.el.vehicles[k].shift
        self.mat, self.home = b.matrix(k), shift.end_point
        self.pts: list[int | None] = [shift.start_point] + [p.visits[v].point
                                                              for v in b.plan.routes[k]]
        self._own: list[int] | None = None  # `tail_legs` as this carer travels
        self.prefix = [0]  # legs into the first m stops
        for x, y in zip(self.pts, self.pts[1:], strict=False):
            self.prefix.append(self.prefix[-1] + _leg(self.mat, x, y))

    def tail_legs(self, mat: Matrix) -> list[int]:
        """Legs inside the tail that starts at stop m (index m, 1..n), as `mat` travels."""
        n = len(self.pts) - 1
        if mat is self.mat:
            if self._own is None:
                self._own = [self.prefix[n] - self.prefix[m] for m in range(n + 1)]
            return self._own
        out = [0] * (n + 1)
        for m in range(n - 1, 0, -1):
            out[m] = out[m + 1] + _leg(mat, self.pts[m], self.pts[m + 1])
        return out

    def travel(self, inner: int, last: int | None, length: int) -> int:
        """A route's travel from its legs' sum and last point (the leg home added)."""
        return inner + _leg(self.mat, last, self.home) if length else 0

    def joined(self, i: int, other: _Route, j: int, other_tail: Sequence[int]) -> int:
        """Travel of this route's first i stops followed by the other's stops after its j."""
        n_other = len(other.pts) - 1
        if j == n_other:
            return self.travel(self.prefix[i], self.pts[i], i)
        inner = self.prefix[i] + _leg(self.mat, self.pts[i], other.pts[j + 1]) \
            + other_tail[j + 1]
        return self.travel(inner, other.pts[n_other], i + n_other - j)


def _leg(mat: Matrix, x: int | None, y: int | None) -> int:
    return int(mat[x][y]) if x is not None and y is not None else 0


def _movable_from(route: Sequence[int], other: int, eligible: Sequence[set[int]],
                  keep: frozenset[int]) -> int:
    """First cut from which the route's whole tail may go to vehicle `other`."""
    i = len(route)
    while i > 0 and other in eligible[route[i - 1]] and route[i - 1] not in keep:
        i -= 1
    return i


def _apply(p: CompiledProblem, el: Eligibility, b: Builder, ka: int, kb: int, i: int,
           j: int) -> bool:
    """Make the exchange on the builder; keep it if every rule holds and the objective
    drops, else restore both routes. True when kept."""
    before = b.plan.copy()
    a_route, b_route = b.plan.routes[ka], b.plan.routes[kb]
    moved = a_route[i:] + b_route[j:]
    pairs_before: dict[int, set[int]] = {}
    for v in moved:
        cl = p.visits[v].client
        pairs_before.setdefault(cl, set(b.client_carers[cl]))
    b.set_routes({ka: a_route[:i] + b_route[j:], kb: b_route[:j] + a_route[i:]})
    if _valid(p, el, b, (ka, kb), moved) and objective_delta(p, el, b, before, {ka, kb}, pairs_before) < 0:
        return True
    b.restore(before, (ka, kb))
    return False


def _valid(p: CompiledProblem, el: Eligibility, b: Builder, ks: Sequence[int],
           moved: Sequence[int]) -> bool:
    """The rules a tail exchange can break, checked on the changed routes: timing and legs
    (walkers' max leg), shift ends, caps, the break, max distinct carers and double-ups'
    distinct carers."""
    start, visits = b.plan.start, p.visits
    for k in ks:
        veh, route = el.vehicles[k], b.plan.routes[k]
        carer = p.carers[veh.carer]
        legs, back = b.route_travel(k, route)
        prev_end = veh.shift.start
        for v, t in zip(route, legs, strict=True):
            if prev_end + t > start[v]:
                return False
            prev_end = start[v] + visits[v].duration
        if prev_end + back > veh.shift.end or (
                carer.max_leg is not None and max([*legs, back]) > carer.max_leg):
            return False
        c = veh.carer
        # Only days the route now works can have gained minutes.
        if carer.max_day is not None and any(b.work_day[(c, d)] > carer.max_day
                                             for d in {p.day_of(start[v]) for v in route}):
            return False
        if carer.max_total is not None and b.work_total[c] > carer.max_total:
            return False
        if carer.break_after is not None and route and not b.break_ok(k, route, {}):
            return False
    for v in moved:
        limit = p.clients[visits[v].client].max_distinct
        if limit is not None and len(b.client_carers[visits[v].client]) > limit:
            return False
        if visits[v].required > 1:
            carers = [el.vehicles[k].carer for k in b.vehicles_doing(v)]
            if len(set(carers)) < len(carers):
                return False
    return True


def exchange_tails(p: CompiledProblem, el: Eligibility, plan: Plan, deadline: float,
                   keep: frozenset[int] = frozenset()) -> Plan:
    """`tail_exchange` on a copy of `plan` (the plan itself is left as it was)."""
    b = Builder(p, el, plan)
    tail_exchange(p, el, b, deadline, keep)
    b.plan.sort_routes()
    return b.plan
