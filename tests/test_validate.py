"""One test per validator rule: break the spec's example in exactly one way.

Each case changes the example problem or solution so that one rule, and only
that rule, is broken; the validator must report exactly that rule code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from optimiser.domain.compiled import compile_problem
from optimiser.domain.loading import load_problem, load_solution
from optimiser.validate import RULES, Violation, validate

Doc = dict[str, Any]


def _check(problem: Doc, solution: Doc) -> list[Violation]:
    return validate(compile_problem(load_problem(problem)), load_solution(solution))


def _route(solution: Doc, carer: str) -> Doc:
    return next(r for r in solution["routes"] if r["carer_id"] == carer)


def _stop(solution: Doc, carer: str, visit: str) -> Doc:
    return next(s for s in _route(solution, carer)["stops"] if s["visit_id"] == visit)


def _carer(problem: Doc, carer: str) -> Doc:
    return next(c for c in problem["carers"] if c["id"] == carer)


def _client(problem: Doc, client: str) -> Doc:
    return next(c for c in problem["clients"] if c["id"] == client)


def _unknown_id(p: Doc, s: Doc) -> None:
    s["unassigned"].append({"visit_id": "ghost", "reasons": ["capacity"]})


def _coverage(p: Doc, s: Doc) -> None:
    s["unassigned"].append({"visit_id": "b-lunch", "reasons": ["capacity"]})


def _window(p: Doc, s: Doc) -> None:  # c-breakfast's window closes at 09:30
    _stop(s, "ben", "c-breakfast").update(start="2026-11-30T09:35", end="2026-11-30T10:05")


def _duration(p: Doc, s: Doc) -> None:
    _stop(s, "ben", "c-breakfast")["end"] = "2026-11-30T09:40"


def _synchronised(p: Doc, s: Doc) -> None:
    _stop(s, "amira", "a-breakfast").update(start="2026-11-30T08:05", end="2026-11-30T08:50")


def _order(p: Doc, s: Doc) -> None:
    stops = _route(s, "amira")["stops"]
    stops[1], stops[2] = stops[2], stops[1]


def _shift(p: Doc, s: Doc) -> None:  # ends 14:00, 2 min from home, at amira's shift end
    _stop(s, "amira", "b-afternoon-meds").update(start="2026-11-30T13:30", end="2026-11-30T14:00")


def _travel(p: Doc, s: Doc) -> None:  # mrs-a to mr-b takes 2 min by car
    _stop(s, "amira", "b-afternoon-meds")["travel_minutes"] = 1


def _follows(p: Doc, s: Doc) -> None:  # afternoon meds at 12:35 must be >= 240 min after
    _stop(s, "cara", "b-meds").update(start="2026-11-30T08:45", end="2026-11-30T09:15")


def _skills(p: Doc, s: Doc) -> None:
    _carer(p, "cara")["skills"] = []


def _exclusion(p: Doc, s: Doc) -> None:
    _client(p, "mrs-c")["excluded_carers"] = ["ben"]


def _gender(p: Doc, s: Doc) -> None:
    _client(p, "mr-b")["required_carer_gender"] = "male"


def _locality(p: Doc, s: Doc) -> None:
    p["localities"].append({"id": "otley", "name": "Otley"})
    _carer(p, "cara")["localities"] = ["otley"]


def _max_distinct(p: Doc, s: Doc) -> None:
    _client(p, "mrs-a")["max_distinct_carers"] = 1


def _max_leg(p: Doc, s: Doc) -> None:  # ben walks 13 min twice
    _carer(p, "ben")["max_leg_minutes"] = 12


def _daily_cap(p: Doc, s: Doc) -> None:  # amira works 110 min
    _carer(p, "amira")["max_work_minutes_per_day"] = 100


def _horizon_cap(p: Doc, s: Doc) -> None:
    _carer(p, "amira")["max_work_minutes"] = 100


def _break(p: Doc, s: Doc) -> None:  # cara works 08:30-09:00 without a gap
    _carer(p, "cara")["break_rule"] = {"after_work_minutes": 20, "break_minutes": 10}


def _overlap(p: Doc, s: Doc) -> None:
    """amira gets c-breakfast (08:30) on a second route while still at a-breakfast (to 08:45)."""
    ben = _route(s, "ben")
    ben["stops"] = [x for x in ben["stops"] if x["visit_id"] != "c-breakfast"]
    s["routes"].append({
        "carer_id": "amira", "shift_index": 0, "return_travel_minutes": 5,
        "stops": [{"visit_id": "c-breakfast", "start": "2026-11-30T08:30",
                   "end": "2026-11-30T09:00", "travel_minutes": 5}],
    })


BREAKS: dict[str, Callable[[Doc, Doc], None]] = {
    "unknown_id": _unknown_id,
    "coverage": _coverage,
    "window": _window,
    "duration": _duration,
    "synchronised": _synchronised,
    "order": _order,
    "shift": _shift,
    "travel": _travel,
    "follows": _follows,
    "skills": _skills,
    "exclusion": _exclusion,
    "gender": _gender,
    "locality": _locality,
    "max_distinct_carers": _max_distinct,
    "max_leg": _max_leg,
    "daily_cap": _daily_cap,
    "horizon_cap": _horizon_cap,
    "break": _break,
    "overlap": _overlap,
}


def test_every_rule_has_a_breaking_case() -> None:
    assert set(BREAKS) == set(RULES)


def test_spec_example_is_valid(example_problem: Doc, example_solution: Doc) -> None:
    assert _check(example_problem, example_solution) == []


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_breaking_one_rule_reports_exactly_that_rule(
    rule: str, example_problem: Doc, example_solution: Doc
) -> None:
    BREAKS[rule](example_problem, example_solution)
    violations = _check(example_problem, example_solution)
    assert violations, f"breaking {rule} went unnoticed"
    assert {v.rule for v in violations} == {rule}, [str(v) for v in violations]
    assert all(v.message and str(v).startswith(f"[{rule}]") for v in violations)


def test_zero_zero_pair_must_be_covered_together(
    example_problem: Doc, example_solution: Doc
) -> None:
    """A synchronised pair where only one half is covered breaks `follows`."""
    example_problem["visits"].append({
        "id": "c-second", "client_id": "mrs-c", "earliest_start": "2026-11-30T08:30",
        "latest_start": "2026-11-30T09:30", "duration_minutes": 30,
        "follows": {"visit_id": "c-breakfast", "min_gap_minutes": 0, "max_gap_minutes": 0},
    })
    example_solution["unassigned"].append({"visit_id": "c-second", "reasons": ["capacity"]})
    violations = _check(example_problem, example_solution)
    assert [v.rule for v in violations] == ["follows"]
    assert "together" in violations[0].message


def test_violation_names_visit_and_carer(example_problem: Doc, example_solution: Doc) -> None:
    _window(example_problem, example_solution)
    (v,) = _check(example_problem, example_solution)
    assert (v.visit_id, v.carer_id) == ("c-breakfast", "ben")
    assert "09:35" in v.message and "09:30" in v.message
