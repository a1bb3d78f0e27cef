"""POST /v1/validate: a problem and a rota in, the broken rules out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import examples
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
