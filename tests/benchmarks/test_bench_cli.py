"""`carerota bench` end to end on the smoke suite, and its errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import best_peer, write_report

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str | Path, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "bench", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _solver_available() -> bool:
    try:
        import optimiser.solve  # noqa: F401
    except ImportError:
        return False
    return True


def test_smoke_suite_end_to_end(tmp_path: Path) -> None:
    solvers = "carerota,ortools-routing" if _solver_available() else "ortools-routing"
    done = _bench("--suite", "smoke", "--time-limit", "2", "--workers", "1", "--solvers", solvers,
                  "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["rows"]
    assert {r["instance"] for r in rows} == {"smoke-single", "smoke-mixed"}
    assert len(rows) == 2 * len(solvers.split(","))
    for row in rows:
        assert not row.get("error"), row
        assert row["valid"], row["violation_examples"]
        assert 0 < row["visits_covered"] <= row["visits_total"]
        assert 0 < row["care_minutes_covered"] <= row["care_minutes_total"]
        assert row["peak_memory_mb"] > 10 and row["wall_seconds"] < 2 * 2 + 5
    mixed = next(r for r in rows if r["instance"] == "smoke-mixed" and r["solver"] != "carerota")
    assert mixed["dropped_unmodellable"] > 0 and "cannot model" in mixed["note"]
    single = next(r for r in rows if r["instance"] == "smoke-single" and r["solver"] != "carerota")
    assert single["dropped_unmodellable"] == 0  # the peers' home ground: all modelled
    report = (tmp_path / "report.md").read_text()
    assert "| smoke-mixed | ortools-routing | 2 |" in report
    assert "vs best peer" in report and "Summary" in report


def test_report_ratios_and_interrupted_run(tmp_path: Path) -> None:
    base = {"instance": "i1", "time_limit": 5.0, "valid": True, "visits_total": 4,
            "visits_covered": 4, "care_minutes_total": 100, "care_minutes_covered": 100,
            "travel_minutes": 10, "wall_seconds": 1.0, "peak_memory_mb": 50}
    rows = [{**base, "solver": "carerota", "objective": 90.0},
            {**base, "solver": "ortools-routing", "objective": 100.0},
            {**base, "solver": "pyvrp", "objective": 120.0, "valid": False, "violations": 1},
            {**base, "solver": "pyvrp", "objective": 50.0, "dropped_unmodellable": 2}]
    # Neither the invalid peer row nor the one that dropped visits is a yardstick.
    assert best_peer(rows) == {("i1", 5.0): 100.0}
    path = write_report(rows, tmp_path, {"suite": "smoke", "solvers": ["carerota"]},
                        interrupted=True)
    text = path.read_text()
    assert "**Interrupted**: 4 finished row(s) kept." in text
    assert "| i1 | carerota | 5 | 4/4 | 100.0 | 10 | 90 | 0.900 |" in text
    assert "NO (1)" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--suite", "nope"], "--suite: unknown suite 'nope'"),
    (["--solvers", "cplex"], "--solvers: unknown solver(s) cplex"),
    (["--time-limit", "fast"], "--time-limit: 'fast' is not a number"),
    (["--suite", "hhcrsp", "--data", "/nonexistent/set"], "not at /nonexistent/set"),
    (["--suite", "smoke", "--instances", "big-one"], "unknown instance(s) big-one"),
])
def test_bad_options_exit_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    done = _bench(*args, "--out", tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr
