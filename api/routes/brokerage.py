"""Package matching for a council's brokerage team, over the stored providers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from sqlalchemy import select

from api import examples
from api.db import ProviderRecord
from api.deps import BrokerDep, SessionDep, StateDep
from api.limits import package_limits
from api.matching import MatcherUnavailable, match_package
from api.providers import build_district
from api.routes.providers import ERRORS
from api.schemas import MatchRequest, Message
from optimiser.domain.errors import DocumentError, FieldError

router = APIRouter(prefix="/v1", tags=["brokerage"])


@router.post(
    "/match",
    responses={**ERRORS, 413: {"model": Message},
               501: {"model": Message, "description": "matching is not installed"}},
    summary="Rank the providers that can take a new care package",
)
def match(
    body: Annotated[MatchRequest, Body(openapi_examples={
        "discharge": {"summary": "a double-handed breakfast call every day",
                      "value": {"package": examples.package(), "min_cqc_rating": "good",
                                "time_limit_seconds": 20}}})],
    who: BrokerDep,
    state: StateDep,
    db: SessionDep,
) -> Any:
    """The match result of spec/brokerage.md: a placement per provider considered, ranked
    feasible first, then contract tier, then score; a two-provider split when nobody
    covers the whole package.
    """
    del who
    query = select(ProviderRecord).order_by(ProviderRecord.id)
    if body.providers is not None:
        query = query.where(ProviderRecord.id.in_(body.providers))
    records = list(db.scalars(query))
    found = {r.id for r in records}
    unknown = [FieldError(f"providers[{i}]", f"unknown provider {p!r}")
               for i, p in enumerate(body.providers or []) if p not in found]
    errors = unknown + package_limits(body.package)
    if errors:
        raise DocumentError(errors, "match request")
    district = build_district([r.document for r in records])
    try:
        return match_package(district, body, state.settings)
    except MatcherUnavailable as exc:
        raise HTTPException(501, str(exc)) from exc
