"""Solve jobs: 202 then poll; the real solver on a small problem; failures recorded; restart."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import examples, jobs
from api.app import create_app
from api.db import JobRecord
from api.settings import Settings
from optimiser.domain.compiled import compile_problem
from optimiser.domain.documents import Solution
from optimiser.domain.loading import load_problem
from optimiser.validate import validate
from tests.api.conftest import Keys


def wait(client: TestClient, job_id: str, headers: dict[str, str],
         seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {body['status']} after {seconds} s")


def test_solve_runs_the_real_solver_and_stores_a_valid_rota(client: TestClient,
                                                            keys: Keys) -> None:
    problem = examples.problem()
    problem["time_limit_seconds"] = 2
    answer = client.post("/v1/solve", json=problem, headers=keys.provider)
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    assert answer.headers["Location"] == f"/v1/jobs/{job_id}"
    body = wait(client, job_id, keys.provider)
    assert body["status"] == "done", body.get("error")
    solution = Solution.model_validate(body["solution"])
    assert solution.problem_id == "example-ilkley-monday"
    assert validate(compile_problem(load_problem(problem)), solution) == []
    # b-lunch needs peg_feed, which no carer holds
    assert [u.visit_id for u in solution.unassigned] == ["b-lunch"]
    listed = client.get("/v1/jobs", headers=keys.provider).json()
    assert [(j["job_id"], j["problem_id"]) for j in listed] == [(job_id, problem["id"])]
    assert client.get("/v1/jobs", headers=keys.other).json() == []
    assert client.get(f"/v1/jobs/{job_id}", headers=keys.other).status_code == 404


def test_bad_problem_is_422_and_no_job(client: TestClient, keys: Keys) -> None:
    problem = examples.problem()
    problem["visits"][0]["client_id"] = "nobody"
    problem["timezone"] = "Mars/Olympus"
    answer = client.post("/v1/solve", json=problem, headers=keys.provider)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"path": "visits[0].client_id", "message": "unknown client 'nobody'"}]
    problem["visits"][0]["client_id"] = "mrs-a"
    answer = client.post("/v1/solve", json=problem, headers=keys.provider)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["path"] == "timezone"
    assert client.get("/v1/jobs", headers=keys.provider).json() == []


def test_a_solver_crash_fails_the_job_with_a_reason(client: TestClient, keys: Keys,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(compiled: Any, settings: Settings) -> Solution:
        raise RuntimeError("out of coffee")

    monkeypatch.setattr(jobs, "solve_compiled", crash)
    job_id = client.post("/v1/solve", json=examples.problem(),
                         headers=keys.provider).json()["job_id"]
    body = wait(client, job_id, keys.provider)
    assert body["status"] == "failed"
    assert body["error"] == "solver error: RuntimeError: out of coffee"
    assert "solution" not in body


def test_an_invalid_rota_is_never_stored(client: TestClient, keys: Keys,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def forgetful(compiled: Any, settings: Settings) -> Solution:
        return Solution(problem_id=compiled.problem.id)  # covers nothing, lists nothing

    monkeypatch.setattr(jobs, "solve_compiled", forgetful)
    job_id = client.post("/v1/solve", json=examples.problem(),
                         headers=keys.provider).json()["job_id"]
    body = wait(client, job_id, keys.provider)
    assert body["status"] == "failed"
    assert "[coverage]" in body["error"] and "solution" not in body


def test_server_keeps_answering_while_a_solve_runs(client: TestClient, keys: Keys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(compiled: Any, settings: Settings) -> Solution:
        time.sleep(1.5)
        raise RuntimeError("done sleeping")

    monkeypatch.setattr(jobs, "solve_compiled", slow)
    job_id = client.post("/v1/solve", json=examples.problem(),
                         headers=keys.provider).json()["job_id"]
    t0 = time.monotonic()
    assert client.get("/v1/health").status_code == 200
    status = client.get(f"/v1/jobs/{job_id}", headers=keys.provider).json()["status"]
    assert time.monotonic() - t0 < 1.0
    assert status in ("queued", "running")
    assert wait(client, job_id, keys.provider)["status"] == "failed"


def test_jobs_interrupted_by_a_restart_are_marked_failed(settings: Settings,
                                                         client: TestClient,
                                                         keys: Keys) -> None:
    sessions = client.app.state.carerota.sessions  # type: ignore[attr-defined]
    with sessions.begin() as session:
        for job_id, status in (("a" * 32, "running"), ("b" * 32, "queued"), ("c" * 32, "done")):
            session.add(JobRecord(id=job_id, provider_id="wharfe-care", status=status,
                                  problem={"id": "p"}))
    with TestClient(create_app(settings)) as restarted:
        got = {j: restarted.get(f"/v1/jobs/{j * 32}", headers=keys.provider).json()
               for j in "abc"}
    assert got["a"]["status"] == got["b"]["status"] == "failed"
    assert "interrupted by a server restart" in got["a"]["error"]
    assert got["c"]["status"] == "done"


def test_sizes_beyond_the_service_limits_are_422(client: TestClient, keys: Keys) -> None:
    problem = examples.problem()
    problem["horizon"]["end"] = "2027-06-01T00:00"
    problem["visits"][0]["duration_minutes"] = 10**9
    answer = client.post("/v1/solve", json=problem, headers=keys.provider)
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["detail"]] == [
        "horizon", "visits[0].duration_minutes"]
    problem = examples.problem()
    problem["horizon"]["start"] = "0001-01-01T00:00"
    answer = client.post("/v1/validate", json={"problem": problem,
                                               "solution": examples.solution()},
                         headers=keys.provider)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["path"] == "problem.horizon.start"
