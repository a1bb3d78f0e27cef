"""JSON round trips: a document dumped and read back is the same document, meaning included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimiser.domain.documents import REASON_CODES, TRAVEL_MODES, Problem, Solution
from optimiser.domain.loading import load_problem, load_solution

IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
SKILLS = st.lists(st.sampled_from(["medication", "hoist", "dementia", "peg_feed"]), unique=True)
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=1)),
                         timezone(timedelta(hours=-5, minutes=-30))])
RUNS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _location(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"postcode": draw(st.sampled_from(["BD1 1HY", "LS29 8HF", "LS21 1BZ"]))}
    return {"lat": draw(st.floats(-90, 90, allow_nan=False)),
            "lon": draw(st.floats(-180, 180, allow_nan=False))}


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    """Valid carerota/1 problems: all naive or all offset-aware, ids unique, times in the horizon."""
    zone = draw(ZONES)
    origin = datetime(2026, 11, 30, tzinfo=zone)
    days = draw(st.integers(1, 3))

    def at(minute: int) -> str:
        return (origin + timedelta(minutes=minute)).isoformat()

    span = days * 1440
    localities = [{"id": i, "name": i.title()} for i in draw(st.lists(IDS, max_size=3, unique=True))]
    loc_ids = [x["id"] for x in localities]
    carer_ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
    carers = []
    for cid in carer_ids:
        cuts = sorted(draw(st.lists(st.integers(0, span), min_size=0, max_size=4, unique=True)))
        shifts = []
        for a, b in zip(cuts[::2], cuts[1::2], strict=False):
            shift: dict[str, Any] = {"start": at(a), "end": at(b)}
            for end in ("start_location", "end_location"):
                kind = draw(st.sampled_from(["absent", "null", "place"]))
                if kind == "null":
                    shift[end] = None
                elif kind == "place":
                    shift[end] = _location(draw)
            shifts.append(shift)
        carer: dict[str, Any] = {
            "id": cid, "home": _location(draw), "travel_mode": draw(st.sampled_from(TRAVEL_MODES)),
            "skills": draw(SKILLS), "shifts": shifts,
            "localities": draw(st.lists(st.sampled_from(loc_ids), unique=True)) if loc_ids else [],
        }
        if draw(st.booleans()):
            carer.update(max_leg_minutes=draw(st.integers(0, 60)), gender="female",
                         break_rule={"after_work_minutes": 360, "break_minutes": 20},
                         cost_per_hour=draw(st.floats(0, 40, allow_nan=False)))
        carers.append(carer)
    client_ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
    clients = [{"id": c, "location": _location(draw),
                "excluded_carers": draw(st.lists(st.sampled_from(carer_ids), unique=True)),
                "max_distinct_carers": draw(st.none() | st.integers(1, 5))} for c in client_ids]
    visits: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 6))):
        lo = draw(st.integers(0, span - 1))
        hi = draw(st.integers(lo, span))
        visit: dict[str, Any] = {
            "id": f"v{i}", "client_id": draw(st.sampled_from(client_ids)),
            "earliest_start": at(lo), "latest_start": at(hi),
            "duration_minutes": draw(st.integers(1, 120)),
            "carers_required": draw(st.sampled_from([1, 2])), "skills": draw(SKILLS),
            "priority": draw(st.sampled_from(["critical", "high", "normal"])),
        }
        if visits and draw(st.booleans()):
            gap = draw(st.integers(0, 300))
            visit["follows"] = {"visit_id": draw(st.sampled_from(visits))["id"],
                                "min_gap_minutes": gap, "max_gap_minutes": gap + draw(st.integers(0, 60))}
        visits.append(visit)
    return {
        "format": "carerota/1", "id": draw(IDS), "horizon": {"start": at(0), "end": at(span)},
        "localities": localities, "carers": carers, "clients": clients, "visits": visits,
        "lateness": draw(st.sampled_from(["forbidden", "penalised"])),
        "seed": draw(st.none() | st.integers(0, 2**31)),
        "x_custom": draw(IDS),  # extra keys are kept, not dropped
    }


@st.composite
def solutions(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(ZONES)
    origin = datetime(2026, 11, 30, 7, tzinfo=zone)
    routes = []
    for cid in draw(st.lists(IDS, max_size=3, unique=True)):
        stops, minute = [], 0
        for vid in draw(st.lists(IDS, max_size=4, unique=True)):
            minute += draw(st.integers(0, 90))
            length = draw(st.integers(1, 60))
            stops.append({"visit_id": vid, "start": (origin + timedelta(minutes=minute)).isoformat(),
                          "end": (origin + timedelta(minutes=minute + length)).isoformat(),
                          "travel_minutes": draw(st.integers(0, 40))})
            minute += length
        routes.append({"carer_id": cid, "shift_index": draw(st.integers(0, 2)), "stops": stops,
                       "return_travel_minutes": draw(st.integers(0, 40))})
    return {
        "format": "carerota/1", "problem_id": draw(IDS),
        "status": draw(st.sampled_from(["optimal", "feasible", "infeasible", "no_solution"])),
        "routes": routes,
        "unassigned": [{"visit_id": v, "reasons": draw(st.lists(st.sampled_from(REASON_CODES),
                                                                 unique=True))}
                       for v in draw(st.lists(IDS, max_size=3, unique=True))],
        "metrics": {"visits_total": draw(st.integers(0, 100)),
                    "travel_km": draw(st.floats(0, 1e4, allow_nan=False)),
                    "objective": draw(st.none() | st.floats(0, 1e9, allow_nan=False))},
        "solve_seconds": draw(st.floats(0, 1e4, allow_nan=False)),
    }


def _shift_locations(problem: Problem) -> list[tuple[bool, bool, bool, bool]]:
    """Whether each shift's start/end location is set and whether it is null (the meaning)."""
    return [(
        "start_location" in s.model_fields_set, s.start_location is None,
        "end_location" in s.model_fields_set, s.end_location is None,
    ) for c in problem.carers for s in c.shifts]


@RUNS
@given(problems(), st.booleans())
def test_problem_round_trip(doc: dict[str, Any], exclude_none: bool) -> None:
    problem = load_problem(doc)
    text = json.dumps(problem.model_dump(mode="json", exclude_none=exclude_none))
    again = load_problem(text)
    assert again == problem
    assert _shift_locations(again) == _shift_locations(problem)
    assert again.model_dump(mode="json") == problem.model_dump(mode="json")


@RUNS
@given(solutions())
def test_solution_round_trip(doc: dict[str, Any]) -> None:
    solution = load_solution(doc)
    again = load_solution(json.dumps(solution.model_dump(mode="json", exclude_none=True)))
    assert again == solution
    assert Solution.model_validate_json(solution.model_dump_json()) == solution


def test_null_shift_location_survives_exclude_none() -> None:
    """null means 'travel from it is not counted'; absent means 'from home'. Both must survive."""
    doc = {"horizon": {"start": "2026-11-30T00:00", "end": "2026-12-01T00:00"},
           "carers": [{"id": "k", "home": {"lat": 53.9, "lon": -1.8}, "shifts": [
               {"start": "2026-11-30T07:00", "end": "2026-11-30T12:00", "start_location": None},
           ]}]}
    problem = load_problem(doc)
    dumped = problem.model_dump(mode="json", exclude_none=True)
    shift = dumped["carers"][0]["shifts"][0]
    assert shift["start_location"] is None and "end_location" not in shift
    assert "end_location" not in problem.model_dump(mode="json")["carers"][0]["shifts"][0]
