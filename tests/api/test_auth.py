"""Keys and roles: 401 without a valid key, 403 for the wrong role or tenant."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import examples
from api.cli import app as cli_app
from api.server_cli import register
from tests.api.conftest import PROVIDER, Keys, bearer


def test_health_needs_no_key(client: TestClient) -> None:
    answer = client.get("/v1/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok" and answer.json()["database"] == "sqlite"


def test_missing_or_unknown_key_is_401(client: TestClient, keys: Keys) -> None:
    for headers in ({}, bearer("crk_not-a-key"), {"Authorization": "Basic abc"}):
        answer = client.get("/v1/providers", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert client.put(f"/v1/providers/{PROVIDER}", json={}).status_code == 401


def test_provider_reads_and_writes_only_itself(client: TestClient, keys: Keys,
                                               stored: dict[str, Any]) -> None:
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.other).status_code == 403
    answer = client.put(f"/v1/providers/{PROVIDER}", json=stored, headers=keys.other)
    assert answer.status_code == 403
    assert client.get(f"/v1/providers/{PROVIDER}/carers", headers=keys.other).status_code == 403


def test_broker_reads_but_never_writes(client: TestClient, keys: Keys,
                                       stored: dict[str, Any]) -> None:
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.broker).status_code == 200
    assert client.put(f"/v1/providers/{PROVIDER}", json=stored,
                      headers=keys.broker).status_code == 403
    csv = client.get("/v1/templates/carers.csv").text
    assert client.put(f"/v1/providers/{PROVIDER}/carers", content=csv,
                      headers={**keys.broker, "Content-Type": "text/csv"}).status_code == 403


def test_solve_is_for_providers_match_for_brokers(client: TestClient, keys: Keys) -> None:
    assert client.post("/v1/solve", json=examples.problem(),
                       headers=keys.broker).status_code == 403
    match = {"package": examples.package()}
    assert client.post("/v1/match", json=match, headers=keys.provider).status_code == 403


def test_apikey_create_prints_key_last_and_stores_only_its_hash(tmp_path: Path) -> None:
    register(cli_app)
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner()
    result = runner.invoke(cli_app, ["apikey", "create", "--role", "provider",
                                     "--provider", PROVIDER, "--database", url])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("crk_") and len(key) > 40
    rows = sqlite3.connect(tmp_path / "keys.db").execute(
        "select key_hash, role, provider_id from api_keys").fetchall()
    assert len(rows) == 1 and rows[0][1:] == ("provider", PROVIDER)
    assert key not in rows[0][0] and len(rows[0][0]) == 64

    bad = runner.invoke(cli_app, ["apikey", "create", "--role", "provider", "--database", url])
    assert bad.exit_code == 2 and "--provider" in bad.output
    bad = runner.invoke(cli_app, ["apikey", "create", "--role", "broker", "--database",
                                  "nonsense://"])
    assert bad.exit_code == 2 and "database" in bad.output
