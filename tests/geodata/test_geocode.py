"""Addresses geocoded only through a configured geopy geocoder (a fake one: tests stay offline)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import typer
from geopy.exc import GeocoderTimedOut
from geopy.location import Location as GeopyLocation
from geopy.point import Point
from typer.testing import CliRunner

import geodata.geocode as geocode
from geodata.cli import register
from geodata.matrix import geodesic_m, snap
from geodata.network import haversine_m
from geodata.prepare import prepare
from geodata.sources import build_network
from optimiser.domain.compiled import compile_problem
from optimiser.domain.errors import DocumentError
from optimiser.domain.loading import load_problem
from tests.geodata.test_prepare import town_problem
from tests.geodata.town import MID, at, river_town

HIGH_ST = "1 High St, River Town"
MILL_LANE = "Mill Lane, River Town"
PLACES = {HIGH_ST: at(4, MID), MILL_LANE: at(6, 6)}


class FakeGeocoder:
    """Stands in for a geopy geocoder class: same constructor and geocode() shape."""

    instances: ClassVar[list[FakeGeocoder]] = []
    fail: ClassVar[Exception | None] = None

    def __init__(self, user_agent: str | None = None, timeout: float | None = None,
                 **kwargs: Any) -> None:
        self.user_agent = user_agent
        self.kwargs = kwargs
        self.queries: list[str] = []
        FakeGeocoder.instances.append(self)

    def geocode(self, query: str, exactly_one: bool = True) -> GeopyLocation | None:
        assert exactly_one
        self.queries.append(query)
        if FakeGeocoder.fail is not None:
            raise FakeGeocoder.fail
        found = PLACES.get(query)
        return None if found is None else GeopyLocation(query, Point(*found), {})


@pytest.fixture()
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Route geopy's service lookup to FakeGeocoder; yields the service names asked for."""
    asked: list[str] = []

    def lookup(name: str) -> type[FakeGeocoder]:
        asked.append(name)
        return FakeGeocoder

    FakeGeocoder.instances = []
    FakeGeocoder.fail = None
    geocode.clear_memo()
    monkeypatch.setattr(geocode, "get_geocoder_for_service", lookup)
    monkeypatch.setenv("CAREROTA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(geocode.MIN_DELAY_ENV, "0")
    for name in (geocode.GEOCODER_ENV, geocode.USER_AGENT_ENV, geocode.API_KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    yield asked
    geocode.clear_memo()


def address_problem() -> dict[str, Any]:
    doc = town_problem(None)
    doc["clients"][1]["location"] = {"address": HIGH_ST}
    doc["clients"][3]["location"] = {"address": MILL_LANE}
    doc["carers"][1]["shifts"] = [{**doc["carers"][1]["shifts"][0],
                                   "start_location": {"address": f"  {HIGH_ST} "}}]
    return doc


def queries() -> list[str]:
    return [q for g in FakeGeocoder.instances for q in g.queries]


def test_addresses_geocoded_with_the_configured_service_and_cached_on_disk(
        services: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(geocode.GEOCODER_ENV, "nominatim")
    monkeypatch.setenv(geocode.USER_AGENT_ENV, "wharfe-care-rota")
    ready, travel = prepare(load_problem(address_problem()))
    assert travel is None and services == ["nominatim"]
    assert FakeGeocoder.instances[0].user_agent == "wharfe-care-rota"
    s1 = ready.clients[1].location
    assert (s1.lat, s1.lon) == pytest.approx(PLACES[HIGH_ST])
    assert s1.address == HIGH_ST  # kept as given
    start = ready.carers[1].shifts[0].start_location
    assert start is not None and (start.lat, start.lon) == pytest.approx(PLACES[HIGH_ST])
    assert queries() == [HIGH_ST, MILL_LANE]  # the padded repeat hit the memo
    # Geocoded points feed localities and travel like any other.
    assert ready.clients[1].locality == "south" and ready.clients[3].locality == "south"
    compile_problem(ready)
    assert len(list((tmp_path / "cache").glob("geocode-*.json"))) == 2

    # A new process (memo cleared) reads the disk cache: no geocoder is even built.
    geocode.clear_memo()
    FakeGeocoder.instances = []
    again, _ = prepare(load_problem(address_problem()))
    assert FakeGeocoder.instances == []
    assert again.clients[3].location.lat == pytest.approx(PLACES[MILL_LANE][0])
    # Another service does not reuse nominatim's answers.
    monkeypatch.setenv(geocode.GEOCODER_ENV, "photon")
    prepare(load_problem(address_problem()))
    assert queries() == [HIGH_ST, MILL_LANE]


def test_without_a_geocoder_an_address_is_a_field_error(services: list[str]) -> None:
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(address_problem()))
    assert [str(e) for e in info.value.errors] == [
        f"carers[1].shifts[0].start_location.address: {geocode.UNCONFIGURED}",
        f"clients[1].location.address: {geocode.UNCONFIGURED}",
        f"clients[3].location.address: {geocode.UNCONFIGURED}",
    ]
    assert str(info.value.errors[1]) == (
        "clients[1].location.address: no geocoder configured; set CAREROTA_GEOCODER "
        "or give lat/lon or a postcode")
    assert services == []  # nothing was looked up, let alone sent anywhere
    prepare(load_problem(town_problem(None)))  # problems without addresses need no geocoder


def test_travel_geocoder_option_and_its_errors(services: list[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    doc = address_problem()
    doc["travel"]["geocoder"] = "Photon"
    monkeypatch.setenv(geocode.GEOCODER_ENV, "nominatim")  # the document's choice wins
    monkeypatch.setenv(geocode.API_KEY_ENV, "k-123")
    ready, _ = prepare(load_problem(doc))
    assert services == ["photon"] and FakeGeocoder.instances[0].kwargs == {}  # key not sent
    assert ready.clients[3].location.lat is not None
    geocode.clear_memo()
    monkeypatch.setenv("CAREROTA_CACHE_DIR", str(tmp_path / "cache2"))
    monkeypatch.setenv(geocode.GEOCODER_ENV, "photon")  # the operator's own service gets it
    prepare(load_problem(doc))
    assert FakeGeocoder.instances[-1].kwargs == {"api_key": "k-123"}

    doc["travel"]["geocoder"] = 7
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(doc))
    assert str(info.value.errors[0]) == (
        "travel.geocoder: must be a geopy service name, e.g. 'nominatim'")


def test_unknown_address_and_failing_service_are_named(services: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(geocode.GEOCODER_ENV, "nominatim")
    doc = address_problem()
    doc["clients"][3]["location"] = {"address": "Nowhere Street"}
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(doc))
    assert [str(e) for e in info.value.errors] == [
        "clients[3].location.address: address not found by nominatim: 'Nowhere Street'"]
    geocode.clear_memo()
    FakeGeocoder.fail = GeocoderTimedOut("Service timed out")
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(address_problem()))
    # High St came from the disk cache; a failing service is asked once, not per address.
    assert [str(e) for e in info.value.errors] == [
        "clients[3].location.address: geocoder 'nominatim' failed: Service timed out"]
    doc["clients"][2]["location"] = {"address": "Station Road"}
    FakeGeocoder.instances = []
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(doc))
    assert [e.path for e in info.value.errors] == ["clients[2].location.address",
                                                   "clients[3].location.address"]
    assert queries() == ["Station Road"]


def test_unknown_service_name_uses_geopys_own_list(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    geocode.clear_memo()
    monkeypatch.setenv("CAREROTA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(geocode.GEOCODER_ENV, "no-such-service")
    with pytest.raises(DocumentError) as info:
        prepare(load_problem(address_problem()))
    assert str(info.value.errors[-1]) == (
        "clients[3].location.address: unknown geocoder 'no-such-service' "
        "(a geopy service name, e.g. 'nominatim')")


def test_cli_prepares_addresses(services: list[str], monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    """`carerota geodata matrix` loads through api.cli.load_ready, the path solve/validate use."""
    app = typer.Typer()
    app.command()(lambda: None)
    register(app)
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(address_problem()), encoding="utf-8")
    result = CliRunner().invoke(app, ["geodata", "matrix", str(problem)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # rich wraps long lines
    assert f"clients[3].location.address: {geocode.UNCONFIGURED}" in said

    monkeypatch.setenv(geocode.GEOCODER_ENV, "nominatim")
    result = CliRunner().invoke(app, ["geodata", "matrix", str(problem)])
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)
    i, j = written["keys"].index("client:s1"), written["keys"].index("client:s2")
    assert written["minutes"]["drive"][i][j] > 0


def test_snap_leg_is_the_wgs84_geodesic(tmp_path: Path) -> None:
    # geopy's documented example: Newport RI to Cleveland OH, 538.390445 miles.
    far = geodesic_m(np.array([41.49008]), np.array([-71.312796]),
                     np.array([41.499498]), np.array([-81.695391]))
    assert far[0] == pytest.approx(538.39044536 * 1609.344, abs=0.5)
    network = build_network(river_town().write(tmp_path / "town.osm"))
    lat, lon = at(3, MID)
    pts = np.array([[lat + 0.0003, lon + 0.0005], [lat, lon]])
    nodes, leg = snap(network, "walk", pts, 500.0)
    expected = geodesic_m(pts[:, 0], pts[:, 1], network.lat[nodes], network.lon[nodes])
    assert np.array_equal(leg, expected) and 20 < leg[0] < 150 and leg[1] < 0.01
    spherical = haversine_m(pts[:1, 0], pts[:1, 1], network.lat[nodes[:1]], network.lon[nodes[:1]])
    assert abs(leg[0] - spherical[0]) > 0.01  # an ellipsoid, not the sphere
