"""`serve --demo`'s district: valid providers whose rotas cover every committed visit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.demo import load_demo
from api.providers import as_problem
from optimiser.domain.compiled import compile_problem
from optimiser.domain.documents import Provider, Solution
from optimiser.validate import validate


def test_demo_district_is_stored_valid_and_usable(client: TestClient) -> None:
    sessions = client.app.state.carerota.sessions  # type: ignore[attr-defined]
    keys = load_demo(sessions, seconds=1.0)
    assert keys.providers == ["wharfe-care", "aire-valley-care", "moorside-homecare"]
    broker = {"Authorization": f"Bearer {keys.broker}"}
    listed = client.get("/v1/providers", headers=broker).json()
    assert sorted(p["id"] for p in listed) == sorted(keys.providers)
    for summary in listed:
        doc = client.get(f"/v1/providers/{summary['id']}", headers=broker).json()
        provider = Provider.model_validate(doc)
        covered = {s.visit_id for r in provider.rota.routes for s in r.stops}
        assert provider.visits and {v.id for v in provider.visits} == covered
        compiled = compile_problem(as_problem(provider))
        assert validate(compiled, Solution(routes=provider.rota.routes)) == []
    mine = {"Authorization": f"Bearer {keys.provider}"}
    assert [p["id"] for p in client.get("/v1/providers", headers=mine).json()] == ["wharfe-care"]
