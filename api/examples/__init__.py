"""The spec's own example documents, shipped with the package for OpenAPI and the docs."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

PACKAGE: dict[str, Any] = {
    "format": "carerota/1", "id": "pkg-7",
    "client": {"id": "mrs-d", "location": {"lat": 53.924, "lon": -1.826}, "locality": "ilkley"},
    "start": "2026-11-30", "days": 7, "urgency": "hospital_discharge",
    "calls": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "08:00",
               "tolerance_minutes": 30, "duration_minutes": 45, "carers_required": 2,
               "skills": ["hoist"], "priority": "high"}],
}


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def problem() -> dict[str, Any]:
    """spec/example-problem.json: one Monday of a small Ilkley provider."""
    return copy.deepcopy(_load("example-problem.json"))


def solution() -> dict[str, Any]:
    """spec/example-solution.json: a valid rota for `problem()`."""
    return copy.deepcopy(_load("example-solution.json"))


def provider() -> dict[str, Any]:
    """A provider document made of the example problem and its rota (visits all covered)."""
    p, s = problem(), solution()
    covered = {stop["visit_id"] for route in s["routes"] for stop in route["stops"]}
    return {
        "id": "wharfe-care", "name": "Wharfe Care", "cqc_rating": "good",
        "contract": "locality", "localities": ["ilkley"], "hourly_rate": 24.5,
        "carers": p["carers"], "clients": p["clients"],
        "visits": [v for v in p["visits"] if v["id"] in covered],
        "rota": {"routes": s["routes"]},
    }


def package() -> dict[str, Any]:
    """The package of spec/brokerage.md: a double-handed breakfast call every day."""
    return copy.deepcopy(PACKAGE)
