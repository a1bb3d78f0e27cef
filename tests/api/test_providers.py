"""Provider upload, read and list; atomic rejection with field paths."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import PROVIDER, Keys


def paths(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    return {e["path"]: e["message"] for e in answer.json()["detail"]}


def test_upload_creates_then_replaces_and_reads_back(client: TestClient, keys: Keys,
                                                     provider_doc: dict[str, Any]) -> None:
    first = client.put(f"/v1/providers/{PROVIDER}", json=provider_doc, headers=keys.provider)
    assert first.status_code == 201
    assert first.json() | {"updated_at": None} == {
        "id": PROVIDER, "name": "Wharfe Care", "carers": 3, "clients": 3, "visits": 5,
        "routes": 3, "updated_at": None}
    provider_doc["name"] = "Wharfe Care Ltd"
    second = client.put(f"/v1/providers/{PROVIDER}", json=provider_doc, headers=keys.provider)
    assert second.status_code == 200
    got = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    assert got["name"] == "Wharfe Care Ltd"
    assert got["carers"][0]["id"] == "amira"
    assert got["rota"]["routes"][2]["stops"][0]["visit_id"] == "b-meds"


def test_explicit_null_shift_location_survives_storage(client: TestClient, keys: Keys,
                                                       provider_doc: dict[str, Any]) -> None:
    provider_doc["carers"][0]["shifts"][0]["start_location"] = None
    client.put(f"/v1/providers/{PROVIDER}", json=provider_doc, headers=keys.provider)
    got = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    shift = got["carers"][0]["shifts"][0]
    assert "start_location" in shift and shift["start_location"] is None
    assert "end_location" not in got["carers"][0]["shifts"][0]


def test_rejected_upload_changes_nothing(client: TestClient, keys: Keys,
                                         stored: dict[str, Any]) -> None:
    before = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    bad = copy.deepcopy(stored)
    bad["name"] = "changed"
    bad["visits"][1]["client_id"] = "nobody"
    bad["visits"][2]["latest_start"] = "2026-11-30T06:00"
    bad["carers"][0]["shifts"].append({"start": "2026-11-30T13:00", "end": "2026-11-30T15:00"})
    bad["rota"]["routes"][0]["stops"][0]["visit_id"] = "ghost"
    errors = paths(client.put(f"/v1/providers/{PROVIDER}", json=bad, headers=keys.provider))
    assert errors == {
        "visits[1].client_id": "unknown client 'nobody'",
        "visits[2].latest_start": "window ends before earliest_start",
        "carers[0].shifts[1]": "overlaps shifts[0] of the same carer",
        "rota.routes[0].stops[0].visit_id": "unknown visit 'ghost'",
    }
    after = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    assert after == before


def test_schema_errors_name_every_field(client: TestClient, keys: Keys,
                                        provider_doc: dict[str, Any]) -> None:
    provider_doc["visits"][0]["duration_minutes"] = 0
    provider_doc["carers"][1]["travel_mode"] = "car"
    del provider_doc["clients"][0]["location"]
    errors = paths(client.put(f"/v1/providers/{PROVIDER}", json=provider_doc,
                              headers=keys.provider))
    assert set(errors) == {"visits[0].duration_minutes", "carers[1].travel_mode",
                           "clients[0].location"}
    assert errors["clients[0].location"] == "required field is missing"
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).status_code == 404


def test_rota_naming_unknown_carer_and_shift(client: TestClient, keys: Keys,
                                             provider_doc: dict[str, Any]) -> None:
    provider_doc["rota"]["routes"][0]["carer_id"] = "zed"
    provider_doc["rota"]["routes"][1]["shift_index"] = 3
    errors = paths(client.put(f"/v1/providers/{PROVIDER}", json=provider_doc,
                              headers=keys.provider))
    assert errors == {"rota.routes[0].carer_id": "unknown carer 'zed'",
                      "rota.routes[1].shift_index": "carer 'ben' has 1 shift(s)"}


def test_mixed_naive_and_aware_datetimes(client: TestClient, keys: Keys,
                                         provider_doc: dict[str, Any]) -> None:
    provider_doc["visits"][0]["latest_start"] = "2026-11-30T08:30:00+00:00"
    errors = paths(client.put(f"/v1/providers/{PROVIDER}", json=provider_doc,
                              headers=keys.provider))
    assert list(errors) == ["visits[0].latest_start"]
    assert "use one style throughout" in errors["visits[0].latest_start"]


def test_body_id_must_match_url(client: TestClient, keys: Keys,
                                provider_doc: dict[str, Any]) -> None:
    provider_doc["id"] = "someone-else"
    errors = paths(client.put(f"/v1/providers/{PROVIDER}", json=provider_doc,
                              headers=keys.provider))
    assert list(errors) == ["id"]


def test_malformed_json_and_non_object(client: TestClient, keys: Keys) -> None:
    answer = client.put(f"/v1/providers/{PROVIDER}", content=b'{"id": ',
                        headers={**keys.provider, "Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["message"].startswith("malformed JSON")
    answer = client.put(f"/v1/providers/{PROVIDER}", json=[1, 2], headers=keys.provider)
    assert answer.status_code == 422


def test_list_broker_sees_all_provider_sees_itself(client: TestClient, keys: Keys,
                                                    stored: dict[str, Any]) -> None:
    other = {"id": "other-care", "carers": [], "clients": [], "visits": []}
    assert client.put("/v1/providers/other-care", json=other,
                      headers=keys.other).status_code == 201
    broker = [p["id"] for p in client.get("/v1/providers", headers=keys.broker).json()]
    assert broker == ["other-care", PROVIDER]
    mine = [p["id"] for p in client.get("/v1/providers", headers=keys.provider).json()]
    assert mine == [PROVIDER]
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.broker).status_code == 200


def test_unknown_provider_is_404_and_bad_id_422(client: TestClient, keys: Keys) -> None:
    assert client.get("/v1/providers/nobody", headers=keys.broker).status_code == 404
    assert client.get("/v1/providers/bad%20id", headers=keys.broker).status_code == 422
