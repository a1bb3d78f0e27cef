"""Bad input through the `carerota` command: field path and reason, exit 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from api.cli import _register_subcommands, app

FIXTURES = Path(__file__).parent / "fixtures"
SOLUTION = FIXTURES / "example-solution.json"
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not any(c.name == "generate" or getattr(c.callback, "__name__", "") == "generate"
               for c in app.registered_commands):
        _register_subcommands()
    return CliRunner()


def _run(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _set(path: list[str | int], value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _delete(path: list[str | int]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


def _outside_horizon(doc: Doc) -> None:
    doc["visits"][2].update(earliest_start="2026-12-02T08:30", latest_start="2026-12-02T09:30")


# (case, change to the example problem, field path expected, words of the reason)
BAD_PROBLEMS: list[tuple[str, Callable[[Doc], None], str, str]] = [
    ("missing field", _delete(["visits", 0, "duration_minutes"]), "visits[0].duration_minutes",
     "missing"),
    ("unknown client", _set(["visits", 3, "client_id"], "nobody"), "visits[3].client_id",
     "unknown client 'nobody'"),
    ("unknown locality", _set(["carers", 1, "localities"], ["leeds"]), "carers[1].localities[0]",
     "unknown locality"),
    ("unknown follows visit", _set(["visits", 5, "follows", "visit_id"], "x"),
     "visits[5].follows.visit_id", "unknown visit"),
    ("duplicate carer", _set(["carers", 1, "id"], "amira"), "carers[1].id", "duplicate id"),
    ("duplicate visit", _set(["visits", 1, "id"], "a-breakfast"), "visits[1].id", "duplicate id"),
    ("window ends before it starts", _set(["visits", 0, "latest_start"], "2026-11-30T07:00"),
     "visits[0].latest_start", "before earliest_start"),
    ("latitude above 90", _set(["carers", 0, "home", "lat"], 95), "carers[0].home.lat", "90"),
    ("latitude below -90", _set(["clients", 2, "location", "lat"], -91),
     "clients[2].location.lat", "-90"),
    ("three carers", _set(["visits", 0, "carers_required"], 3), "visits[0].carers_required",
     "1 or 2"),
    ("shift ends before it starts", _set(["carers", 2, "shifts", 0, "end"], "2026-11-30T06:00"),
     "carers[2].shifts[0].end", "ends before"),
    ("visit outside the horizon", _outside_horizon, "visits[2]", "outside the horizon"),
    ("mixed naive and aware", _set(["visits", 1, "earliest_start"], "2026-11-30T08:15+00:00"),
     "visits[1].earliest_start", "naive"),
    ("not a date", _set(["horizon", "end"], "tomorrow"), "horizon.end", "datetime"),
]


def _assert_clean_failure(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.mark.parametrize(("case", "change", "path", "reason"), BAD_PROBLEMS,
                         ids=[c[0] for c in BAD_PROBLEMS])
def test_bad_problem_names_field_and_reason(
    runner: CliRunner, tmp_path: Path, example_problem: Doc,
    case: str, change: Callable[[Doc], None], path: str, reason: str,
) -> None:
    change(example_problem)
    bad = tmp_path / "problem.json"
    bad.write_text(json.dumps(example_problem))
    result = _run(runner, "validate", bad, SOLUTION)
    _assert_clean_failure(result, "invalid problem", f"{path}:", reason)


def test_malformed_json(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "problem.json"
    bad.write_text('{"format": "carerota/1",\n "horizon": {')
    result = _run(runner, "validate", bad, SOLUTION)
    _assert_clean_failure(result, "malformed JSON at line 2")


def test_json_that_is_not_an_object(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "problem.json"
    bad.write_text("[1, 2]")
    _assert_clean_failure(_run(runner, "validate", bad, SOLUTION), "must be a JSON object")


def test_bad_solution_names_field(runner: CliRunner, tmp_path: Path, example_solution: Doc) -> None:
    example_solution["routes"][0]["stops"][1]["start"] = "noon"
    bad = tmp_path / "solution.json"
    bad.write_text(json.dumps(example_solution))
    result = _run(runner, "validate", FIXTURES / "example-problem.json", bad)
    _assert_clean_failure(result, "invalid solution", "routes[0].stops[1].start")


def test_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = _run(runner, "validate", tmp_path / "absent.json", SOLUTION)
    _assert_clean_failure(result, "not found", "absent.json")


def test_validate_accepts_the_spec_example(runner: CliRunner) -> None:
    result = _run(runner, "validate", FIXTURES / "example-problem.json", SOLUTION)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_rejects_a_broken_rota_in_plain_words(
    runner: CliRunner, tmp_path: Path, example_solution: Doc
) -> None:
    stop = example_solution["routes"][1]["stops"][1]  # ben at c-breakfast, window to 09:30
    stop.update(start="2026-11-30T09:35", end="2026-11-30T10:05")
    broken = tmp_path / "solution.json"
    broken.write_text(json.dumps(example_solution))
    result = _run(runner, "validate", FIXTURES / "example-problem.json", broken)
    assert result.exit_code == 1, result.output
    assert "1 violation" in result.output
    assert "ben starts c-breakfast at 2026-11-30 09:35, outside its window" in result.output
    assert "Traceback" not in result.output


def test_solve_rejects_bad_input_before_solving(
    runner: CliRunner, tmp_path: Path, example_problem: Doc
) -> None:
    pytest.importorskip("optimiser.solve")
    example_problem["visits"][0]["carers_required"] = 3
    bad = tmp_path / "problem.json"
    bad.write_text(json.dumps(example_problem))
    result = _run(runner, "solve", bad, "-o", tmp_path / "out.json")
    _assert_clean_failure(result, "visits[0].carers_required")
    assert not (tmp_path / "out.json").exists()


def test_generate_rejects_a_bad_start_date(runner: CliRunner) -> None:
    _assert_clean_failure(_run(runner, "generate", "--start", "30/11/2026"), "--start")


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point (api.cli:main), as a user runs it."""
    bad = tmp_path / "problem.json"
    bad.write_text("{oops")
    proc = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "validate", str(bad),
         str(SOLUTION)], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
