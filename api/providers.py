"""Checks on a provider document, and the district built from stored providers.

A provider document (spec/brokerage.md) is a problem without a horizon plus the
rota it delivers. Its meaning is checked the way a problem's is: the provider
is wrapped in a problem spanning all its datetimes and handed to
`optimiser.domain.loading.problem_errors`, so the API and the CLI reject the
same mistakes with the same field paths. The rota is checked for ids that do
not exist; whether it keeps every rule is `POST /v1/validate`'s job.

Places are resolved at upload (`geodata.prepare.resolve_places`: postcodes
offline, addresses through the operator's geocoder), so a postcode that does
not exist is a 422 naming its field now rather than a failed match later. The
stored document keeps what the provider sent and gains the resolved `lat`/`lon`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.limits import problem_limits
from geodata.prepare import resolve_places
from optimiser.domain.documents import District, Horizon, Locality, Problem, Provider
from optimiser.domain.errors import FieldError
from optimiser.domain.loading import check_mixed_datetimes, problem_errors, route_errors


def _stamps(provider: Provider) -> list[datetime]:
    stamps = [t for c in provider.carers for s in c.shifts for t in (s.start, s.end)]
    for v in provider.visits:
        stamps += [v.earliest_start, v.latest_start]
        if v.preferred_start is not None:
            stamps.append(v.preferred_start)
    return stamps


def _locality_ids(provider: Provider) -> list[str]:
    """The localities carers and clients may name: the provider's own list when it has one."""
    if provider.localities:
        return list(dict.fromkeys(provider.localities))
    named = [loc for c in provider.carers for loc in c.localities]
    named += [c.locality for c in provider.clients if c.locality is not None]
    return list(dict.fromkeys(named))


def as_problem(provider: Provider) -> Problem:
    """The provider's carers, clients and visits as a problem over their own time span.

    Call only on a provider without mixed naive/aware datetimes (they cannot be ordered).
    """
    stamps = _stamps(provider)
    start, end = (min(stamps), max(stamps)) if stamps else (datetime(2000, 1, 1),) * 2
    return Problem.model_construct(
        id=provider.id,
        horizon=Horizon.model_construct(start=start, end=end),
        localities=[Locality.model_construct(id=x) for x in _locality_ids(provider)],
        carers=provider.carers,
        clients=provider.clients,
        visits=provider.visits,
    )


def provider_errors(provider: Provider, max_days: int = 62) -> list[FieldError]:
    """Every semantic error of a schema-valid provider document, with its field path.

    `max_days` bounds the time the document spans (see `api.limits`).
    """
    errors: list[FieldError] = []
    check_mixed_datetimes(provider, errors)
    if errors:
        return errors
    problem = as_problem(provider)
    # The horizon is made up to span the document, so its own checks say nothing useful.
    errors = [e for e in problem_errors(problem) if not e.path.startswith("horizon")]
    if not errors:
        errors = [FieldError("" if e.path.startswith("horizon") else e.path, e.message)
                  for e in problem_limits(problem, max_days)]
    errors += _rota_errors(provider)
    return errors


def resolved_document(provider: Provider) -> tuple[dict[str, Any], list[FieldError]]:
    """The document to store, with lat/lon for places given by postcode or address.

    Returns the errors of places that cannot be resolved (unknown postcode, an
    address with no geocoder configured or not found), with the provider
    document's field paths; the caller stores nothing when there are any.
    """
    errors: list[FieldError] = []
    places = Problem.model_construct(carers=provider.carers, clients=provider.clients)  # type: ignore[call-arg]
    resolved = resolve_places(places, errors)
    document = stored_document(provider)
    if errors:
        return document, errors

    def fill(target: dict[str, Any], before: Any, after: Any) -> None:
        if before is not None and before.lat is None and after.lat is not None:
            target.update(lat=after.lat, lon=after.lon)

    for i, (old, new) in enumerate(zip(provider.carers, resolved.carers, strict=True)):
        carer = document["carers"][i]
        fill(carer["home"], old.home, new.home)
        for j, (s_old, s_new) in enumerate(zip(old.shifts, new.shifts, strict=True)):
            for end in ("start_location", "end_location"):
                fill(carer["shifts"][j].get(end) or {}, getattr(s_old, end), getattr(s_new, end))
    for i, (c_old, c_new) in enumerate(zip(provider.clients, resolved.clients, strict=True)):
        fill(document["clients"][i]["location"], c_old.location, c_new.location)
    return document, []


def _rota_errors(provider: Provider) -> list[FieldError]:
    routes = provider.rota.routes
    carers = {c.id: c for c in provider.carers}
    visit_ids = {v.id for v in provider.visits}
    errors = route_errors(routes, set(carers), "rota.routes")
    for i, route in enumerate(routes):
        carer = carers.get(route.carer_id)
        if carer is not None and route.shift_index >= len(carer.shifts):
            errors.append(FieldError(
                f"rota.routes[{i}].shift_index",
                f"carer {route.carer_id!r} has {len(carer.shifts)} shift(s)",
            ))
        for k, stop in enumerate(route.stops):
            where = f"rota.routes[{i}].stops[{k}]"
            if stop.visit_id not in visit_ids:
                errors.append(FieldError(f"{where}.visit_id", f"unknown visit {stop.visit_id!r}"))
            if stop.end < stop.start:
                errors.append(FieldError(f"{where}.end", "stop ends before it starts"))
    return errors


def stored_document(provider: Provider) -> dict[str, Any]:
    """The JSON kept in the database: what the client sent, explicit nulls included.

    `exclude_unset` (not `exclude_none`) because a shift's `start_location: null`
    means something different from an absent one (travel not counted).
    """
    return provider.model_dump(mode="json", exclude_unset=True)


def build_district(documents: list[dict[str, Any]], district_id: str = "district") -> District:
    """The district of stored providers, as `optimiser.match` takes it."""
    return District(id=district_id, providers=[Provider.model_validate(d) for d in documents])
