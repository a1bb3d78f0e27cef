"""Export the JSON Schemas of the carerota/1 documents into docs/schema/.

The pydantic models are the source of truth; the committed schema files are
generated from them (`python -m optimiser.schema`) and a test fails when they
drift, so non-Python clients can validate their documents against files that
always match the code.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from optimiser.domain.documents import FORMAT, District, Package, Problem, Solution

log = logging.getLogger(__name__)

DOCUMENTS: dict[str, type[BaseModel]] = {
    "problem": Problem,
    "solution": Solution,
    "district": District,
    "package": Package,
}
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one document, as the loader validates it."""
    schema = DOCUMENTS[name].model_json_schema(mode="validation")
    schema["description"] = f"{FORMAT} {name} document. {schema.get('description', '')}".strip()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text(name: str) -> str:
    """The schema file's exact text (stable key order, trailing newline)."""
    return json.dumps(schema_of(name), indent=2, ensure_ascii=False) + "\n"


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write `<name>.schema.json` for every document; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DOCUMENTS:
        path = directory / f"{name}.schema.json"
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
        log.info("wrote %s", path)
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export(Path(args[0]) if args else DEFAULT_DIR)


if __name__ == "__main__":
    main()
