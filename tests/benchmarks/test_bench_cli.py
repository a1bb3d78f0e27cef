"""`carerota bench` end to end on the smoke suite, and its errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from benchmarks.report import best_peer, over_seeds, write_report

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
    assert results["seed"] == 0 and results["seeds"] == [0]
    assert all(r["seed"] == 0 for r in rows)
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
    assert "Over seeds" not in report and "| seed |" not in report  # one seed: as before


def _spread(cell: str) -> tuple[float, float, float]:
    """The report's `mean (min–max)` cell as numbers."""
    found = re.fullmatch(r"([\d,.]+) \(([\d,.]+)–([\d,.]+)\)", cell)
    assert found, cell
    mean_, low, high = (float(g.replace(",", "")) for g in found.groups())
    return mean_, low, high


def _over_seeds_cells(report: str, run: str) -> dict[str, str]:
    """One line of report.md's "Over seeds" table, by column heading."""
    section = report.split("## Over seeds", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    line = next(line for line in lines if line.startswith(run))
    return dict(zip(head, (c.strip() for c in line.strip("|").split("|")), strict=True))


def _assert_spread(cell: str, values: list[float], digits: int) -> None:
    """The cell shows the values' mean (a decimal more) and their min and max, as rounded."""
    shown_mean, low, high = _spread(cell)
    assert shown_mean == pytest.approx(mean(values), abs=0.5 * 10 ** -max(digits, 1) + 1e-9)
    assert low == pytest.approx(min(values), abs=0.5 * 10 ** -digits + 1e-9)
    assert high == pytest.approx(max(values), abs=0.5 * 10 ** -digits + 1e-9)


def test_two_seeds_one_row_each_and_their_spread(tmp_path: Path) -> None:
    solver = "carerota" if _solver_available() else "ortools-routing"
    done = _bench("--suite", "smoke", "--instances", "smoke-mixed", "--time-limit", "1",
                  "--workers", "1", "--solvers", solver, "--seed", "3,5", "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["rows"]
    assert results["seeds"] == [3, 5] and results["seed"] == 3
    assert [r["seed"] for r in rows] == [3, 5]
    assert all(r["valid"] and not r.get("error") for r in rows), rows
    report = (tmp_path / "report.md").read_text()
    for seed in (3, 5):  # every run is still listed, with its seed
        assert f"| smoke-mixed | {solver} | 1 | {seed} | " in report
    cells = _over_seeds_cells(report, f"| smoke-mixed | {solver} | 1 |")
    assert (cells["runs"], cells["valid"]) == ("2", "2")
    _assert_spread(cells["visits"], [r["visits_covered"] for r in rows], 0)
    _assert_spread(cells["care min %"],
                   [100 * r["care_minutes_covered"] / r["care_minutes_total"] for r in rows], 1)
    _assert_spread(cells["travel min"], [r["travel_minutes"] for r in rows], 0)
    _assert_spread(cells["objective"], [r["objective"] for r in rows], 0)


def _row(**fields: Any) -> dict[str, Any]:
    base = {"instance": "i1", "solver": "carerota", "time_limit": 5.0, "seed": 0, "valid": True,
            "visits_total": 4, "visits_covered": 4, "care_minutes_total": 100,
            "care_minutes_covered": 100, "travel_minutes": 10, "objective": 90.0,
            "wall_seconds": 1.0, "peak_memory_mb": 50}
    return {**base, **fields}


def test_one_seed_leaves_the_report_as_it_was(tmp_path: Path) -> None:
    rows = [_row(), _row(solver="ortools-routing", objective=100.0, travel_minutes=12),
            _row(solver="pyvrp", error="ValueError: boom")]
    old = [{k: v for k, v in r.items() if k != "seed"} for r in rows]
    header = {"suite": "smoke", "solvers": ["carerota"], "time_limits": [5.0]}
    before = write_report(old, tmp_path / "old", header).read_text()
    after = write_report(rows, tmp_path / "new", {**header, "seed": 0, "seeds": [0]}).read_text()
    assert after == before


def test_over_seeds_groups_runs_and_counts_valid_ones_only(tmp_path: Path) -> None:
    rows = [_row(seed=0, visits_covered=3, care_minutes_covered=75, travel_minutes=10, objective=90.0),
            _row(seed=1, visits_covered=4, travel_minutes=13, objective=70.0),
            _row(seed=2, visits_covered=1, travel_minutes=1, objective=5.0, valid=False,
                 violations=2),
            _row(seed=0, solver="pyvrp", error="ValueError: boom"),
            _row(seed=1, solver="pyvrp", travel_minutes=20)]
    lines = over_seeds(rows)
    assert "seeds 0, 1, 2" in lines[0]
    assert ("| i1 | carerota | 5 | 3 | 2 | 3.5 (3–4) | 87.5 (75.0–100.0) | 11.5 (10–13) | "
            "80.0 (70–90) |") in lines
    assert ("| i1 | pyvrp | 5 | 2 | 1 | 4.0 (4–4) | 100.0 (100.0–100.0) | 20.0 (20–20) | "
            "90.0 (90–90) |") in lines
    text = write_report(rows, tmp_path, {"suite": "smoke", "seeds": [0, 1, 2]}).read_text()
    assert "seeds: 0, 1, 2" in text and "## Over seeds" in text
    assert "| i1 | carerota | 5 | 2 | 1/4 |" in text  # the invalid run is listed, with its seed
    assert "- i1 / pyvrp / 5 s / seed 0: error: ValueError: boom" in text
    error_line = next(line for line in text.splitlines() if "error: ValueError" in line
                      and line.startswith("|"))
    assert error_line.count("|") == text.split("## Rows")[1].splitlines()[2].count("|")


def test_over_seeds_on_hhcrsp_summarises_set_cost_and_bks_ratio() -> None:
    rows = [_row(code="C1", seed=s, set_cost=c, bks=200.0, bks_ratio=round(c / 200.0, 4),
                 bks_verified=205.0)
            for s, c in ((0, 210.0), (1, 201.0), (2, 204.0))]
    rows.append(_row(code="C1", seed=3, set_cost=None, bks=200.0, bks_ratio=None))
    lines = over_seeds(rows)
    assert lines[2] == ("| instance | solver | limit s | runs | valid | set cost | vs BKS | "
                        "vs verified |")
    assert ("| C1 | carerota | 5 | 4 | 4 | 205.000 (201.000–210.000) | 1.025 (1.005–1.050) | "
            "1.000 (0.980–1.024) |") in lines


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
    (["--seed", "a,2"], "--seed: 'a' is not a whole number"),
    (["--seed", "1,-2"], "--seed: '-2' must be 0 or more"),
    (["--seed", "4,4"], "--seed: 4 given more than once"),
    (["--seed", ","], "--seed: give one seed or a comma list"),
    (["--suite", "hhcrsp", "--data", "/nonexistent/set"], "not at /nonexistent/set"),
    (["--suite", "smoke", "--instances", "big-one"], "unknown instance(s) big-one"),
])
def test_bad_options_exit_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    done = _bench(*args, "--out", tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr


def test_planted_section_names_each_runs_seed_when_several_ran() -> None:
    from benchmarks.planted import report_lines

    hidden = {"hidden_visits": 4, "hidden_travel_minutes": 20, "travel_vs_hidden": 0.5,
              "full_cover": True}
    one = report_lines([_row(**hidden)])
    assert "| i1 | carerota | 5 | 4 | 4 | yes | 10 | 20 | 0.500 | yes |" in one
    two = report_lines([_row(**hidden), _row(seed=7, **hidden)])
    assert "| i1 | carerota | 5 | 7 | 4 | 4 | yes | 10 | 20 | 0.500 | yes |" in two
    table = [line for line in two if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1  # head, rule and rows line up
