"""Provider uploads resolve postcodes and addresses at once: a bad place is a 422, nothing stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

import geodata.geocode as geocode
from tests.api.conftest import PROVIDER, Keys
from tests.api.test_carers_csv import HEADER, put_csv
from tests.geodata.postcode_data import needs_postcodes


@pytest.fixture(autouse=True)
def no_geocoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator has configured no geocoder (addresses cannot be resolved)."""
    monkeypatch.delenv(geocode.GEOCODER_ENV, raising=False)
    geocode.clear_memo()


def errors(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    return {e["path"]: e["message"] for e in answer.json()["detail"]}


@needs_postcodes
def test_unknown_postcode_is_rejected_at_upload_and_nothing_changes(
        client: TestClient, keys: Keys, stored: dict[str, Any]) -> None:
    before = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    bad = copy.deepcopy(stored)
    bad["name"] = "changed"
    bad["carers"][2]["home"] = {"postcode": "ZZ1 1ZZ"}
    bad["clients"][1]["location"] = {"address": "1 High St, Ilkley"}
    bad["carers"][0]["shifts"][0]["start_location"] = {"postcode": "hello"}
    found = errors(client.put(f"/v1/providers/{PROVIDER}", json=bad, headers=keys.provider))
    assert found == {
        "carers[2].home.postcode": "unknown postcode 'ZZ1 1ZZ'",
        "carers[0].shifts[0].start_location.postcode": "'hello' is not a UK postcode",
        "clients[1].location.address": "no geocoder configured; set CAREROTA_GEOCODER or give "
                                       "lat/lon or a postcode",
    }
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json() == before


@needs_postcodes
def test_postcodes_are_stored_with_their_coordinates(client: TestClient, keys: Keys,
                                                     provider_doc: dict[str, Any]) -> None:
    provider_doc["carers"][2]["home"] = {"postcode": "bd1 1hy"}
    provider_doc["clients"][0]["location"] = {"postcode": "LS29 8AA", "note": "side door"}
    provider_doc["carers"][0]["shifts"][0]["end_location"] = {"postcode": "BD1 1HY"}
    answer = client.put(f"/v1/providers/{PROVIDER}", json=provider_doc, headers=keys.provider)
    assert answer.status_code == 201, answer.text
    doc = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    home = doc["carers"][2]["home"]
    assert home["postcode"] == "bd1 1hy"  # what the provider sent is kept as sent
    assert home["lat"] == pytest.approx(53.7923, abs=1e-3)
    assert home["lon"] == pytest.approx(-1.7533, abs=1e-3)
    client_loc = doc["clients"][0]["location"]
    assert client_loc["note"] == "side door" and 53.8 < client_loc["lat"] < 54.0
    assert doc["carers"][0]["shifts"][0]["end_location"]["lat"] == pytest.approx(home["lat"])
    assert doc["carers"][1]["home"] == provider_doc["carers"][1]["home"]  # lat/lon untouched


@needs_postcodes
def test_carers_csv_home_postcode_is_checked_and_named_by_row(
        client: TestClient, keys: Keys, stored: dict[str, Any]) -> None:
    before = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    text = (f"{HEADER},home_postcode\n"
            "amira,53.9,-1.8,drive,hoist,female,2026-11-30T07:00,2026-11-30T14:00,\n"
            "ben,,,walk,,,2026-11-30T07:00,2026-11-30T12:00,ZZ1 1ZZ\n")
    found = errors(put_csv(client, keys, text))
    assert found == {"row 3, column home_postcode": "unknown postcode 'ZZ1 1ZZ'"}
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json() == before
    answer = put_csv(client, keys, text.replace("ZZ1 1ZZ", "BD1 1HY"))
    assert answer.status_code == 200, answer.text
    ben = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()["carers"][1]
    assert ben["home"]["postcode"] == "BD1 1HY" and ben["home"]["lat"] == pytest.approx(
        53.7923, abs=1e-3)
