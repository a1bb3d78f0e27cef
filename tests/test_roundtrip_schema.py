"""The committed JSON Schemas (docs/schema/) match the pydantic models and accept the spec's examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimiser.schema import DEFAULT_DIR, DOCUMENTS, export, schema_text

jsonschema = pytest.importorskip("jsonschema")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_committed_schema_matches_the_models(name: str) -> None:
    path = DEFAULT_DIR / f"{name}.schema.json"
    assert path.exists(), "run: python -m optimiser.schema"
    assert path.read_text(encoding="utf-8") == schema_text(name), (
        f"{path.name} is stale: run python -m optimiser.schema")


def test_export_writes_every_document(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.schema.json" for n in DOCUMENTS)


def _validator(name: str) -> Any:
    schema = json.loads(schema_text(name))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_spec_examples_satisfy_the_schemas(
    example_problem: dict[str, Any], example_solution: dict[str, Any]
) -> None:
    assert list(_validator("problem").iter_errors(example_problem)) == []
    assert list(_validator("solution").iter_errors(example_solution)) == []


def test_schema_rejects_a_latitude_out_of_range(example_problem: dict[str, Any]) -> None:
    example_problem["carers"][0]["home"]["lat"] = 95
    errors = list(_validator("problem").iter_errors(example_problem))
    assert errors and any("95" in e.message for e in errors)
