"""prepare(): postcodes, localities and OSM travel on whole problems; errors name the field."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geodata.postcodes import PostcodeError, lookup, normalise
from geodata.prepare import prepare
from optimiser.domain.compiled import compile_problem, problem_points
from optimiser.domain.errors import DocumentError
from optimiser.domain.loading import load_problem
from tests.geodata.postcode_data import needs_postcodes
from tests.geodata.town import MID, at, river_town


def _loc(rc: tuple[float, float]) -> dict[str, float]:
    lat, lon = at(*rc)
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


NORTH_HALF = {"type": "Polygon", "coordinates": [[
    [-1.84, 53.9169], [-1.81, 53.9169], [-1.81, 53.93], [-1.84, 53.93], [-1.84, 53.9169]]]}
SOUTH_HALF = {"type": "Polygon", "coordinates": [[
    [-1.84, 53.90], [-1.81, 53.90], [-1.81, 53.9169], [-1.84, 53.9169], [-1.84, 53.90]]]}


def town_problem(path: Path | None) -> dict[str, Any]:
    """Two carers (a driver, a walker) on the north bank; clients on both banks."""
    day = "2026-11-30"
    shift = [{"start": f"{day}T07:00", "end": f"{day}T13:00"}]
    visits = []
    for i, (client, hour) in enumerate([("n1", 8), ("s1", 8), ("n2", 10), ("s2", 10), ("n1", 11)]):
        visits.append({"id": f"v{i}", "client_id": client, "earliest_start": f"{day}T{hour:02d}:00",
                       "latest_start": f"{day}T{hour:02d}:45", "duration_minutes": 30})
    doc: dict[str, Any] = {
        "format": "carerota/1", "id": "river-town",
        "horizon": {"start": f"{day}T00:00", "end": f"{day}T23:59"},
        "travel": {"source": "osm", "path": str(path)} if path else {"source": "haversine"},
        "localities": [{"id": "north", "boundary": NORTH_HALF},
                       {"id": "south", "boundary": SOUTH_HALF}],
        "carers": [
            {"id": "dee", "home": _loc((1, 1)), "travel_mode": "drive", "shifts": shift},
            {"id": "wil", "home": _loc((2, MID + 1)), "travel_mode": "walk", "shifts": shift},
        ],
        "clients": [
            {"id": "n1", "location": _loc((3, MID))},
            {"id": "s1", "location": _loc((4, MID))},
            {"id": "n2", "location": _loc((2, 2)), "locality": "north"},
            {"id": "s2", "location": _loc((6, 6))},
        ],
        "visits": visits,
        "time_limit_seconds": 5, "seed": 0,
    }
    return doc


@pytest.fixture()
def town_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAREROTA_CACHE_DIR", str(tmp_path / "cache"))
    return river_town().write(tmp_path / "town.osm")


def test_osm_problem_is_prepared_over_problem_points(town_file: Path) -> None:
    problem = load_problem(town_problem(town_file))
    before = problem.model_dump()
    ready, travel = prepare(problem)
    assert problem.model_dump() == before  # never mutated
    assert travel is not None and set(travel.minutes) == {"drive", "walk"}
    keys, _, _ = problem_points(ready)
    n = len(keys)
    assert travel.km.shape == (n, n) and travel.minutes["walk"].dtype == np.int32
    i, j = keys.index("client:n1"), keys.index("client:s1")
    assert travel.minutes["walk"][i, j] <= 2 < travel.minutes["drive"][i, j] + 1
    assert travel.km[i, j] > 0.8  # the driver's detour by the road bridge
    compiled = compile_problem(ready, travel)
    walker = compiled.carers[compiled.carer_index["wil"]]
    assert compiled.minutes(walker, i, j) == travel.minutes["walk"][i, j]
    # The cache was filled: the network and one matrix per mode.
    cache = town_file.parent / "cache"
    assert len(list(cache.glob("network-*.npz"))) == 1
    assert len(list(cache.glob("matrix-*.npz"))) == 2


def test_osm_problem_solves_and_validates(town_file: Path) -> None:
    solve_mod = pytest.importorskip("optimiser.solve")
    from optimiser.validate import validate

    ready, travel = prepare(load_problem(town_problem(town_file)))
    compiled = compile_problem(ready, travel)
    solution = solve_mod.solve(compiled, solve_mod.SolveOptions(time_limit=5, workers=1, seed=0))
    assert validate(compiled, solution) == []
    assert solution.metrics.visits_assigned >= 4


def test_localities_assigned_by_point_in_polygon() -> None:
    ready, travel = prepare(load_problem(town_problem(None)))
    assert travel is None
    got = {c.id: c.locality for c in ready.clients}
    assert got == {"n1": "north", "s1": "south", "n2": "north", "s2": "south"}


def test_bad_boundary_is_named() -> None:
    doc = town_problem(None)
    doc["localities"][1]["boundary"] = {"type": "Point", "coordinates": [0, 0]}
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(doc))
    assert str(info.value.errors[0]) == (
        "localities[1].boundary: boundary must be a GeoJSON Polygon or MultiPolygon")


def test_missing_network_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(town_problem(tmp_path / "absent.osm")))
    assert info.value.errors[0].path == "travel.path"
    assert "file not found" in info.value.errors[0].message


def test_location_far_from_any_way_is_named(town_file: Path) -> None:
    doc = town_problem(town_file)
    doc["carers"][1]["home"] = _loc((-20, MID))  # 2 km north of the town
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(doc))
    messages = {str(e) for e in info.value.errors}
    assert messages == {"carers[1].home: no drivable way within 500 m",
                        "carers[1].home: no walkable way within 500 m"}


@needs_postcodes
def test_postcode_lookup_offline() -> None:
    # Buckingham Palace, as published by postcodes.io (51.501009, -0.141588).
    lat, lon = lookup("sw1a 1aa")
    assert lat == pytest.approx(51.501009, abs=1e-4) and lon == pytest.approx(-0.141588, abs=1e-4)
    lat, lon = lookup("bd1 1hy")  # Bradford centre: grid 416350 E, 432917 N
    assert lat == pytest.approx(53.7923, abs=1e-3) and lon == pytest.approx(-1.7533, abs=1e-3)
    assert normalise("ls298aa") == "LS29 8AA"
    with pytest.raises(PostcodeError, match="unknown postcode 'ZZ1 1ZZ'"):
        lookup("ZZ1 1ZZ")
    with pytest.raises(PostcodeError, match="not a UK postcode"):
        lookup("hello")


@needs_postcodes
def test_postcodes_resolved_in_prepare_and_unknown_ones_named() -> None:
    doc = town_problem(None)
    doc["clients"][3]["location"] = {"postcode": "BD1 1HY"}
    doc["carers"][0]["shifts"][0]["start_location"] = {"postcode": "LS29 8AA"}
    ready, _ = prepare(load_problem(doc))
    loc = ready.clients[3].location
    assert loc.postcode == "BD1 1HY" and loc.lat == pytest.approx(53.7923, abs=1e-3)
    assert ready.carers[0].shifts[0].start_location is not None
    assert ready.carers[0].shifts[0].start_location.lat is not None
    compile_problem(ready)  # haversine now has every coordinate
    bad = copy.deepcopy(doc)
    bad["clients"][2]["location"] = {"postcode": "ZZ1 1ZZ"}
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(bad))
    assert [str(e) for e in info.value.errors] == [
        "clients[2].location.postcode: unknown postcode 'ZZ1 1ZZ'"]


def test_preparing_haversine_travel_loads_no_map_modules() -> None:
    """Every `carerota solve` prepares its problem; only OSM travel needs the network and
    matrix modules (scipy's graph and KD-tree: half a second of each CLI call)."""
    code = ("import sys, geodata.prepare; "
            "print(sorted(m for m in ('geodata.matrix', 'geodata.sources', 'geodata.network', "
            "'scipy.sparse.csgraph', 'scipy.spatial') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
