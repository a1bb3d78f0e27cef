"""Provider documents: upload (whole or carers as CSV), read, list. Uploads are atomic:
the whole document is checked before anything is written, so a rejected upload changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import examples
from api.carers_csv import parse_carers_csv, render_carers_csv, rows_of, template_csv
from api.db import ProviderRecord, aware, utcnow
from api.deps import PrincipalDep, SessionDep, StateDep
from api.providers import provider_errors, resolved_document
from api.schemas import CarersReplaced, Message, ProviderSummary, Rejected
from optimiser.domain.documents import Provider
from optimiser.domain.errors import DocumentError, FieldError, from_validation_error

router = APIRouter(prefix="/v1", tags=["providers"])
CSV_TYPES = ("text/csv", "text/plain", "application/csv")

ProviderId = Annotated[str, Path(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
    description="the provider's id: letters, digits, '.', '_' or '-', at most 100",
    examples=["wharfe-care"],
)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "no key, or an unknown key"},
    403: {"model": Message, "description": "the key may not act for this provider"},
    422: {"model": Rejected, "description": "every field at fault, with the reason"},
}


def readable(provider_id: ProviderId, who: PrincipalDep) -> str:
    if not who.can_read(provider_id):
        raise HTTPException(403, f"this key may not read provider {provider_id!r}")
    return provider_id


def writable(provider_id: ProviderId, who: PrincipalDep) -> str:
    if not who.can_write(provider_id):
        raise HTTPException(403, f"this key may not change provider {provider_id!r}")
    return provider_id


Readable = Annotated[str, Depends(readable)]
Writable = Annotated[str, Depends(writable)]


def summary(record: ProviderRecord) -> ProviderSummary:
    doc = record.document
    return ProviderSummary(
        id=record.id, name=doc.get("name"), carers=len(doc.get("carers", [])),
        clients=len(doc.get("clients", [])), visits=len(doc.get("visits", [])),
        routes=len(doc.get("rota", {}).get("routes", [])), updated_at=aware(record.updated_at),
    )


def _save(db: Session, provider_id: str, document: dict[str, Any]) -> tuple[ProviderRecord, bool]:
    record = db.get(ProviderRecord, provider_id)
    created = record is None
    if record is None:
        record = ProviderRecord(id=provider_id, document=document, updated_at=utcnow())
        db.add(record)
    else:
        record.document = document
        record.updated_at = utcnow()
    db.commit()
    return record, created


@router.put(
    "/providers/{provider_id}", response_model=ProviderSummary,
    responses={201: {"model": ProviderSummary, "description": "created"}, **ERRORS},
    summary="Upload a provider document (replaces it whole)",
)
def put_provider(
    provider_id: Writable,
    document: Annotated[Provider, Body(openapi_examples={
        "wharfe-care": {"summary": "the spec's example provider and its rota",
                        "value": examples.provider()}})],
    db: SessionDep,
    state: StateDep,
    response: Response,
) -> ProviderSummary:
    """Carers, clients, committed visits and the rota covering them (spec/brokerage.md).

    Checked like a problem (unknown ids, windows ending before they start, overlapping
    shifts, ...) and the rota for unknown carers, shifts and visits; postcodes and addresses
    are resolved now (stored with their lat/lon). 422 lists every error and stores nothing.
    """
    if document.id != provider_id:
        raise DocumentError([FieldError("id", f"{document.id!r} is not the provider id in "
                                              f"the URL ({provider_id!r})")], "provider")
    errors = provider_errors(document, state.settings.max_horizon_days)
    stored, unresolved = resolved_document(document)
    if errors or unresolved:
        raise DocumentError(errors + unresolved, "provider")
    record, created = _save(db, provider_id, stored)
    response.status_code = 201 if created else 200
    return summary(record)


@router.get(
    "/providers/{provider_id}", response_model=Provider,
    responses={**ERRORS, 404: {"model": Message}}, summary="Read a provider document",
)
def get_provider(provider_id: Readable, db: SessionDep) -> JSONResponse:
    """The document as uploaded (after the last carers CSV, if any)."""
    record = db.get(ProviderRecord, provider_id)
    if record is None:
        raise HTTPException(404, f"no provider {provider_id!r}")
    return JSONResponse(record.document)


@router.get("/providers", response_model=list[ProviderSummary], responses=ERRORS,
            summary="List providers (a broker sees all, a provider itself)")
def list_providers(who: PrincipalDep, db: SessionDep) -> list[ProviderSummary]:
    query = select(ProviderRecord).order_by(ProviderRecord.id)
    if who.role != "broker":
        query = query.where(ProviderRecord.id == who.provider_id)
    return [summary(r) for r in db.scalars(query)]


def _replace_carers(document: dict[str, Any], carers: list[Any]) -> tuple[dict[str, Any], int]:
    """The document with new carers; rota routes of carers or shifts now gone are dropped."""
    shifts = {c.id: len(c.shifts) for c in carers}
    routes = document.get("rota", {}).get("routes", [])
    kept = [r for r in routes if r.get("shift_index", 0) < shifts.get(r.get("carer_id"), 0)]
    new = {**document, "carers": [c.model_dump(mode="json", exclude_unset=True) for c in carers]}
    if "rota" in document:
        new["rota"] = {**document["rota"], "routes": kept}
    return new, len(routes) - len(kept)


@router.put(
    "/providers/{provider_id}/carers", response_model=CarersReplaced,
    responses={**ERRORS, 413: {"model": Message}, 415: {"model": Message}},
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
        "schema": {"type": "string"}, "example": template_csv()}}}},
    summary="Replace the provider's carers from a spreadsheet (CSV, one row per shift)",
)
async def put_carers(provider_id: Writable, request: Request, db: SessionDep,
                     state: StateDep) -> CarersReplaced:
    """Columns `id,home_lat,home_lon,travel_mode,skills,gender,shift_start,shift_end`
    (skills `;`-separated), optionally `max_work_minutes_per_day`, `localities`,
    `max_leg_minutes`, `cost_per_hour`, `home_postcode`. Errors name the row (the header
    is row 1) and the column. Creates the provider if it is new. Rota routes of carers
    no longer listed are dropped and counted in the answer.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        raise HTTPException(415, "send the carers as 'Content-Type: text/csv'")
    body = await request.body()
    return await run_in_threadpool(_store_carers, db, provider_id, body,
                                   state.settings.max_horizon_days)


def _store_carers(db: Session, provider_id: str, data: bytes, max_days: int) -> CarersReplaced:
    carers, origin = parse_carers_csv(data)
    record = db.get(ProviderRecord, provider_id)
    current = record.document if record is not None else {"id": provider_id}
    document, dropped = _replace_carers(current, carers)
    try:
        provider = Provider.model_validate(document)
    except ValidationError as exc:  # only if the stored document predates a schema change
        raise DocumentError(from_validation_error(exc), "provider") from exc
    errors = provider_errors(provider, max_days)
    stored, unresolved = resolved_document(provider)
    if errors or unresolved:
        raise DocumentError(rows_of(errors + unresolved, origin), "carers CSV")
    _save(db, provider_id, stored)
    return CarersReplaced(id=provider_id, carers=len(carers),
                          shifts=sum(len(c.shifts) for c in carers), dropped_routes=dropped)


@router.get(
    "/providers/{provider_id}/carers", response_class=PlainTextResponse,
    responses={**ERRORS, 404: {"model": Message},
               200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="The provider's carers as CSV (what PUT .../carers reads back)",
)
def get_carers(provider_id: Readable, db: SessionDep) -> PlainTextResponse:
    record = db.get(ProviderRecord, provider_id)
    if record is None:
        raise HTTPException(404, f"no provider {provider_id!r}")
    carers = Provider.model_validate(record.document).carers
    return PlainTextResponse(render_carers_csv(carers), media_type="text/csv")


@router.get(
    "/templates/carers.csv", response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="A filled-in carers spreadsheet to start from (no key needed)",
)
def carers_template() -> PlainTextResponse:
    return PlainTextResponse(template_csv(), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="carers.csv"'})


