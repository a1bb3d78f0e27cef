"""A posted problem's OSM travel.path opens only files inside the operator's networks folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.networks import NOT_ENABLED, OUTSIDE, guarded_prepare
from api.settings import Settings
from optimiser.domain.documents import Problem
from optimiser.domain.errors import DocumentError
from tests.api.conftest import Keys
from tests.api.test_jobs import wait
from tests.geodata.test_prepare import town_problem
from tests.geodata.town import river_town


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(networks folder holding town.osm, a sibling folder holding outside.osm)."""
    monkeypatch.setenv("CAREROTA_CACHE_DIR", str(tmp_path / "cache"))
    inside, outside = tmp_path / "networks", tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    river_town().write(inside / "town.osm")
    river_town().write(outside / "outside.osm")
    (inside / "link.osm").symlink_to(outside / "outside.osm")
    return inside, outside


@pytest.fixture
def enabled(settings: Settings, folders: tuple[Path, Path], keys: Keys) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"networks_dir": folders[0]})
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def _problem(path: str) -> dict[str, Any]:
    doc = town_problem(None)
    doc["travel"] = {"source": "osm", "path": path}
    return doc


def _validate(client: TestClient, keys: Keys, path: str) -> Any:
    body = {"problem": _problem(path),
            "solution": {"format": "carerota/1", "problem_id": "river-town", "routes": []}}
    return client.post("/v1/validate", json=body, headers=keys.provider)


def test_osm_travel_is_refused_when_no_folder_is_configured(
        client: TestClient, keys: Keys, folders: tuple[Path, Path]) -> None:
    for path in ("/etc/passwd", str(folders[0] / "town.osm"), "town.osm"):
        answer = client.post("/v1/solve", json=_problem(path), headers=keys.provider)
        assert answer.status_code == 422
        assert answer.json()["detail"] == [{"path": "travel.path", "message": NOT_ENABLED}]
        answer = _validate(client, keys, path)
        assert answer.status_code == 422
        assert answer.json()["detail"] == [{"path": "problem.travel.path", "message": NOT_ENABLED}]
    assert "CAREROTA_NETWORKS_DIR" in NOT_ENABLED


def test_paths_escaping_the_folder_are_refused(
        enabled: TestClient, keys: Keys, folders: tuple[Path, Path]) -> None:
    outside = folders[1] / "outside.osm"  # a readable, valid network: only the place is wrong
    escapes = ["/etc/passwd", str(outside), "../private/outside.osm", "sub/../../private/outside.osm",
               "link.osm", ".", ""]
    for path in escapes:
        answer = enabled.post("/v1/solve", json=_problem(path), headers=keys.provider)
        if path == "":  # nothing named: geodata's own 'required' error, no file opened
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["path"] == "travel.path"
            continue
        assert answer.status_code == 422, path
        assert answer.json()["detail"] == [{"path": "travel.path", "message": OUTSIDE}], path
        assert _validate(enabled, keys, path).json()["detail"] == [
            {"path": "problem.travel.path", "message": OUTSIDE}]


def test_a_file_in_the_folder_is_used_by_relative_or_absolute_path(
        enabled: TestClient, keys: Keys, folders: tuple[Path, Path]) -> None:
    for path in ("town.osm", str(folders[0] / "town.osm"), "./sub/../town.osm"):
        answer = _validate(enabled, keys, path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["valid"] is False  # no routes: every visit is missing
    answer = enabled.post("/v1/solve", json=_problem("town.osm"), headers=keys.provider)
    assert answer.status_code == 202, answer.text
    job = wait(enabled, answer.json()["job_id"], keys.provider)
    assert job["status"] == "done", job.get("error")
    assert job["solution"]["metrics"]["visits_assigned"] >= 1


def test_a_missing_file_in_the_folder_is_a_clean_422_not_revealing_the_folder(
        enabled: TestClient, keys: Keys, folders: tuple[Path, Path]) -> None:
    (folders[0] / "junk.osm").write_text("not xml", encoding="utf-8")
    for path in ("absent.osm", "junk.osm"):
        answer = enabled.post("/v1/solve", json=_problem(path), headers=keys.provider)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["path"] == "travel.path"
        assert repr(path) in error["message"]
        assert str(folders[0]) not in error["message"]


def test_the_prepare_handed_to_matching_is_guarded_too(folders: tuple[Path, Path]) -> None:
    problem = Problem.model_validate(_problem("/etc/passwd"))
    with pytest.raises(DocumentError) as refused:
        guarded_prepare(None)(problem)
    assert [(e.path, e.message) for e in refused.value.errors] == [("travel.path", NOT_ENABLED)]
    with pytest.raises(DocumentError) as outside:
        guarded_prepare(folders[0])(problem)
    assert [(e.path, e.message) for e in outside.value.errors] == [("travel.path", OUTSIDE)]
    prepared, travel = guarded_prepare(folders[0])(Problem.model_validate(_problem("town.osm")))
    assert travel is not None and prepared.travel.path == str(folders[0] / "town.osm")
