"""Prune before modelling: which vehicle (carer shift) may do which visit.

A *vehicle* is one shift of one carer: routes live inside shifts, so the
solver's unit of routing is the shift. Eligibility applies every rule that
involves one carer and one visit alone (skills, gender, exclusions,
localities, shift and window overlap, reach and walkers' max leg) so the
CP-SAT models never carry a literal that could only be false. The same
cascade yields the spec's reason codes for visits nobody can take.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from optimiser.domain.compiled import CCarer, CompiledProblem, CShift, CVisit


@dataclass(frozen=True)
class Vehicle:
    """One shift of one carer: the unit a route belongs to."""

    index: int
    carer: int
    shift: CShift

    @property
    def start(self) -> int:
        return self.shift.start

    @property
    def end(self) -> int:
        return self.shift.end


@dataclass(frozen=True)
class Eligibility:
    """Who may do what: `vehicles_of[v]` lists vehicle indices eligible for visit v."""

    vehicles: tuple[Vehicle, ...]
    vehicles_of: tuple[tuple[int, ...], ...]
    reasons: tuple[tuple[str, ...], ...]  # for visits with no (or too few) eligible vehicles
    latest_of: tuple[int, ...]  # latest start the solver may use (window end, or horizon if penalised)

    @property
    def coverable(self) -> list[int]:
        """Visits some vehicle may take (pruning ruled the others out)."""
        return [v for v, ks in enumerate(self.vehicles_of) if ks]


def carer_may_serve(p: CompiledProblem, carer: CCarer, visit: CVisit) -> str | None:
    """The first carer-level rule that forbids this pair, as a reason code, or None."""
    client = p.clients[visit.client]
    if not visit.skills <= carer.skills:
        return "no_carer_with_skills"
    if carer.id in client.excluded or (
        client.required_gender is not None and carer.gender != client.required_gender
    ):
        return "excluded_or_gender"
    if carer.localities and client.locality is not None and client.locality not in carer.localities:
        return "outside_carer_localities"
    return None


def vehicle_may_serve(p: CompiledProblem, carer: CCarer, shift: CShift, visit: CVisit,
                      latest: int) -> str | None:
    """Shift/window overlap and reach for one shift, as a reason code, or None."""
    if shift.start > latest or shift.end < visit.earliest + visit.duration:
        return "no_shift_covers_window"
    t_in = p.minutes(carer, shift.start_point, visit.point) if shift.start_point is not None else 0
    t_out = p.minutes(carer, visit.point, shift.end_point) if shift.end_point is not None else 0
    if max(visit.earliest, shift.start + t_in) > latest:
        return "travel_too_far"
    if max(visit.earliest, shift.start + t_in) + visit.duration + t_out > shift.end:
        return "travel_too_far"
    if carer.max_leg is not None and (t_in > carer.max_leg or t_out > carer.max_leg):
        return "travel_too_far"
    return None


_CASCADE = ("no_carer_with_skills", "excluded_or_gender", "outside_carer_localities",
            "no_shift_covers_window", "travel_too_far")


def build_eligibility(p: CompiledProblem) -> Eligibility:
    """Compute vehicles, eligible vehicles per visit and reason codes for the hopeless."""
    vehicles = tuple(
        Vehicle(len_, c.index, s)
        for len_, (c, s) in enumerate((c, s) for c in p.carers for s in c.shifts)
    )
    by_carer: dict[int, list[Vehicle]] = {}
    for veh in vehicles:
        by_carer.setdefault(veh.carer, []).append(veh)
    # With penalised lateness a visit may start as late as the horizon allows.
    latest_of = tuple(
        max(v.latest, p.horizon_end - v.duration) if p.lateness_penalised else v.latest
        for v in p.visits
    )
    vehicles_of: list[tuple[int, ...]] = []
    reasons: list[tuple[str, ...]] = []
    # Carer-level verdicts depend only on the visit's skills and its client's exclusions,
    # gender and locality, which many visits share: worked out once per such key, so only
    # the carers that pass them are walked per visit (same output; 120-carer, 1,000-call
    # day: 0.11 -> 0.08-0.09 s; 400 calls: 0.04 -> 0.03 s; the shift checks are the rest).
    verdicts: dict[tuple, tuple[int, list[CCarer]]] = {}
    for v in p.visits:
        client = p.clients[v.client]
        key = (v.skills, client.excluded, client.required_gender, client.locality)
        verdict = verdicts.get(key)
        if verdict is None:
            deepest, passing = -1, []
            for carer in p.carers:
                why = carer_may_serve(p, carer, v)
                if why is None:
                    passing.append(carer)
                else:
                    deepest = max(deepest, _CASCADE.index(why) - 1)
            # A carer passing every carer-level rule: a shift is what is missing.
            verdict = verdicts[key] = (max(deepest, 2) if passing else deepest, passing)
        best, passing = verdict  # deepest stage of the cascade any carer passed
        ok: list[int] = []
        for carer in passing:
            for veh in by_carer.get(carer.index, []):
                why = vehicle_may_serve(p, carer, veh.shift, v, latest_of[v.index])
                if why is None:
                    ok.append(veh.index)
                else:
                    best = max(best, _CASCADE.index(why) - 1)
        vehicles_of.append(tuple(ok))
        if ok:
            reasons.append(())
        else:
            reasons.append((_CASCADE[best + 1],))
    reasons = _pair_reasons(p, vehicles, vehicles_of, reasons)
    return Eligibility(vehicles, tuple(vehicles_of), tuple(reasons), latest_of)


def _pair_reasons(p: CompiledProblem, vehicles, vehicles_of, reasons) -> list[tuple[str, ...]]:
    """Double-ups need two distinct eligible carers; a 0-0 pair needs one for each side."""
    out = list(reasons)
    for v in p.visits:
        carers = {vehicles[k].carer for k in vehicles_of[v.index]}
        if v.required == 2 and len(carers) == 1 and not out[v.index]:
            out[v.index] = ("no_second_carer_free",)
        f = v.follows
        if f is not None and f.synchronised:
            mine = carers
            theirs = {vehicles[k].carer for k in vehicles_of[f.pred]}
            if out[f.pred] and not out[v.index]:
                out[v.index] = ("no_second_carer_free",)
            elif out[v.index] and not out[f.pred]:
                out[f.pred] = ("no_second_carer_free",)
            elif not out[v.index] and len(mine | theirs) < 2:
                out[v.index] = out[f.pred] = ("no_second_carer_free",)
    return out


def vehicle_components(el: Eligibility) -> list[int]:
    """Each vehicle's component of the eligibility graph (vehicles joined when some visit
    may go to both): visits of different components can never trade places.

    Why: HHCRSP's skill sets split each instance looked at (D1-D2, D6, D10, E1-E7, F1) in
    two or three, a provider's carers may split by locality, and a week by day; a move that
    mixes components is two unrelated moves judged as one."""
    return components(len(el.vehicles), ((ks[0], k) for ks in el.vehicles_of for k in ks[1:]))


def components(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """A label per node 0..n-1, equal for nodes joined through `edges` (union-find).

    Why not scipy's `connected_components`: importing `scipy.sparse.csgraph` costs a
    quarter of a second of every `carerota solve` on haversine travel, which loads no
    other part of it (tests/geodata/test_prepare.py)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    return [find(x) for x in range(n)]


def reserved(p: CompiledProblem, el: Eligibility) -> Eligibility:
    """Eligibility with each scarce carer (the only one holding some visit's skills) taken
    off every other visit that keeps enough carers without it: two for a double-up or a
    synchronised half, one otherwise.

    Why: construction is greedy in time order, so a carer nobody can stand in for gets
    filled with visits others could take, and the visits only it can do run late (HHCRSP
    D10: carer c0 alone holds the skill of 15 of 98 visits). Used for a construction only;
    the search then has the full lists and trades the rest back where it pays."""
    # Scarce by skills alone: a carer the only one eligible for a visit because of shifts,
    # localities or exclusions (common over a week) is no specialist; reserving those on the
    # planted week took 777 of 830 visits' lists and cost a visit of cover.
    holders = {v.skills: {c.index for c in p.carers if v.skills <= c.skills} for v in p.visits}
    scarce = {next(iter(cs)) for cs in holders.values() if len(cs) == 1}
    if not scarce:
        return el
    carers_of = [{el.vehicles[k].carer for k in ks} for ks in el.vehicles_of]
    halves = {i for v in p.visits if v.follows is not None and v.follows.synchronised
              for i in (v.index, v.follows.pred)}
    out = list(el.vehicles_of)
    for v in p.visits:
        cs = carers_of[v.index]
        mine = cs & scarce
        if not mine or len(cs) == 1:
            continue
        need = 2 if v.required == 2 or v.index in halves else 1
        if len(cs - mine) >= need:
            out[v.index] = tuple(k for k in out[v.index] if el.vehicles[k].carer not in mine)
    return replace(el, vehicles_of=tuple(out))
