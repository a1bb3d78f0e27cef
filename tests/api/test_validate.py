"""POST /v1/validate: a problem and a rota in, the broken rules out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import examples
from api.app import create_app
from api.settings import Settings
from tests.api.conftest import Keys


def test_the_spec_example_rota_is_valid(client: TestClient, keys: Keys) -> None:
    body = {"problem": examples.problem(), "solution": examples.solution()}
    answer = client.post("/v1/validate", json=body, headers=keys.broker)
    assert answer.status_code == 200
    assert answer.json() == {"valid": True, "violations": []}


def test_a_broken_rota_lists_its_rules(client: TestClient, keys: Keys) -> None:
    solution = examples.solution()
    solution["routes"][2]["stops"][0]["start"] = "2026-11-30T10:30"  # b-meds window ends 08:45
    solution["routes"][2]["stops"][0]["end"] = "2026-11-30T11:00"
    answer = client.post("/v1/validate", json={"problem": examples.problem(),
                                               "solution": solution}, headers=keys.provider)
    assert answer.status_code == 200
    body = answer.json()
    assert body["valid"] is False
    assert {(v["rule"], v["visit_id"]) for v in body["violations"]} >= {("window", "b-meds")}


def test_problem_errors_are_prefixed(client: TestClient, keys: Keys) -> None:
    problem = examples.problem()
    problem["visits"][1]["client_id"] = "nobody"
    answer = client.post("/v1/validate", json={"problem": problem,
                                               "solution": examples.solution()},
                         headers=keys.broker)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"path": "problem.visits[1].client_id", "message": "unknown client 'nobody'"}]
    assert client.post("/v1/validate", json={"problem": problem}).status_code == 401


def test_a_problem_may_not_choose_the_geocoder(client: TestClient, keys: Keys) -> None:
    problem = examples.problem()
    problem["travel"] = {"geocoder": "nominatim"}
    refused = ("not allowed through the API; the operator configures CAREROTA_GEOCODER")
    answer = client.post("/v1/validate", json={"problem": problem,
                                               "solution": examples.solution()},
                         headers=keys.broker)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"path": "problem.travel.geocoder", "message": refused}]
    answer = client.post("/v1/solve", json=problem, headers=keys.provider)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"path": "travel.geocoder", "message": refused}]


def test_the_operator_may_allow_a_problem_geocoder(settings: Settings, keys: Keys) -> None:
    problem = examples.problem()
    problem["travel"] = {"geocoder": "nominatim"}  # every place has lat/lon: nothing is sent
    allowed = settings.model_copy(update={"allow_problem_geocoder": True})
    with TestClient(create_app(allowed)) as open_client:
        answer = open_client.post("/v1/validate", json={"problem": problem,
                                                        "solution": examples.solution()},
                                  headers=keys.broker)
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True
