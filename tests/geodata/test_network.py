"""Per-mode networks from a generated OSM town: bridges, footways, one-way, snapping, minimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geodata.matrix import SnapError, mode_matrix, network_travel, route_matrix
from geodata.network import load_network, mode_graph, save_network
from geodata.rules import directions, drive_kmh, parse_maxspeed
from geodata.sources import NetworkFileError, build_network, open_network
from tests.geodata.town import FOOT_END, MID, at, node_id, river_town

SPEEDS = {"drive": 30.0, "walk": 4.5, "cycle": 14.0, "public_transport": 12.0}


@pytest.fixture(scope="module")
def town_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return river_town().write(tmp_path_factory.mktemp("osm") / "town.osm")


@pytest.fixture(scope="module")
def town(town_file: Path):
    return build_network(town_file)


def idx(network, osm_id: int) -> int:
    return int(np.flatnonzero(network.node_id == osm_id)[0])


def test_drivers_detour_by_the_road_bridge_walkers_take_the_footbridge(town) -> None:
    north, south = at(3, MID), at(4, MID)
    pts = np.array([north, south])
    r = {m: mode_matrix(town, m, pts, SPEEDS[m], 500) for m in ("drive", "walk")}
    # The road bridge is 4 blocks west: 400 m there, 100 m across, 400 m back.
    assert r["drive"].km[0, 1] == pytest.approx(0.9, abs=0.02)
    assert r["walk"].km[0, 1] == pytest.approx(0.1, abs=0.01)
    assert r["walk"].minutes[0, 1] == 2  # 100 m at 4.5 km/h = 1.33 min
    assert r["drive"].minutes[0, 1] > r["walk"].minutes[0, 1] - 1


def test_a_footway_is_never_driven(town) -> None:
    drive_nodes = set(town.node_id[town.graphs["drive"].nodes].tolist())
    walk_nodes = set(town.node_id[town.graphs["walk"].nodes].tolist())
    assert FOOT_END not in drive_nodes and FOOT_END in walk_nodes
    g = town.graphs["drive"]
    tails, heads = town.node_id[g.tails()], town.node_id[g.indices]
    footbridge = {node_id(3, MID), node_id(4, MID)}
    assert not any({int(a), int(b)} == footbridge for a, b in zip(tails, heads, strict=True))
    # The building outline is in no network at all.
    assert 9100 not in set(town.node_id.tolist())


def test_one_way_street_is_respected_by_drivers_not_walkers(town) -> None:
    west, east = np.array([at(0, 1)]), np.array([at(0, 3)])
    both = np.vstack([west, east])
    drive = mode_matrix(town, "drive", both, SPEEDS["drive"], 500)
    walk = mode_matrix(town, "walk", both, SPEEDS["walk"], 500)
    assert drive.km[0, 1] == pytest.approx(0.2, abs=0.01)  # eastbound along row 0
    assert drive.km[1, 0] == pytest.approx(0.4, abs=0.01)  # round the block via row 1
    assert walk.km[1, 0] == pytest.approx(0.2, abs=0.01)


def test_snapping_adds_the_straight_leg_and_far_points_fail(town) -> None:
    on_node = at(6, 2)
    beside = (on_node[0], on_node[1] + 0.0006)  # ~40 m east of the node, mid-block
    r = mode_matrix(town, "walk", np.array([on_node, beside]), SPEEDS["walk"], 500)
    assert 0.035 < r.km[0, 1] < 0.045
    far = at(30, 30)
    with pytest.raises(SnapError) as info:
        mode_matrix(town, "drive", np.array([on_node, far]), SPEEDS["drive"], 500)
    assert [i for i, _, _ in info.value.misses] == [1]
    assert SnapError.describe("drive", 500) == "no drivable way within 500 m"


def test_parallel_edges_take_the_minimum(town) -> None:
    # A 5 mph lane duplicates the 30 mph street along row 7: the street must win.
    a, b = idx(town, node_id(7, 0)), idx(town, node_id(7, 1))
    secs, metres = route_matrix(town, "drive", np.array([a]), np.array([b]))
    assert metres is not None and 95 < metres[0, 0] < 100
    assert secs[0, 0] == pytest.approx(metres[0, 0] / (30 * 1.609344 / 3.6), rel=0.02)
    g = mode_graph(3, np.array([0, 0, 1, 1, 2]), np.array([1, 1, 2, 0, 0]),
                   np.array([100.0, 100.0, 50.0, 100.0, 80.0]),
                   np.array([60.0, 10.0, 5.0, 10.0, 8.0]))
    assert g.edges == 4
    assert g.time_s is not None and g.time_s[g.indptr[0]] == 10.0  # not 60, not 70


def test_largest_strongly_connected_component_only() -> None:
    # 0 <-> 1 <-> 2 strongly connected; 3 only reachable one way: dropped.
    g = mode_graph(4, np.array([0, 1, 1, 2, 2]), np.array([1, 0, 2, 1, 3]),
                   np.ones(5) * 10, None)
    assert sorted(g.nodes.tolist()) == [0, 1, 2]
    assert g.edges == 4


def test_npz_round_trip_gives_identical_matrices(town, tmp_path: Path) -> None:
    save_network(town, tmp_path / "town.npz")
    again = load_network(tmp_path / "town.npz")
    pts = [at(0.3, 0.2), at(6.5, 7), at(2, MID), at(5, MID)]
    a, km_a = network_travel(town, pts, ["drive", "walk", "cycle"], SPEEDS)
    b, km_b = network_travel(again, pts, ["drive", "walk", "cycle"], SPEEDS)
    for mode in a:
        assert np.array_equal(a[mode], b[mode])
    assert np.allclose(km_a, km_b)


def test_matrix_cache_hit_returns_the_same_and_skips_dijkstra(
    town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geodata.matrix as gm

    pts = [at(1, 1), at(6, 6), at(2, 7)]
    first, _ = network_travel(town, pts, ["walk"], SPEEDS, cache=tmp_path)
    assert len(list(tmp_path.glob("matrix-*.npz"))) == 2  # drive and walk
    monkeypatch.setattr(gm, "dijkstra", lambda *a, **k: pytest.fail("cache missed"))
    again, _ = network_travel(town, pts, ["walk"], SPEEDS, cache=tmp_path)
    assert np.array_equal(first["walk"], again["walk"])
    with pytest.raises(BaseException, match="cache missed"):  # another speed: not cached
        network_travel(town, pts, ["walk"], {**SPEEDS, "walk": 3.0}, cache=tmp_path)


def test_public_transport_is_never_slower_than_walking(town) -> None:
    pts = [at(0, 0), at(7, 8), at(3, MID), at(4, MID)]
    minutes, _ = network_travel(town, pts, ["public_transport", "walk"], SPEEDS)
    assert (minutes["public_transport"] <= minutes["walk"]).all()
    assert minutes["public_transport"][0, 1] < minutes["walk"][0, 1]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError, match="file not found"):
        open_network(tmp_path / "nope.osm")
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='x'", encoding="utf-8")
    with pytest.raises(NetworkFileError, match="cannot read"):
        open_network(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(NetworkFileError, match="carerota network"):
        open_network(junk)


def test_tag_rules() -> None:
    assert set(directions({"highway": "footway"})) == {"walk"}
    assert set(directions({"highway": "footway", "bicycle": "yes"})) == {"walk", "cycle"}
    assert set(directions({"highway": "motorway"})) == {"drive"}
    assert directions({"highway": "motorway"})["drive"] == (True, False)
    assert set(directions({"highway": "cycleway"})) == {"cycle"}
    assert set(directions({"highway": "steps"})) == {"walk"}
    assert directions({"highway": "residential", "oneway": "-1"})["drive"] == (False, True)
    assert directions({"highway": "residential", "oneway": "yes",
                       "oneway:bicycle": "no"})["cycle"] == (True, True)
    assert "drive" not in directions({"highway": "residential", "access": "private"})
    assert "drive" not in directions({"highway": "service", "service": "parking_aisle"})
    assert directions({"highway": "pedestrian", "area": "yes"}) == {}
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed("GB:nsl_single") == pytest.approx(96.6)
    assert parse_maxspeed("none") is None
    assert drive_kmh({"highway": "residential"}) == 28.0


def test_pbf_through_pyrosm_bundled_sample() -> None:
    pyrosm = pytest.importorskip("pyrosm")
    sample = Path(pyrosm.__file__).parent / "data" / "test.osm.pbf"
    if not sample.exists():
        pytest.skip("pyrosm's bundled sample is absent")
    network = build_network(sample)
    assert network.graphs["drive"].nodes.shape[0] > 50
    assert network.graphs["walk"].edges > network.graphs["drive"].edges
