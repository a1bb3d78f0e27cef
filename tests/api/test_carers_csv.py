"""Carers as CSV: round trip, template, row/column errors, atomic rejection."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.carers_csv import parse_carers_csv
from tests.api.conftest import PROVIDER, Keys

HEADER = "id,home_lat,home_lon,travel_mode,skills,gender,shift_start,shift_end"


def put_csv(client: TestClient, keys: Keys, text: str, provider: str = PROVIDER) -> Any:
    return client.put(f"/v1/providers/{provider}/carers", content=text.encode(),
                      headers={**keys.provider, "Content-Type": "text/csv"})


def test_template_uploads_and_round_trips(client: TestClient, keys: Keys) -> None:
    template = client.get("/v1/templates/carers.csv")
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("text/csv")
    answer = put_csv(client, keys, template.text)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": PROVIDER, "carers": 2, "shifts": 3, "dropped_routes": 0}
    exported = client.get(f"/v1/providers/{PROVIDER}/carers", headers=keys.provider).text
    assert put_csv(client, keys, exported).status_code == 200
    again = client.get(f"/v1/providers/{PROVIDER}/carers", headers=keys.provider).text
    assert again == exported
    carers, _ = parse_carers_csv(exported.encode())
    uploaded, _ = parse_carers_csv(template.text.encode())
    assert carers == uploaded
    doc = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    assert [len(c["shifts"]) for c in doc["carers"]] == [2, 1]
    assert doc["carers"][0]["skills"] == ["hoist", "medication"]


def test_replacing_carers_keeps_clients_and_drops_orphan_routes(
        client: TestClient, keys: Keys, stored: dict[str, Any]) -> None:
    text = (f"{HEADER},localities\n"
            "amira,53.925,-1.822,drive,hoist;medication,female,"
            "2026-11-30T07:00,2026-11-30T14:00,ilkley\n")
    answer = put_csv(client, keys, text)
    assert answer.status_code == 200, answer.text
    assert answer.json()["dropped_routes"] == 2
    doc = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    assert [c["id"] for c in doc["carers"]] == ["amira"]
    assert len(doc["clients"]) == 3
    assert [r["carer_id"] for r in doc["rota"]["routes"]] == ["amira"]


def test_errors_name_row_and_column_and_change_nothing(
        client: TestClient, keys: Keys, stored: dict[str, Any]) -> None:
    before = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    text = (f"{HEADER}\n"
            "amira,53.9,-1.8,drive,hoist,female,2026-11-30T07:00,2026-11-30T14:00\n"
            "ben,north,-1.8,bus,,,2026-11-30T07:00,2026-11-30T06:00\n"
            "\n"
            "amira,53.9,-1.8,drive,hoist,female,2026-11-30T13:00,2026-11-30T15:00\n")
    answer = put_csv(client, keys, text)
    assert answer.status_code == 422
    errors = {e["path"]: e["message"] for e in answer.json()["detail"]}
    assert errors == {
        "row 3, column home_lat": "not a number: 'north'",
        "row 3, column travel_mode": "travel_mode must be one of drive, walk, cycle, "
                                     "public_transport: 'bus'",
        "row 3, column shift_end": "shift ends before (or when) it starts",
    }
    fixed = text.replace("north", "53.9").replace(",bus,", ",walk,").replace(
        "2026-11-30T06:00", "2026-11-30T09:00")
    answer = put_csv(client, keys, fixed)
    assert answer.status_code == 422  # amira's two shifts overlap: found by the provider checks
    assert answer.json()["detail"] == [
        {"path": "row 5, column shift_start", "message": "overlaps shifts[0] of the same carer"}]
    doc = client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).json()
    assert doc == before  # nothing changed


def test_header_problems(client: TestClient, keys: Keys) -> None:
    answer = put_csv(client, keys, "id,home_lat,colour\nx,1,red\n")
    paths = [e["path"] for e in answer.json()["detail"]]
    assert answer.status_code == 422
    assert paths == ["row 1, column colour", "row 1"]
    assert "home_lon" in answer.json()["detail"][1]["message"]


def test_csv_needs_csv_content_type_and_utf8(client: TestClient, keys: Keys) -> None:
    template = client.get("/v1/templates/carers.csv").text
    answer = client.put(f"/v1/providers/{PROVIDER}/carers", json={"csv": template},
                        headers=keys.provider)
    assert answer.status_code == 415
    answer = put_csv(client, keys, "")
    assert answer.status_code == 422
    answer = client.put(f"/v1/providers/{PROVIDER}/carers", content=b"\xff\xfe\x00id",
                        headers={**keys.provider, "Content-Type": "text/csv"})
    assert answer.status_code == 422 and "UTF-8" in answer.json()["detail"][0]["message"]
