"""Plain words for brokers: the best two-provider split and the smallest change.

Why separate from matching: these run only when nobody can take the whole
package, re-use the placements already made, and speak in calls, weekdays
and skills ("needs one more hoist-trained driver on Tuesdays") rather than
in visit ids and reason codes.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from optimiser.domain.documents import CONTRACT_ORDER, WEEKDAYS, Package
from optimiser.prune import carer_may_serve, vehicle_may_serve

if TYPE_CHECKING:
    from optimiser.domain.documents import District
    from optimiser.match import (
        MatchOptions,
        PackageVisit,
        Placement,
        Prepare,
        Split,
        Work,
    )

DAY_WORDS = {"mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays",
             "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays"}
WIDENINGS = (15, 30, 45, 60, 90)  # extra tolerance minutes tried, smallest first
TIME_REASONS = {"capacity", "no_second_carer_free", "no_shift_covers_window", "time_limit"}


def days_phrase(weekdays: set[str], all_days: set[str]) -> str:
    """'every day', 'on Tuesdays' or 'on Mondays, Tuesdays and Fridays'."""
    if weekdays >= all_days:
        return "every day"
    names = [DAY_WORDS[d] for d in WEEKDAYS if d in weekdays]
    return "on " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def _hm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


# --- split ------------------------------------------------------------------------------


def _covered(pl: Placement) -> set[str]:
    missing = {u.visit_id for u in pl.uncovered}
    return {v for v in pl.package_visits if v not in missing}


def best_split(district: District, package: Package, pvisits: list[PackageVisit],
               done: list[tuple[Work, Placement]], options: MatchOptions, deadline: float,
               prepare: Prepare | None) -> Split | None:
    """Two providers that together cover everything, whole calls preferred; each share placed anew.

    Pairs are tried best first: split by call before split by visit, then by
    the pair's contract tiers and scores. A pair is offered only if both
    providers, asked again for just their share, cover all of it.
    """
    from optimiser.match import Split, SplitShare, place, start_work

    ids = [pv.visit.id for pv in pvisits]
    everything = set(ids)
    calls_of: dict[int, set[str]] = defaultdict(set)
    for pv in pvisits:
        calls_of[pv.call].add(pv.visit.id)
    useful = [pl for _, pl in done if pl.covered_visits > 0]
    options_pairs = []
    for a, b in itertools.permutations(useful, 2):
        ca, cb = _covered(a), _covered(b)
        if ca | cb != everything:
            continue
        whole_a = {c for c, vs in calls_of.items() if vs <= ca}
        whole_b = {c for c, vs in calls_of.items() if vs <= cb}
        by_call = whole_a | whole_b == set(calls_of) and whole_a and whole_a != set(calls_of)
        share_a = set().union(*(calls_of[c] for c in whole_a)) if by_call else ca
        share_b = everything - share_a
        if not share_b:
            continue
        key = (not by_call, CONTRACT_ORDER.index(a.tier) + CONTRACT_ORDER.index(b.tier),
               a.score + b.score, a.provider_id, b.provider_id)
        options_pairs.append((key, a, b, share_a, share_b, bool(by_call)))
    options_pairs.sort(key=lambda t: t[0])
    providers = {pl.provider_id: w.provider for w, pl in done}
    for _key, a, b, share_a, share_b, by_call in options_pairs[:6]:
        if time.monotonic() > deadline - 0.2:
            break
        shares = []
        for pl, share in ((a, share_a), (b, share_b)):
            sub = [pv for pv in pvisits if pv.visit.id in share]
            work = start_work(district, providers[pl.provider_id], package, sub, prepare)
            placed = place(work, options, deadline)
            if not placed.feasible:
                break
            calls = sorted({package.calls[pv.call].time for pv in sub}) if by_call else []
            shares.append(SplitShare(provider_id=pl.provider_id, visits=[pv.visit.id for pv in sub],
                                     calls=calls, placement=placed))
        if len(shares) == 2:
            return Split(by_call=by_call, shares=shares)
    return None


# --- suggestions ----------------------------------------------------------------------------


def suggestions(district: District, package: Package, pvisits: list[PackageVisit],
                done: list[tuple[Work, Placement]], options: MatchOptions, deadline: float,
                prepare: Prepare | None, top: int = 3) -> list[str]:
    """The smallest changes that would make the package feasible, in plain words.

    First, for the best few providers, a wider call window (tolerance widened
    by 15, 30, 45, 60 or 90 minutes) on the calls they miss for lack of time;
    then, from the reason codes, the carer the best providers lack.
    """
    out: list[str] = []
    best = [wp for wp in done if wp[1].covered_visits > 0][:top] or done[:1]
    widened = []
    for work, pl in best:
        found = _widen(district, package, pvisits, work, pl, options, deadline, prepare)
        if found is not None:
            widened.append(found)
    widened.sort(key=lambda t: t[0])
    out.extend(text for _, text in widened[:2])
    for work, pl in best[:2]:
        out.extend(_lacks(package, work, pl))
    return list(dict.fromkeys(out))


def _widen(district: District, package: Package, pvisits: list[PackageVisit], work: Work,
           pl: Placement, options: MatchOptions, deadline: float, prepare: Prepare | None
           ) -> tuple[int, str] | None:
    from optimiser.match import expand_package, place, start_work

    by_id = {pv.visit.id: pv for pv in pvisits}
    calls = sorted({by_id[u.visit_id].call for u in pl.uncovered
                    if set(u.reasons) <= TIME_REASONS})
    if not calls or len(calls) < len({by_id[u.visit_id].call for u in pl.uncovered}):
        return None  # some misses are not about time: a wider window cannot help
    quick = options.model_copy(update={"repair_seconds": min(options.repair_seconds, 0.5)})
    aware = pvisits[0].visit.earliest_start.tzinfo is not None
    for extra in WIDENINGS:
        if time.monotonic() > deadline - 0.2:
            return None
        new_calls = [c.model_copy(update={"tolerance_minutes": c.tolerance_minutes + extra})
                     if i in calls else c for i, c in enumerate(package.calls)]
        wider = package.model_copy(update={"calls": new_calls})
        sub = expand_package(wider, aware, district.timezone)
        try_work = start_work(district, work.provider, wider, sub, prepare)
        placed = place(try_work, quick, deadline)
        if not placed.feasible:
            continue
        p = try_work.compiled
        phrases = []
        for ci in calls:
            call = package.calls[ci]
            hh, mm = map(int, call.time.split(":"))
            at = hh * 60 + mm
            offsets = []
            for pv in sub:
                if pv.call != ci:
                    continue
                v = p.visit_index[pv.visit.id]
                local = try_work.plan.start[v] - p.visits[v].preferred + at  # type: ignore[operator]
                offsets.append(local)
            far = max(offsets, key=lambda m: abs(m - at))
            if abs(far - at) > call.tolerance_minutes:
                phrases.append(f"the {call.time} call may start at {_hm(far)}")
            else:
                phrases.append(f"the {call.time} call's window widens by {extra} minutes")
        return extra, f"{pl.provider_id} could take it all if " + " and ".join(phrases)
    return None


def _lacks(package: Package, work: Work, pl: Placement) -> list[str]:
    """From reason codes: the carer this provider lacks, per call and weekday."""
    p = work.compiled
    by_id = {pv.visit.id: pv for pv in work.pvisits}
    all_days = {pv.weekday for pv in work.pvisits}
    grouped: dict[tuple[int, str], set[str]] = defaultdict(set)
    shortage: dict[tuple[int, str], int] = defaultdict(int)
    example: dict[tuple[int, str], int] = {}
    for u in pl.uncovered:
        pv = by_id[u.visit_id]
        reason = next((r for r in u.reasons if r != "time_limit"), "capacity")
        key = (pv.call, reason)
        grouped[key].add(pv.weekday)
        v = p.visit_index[u.visit_id]
        shortage[key] = max(shortage[key], work.short.get(v, 1))
        example.setdefault(key, v)
    out = []
    for (ci, reason), weekdays in sorted(grouped.items()):
        call = package.calls[ci]
        v = example[(ci, reason)]
        trained = f"{' and '.join(call.skills)}-trained " if call.skills else ""
        driver = "driver" if _walkers_cannot_reach(work, v) else "carer"
        when = days_phrase(weekdays, all_days)
        gender = package.client.required_carer_gender
        who = pl.provider_id
        if reason == "no_carer_with_skills":
            text = f"{who} needs a carer trained in {', '.join(call.skills)}"
        elif reason == "excluded_or_gender":
            text = f"{who} needs a {trained}{gender + ' ' if gender else ''}carer the client accepts"
        elif reason in ("outside_carer_localities", "travel_too_far"):
            place_name = package.client.locality or "the client"
            text = f"{who} needs a {trained}driver who can reach {place_name} for the {call.time} call"
        elif reason == "no_shift_covers_window":
            text = f"{who} needs a {trained}{driver} on shift at {call.time}"
        else:
            many = "one more" if shortage[(ci, reason)] <= 1 else "two more"
            text = f"{who} needs {many} {trained}{driver}{'s' if many == 'two more' else ''} " \
                   f"free at {call.time}"
        out.append(f"{text} {when}")
    return out


def _walkers_cannot_reach(work: Work, v: int) -> bool:
    """True when some non-driving carer of the provider is kept from this visit by distance."""
    p = work.compiled
    visit = p.visits[v]
    for carer in p.carers:
        if carer.mode == "drive" or not visit.skills <= carer.skills:
            continue
        why = carer_may_serve(p, carer, visit)
        if why == "outside_carer_localities":
            return True
        if why is None:
            for shift in carer.shifts:
                if vehicle_may_serve(p, carer, shift, visit, work.el.latest_of[v]) == "travel_too_far":
                    return True
    return False
