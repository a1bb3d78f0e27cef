"""POST /v1/match: the district comes from stored providers; the matcher is an adapter."""

from __future__ import annotations

import copy
import dataclasses
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import examples, matching
from optimiser.domain.documents import District, Package
from optimiser.match import MatchOptions
from tests.api.conftest import PROVIDER, Keys
from tests.geodata.postcode_data import needs_postcodes


@dataclasses.dataclass
class FakePlacement:
    provider_id: str
    feasible: bool


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[District, Package, Any]]:
    seen: list[tuple[District, Package, Any]] = []

    def match(district: District, package: Package, options: Any,
              prepare: Any = None) -> list[FakePlacement]:
        seen.append((district, package, options))
        return [FakePlacement(p.id, True) for p in district.providers]

    fake = SimpleNamespace(match=match, MatchOptions=MatchOptions)
    monkeypatch.setattr(matching, "_matcher", lambda: fake)
    return seen


def test_match_builds_the_district_from_stored_providers(
        client: TestClient, keys: Keys, stored: dict[str, Any],
        calls: list[tuple[District, Package, Any]]) -> None:
    client.put("/v1/providers/other-care", json={"id": "other-care"}, headers=keys.other)
    body = {"package": examples.package(), "min_cqc_rating": "good", "time_limit_seconds": 5}
    answer = client.post("/v1/match", json=body, headers=keys.broker)
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"provider_id": "other-care", "feasible": True},
                             {"provider_id": PROVIDER, "feasible": True}]
    district, package, options = calls[0]
    assert [p.id for p in district.providers] == ["other-care", PROVIDER]
    assert len(district.providers[1].rota.routes) == 3
    assert package.id == "pkg-7"
    assert (options.time_limit, options.min_cqc_rating, options.workers) == (5, "good", 1)


def test_match_over_chosen_providers_and_unknown_ones(
        client: TestClient, keys: Keys, stored: dict[str, Any],
        calls: list[tuple[District, Package, Any]]) -> None:
    client.put("/v1/providers/other-care", json={"id": "other-care"}, headers=keys.other)
    body = {"package": examples.package(), "providers": [PROVIDER]}
    answer = client.post("/v1/match", json=body, headers=keys.broker)
    assert [p["provider_id"] for p in answer.json()] == [PROVIDER]
    body["providers"] = [PROVIDER, "ghost"]
    answer = client.post("/v1/match", json=body, headers=keys.broker)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"path": "providers[1]",
                                        "message": "unknown provider 'ghost'"}]


def test_bad_package_is_422(client: TestClient, keys: Keys,
                            calls: list[tuple[District, Package, Any]]) -> None:
    package = examples.package()
    package["calls"][0]["time"] = "25:00"
    package["calls"][0]["carers_required"] = 3
    answer = client.post("/v1/match", json={"package": package}, headers=keys.broker)
    assert answer.status_code == 422
    assert {e["path"] for e in answer.json()["detail"]} == {
        "package.calls[0].time", "package.calls[0].carers_required"}
    package = examples.package() | {"start": "9999-12-30"}
    package["calls"][0]["tolerance_minutes"] = 10**9
    answer = client.post("/v1/match", json={"package": package}, headers=keys.broker)
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["detail"]] == [
        "package.start", "package.calls[0].tolerance_minutes"]
    assert calls == []


def test_the_real_matcher_ranks_the_stored_provider(client: TestClient, keys: Keys,
                                                    stored: dict[str, Any]) -> None:
    body = {"package": examples.package() | {"days": 1}, "time_limit_seconds": 3}
    answer = client.post("/v1/match", json=body, headers=keys.broker)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["ranked"] == [PROVIDER]
    placement = result["placements"][0]
    assert placement["provider_id"] == PROVIDER
    assert placement["total_visits"] == 1


def test_without_the_matcher_the_answer_is_501(client: TestClient, keys: Keys,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optimiser.match", None)  # as if never installed
    answer = client.post("/v1/match", json={"package": examples.package()}, headers=keys.broker)
    assert answer.status_code == 501
    assert "package matching is not available" in answer.json()["detail"]
    assert client.get("/v1/health").json()["matcher"] is False


@needs_postcodes
def test_match_errors_name_the_package_and_the_stored_provider(
        client: TestClient, keys: Keys, stored: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import geodata.geocode as geocode
    from api.db import ProviderRecord

    monkeypatch.delenv(geocode.GEOCODER_ENV, raising=False)
    package = examples.package() | {"days": 1}
    package["client"] = {**package["client"], "location": {"postcode": "ZZ1 1ZZ"}}
    answer = client.post("/v1/match", json={"package": package, "time_limit_seconds": 3},
                         headers=keys.broker)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{"path": "package.client.location.postcode",
                                        "message": "unknown postcode 'ZZ1 1ZZ'"}]
    package["client"]["location"] = {"address": "1 High St, Ilkley"}
    answer = client.post("/v1/match", json={"package": package}, headers=keys.broker)
    assert [e["path"] for e in answer.json()["detail"]] == ["package.client.location.address"]

    # A provider stored before uploads resolved places: its own document and path are named.
    legacy = copy.deepcopy(stored)
    legacy["clients"][1]["location"] = {"postcode": "ZZ1 1ZZ"}
    with client.app.state.carerota.sessions() as session:  # type: ignore[attr-defined]
        session.add(ProviderRecord(id="aaa-legacy", document=legacy | {"id": "aaa-legacy"}))
        session.commit()
    answer = client.post("/v1/match", json={"package": examples.package() | {"days": 1},
                                            "time_limit_seconds": 3}, headers=keys.broker)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{"path": "providers['aaa-legacy'].clients[1].location.postcode",
                                        "message": "unknown postcode 'ZZ1 1ZZ'"}]
