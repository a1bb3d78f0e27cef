"""Document errors that name the field path and the reason.

Every layer (CLI, API, tests) reports bad input through `DocumentError`, so a
user always sees e.g. ``visits[3].latest_start: ends before earliest_start``
and never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    """One problem with an input document: where (a JSON path) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DocumentError(ValueError):
    """An input document was rejected; `errors` lists every field at fault."""

    def __init__(self, errors: Sequence[FieldError], kind: str = "document") -> None:
        self.errors = list(errors)
        self.kind = kind
        lines = "\n".join(f"  {e}" for e in self.errors[:50])
        more = f"\n  ... and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        super().__init__(f"invalid {kind}:\n{lines}{more}")

    def as_detail(self) -> list[dict[str, str]]:
        """The errors as JSON-ready dicts (HTTP 422 bodies)."""
        return [{"path": e.path, "message": e.message} for e in self.errors]


def join_path(parts: Iterable[str | int]) -> str:
    """('visits', 3, 'latest_start') -> 'visits[3].latest_start'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Turn pydantic's errors into FieldErrors with readable paths and messages."""
    errors = []
    for item in exc.errors(include_url=False):
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = join_path([prefix, *loc] if prefix else loc)
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "missing":
            message = "required field is missing"
        errors.append(FieldError(path, message))
    return errors
