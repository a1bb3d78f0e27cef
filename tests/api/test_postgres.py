"""The service on PostgreSQL: migrations, atomic upload, jobs, restart recovery.

Runs only when a server is reachable: set CAREROTA_TEST_POSTGRES_URL (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); otherwise
postgresql+psycopg://postgres@127.0.0.1:5432/postgres is tried and the test is
skipped with a message when nothing answers. Everything happens in a throwaway
schema that is dropped afterwards, so no existing table is touched.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api import examples
from api.app import create_app
from api.auth import create_key
from api.settings import Settings

URL = os.environ.get("CAREROTA_TEST_POSTGRES_URL",
                     "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg", reason="psycopg not installed: pip install 'carerota[postgres]'")
    engine = sqlalchemy.create_engine(URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {URL} ({str(exc.orig).strip()[:80]}); "
                    "set CAREROTA_TEST_POSTGRES_URL to test it")
    schema = f"carerota_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in URL else "?"
    try:
        yield f"{URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_service_on_postgres(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, solver_threads=1, max_solve_seconds=2)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/health").json()["database"] == "postgresql"
        with client.app.state.carerota.sessions() as session:  # type: ignore[attr-defined]
            auth = {"Authorization": f"Bearer {create_key(session, 'provider', 'wharfe-care')}"}
        assert client.put("/v1/providers/wharfe-care", json=examples.provider(),
                          headers=auth).status_code == 201
        bad = examples.provider()
        bad["visits"][0]["client_id"] = "nobody"
        assert client.put("/v1/providers/wharfe-care", json=bad, headers=auth).status_code == 422
        stored = client.get("/v1/providers/wharfe-care", headers=auth).json()
        assert stored["visits"][0]["client_id"] == "mrs-a"
        problem = examples.problem() | {"time_limit_seconds": 2}
        job_id = client.post("/v1/solve", json=problem, headers=auth).json()["job_id"]
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{job_id}", headers=auth).json())["status"] in (
                "queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job["status"] == "done", job
    with TestClient(create_app(settings)) as again:  # migrations are a no-op the second time
        assert again.get("/v1/providers/wharfe-care", headers=auth).json() == stored
        assert again.get(f"/v1/jobs/{job_id}", headers=auth).json()["solution"] == job["solution"]
