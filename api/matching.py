"""The thin adapter between `POST /v1/match` and `optimiser.match`.

`optimiser.match.match(district, package, options, prepare)` ranks providers
for a package (spec/brokerage.md). The adapter builds the matcher's options
from the request and the server's caps, hands it geodata's `prepare` (postcodes;
OSM travel only from the operator's networks folder) and answers 501 when
matching is not installed.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from api.networks import guarded_prepare
from api.schemas import MatchRequest
from api.settings import Settings
from optimiser.domain.documents import District
from optimiser.domain.errors import DocumentError, FieldError

_PROVIDER_PATH = re.compile(r"^providers\[(\d+)\](\..*)$")


class MatcherUnavailable(RuntimeError):
    """optimiser.match is not part of this installation (answered 501)."""


def _matcher() -> ModuleType:
    try:
        return importlib.import_module("optimiser.match")
    except ModuleNotFoundError as exc:
        if exc.name != "optimiser.match":
            raise
        raise MatcherUnavailable(
            "package matching is not available in this version of carerota "
            "(optimiser.match is missing); provider upload, solve and validate work"
        ) from exc


def matcher_installed() -> bool:
    try:
        _matcher()
    except MatcherUnavailable:
        return False
    return True


def stored_paths(errors: list[FieldError], district: District) -> list[FieldError]:
    """`providers[3].clients[0]...` (the built district's order, unseen by the caller) as
    `providers['wharfe-care'].clients[0]...`: the stored provider document and its path.
    """
    out = []
    for e in errors:
        m = _PROVIDER_PATH.match(e.path)
        if m is not None and int(m.group(1)) < len(district.providers):
            e = FieldError(f"providers[{district.providers[int(m.group(1))].id!r}]{m.group(2)}",
                           e.message)
        out.append(e)
    return out


def match_package(district: District, request: MatchRequest, settings: Settings) -> Any:
    """Run the matcher over `district` with the request's options; a JSON-ready result."""
    matching = _matcher()
    limit = min(request.time_limit_seconds or settings.max_match_seconds,
                settings.max_match_seconds)
    options = matching.MatchOptions(
        min_cqc_rating=request.min_cqc_rating, providers=request.providers,
        time_limit=limit, workers=settings.solver_threads,
    )
    try:
        result = matching.match(district, request.package, options,
                                prepare=guarded_prepare(settings.networks_dir))
    except DocumentError as exc:
        raise DocumentError(stored_paths(exc.errors, district), exc.kind) from exc
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", exclude_none=True)
    return jsonable_encoder(result)
