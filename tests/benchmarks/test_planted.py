"""Planted instances: the hidden rota covers everything and keeps every rule; carerota finds one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.planted import compare, hidden_figures, planted
from benchmarks.scoring import score
from benchmarks.suites import instances
from optimiser.domain.compiled import compile_problem
from optimiser.validate import validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("carers", "days", "seed"), [(1, 1, 1), (5, 1, 2), (12, 1, 3), (8, 3, 4)])
def test_hidden_rota_covers_every_visit_and_validates(carers: int, days: int, seed: int) -> None:
    problem, hidden = planted(carers, days, seed)
    compiled = compile_problem(problem)
    assert validate(compiled, hidden) == []
    assert not hidden.unassigned and problem.visits
    on: dict[str, list[str]] = defaultdict(list)
    start: dict[str, object] = {}
    for route in hidden.routes:
        for stop in route.stops:
            on[stop.visit_id].append(route.carer_id)
            start[stop.visit_id] = stop.start
    clients = {c.id: c for c in problem.clients}
    carers_by_id = {c.id: c for c in problem.carers}
    for v in problem.visits:
        assert len(on[v.id]) == v.carers_required, v.id
        # The window is built around the planted start, which is also the preferred start.
        assert v.preferred_start == start[v.id]
        assert v.earliest_start < v.preferred_start < v.latest_start
        for carer in on[v.id]:
            assert carer not in clients[v.client_id].excluded_carers
            assert set(v.skills) <= set(carers_by_id[carer].skills)
    s = score(compiled, hidden)
    assert s.visits_covered == len(problem.visits) and s.travel_minutes == hidden.metrics.travel_minutes


def test_planted_day_has_double_ups_walkers_and_preferences() -> None:
    problem, hidden = planted(20, 1, 20)
    assert sum(v.carers_required == 2 for v in problem.visits) >= 5
    walkers = {c.id for c in problem.carers if c.travel_mode == "walk"}
    assert any(r.carer_id in walkers and r.stops for r in hidden.routes)
    assert any(c.preferred_carers for c in problem.clients)
    # Some clients are seen more than once: the walk returns to known clients.
    assert len(problem.clients) < len(problem.visits)


def test_planted_is_deterministic() -> None:
    a = planted(8, 2, 7)
    b = planted(8, 2, 7)
    assert a[0].model_dump() == b[0].model_dump() and a[1].model_dump() == b[1].model_dump()
    assert planted(8, 2, 8)[0].model_dump() != a[0].model_dump()


def test_compare_against_hidden() -> None:
    problem, hidden = planted(5, 1, 2)
    figures = hidden_figures(problem, hidden)
    assert figures["hidden_visits"] == len(problem.visits)
    row = {"valid": True, "visits_covered": len(problem.visits), "visits_total": len(problem.visits),
           "travel_minutes": figures["hidden_travel_minutes"] // 2}
    got = compare(row, figures)
    assert got["full_cover"] is True and got["travel_vs_hidden"] == pytest.approx(0.5, abs=0.01)
    assert compare({**row, "visits_covered": 1}, figures)["full_cover"] is False
    assert compare({"error": "boom"}, figures)["full_cover"] is False


def test_planted_suite_instances() -> None:
    names = [s.name for s in instances("planted")]
    assert names == ["planted-c20-day", "planted-c40-day", "planted-c120-day", "planted-c20-week"]


def _solve(carers: int, seed: int, limit: float):
    pytest.importorskip("optimiser.solve")
    from optimiser.solve import SolveOptions, solve

    problem, hidden = planted(carers, 1, seed)
    compiled = compile_problem(problem)
    solution = solve(compiled, SolveOptions(time_limit=limit, workers=1, seed=0))
    return compiled, solution, hidden


def test_carerota_proves_a_tiny_planted_day() -> None:
    compiled, solution, hidden = _solve(5, 4, 10)
    assert solution.status == "optimal"
    assert validate(compiled, solution) == []
    assert not solution.unassigned
    assert score(compiled, solution).objective <= score(compiled, hidden).objective


def test_carerota_covers_a_small_planted_day() -> None:
    """Issue 3's target on 6 carers in about 3 s with one worker."""
    compiled, solution, _hidden = _solve(6, 3, 3)
    assert validate(compiled, solution) == []
    assert [u.visit_id for u in solution.unassigned] == []


def test_bench_planted_suite_adds_hidden_columns(tmp_path: Path) -> None:
    pytest.importorskip("optimiser.solve")
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "bench", "--suite", "planted", "--instances",
         "planted-c20-day", "--time-limit", "2", "--workers", "1", "--solvers", "carerota",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["valid"], row["violation_examples"]
    problem, hidden = planted(20, 1, 20)
    assert row["hidden_visits"] == len(problem.visits) == row["visits_total"]
    assert row["hidden_travel_minutes"] == hidden.metrics.travel_minutes
    assert row["travel_vs_hidden"] == pytest.approx(row["travel_minutes"] / hidden.metrics.travel_minutes,
                                                    abs=1e-3)
    assert row["full_cover"] == (row["visits_covered"] == row["visits_total"])
    report = (tmp_path / "report.md").read_text()
    assert "## Against the hidden rota" in report and "| planted-c20-day | carerota | 2 |" in report
