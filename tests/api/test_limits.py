"""Bodies over the documented size get 413, whether declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.api.conftest import PROVIDER, Keys


def test_declared_body_too_large(client: TestClient, keys: Keys) -> None:
    big = b'{"id": "' + b"x" * 300_000 + b'"}'
    answer = client.put(f"/v1/providers/{PROVIDER}", content=big,
                        headers={**keys.provider, "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "200000 bytes" in answer.json()["detail"]


def test_streamed_body_too_large(client: TestClient, keys: Keys) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"a" * 10_000

    answer = client.put(f"/v1/providers/{PROVIDER}/carers", content=chunks(),
                        headers={**keys.provider, "Content-Type": "text/csv"})
    assert answer.status_code == 413
    assert client.get(f"/v1/providers/{PROVIDER}", headers=keys.provider).status_code == 404


def test_body_under_limit_is_read(client: TestClient, keys: Keys) -> None:
    answer = client.put(f"/v1/providers/{PROVIDER}", json={"id": PROVIDER},
                        headers=keys.provider)
    assert answer.status_code == 201
