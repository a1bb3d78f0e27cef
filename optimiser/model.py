"""The exact CP-SAT model of a neighbourhood: some vehicles freed, the rest fixed.

Why one circuit per vehicle (carer shift): it is the tightest formulation
(proved optima at 50 visits in the solver lab) and stays small because a
neighbourhood frees only a few carers; the whole problem is one neighbourhood
when it is small. A visit has ONE start variable shared by all its carers, so
double-handed synchronisation is free. Everything outside the neighbourhood
is constant: a double-up whose other carer is fixed keeps its start minute,
and `follows`, caps and distinct-carer limits read the fixed part as numbers.

Rules, each a small function adding constraints and returning named terms:
windows/lateness, coverage (with double-ups), routing and travel (shift
bounds, max leg; a redundant no-overlap per vehicle), follows, work caps,
breaks, continuity and distinct carers, preferences. `Terms` keeps the
objective's named parts for explanations.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from optimiser.domain.compiled import CompiledProblem
from optimiser.plan import Plan, mismatch, vehicle_work
from optimiser.prune import Eligibility

Var = cp_model.IntVar


@dataclass
class Neighbourhood:
    """Which vehicles and visits are free; `anchored` visits keep a fixed start and stay covered."""

    vehicles: list[int]
    visits: list[int]
    must_cover: set[int] = field(default_factory=set)
    pinned: set[int] = field(default_factory=set)  # on a free vehicle, but carer and start kept
    # visits whose carer or start should rather not change (a provider's committed calls when a
    # package is matched): visit -> (vehicles now, start now); each change costs `move_weight`
    stay: dict[int, tuple[frozenset[int], int]] = field(default_factory=dict)
    move_weight: int = 0
    # Minimise the uncovered visits alone (`optimiser.search._cover_hood`): the packing
    # that makes room for a last visit, without CP-SAT spending its time on travel.
    cover_only: bool = False


@dataclass
class Vars:
    """Variable container: rules never index raw dicts of the CP-SAT model."""

    start: dict[int, Var | int] = field(default_factory=dict)
    covered: dict[int, Var] = field(default_factory=dict)
    assign: dict[tuple[int, int], Var] = field(default_factory=dict)  # (vehicle, visit)
    arcs: dict[int, dict[tuple[int, int], Var]] = field(default_factory=dict)  # -1 = depot
    serves: dict[tuple[int, int], Var] = field(default_factory=dict)  # (carer, client)
    extra_hints: list[tuple[Var, int]] = field(default_factory=list)


@dataclass
class Built:
    model: cp_model.CpModel
    vars: Vars
    hood: Neighbourhood
    terms: list[tuple[int, cp_model.LinearExprT, str]]


DEPOT = -1


class ModelBuilder:
    """Builds the neighbourhood model from the current plan (which also supplies hints)."""

    def __init__(self, p: CompiledProblem, el: Eligibility, plan: Plan, hood: Neighbourhood,
                 successors: int = 15) -> None:
        self.p, self.el, self.plan, self.hood = p, el, plan, hood
        self.k_best = successors
        self.m = cp_model.CpModel()
        self.v = Vars()
        self.terms: list[tuple[int, cp_model.LinearExprT, str]] = []
        self.cover_terms: list[tuple[int, cp_model.LinearExprT]] = []
        self.free_k = set(hood.vehicles)
        self.free_v = set(hood.visits)
        self.carers_of = plan.carers_of()

    # --- entry ------------------------------------------------------------------
    def build(self) -> Built:
        self._visits()
        self._routing()
        self._no_overlap()
        self._follows()
        self._work_caps()
        self._breaks()
        self._continuity()
        self._moves()
        self._objective()
        self._hints()
        return Built(self.m, self.v, self.hood, self.terms)

    # --- rules ------------------------------------------------------------------
    def _visits(self) -> None:
        """Windows, lateness, coverage: sum of free carers = (required - fixed carers) * covered."""
        p, w = self.p, self.p.problem.weights
        late_vars = []
        late_hint = 0
        for vi in self.hood.visits:
            vis = p.visits[vi]
            fixed = [k for k in self.carers_of.get(vi, []) if k not in self.free_k]
            anchored = bool(fixed) or self._fixed_partner_start(vi) is not None
            cov = self.m.new_bool_var(f"covered[{vis.id}]")
            self.v.covered[vi] = cov
            if anchored or vi in self.hood.must_cover:
                self.m.add(cov == 1)
            q = self._partner(vi)
            if q is not None and q not in self.free_v and q not in self.plan.start:
                self.m.add(cov == 0)  # a 0-0 pair is covered together or not at all
            if fixed or vi in self.hood.pinned:
                s: Var | int = self.plan.start[vi]
                self.v.start[vi] = s
            else:
                partner = self._fixed_partner_start(vi)
                if partner is not None:
                    self.v.start[vi] = partner
                else:
                    self.v.start[vi] = self.m.new_int_var(vis.earliest, self.el.latest_of[vi],
                                                        f"start[{vis.id}]")
            if vi in self.hood.pinned:  # a time-band neighbourhood keeps it where it is
                ks = [k for k in self.carers_of.get(vi, []) if k in self.free_k]
                self.m.add(cov == 1)
            else:
                ks = [k for k in self.el.vehicles_of[vi] if k in self.free_k]
            for k in ks:
                self.v.assign[(k, vi)] = self.m.new_bool_var(f"assign[{k},{vis.id}]")
            need = vis.required - len(fixed)
            self.m.add(sum(self.v.assign[(k, vi)] for k in ks) == need * cov)
            self.terms.append((w.unassigned * vis.weight * vis.required, 1 - cov,
                               f"unassigned(visit={vis.id})"))
            self.cover_terms.append((w.unassigned * vis.weight * vis.required, 1 - cov))
            st = self.v.start[vi]
            hinted = self.plan.start.get(vi, vis.earliest)  # complete hints keep CP-SAT on the plan
            if p.lateness_penalised and isinstance(st, Var) and self.el.latest_of[vi] > vis.latest:
                late = self.m.new_int_var(0, self.el.latest_of[vi] - vis.latest, f"late[{vis.id}]")
                self.m.add(late >= st - vis.latest)
                late_vars.append(late)
                self.v.extra_hints.append((late, max(0, hinted - vis.latest)))
                late_hint = max(late_hint, hinted - vis.latest)
                self.terms.append((w.lateness_minute, late, f"late(visit={vis.id})"))
            elif p.lateness_penalised and isinstance(st, int) and st > vis.latest:
                late_vars.append(st - vis.latest)  # type: ignore[arg-type]
                late_hint = max(late_hint, st - vis.latest)
            if vis.preferred is not None and w.preferred_start_minute and isinstance(st, Var):
                span = max(abs(vis.earliest - vis.preferred), abs(self.el.latest_of[vi] - vis.preferred))
                dev = self.m.new_int_var(0, span, f"deviation[{vis.id}]")
                self.m.add(dev >= st - vis.preferred)
                self.m.add(dev >= vis.preferred - st)
                self.v.extra_hints.append((dev, abs(hinted - vis.preferred)))
                self.terms.append((w.preferred_start_minute, dev, f"off_preferred(visit={vis.id})"))
        if p.lateness_penalised and w.max_lateness_minute and late_vars:
            fixed_max = max((max(0, self.plan.start[v] - p.visits[v].latest)
                             for v in self.plan.start if v not in self.free_v), default=0)
            top = self.m.new_int_var(fixed_max, 10**6, "max_lateness")
            for lv in late_vars:
                self.m.add(top >= lv)
            self.v.extra_hints.append((top, max(fixed_max, late_hint)))
            self.terms.append((w.max_lateness_minute, top, "max_lateness"))

    def _moves(self) -> None:
        """Named costs for moving a visit the caller wants left alone (carer or minute)."""
        if not self.hood.move_weight:
            return
        for vi, (vehicles, start) in self.hood.stay.items():
            if vi not in self.v.covered:
                continue
            moved = self.m.new_bool_var(f"moved[{self.p.visits[vi].id}]")
            for (k, v), x in self.v.assign.items():
                if v == vi and k not in vehicles:
                    self.m.add_implication(x, moved)
            st = self.v.start[vi]
            if not isinstance(st, int):
                self.m.add(st == start).only_enforce_if(~moved)
            self.terms.append((self.hood.move_weight, moved, f"moved(visit={self.p.visits[vi].id})"))
            current = self.carers_of.get(vi, [])
            self.v.extra_hints.append((moved, int(self.plan.start.get(vi) != start
                                                  or not set(current) <= vehicles)))

    def _partner(self, vi: int) -> int | None:
        return self.p.sync_partner.get(vi)

    def _fixed_partner_start(self, vi: int) -> int | None:
        q = self._partner(vi)
        if q is not None and q not in self.free_v and q in self.plan.start:
            return self.plan.start[q]
        return None

    def _routing(self) -> None:
        """One circuit per free vehicle over its candidate visits; arcs carry travel and time."""
        p, w = self.p, self.p.problem.weights
        for k in self.hood.vehicles:
            veh = self.el.vehicles[k]
            carer = p.carers[veh.carer]
            mat = p.travel.for_mode(carer.mode)
            nodes = [vi for vi in self.hood.visits if (k, vi) in self.v.assign]
            route = self.plan.routes[k]
            current_next = {a: b for a, b in itertools.pairwise(route)}
            index = {vi: i + 1 for i, vi in enumerate(nodes)}
            arcs: list[tuple[int, int, cp_model.BoolVarT]] = []
            lits: dict[tuple[int, int], Var] = {}
            empty = self.m.new_bool_var(f"empty[{k}]")
            arcs.append((0, 0, empty))
            sp, ep = veh.shift.start_point, veh.shift.end_point
            seg = self._segments(k, nodes, mat)
            last_seg = len(seg["pinned"])
            for vi in nodes:
                vis = p.visits[vi]
                x = self.v.assign[(k, vi)]
                arcs.append((index[vi], index[vi], ~x))
                if vi not in seg["pinned"] and not seg[vi]:
                    self.m.add(x == 0)  # fits between none of the carer's pinned stops
                    continue
                st = self.v.start[vi]
                t_in = int(mat[sp, vis.point]) if sp is not None else 0
                t_out = int(mat[vis.point, ep]) if ep is not None else 0
                self.m.add(st >= veh.shift.start).only_enforce_if(x)
                self.m.add(st + vis.duration <= veh.shift.end).only_enforce_if(x)
                if self._arc_ok(seg, DEPOT, vi):
                    a_in = self.m.new_bool_var(f"first[{k},{vis.id}]")
                    arcs.append((0, index[vi], a_in))
                    lits[(DEPOT, vi)] = a_in
                    self.m.add(st >= veh.shift.start + t_in).only_enforce_if(a_in)
                    self.terms.append((w.travel_minute * t_in, a_in, f"travel(carer={carer.id})"))
                if self._arc_ok(seg, vi, DEPOT, last_seg):
                    a_out = self.m.new_bool_var(f"last[{k},{vis.id}]")
                    arcs.append((index[vi], 0, a_out))
                    lits[(vi, DEPOT)] = a_out
                    self.m.add(st + vis.duration + t_out <= veh.shift.end).only_enforce_if(a_out)
                    self.terms.append((w.travel_minute * t_out, a_out, f"travel(carer={carer.id})"))
                for vj in self._successors(k, vi, nodes, mat, current_next.get(vi)):
                    if not self._arc_ok(seg, vi, vj):
                        continue
                    t = int(mat[vis.point, p.visits[vj].point])
                    lit = self.m.new_bool_var(f"arc[{k},{vis.id},{p.visits[vj].id}]")
                    arcs.append((index[vi], index[vj], lit))
                    lits[(vi, vj)] = lit
                    self.m.add(self.v.start[vj] >= st + vis.duration + t).only_enforce_if(lit)
                    if t:
                        self.terms.append((w.travel_minute * t, lit, f"travel(carer={carer.id})"))
            self.m.add_circuit(arcs)
            self.v.arcs[k] = lits
            self.v.extra_hints.append((empty, 0 if route else 1))

    def _no_overlap(self) -> None:
        """Redundant: a free vehicle's visits never overlap in time (optional intervals, present
        when it does the visit). The circuit already implies it, but only through arc choices;
        NoOverlap's disjunctive reasoning prunes start minutes directly, which decides tight
        packings. Measured on six planted-week rotas as the LNS gets them (60 s solves,
        seeds 0-5, 1-8 visits out): its 20 s left 13 visits out in all, against 16 without
        (run twice each, the same both times). A 39-free-visit cover neighbourhood covered
        its visit in 1.6-2.5 s with it, not in 4 s without; a planted 10-carer day's whole
        cover model, one worker, 2 deterministic seconds: 1 out of 4 left, against 4.
        HHCRSP (no visits out) at 60 s is unchanged: F1, G1, E1, D1 within 1% of before."""
        p = self.p
        for k in self.hood.vehicles:
            intervals = [self.m.new_optional_fixed_size_interval_var(
                self.v.start[vi], p.visits[vi].duration, x, f"busy[{k},{p.visits[vi].id}]")
                for vi in self.hood.visits if (x := self.v.assign.get((k, vi))) is not None]
            if len(intervals) > 1:
                self.m.add_no_overlap(intervals)

    def _segments(self, k: int, nodes: list[int], mat) -> dict:
        """Where each free node can sit among vehicle k's pinned stops.

        Pinned stops keep their minutes, so they cut the shift into segments; a free visit may
        only go into a segment its window and the travel around it allow. Arcs that would
        skip a pinned stop, or put a visit where it cannot fit, are never created: a time-band
        neighbourhood stays as small as its free part (measured: pinned routes otherwise made
        most of the arcs).
        """
        p, veh = self.p, self.el.vehicles[k]
        pinned = sorted((vi for vi in nodes if vi in self.hood.pinned), key=lambda v: self.plan.start[v])
        # (previous point, previous end, next point, next start) per segment
        bounds: list[tuple[int | None, int, int | None, int]] = []
        prev_pt, prev_end = veh.shift.start_point, veh.shift.start
        for q in pinned:
            bounds.append((prev_pt, prev_end, p.visits[q].point, self.plan.start[q]))
            prev_pt, prev_end = p.visits[q].point, self.plan.start[q] + p.visits[q].duration
        bounds.append((prev_pt, prev_end, veh.shift.end_point, veh.shift.end))
        out: dict = {"pinned": {q: i for i, q in enumerate(pinned)}}
        for vi in nodes:
            if vi in out["pinned"]:
                continue
            vis = p.visits[vi]
            st = self.v.start[vi]
            lo_v, hi_v = (st, st) if isinstance(st, int) else (vis.earliest, self.el.latest_of[vi])
            fits = set()
            for s_i, (a, a_end, b, b_start) in enumerate(bounds):
                t1 = int(mat[a, vis.point]) if a is not None else 0
                t2 = int(mat[vis.point, b]) if b is not None else 0
                if max(lo_v, a_end + t1) <= min(hi_v, b_start - t2 - vis.duration):
                    fits.add(s_i)
            out[vi] = fits
        return out

    @staticmethod
    def _arc_ok(seg: dict, a: int, b: int, last_seg: int = -1) -> bool:
        """Can b directly follow a on this vehicle, given the pinned stops' order?"""
        pin = seg["pinned"]
        if a == DEPOT:
            return pin.get(b) == 0 if b in pin else 0 in seg[b]
        if b == DEPOT:
            return pin[a] == last_seg - 1 if a in pin else last_seg in seg[a]
        if a in pin and b in pin:
            return pin[b] == pin[a] + 1
        if a in pin:
            return pin[a] + 1 in seg[b]
        if b in pin:
            return pin[b] in seg[a]
        return bool(seg[a] & seg[b])

    def _successors(self, k: int, vi: int, nodes: list[int], mat, keep: int | None) -> list[int]:
        """Feasible successors of vi on vehicle k, the k best by travel plus the wait they
        force (plus the current one).

        Why the wait: by travel alone, a neighbourhood spanning a day kept a morning stop's
        successors among the same village's evening calls, and lost the next call along the
        morning round, which no rota it could express then did."""
        p, el = self.p, self.el
        carer = p.carers[el.vehicles[k].carer]
        vis = p.visits[vi]
        st = self.v.start[vi]
        lo_u = st if isinstance(st, int) else vis.earliest
        hi_u = st if isinstance(st, int) else el.latest_of[vi]
        scored = []
        for vj in nodes:
            if vj == vi:
                continue
            t = int(mat[vis.point, p.visits[vj].point])
            if carer.max_leg is not None and t > carer.max_leg:
                continue
            sj = self.v.start[vj]
            hi_v = sj if isinstance(sj, int) else el.latest_of[vj]
            if lo_u + vis.duration + t > hi_v:
                continue
            if self._synchronised_pair(vi, vj):
                continue
            lo_j = sj if isinstance(sj, int) else p.visits[vj].earliest
            scored.append((t + max(0, lo_j - hi_u - vis.duration - t), vj))
        scored.sort()
        chosen = [vj for _t, vj in scored[: self.k_best]]
        if keep is not None and keep not in chosen and any(vj == keep for _t, vj in scored):
            chosen.append(keep)
        return chosen

    def _synchronised_pair(self, a: int, b: int) -> bool:
        return self._partner(a) == b

    def _follows(self) -> None:
        """Gaps between covered visits; a 0-0 pair is covered together by different carers."""
        p = self.p
        for vi in self.hood.visits:
            f = p.visits[vi].follows
            if f is None:
                continue
            q = f.pred
            st = self.v.start[vi]
            if q in self.free_v:
                both = [self.v.covered[vi], self.v.covered[q]]
                sq = self.v.start[q]
                if f.synchronised:
                    self.m.add(self.v.covered[vi] == self.v.covered[q])
                    self.m.add(st == sq)
                    by_carer: dict[int, list[Var]] = defaultdict(list)
                    for (k, v), x in self.v.assign.items():
                        if v in (vi, q):
                            by_carer[self.el.vehicles[k].carer].append(x)
                    for xs in by_carer.values():
                        if len(xs) > 1:
                            self.m.add(sum(xs) <= 1)
                else:
                    self.m.add(st - sq >= f.lo).only_enforce_if(both)
                    self.m.add(st - sq <= f.hi).only_enforce_if(both)
            elif q in self.plan.start and not f.synchronised:
                ps = self.plan.start[q]
                self.m.add(st >= ps + f.lo).only_enforce_if(self.v.covered[vi])
                self.m.add(st <= ps + f.hi).only_enforce_if(self.v.covered[vi])
            if f.synchronised and q not in self.free_v:
                self._forbid_partner_carers(vi, q)
        # visits outside the neighbourhood that follow a free visit
        for w_ in p.visits:
            f = w_.follows
            if f is None or f.synchronised or w_.index in self.free_v or f.pred not in self.free_v:
                continue
            if w_.index in self.plan.start:
                ws = self.plan.start[w_.index]
                cov = self.v.covered[f.pred]
                self.m.add(self.v.start[f.pred] <= ws - f.lo).only_enforce_if(cov)
                self.m.add(self.v.start[f.pred] >= ws - f.hi).only_enforce_if(cov)

    def _forbid_partner_carers(self, vi: int, q: int) -> None:
        """The fixed partner's carers may not also do this side of a 0-0 pair."""
        theirs = {self.el.vehicles[k].carer for k in self.carers_of.get(q, [])}
        for (k, v), x in self.v.assign.items():
            if v == vi and self.el.vehicles[k].carer in theirs:
                self.m.add(x == 0)

    def _work_expr(self, k: int) -> dict[int, list]:
        """Per calendar day, the (coefficient, literal) terms of vehicle k's work minutes."""
        p = self.p
        out: dict[int, list] = defaultdict(list)
        veh = self.el.vehicles[k]
        mat = p.travel.for_mode(p.carers[veh.carer].mode)
        ep = veh.shift.end_point
        for (a, b), lit in self.v.arcs[k].items():
            if b == DEPOT:
                t = int(mat[p.visits[a].point, ep]) if ep is not None else 0
                day = self._day(a)
            else:
                prev = veh.shift.start_point if a == DEPOT else p.visits[a].point
                t = int(mat[prev, p.visits[b].point]) if prev is not None else 0
                day = self._day(b)
            if t:
                out[day].append((t, lit))
        for (kk, vi), x in self.v.assign.items():
            if kk == k:
                out[self._day(vi)].append((p.visits[vi].duration, x))
        return out

    def _day(self, vi: int) -> int:
        st = self.v.start[vi]
        return self.p.day_of(st if isinstance(st, int) else self.p.visits[vi].earliest)

    def _work_caps(self) -> None:
        """Daily and horizon caps per carer; the carer's fixed shifts use up part of each."""
        p = self.p
        by_carer: dict[int, list[int]] = defaultdict(list)
        for k in self.hood.vehicles:
            by_carer[self.el.vehicles[k].carer].append(k)
        fixed = self._fixed_work()
        for c, ks in by_carer.items():
            carer = p.carers[c]
            if carer.max_day is None and carer.max_total is None:
                continue
            days: dict[int, list] = defaultdict(list)
            for k in ks:
                for day, terms in self._work_expr(k).items():
                    days[day].extend(terms)
                    self._pin_day(k, day)
            if carer.max_day is not None:
                for day, terms in days.items():
                    self.m.add(sum(a * x for a, x in terms) <= carer.max_day - fixed[(c, day)])
            if carer.max_total is not None:
                budget = carer.max_total - sum(m for (cc, _d), m in fixed.items() if cc == c)
                self.m.add(sum(a * x for terms in days.values() for a, x in terms) <= budget)

    def _pin_day(self, k: int, day: int) -> None:
        """Keep a capped carer's visits on the day the cap counts them (windows over midnight)."""
        starts = self.p.day_starts
        if day + 1 < len(starts):
            for (kk, vi), x in self.v.assign.items():
                st = self.v.start[vi]
                if kk == k and isinstance(st, Var) and self._day(vi) == day:
                    self.m.add(st < starts[day + 1]).only_enforce_if(x)

    def _fixed_work(self) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = defaultdict(int)
        for k, route in enumerate(self.plan.routes):
            if k in self.free_k or not route:
                continue
            c = self.el.vehicles[k].carer
            for day, minutes in vehicle_work(self.p, self.el, k, route, self.plan.start).items():
                out[(c, day)] += minutes
        return out

    def _breaks(self) -> None:
        """A stretch over after_work_minutes needs one idle gap of break_minutes (net of travel)."""
        p = self.p
        for k in self.hood.vehicles:
            carer = p.carers[self.el.vehicles[k].carer]
            if carer.break_after is None:
                continue
            nodes = [vi for (kk, vi) in self.v.assign if kk == k]
            if not nodes:
                continue
            mat = p.travel.for_mode(carer.mode)
            first = self.m.new_int_var(0, self.p.horizon_end, f"first_start[{k}]")
            last = self.m.new_int_var(0, self.p.horizon_end + 24 * 60, f"last_end[{k}]")
            for vi in nodes:
                x = self.v.assign[(k, vi)]
                self.m.add(first <= self.v.start[vi]).only_enforce_if(x)
                self.m.add(last >= self.v.start[vi] + p.visits[vi].duration).only_enforce_if(x)
            takes = []
            for (a, b), lit in self.v.arcs[k].items():
                if a == DEPOT or b == DEPOT:
                    continue
                t = int(mat[p.visits[a].point, p.visits[b].point])
                brk = self.m.new_bool_var(f"break[{k},{p.visits[a].id}]")
                self.m.add_implication(brk, lit)
                self.m.add(self.v.start[b] >= self.v.start[a] + p.visits[a].duration + t
                           + carer.break_minutes).only_enforce_if(brk)
                takes.append(((a, b), brk))
            long_day = self.m.new_bool_var(f"long_day[{k}]")
            self.m.add(last - first <= carer.break_after).only_enforce_if(~long_day)
            if takes:
                self.m.add_bool_or([brk for _arc, brk in takes]).only_enforce_if(long_day)
            else:
                self.m.add(long_day == 0)
            self._break_hints(k, first, last, long_day, takes)

    def _break_hints(self, k: int, first: Var, last: Var, long_day: Var,
                     takes: list[tuple[tuple[int, int], Var]]) -> None:
        """Hint the plan's break: the first gap long enough, when the stretch needs one."""
        route = self.plan.routes[k]
        carer = self.p.carers[self.el.vehicles[k].carer]
        assert carer.break_after is not None
        if not route:
            self.v.extra_hints.append((long_day, 0))
            self.v.extra_hints += [(brk, 0) for _arc, brk in takes]
            return
        f = self.plan.start[route[0]]
        lst = self.plan.start[route[-1]] + self.p.visits[route[-1]].duration
        needs = lst - f > carer.break_after
        mat = self.p.travel.for_mode(carer.mode)
        taken = None
        for a, b in itertools.pairwise(route):
            va, vb = self.p.visits[a], self.p.visits[b]
            idle = self.plan.start[b] - self.plan.start[a] - va.duration - int(mat[va.point, vb.point])
            if needs and idle >= carer.break_minutes:
                taken = (a, b)
                break
        self.v.extra_hints += [(first, f), (last, lst), (long_day, int(needs))]
        self.v.extra_hints += [(brk, int(arc == taken)) for arc, brk in takes]

    def _continuity(self) -> None:
        """Distinct carers per client (hard cap where set) and the continuity costs."""
        p, w = self.p, self.p.problem.weights
        fixed_pairs: set[tuple[int, int]] = set()
        for k, route in enumerate(self.plan.routes):
            if k in self.free_k:
                continue
            for vi in route:
                fixed_pairs.add((self.el.vehicles[k].carer, p.visits[vi].client))
        by_pair: dict[tuple[int, int], list[Var]] = defaultdict(list)
        for (k, vi), x in self.v.assign.items():
            by_pair[(self.el.vehicles[k].carer, p.visits[vi].client)].append(x)
            if mismatch(p, self.el.vehicles[k].carer, vi) and w.preference_mismatch:
                self.terms.append((w.preference_mismatch, x, f"mismatch(visit={p.visits[vi].id})"))
        free_pairs_by_client: dict[int, list[Var]] = defaultdict(list)
        for (c, cl), xs in by_pair.items():
            if (c, cl) in fixed_pairs:
                continue
            y = self.m.new_bool_var(f"serves[{p.carers[c].id},{p.clients[cl].id}]")
            for x in xs:
                self.m.add_implication(x, y)
            self.m.add(y <= sum(xs))
            self.v.serves[(c, cl)] = y
            free_pairs_by_client[cl].append(y)
            cost = w.distinct_carer + (0 if p.carers[c].id in p.clients[cl].preferred
                                       else w.new_carer_for_client)
            self.terms.append((cost, y, f"new_carer(client={p.clients[cl].id}, "
                                         f"carer={p.carers[c].id})"))
        for cl, ys in free_pairs_by_client.items():
            limit = p.clients[cl].max_distinct
            if limit is not None:
                already = sum(1 for (_c, c2) in fixed_pairs if c2 == cl)
                self.m.add(sum(ys) <= limit - already)

    def _objective(self) -> None:
        if self.hood.cover_only:
            self.m.minimize(sum(coef * expr for coef, expr in self.cover_terms if coef))
            return
        self.m.minimize(sum(coef * expr for coef, expr, _name in self.terms if coef))

    def _hints(self) -> None:
        """The current plan, complete, so CP-SAT starts from a valid rota (never hint twice)."""
        hinted: set[int] = set()

        def hint(var, value: int) -> None:
            if isinstance(var, int):
                return
            idx = var.index
            if idx in hinted:
                return
            hinted.add(idx)
            self.m.add_hint(var, value)

        p = self.p
        for vi in self.hood.visits:
            cov = vi in self.plan.start
            hint(self.v.covered[vi], int(cov))
            st = self.v.start[vi]
            value = self.plan.start[vi] if cov else p.visits[vi].earliest
            hint(st, value)
        for (k, vi), x in self.v.assign.items():
            hint(x, int(vi in self.plan.routes[k]))
        for k, lits in self.v.arcs.items():
            route = self.plan.routes[k]
            used = set(zip([DEPOT, *route], [*route, DEPOT], strict=True)) if route else set()
            for key, lit in lits.items():
                hint(lit, int(key in used))
        for (c, cl), y in self.v.serves.items():
            hint(y, int(any(p.visits[vi].client == cl for k in self.hood.vehicles
                            if self.el.vehicles[k].carer == c for vi in self.plan.routes[k])))
        for var, value in self.v.extra_hints:
            hint(var, value)


def build_model(p: CompiledProblem, el: Eligibility, plan: Plan, hood: Neighbourhood) -> Built:
    """The neighbourhood model with the current plan as a complete hint."""
    return ModelBuilder(p, el, plan, hood).build()


def extract(p: CompiledProblem, el: Eligibility, plan: Plan, built: Built,
            solver: cp_model.CpSolver) -> Plan:
    """A new plan: the free vehicles' routes read off the circuits, the rest unchanged."""
    new = plan.copy()
    v = built.vars
    for vi in built.hood.visits:
        if solver.value(v.covered[vi]):
            st = v.start[vi]
            new.start[vi] = st if isinstance(st, int) else solver.value(st)
        else:
            new.start.pop(vi, None)
    for k in built.hood.vehicles:
        succ = {a: b for (a, b), lit in v.arcs[k].items() if solver.value(lit)}
        route = []
        cur = succ.get(DEPOT)
        while cur is not None and cur != DEPOT:
            route.append(cur)
            cur = succ.get(cur)
        new.routes[k] = route
    return new
