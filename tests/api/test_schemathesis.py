"""Property-based requests generated from /openapi.json never get a 5xx.

Each generated request is sent with a broker key and with a provider key, so the
handlers behind the role checks are reached too. Few examples per operation
keep this under a minute on a small machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from api.auth import create_key
from api.settings import Settings

PROVIDER = "wharfe-care"
EXAMPLES = int(os.environ.get("CAREROTA_FUZZ_EXAMPLES", "25"))  # per operation; more in CI
WORKDIR = Path(tempfile.mkdtemp(prefix="carerota-schemathesis-"))
app = create_app(Settings(database_url=f"sqlite:///{WORKDIR / 'fuzz.db'}",
                          max_body_bytes=100_000, max_solve_seconds=1.0, max_match_seconds=1.0))
# The coverage phase enumerates every boundary of every field: far too many requests for
# the nested spec documents. Examples (the spec's own) and random generation remain.
CONFIG = SchemathesisConfig.from_str("[phases.coverage]\nenabled = false\n")
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@pytest.fixture(scope="module")
def headers() -> Iterator[list[dict[str, str]]]:
    with TestClient(app):  # runs the lifespan: migrations, job pool
        sessions = app.state.carerota.sessions
        with sessions() as session:
            keys = [create_key(session, "broker"), create_key(session, "provider", PROVIDER)]
        yield [{"Authorization": f"Bearer {key}"} for key in keys]
    shutil.rmtree(WORKDIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, headers: list[dict[str, str]]) -> None:
    broker, provider = headers
    response = case.call(headers=broker)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    # Again as the provider itself, so uploads get past the tenant check to the checks behind it.
    if "provider_id" in (case.path_parameters or {}):
        case.path_parameters["provider_id"] = PROVIDER
        if isinstance(case.body, dict):
            case.body["id"] = PROVIDER
    response = case.call(headers=provider)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
