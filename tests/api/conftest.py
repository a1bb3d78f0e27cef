"""Shared fixtures: an app on a fresh SQLite file, keys of each role, example documents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import examples
from api.app import create_app
from api.auth import create_key
from api.settings import Settings

PROVIDER = "wharfe-care"


@dataclass(frozen=True)
class Keys:
    broker: dict[str, str]
    provider: dict[str, str]
    other: dict[str, str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", max_body_bytes=200_000,
                    solve_workers=1, solver_threads=1, max_solve_seconds=2.0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def keys(client: TestClient) -> Keys:
    sessions = client.app.state.carerota.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        return Keys(
            broker=bearer(create_key(session, "broker")),
            provider=bearer(create_key(session, "provider", PROVIDER)),
            other=bearer(create_key(session, "provider", "other-care")),
        )


@pytest.fixture
def provider_doc() -> dict[str, Any]:
    return examples.provider()


@pytest.fixture
def stored(client: TestClient, keys: Keys, provider_doc: dict[str, Any]) -> dict[str, Any]:
    """The example provider, uploaded."""
    answer = client.put(f"/v1/providers/{PROVIDER}", json=provider_doc, headers=keys.provider)
    assert answer.status_code == 201, answer.text
    return provider_doc
