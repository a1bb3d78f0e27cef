"""The thin adapter between `POST /v1/match` and `optimiser.match`.

`optimiser.match.match(district, package, options)` ranks providers for a
package (spec/brokerage.md). The adapter builds the district from stored
providers, passes the request's options in the matcher's own options type, and
turns the result (a pydantic model, a dataclass or plain data) into JSON.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from api.schemas import MatchRequest
from api.settings import Settings
from optimiser.domain.documents import District


class MatcherUnavailable(RuntimeError):
    """optimiser.match is not part of this installation (answered 501)."""


def _matcher() -> Any:
    try:
        matching = importlib.import_module("optimiser.match")
    except ModuleNotFoundError as exc:
        if exc.name != "optimiser.match":
            raise
        raise MatcherUnavailable(
            "package matching is not available in this version of carerota "
            "(optimiser.match is missing); provider upload, solve and validate work"
        ) from exc
    return matching


def matcher_installed() -> bool:
    try:
        _matcher()
    except MatcherUnavailable:
        return False
    return True


def _options(matching: Any, values: dict[str, Any]) -> Any:
    """The matcher's options object with the fields it knows; a dict if it has no type."""
    kind = getattr(matching, "MatchOptions", None)
    if kind is None:
        return values
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        known = set(kind.model_fields)
    elif dataclasses.is_dataclass(kind):
        known = {f.name for f in dataclasses.fields(kind)}
    else:
        known = set(values)
    return kind(**{k: v for k, v in values.items() if k in known})


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return jsonable_encoder(value)


def match_package(district: District, request: MatchRequest, settings: Settings) -> Any:
    """Run the matcher over `district` with the request's options; JSON-ready result."""
    matching = _matcher()
    limit = min(request.time_limit_seconds or settings.max_match_seconds,
                settings.max_match_seconds)
    values: dict[str, Any] = {"time_limit_seconds": limit, "time_limit": limit,
                              "workers": settings.solver_threads}
    if request.min_cqc_rating is not None:
        values["min_cqc_rating"] = request.min_cqc_rating
    if request.providers is not None:
        values["providers"] = request.providers
    return _json(matching.match(district, request.package, _options(matching, values)))
