"""Mankowska HHCRSP reader, evaluator and conversion to carerota/1 and back.

A tiny instance is written here in the set's text format, with a solution
whose cost is worked out by hand. The published set is read from
../shared/benchmarks/mankowska-2014 when it is there (never committed).
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hhcrsp import (
    HhcrspFormatError,
    evaluate,
    instance_path,
    parse_instance,
    read_bks,
    read_instance,
)
from benchmarks.hhcrsp_convert import (
    from_set_solution,
    own_cost,
    to_problem,
    to_set_solution,
)
from benchmarks.report import write_report
from benchmarks.runner import RunOptions, measure
from benchmarks.scoring import score
from benchmarks.suites import default_data
from benchmarks.suites import hhcrsp as hhcrsp_specs
from optimiser.domain.compiled import compile_problem
from optimiser.validate import validate

# Depot (0,0); p1 (3,0), p2 (0,4), p3 (3,4); node 4 is the depot again.
# p3 needs services 0 and 3 at the same time (DS lists it 1-based: 4).
TINY = """nbNodes
5
nbVehi
2
nbServi
6
r
1 1 1 1 1 1
1 0 0 0 0 0
0 0 0 1 0 0
1 0 0 1 0 0
1 1 1 1 1 1
DS
4
a
1 1 1 0 0 0
0 0 0 1 1 1
x
0 3 0 3 0
y
0 0 4 4 0
d
0 3 4 5 0
3 0 5 4 3
4 5 0 3 4
5 4 3 0 5
0 3 4 5 0
p
0 0 0 0 0 0
0 0 0 0 0 0
10 10 10 10 10 10
10 10 10 10 10 10
10 10 10 10 10 10
10 10 10 10 10 10
10 10 10 10 10 10
10 10 10 10 10 10
0 0 0 0 0 0
0 0 0 0 0 0
mind
0 0 0 0 0
maxd
0 0 0 0 0
e
0 0 0 20 0
l
600 2 100 18 1000
"""

# c1: p1/s1 at 3 (1 late), then p3/s1 at 20 (window opens at 20; 2 late).
# c2: p2/s4 at 4, then p3/s4 at 20 with c1 (2 late).
# D = (3 + 4 + 5) + (4 + 3 + 5) = 24; T = 1 + 0 + 2 + 2 = 5; Tmax = 2; cost = 31 / 3.
TINY_SOLUTION: dict[str, Any] = {"routes": [
    {"caregiver_id": "c1", "locations": [
        {"patient": "p1", "service": "s1", "arrival_time": 3.0, "departure_time": 13.0},
        {"patient": "p3", "service": "s1", "arrival_time": 20.0, "departure_time": 30.0}]},
    {"caregiver_id": "c2", "locations": [
        {"patient": "p2", "service": "s4", "arrival_time": 4.0, "departure_time": 14.0},
        {"patient": "p3", "service": "s4", "arrival_time": 20.0, "departure_time": 30.0}]},
]}

DATA = default_data("hhcrsp")
needs_data = pytest.mark.skipif(not (DATA / "bks.csv").exists(),
                                reason=f"the published HHCRSP set is not at {DATA}")


@pytest.fixture
def tiny():
    return parse_instance(TINY, "tiny")


def test_reader_understands_every_block(tiny, tmp_path: Path) -> None:
    assert (tiny.n_nodes, tiny.n_staff, tiny.n_services) == (5, 2, 6)
    assert list(tiny.patients) == [1, 2, 3]
    assert tiny.requires[1:4] == ((0,), (3,), (0, 3))
    assert tiny.double == {3} and tiny.synchronised(3)
    assert tiny.qualified == (frozenset({0, 1, 2}), frozenset({3, 4, 5}))
    assert tiny.distance[1, 3] == 4 and tiny.duration(3, 1, 3) == 10
    assert (tiny.earliest[3], tiny.latest[3]) == (20, 18)
    gz = tmp_path / "Tiny_10_1.txt.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(TINY)
    again = read_instance(gz)
    assert again.name == "Tiny_10_1" and again.services() == tiny.services()


def test_reader_names_the_broken_block() -> None:
    with pytest.raises(HhcrspFormatError, match="block 'x' has 4 numbers, expected 5"):
        parse_instance(TINY.replace("x\n0 3 0 3 0", "x\n0 3 0 3"), "broken")
    with pytest.raises(HhcrspFormatError, match="missing block"):
        parse_instance(TINY.replace("mind\n0 0 0 0 0\n", ""), "broken")


def test_evaluator_matches_the_hand_computed_cost(tiny) -> None:
    ev = evaluate(tiny, TINY_SOLUTION)
    assert ev.feasible, ev.violations
    assert (ev.distance, ev.total_tardiness, ev.max_tardiness) == (24, 5, 2)
    assert ev.cost == pytest.approx(31 / 3)


def test_evaluator_reports_broken_rules(tiny) -> None:
    bad = copy.deepcopy(TINY_SOLUTION)
    bad["routes"][1]["locations"][1]["arrival_time"] = 21.0  # no longer simultaneous
    bad["routes"][0]["locations"][0]["arrival_time"] = 2.0  # before c1 can get there
    del bad["routes"][1]["locations"][0]  # p2 never served
    text = "\n".join(evaluate(tiny, bad).violations)
    assert "synchronised rule" in text
    assert "cannot arrive before 3.000" in text
    assert "p2/s4 is served 0 times" in text


def test_converter_maps_services_staff_and_the_double_service(tiny) -> None:
    problem = to_problem(tiny, scale=10)
    assert [v.id for v in problem.visits] == ["p1-s0", "p2-s3", "p3-s0", "p3-s3"]
    sync = problem.visits[3]
    assert sync.follows is not None and sync.follows.visit_id == "p3-s0"
    assert (sync.follows.min_gap_minutes, sync.follows.max_gap_minutes) == (0, 0)
    assert sync.skills == ["s3"] and problem.carers[1].skills == ["s3", "s4", "s5"]
    assert {c.location.lat for c in problem.clients} != {problem.carers[0].home.lat}
    assert len({(c.location.lat, c.location.lon) for c in problem.clients}) == 3
    assert problem.lateness == "penalised" and problem.weights.max_lateness_minute == 1
    compiled = compile_problem(problem)
    home, p3 = compiled.carers[0].home_point, compiled.clients[2].point
    assert compiled.minutes(compiled.carers[0], home, p3) == 50  # 5 units x 10
    assert compiled.visits[2].duration == 100 and compiled.visits[2].earliest == 200


def test_round_trip_keeps_the_cost(tiny) -> None:
    compiled = compile_problem(to_problem(tiny))
    rota = from_set_solution(compiled, tiny, TINY_SOLUTION)
    assert validate(compiled, rota) == []
    s = score(compiled, rota)
    ours = own_cost(s.travel_minutes, s.lateness_minutes, s.max_lateness_minutes)
    back = to_set_solution(tiny, rota)
    ev = evaluate(tiny, back)
    assert ev.feasible and ev.cost == pytest.approx(ours) == pytest.approx(31 / 3)
    assert s.objective == pytest.approx(3 * 10 * ours)  # weights 1 per scaled minute


@needs_data
@pytest.mark.parametrize("code", ["A2", "B1"])
def test_published_solutions_reproduce_their_cost(code: str) -> None:
    known = read_bks(DATA / "bks.csv")[code]
    inst = read_instance(instance_path(DATA, known.instance))
    data = json.loads((DATA / "best-solutions-ceschia2024" / str(known.solution_file)).read_text())
    ev = evaluate(inst, data)
    assert ev.feasible, ev.violations[:3]
    assert ev.cost == pytest.approx(known.verified, rel=1e-5)
    # Through carerota and back: a valid rota whose set cost stays within rounding.
    compiled = compile_problem(to_problem(inst))
    rota = from_set_solution(compiled, inst, data)
    assert validate(compiled, rota) == []
    s = score(compiled, rota)
    ours = own_cost(s.travel_minutes, s.lateness_minutes, s.max_lateness_minutes)
    again = evaluate(inst, to_set_solution(inst, rota))
    legs = sum(len(r.stops) + 1 for r in rota.routes)
    assert again.feasible
    assert ours - legs * 0.1 / 3 - 1e-6 <= again.cost <= ours + 1e-6
    assert again.cost == pytest.approx(known.verified, rel=1e-4)


def test_a_bench_row_prices_the_rota_against_both_published_values(tmp_path: Path) -> None:
    """`bks_ratio` is over the lowest published value, `bks_verified_ratio` over the cost of
    the best published rota file; the row's rota passes the validator."""
    (tmp_path / "instances").mkdir()
    (tmp_path / "instances" / "tiny.txt").write_text(TINY, encoding="utf-8")
    (tmp_path / "bks.csv").write_text(
        "instance,code,patients,bks_verified,bks_reported\ntiny,T1,3,12.5,8.0\n", encoding="utf-8")
    spec, = hhcrsp_specs(tmp_path, ["T1"])
    assert (spec.bks, spec.bks_verified) == (8.0, 12.5)
    row = measure(spec, "carerota", 2.0, RunOptions(out=tmp_path / "out", workers=1))
    assert row["valid"] and row["set_feasible"], row
    cost = row["set_cost"]
    assert cost is not None and cost <= 31 / 3 + 1e-6  # the hand-computed rota is one option
    assert row["bks_ratio"] == round(cost / 8.0, 4)
    assert row["bks_verified_ratio"] == round(cost / 12.5, 4)
    assert row["bks_verified_ratio"] < 1 < row["bks_ratio"]
    assert (tmp_path / "out" / "solutions" / "tiny.json").exists()
    # report.md shows both ratios, per row and as means.
    listed = {"instance": "tiny", "solver": "carerota", "time_limit": 2.0, "seed": 0, **row}
    text = write_report([listed], tmp_path / "out", {"suite": "hhcrsp"}).read_text()
    rows_head = next(line for line in text.splitlines() if line.startswith("| instance"))
    assert rows_head.endswith("| set cost | BKS | vs BKS | vs verified | valid | wall s | peak MB |")
    assert f"| {cost / 8.0:.3f} | {cost / 12.5:.3f} | yes |" in text
    assert f"| {row['bks_ratio']:.3f} | {row['bks_verified_ratio']:.3f} |\n" in text  # summary
