"""`carerota geodata` commands, and GraphML written by osmnx from the same town."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from geodata.cli import register
from geodata.matrix import mode_matrix
from geodata.network import load_network
from geodata.sources import build_network
from tests.geodata.test_prepare import NORTH_HALF, SOUTH_HALF, town_problem
from tests.geodata.town import MID, at, river_town


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(lambda: None)  # a second command keeps `geodata` a sub-command
    register(app)
    return app


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["geodata", *args])


def test_build_writes_a_network_with_the_asked_modes(app, tmp_path: Path) -> None:
    src = river_town().write(tmp_path / "town.osm")
    result = run(app, "build", "--osm", str(src), "--modes", "walk", "-o", str(tmp_path / "t.npz"))
    assert result.exit_code == 0, result.output
    network = load_network(tmp_path / "t.npz")
    assert set(network.graphs) == {"drive", "walk"}


def test_build_errors_are_one_line_exit_2(app, tmp_path: Path) -> None:
    result = run(app, "build", "--osm", str(tmp_path / "no.osm"), "-o", str(tmp_path / "t.npz"))
    assert result.exit_code == 2 and "not found" in result.output
    src = river_town().write(tmp_path / "town.osm")
    result = run(app, "build", "--osm", str(src), "--modes", "fly", "-o", str(tmp_path / "t.npz"))
    assert result.exit_code == 2 and "unknown mode" in result.output


def test_localities_print_and_assign(app, tmp_path: Path) -> None:
    gj = tmp_path / "areas.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "N", "name": "North bank"}, "geometry": NORTH_HALF},
        {"type": "Feature", "properties": {"code": "S"}, "geometry": SOUTH_HALF},
    ]}), encoding="utf-8")
    result = run(app, "localities", str(gj))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert [(x["id"], x.get("name")) for x in printed] == [("N", "North bank"), ("S", None)]
    doc = town_problem(None)
    doc["localities"] = []
    doc["clients"][2].pop("locality")
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(doc), encoding="utf-8")
    result = run(app, "localities", str(gj), str(problem), "-o", str(tmp_path / "out.json"))
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [c["locality"] for c in written["clients"]] == ["N", "S", "N", "S"]
    assert [loc["id"] for loc in written["localities"]] == ["N", "S"]


def test_localities_bad_geojson_is_named(app, tmp_path: Path) -> None:
    gj = tmp_path / "bad.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "x"}, "geometry": {"type": "Point",
                                                                    "coordinates": [0, 0]}}]}))
    result = run(app, "localities", str(gj))
    assert result.exit_code == 2 and "features[0]" in result.output


def test_graphml_from_osmnx_keeps_the_mode_rules(tmp_path: Path) -> None:
    ox = pytest.importorskip("osmnx")
    src = river_town().write(tmp_path / "town.osm")
    graph = ox.graph_from_xml(src, simplify=False, retain_all=True)
    ox.save_graphml(graph, tmp_path / "town.graphml")
    network = build_network(tmp_path / "town.graphml")
    pts = np.array([at(3, MID), at(4, MID), at(0, 1), at(0, 3)])
    drive = mode_matrix(network, "drive", pts, 30.0, 500)
    walk = mode_matrix(network, "walk", pts, 4.5, 500)
    assert drive.km[0, 1] == pytest.approx(0.9, abs=0.02)  # by the road bridge
    assert walk.km[0, 1] == pytest.approx(0.1, abs=0.01)  # over the footbridge
    assert drive.km[2, 3] == pytest.approx(0.2, abs=0.01)  # one-way eastbound
    assert drive.km[3, 2] == pytest.approx(0.4, abs=0.01)
    assert walk.km[3, 2] == pytest.approx(0.2, abs=0.01)
