"""The loader: every bad field named with its path, all at once, from any source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimiser.domain.compiled import compile_problem
from optimiser.domain.errors import DocumentError
from optimiser.domain.loading import load_package, load_problem, load_solution

Doc = dict[str, Any]


def _errors(doc: Doc) -> dict[str, str]:
    with pytest.raises(DocumentError) as info:
        load_problem(doc)
    return {e.path: e.message for e in info.value.errors}


def test_every_source_gives_the_same_problem(tmp_path: Path, example_problem: Doc) -> None:
    text = json.dumps(example_problem)
    path = tmp_path / "p.json"
    path.write_text(text)
    loaded = [load_problem(x) for x in (example_problem, text, text.encode(), path)]
    assert all(p == loaded[0] for p in loaded)


def test_all_errors_are_reported_together(example_problem: Doc) -> None:
    example_problem["carers"][1]["id"] = "amira"
    example_problem["visits"][3]["client_id"] = "nobody"
    example_problem["visits"][0]["latest_start"] = "2026-11-30T07:00"
    errors = _errors(example_problem)
    assert set(errors) == {"carers[0].id", "carers[1].id", "visits[3].client_id",
                           "visits[0].latest_start"}
    assert errors["visits[3].client_id"] == "unknown client 'nobody'"


def test_overlapping_shifts(example_problem: Doc) -> None:
    example_problem["carers"][0]["shifts"].append(
        {"start": "2026-11-30T13:00", "end": "2026-11-30T18:00"})
    assert _errors(example_problem) == {"carers[0].shifts[1]": "overlaps shifts[0] of the same carer"}


def test_shift_outside_horizon_and_horizon_backwards(example_problem: Doc) -> None:
    example_problem["carers"][2]["shifts"][0]["end"] = "2026-12-01T02:00"
    assert "carers[2].shifts[0]" in _errors(example_problem)
    example_problem["carers"][2]["shifts"][0]["end"] = "2026-11-30T12:00"
    example_problem["horizon"]["end"] = "2026-11-29T00:00"
    assert "horizon.end" in _errors(example_problem)


def test_a_visit_cannot_follow_itself(example_problem: Doc) -> None:
    example_problem["visits"][5]["follows"]["visit_id"] = "b-afternoon-meds"
    assert _errors(example_problem) == {"visits[5].follows.visit_id": "a visit cannot follow itself"}


def test_follows_gaps_in_order(example_problem: Doc) -> None:
    example_problem["visits"][5]["follows"].update(min_gap_minutes=300, max_gap_minutes=240)
    assert "below min_gap_minutes" in _errors(example_problem)["visits[5].follows"]


def test_location_needs_both_coordinates_or_a_postcode(example_problem: Doc) -> None:
    example_problem["clients"][0]["location"] = {"lat": 53.9}
    assert "clients[0].location" in _errors(example_problem)
    example_problem["clients"][0]["location"] = {"postcode": "LS29 8HF"}
    assert load_problem(example_problem).clients[0].location.postcode == "LS29 8HF"


def test_matrix_travel_is_checked(example_problem: Doc) -> None:
    example_problem["travel"] = {"source": "matrix", "keys": ["home:amira"],
                                 "minutes": {"walk": [[0, 1]]}}
    errors = _errors(example_problem)
    assert "travel.minutes" in errors  # no drive matrix
    assert "travel.minutes.walk" in errors  # wrong shape
    assert "carers[1].home" in errors and "clients[0].location" in errors


def test_unknown_time_zone_is_a_field_error(example_problem: Doc) -> None:
    example_problem["timezone"] = "Europe/Ilkley"
    with pytest.raises(DocumentError) as info:
        compile_problem(load_problem(example_problem))
    assert info.value.as_detail() == [{"path": "timezone",
                                       "message": "unknown time zone 'Europe/Ilkley'"}]


def test_solution_with_mixed_datetimes(example_solution: Doc) -> None:
    example_solution["routes"][2]["stops"][0]["end"] = "2026-11-30T09:00+00:00"
    with pytest.raises(DocumentError) as info:
        load_solution(example_solution)
    assert info.value.errors[0].path == "routes[2].stops[0].end"


def test_package_calls_are_checked() -> None:
    doc = {"client": {"id": "mrs-d", "location": {"lat": 53.9, "lon": -1.8}},
           "start": "2026-12-07", "calls": [{"time": "25:00", "duration_minutes": 30}]}
    with pytest.raises(DocumentError) as info:
        load_package(doc)
    assert [e.path for e in info.value.errors] == ["calls[0].time"]
