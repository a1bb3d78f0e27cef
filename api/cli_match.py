"""`carerota match` and `carerota generate-district`: package matching on files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import UserError, err, friendly, read_path, write_json

log = logging.getLogger(__name__)

RATINGS = ("outstanding", "good", "requires_improvement", "inadequate", "not_rated")


def _needs_geodata(district: Any, package: Any) -> bool:
    """Whether geodata.prepare must run before compiling: OSM travel, a place given
    only by postcode or address (the district's or the package client's), or a
    client without a locality in a district whose localities have boundaries.
    """
    if district.travel.source == "osm":
        return True
    carers = [c for p in district.providers for c in p.carers]
    clients = [*(c for p in district.providers for c in p.clients), package.client]
    locations = [c.home for c in carers] + [c.location for c in clients]
    locations += [loc for c in carers for s in c.shifts
                  for loc in (s.start_location, s.end_location) if loc is not None]
    if any(loc.lat is None for loc in locations):
        return True
    return any(loc.boundary for loc in district.localities) and any(
        c.locality is None for c in clients)


def match_command(
    district: Annotated[Path, typer.Argument(help="district JSON (spec/brokerage.md)")],
    package: Annotated[Path, typer.Argument(help="package JSON")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the result here")] = None,
    min_cqc_rating: Annotated[str | None, typer.Option(
        "--min-cqc-rating", help="rating floor: outstanding, good, requires_improvement, inadequate")] = None,
    providers: Annotated[str | None, typer.Option(
        "--providers", help="comma-separated provider ids to consider")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="seconds for the whole answer")] = 10.0,
    workers: Annotated[int, typer.Option("--workers", help="providers in parallel; 0 = all cores")] = 0,
) -> None:
    """Rank the district's providers for a new care package (JSON result)."""
    from optimiser.domain.loading import load_district, load_package
    from optimiser.match import MatchOptions, Prepare, match

    if min_cqc_rating is not None and min_cqc_rating not in RATINGS[:-1]:
        raise UserError(f"--min-cqc-rating: unknown rating {min_cqc_rating!r}; use one of "
                        f"{', '.join(RATINGS[:-1])}")
    if time_limit <= 0:
        raise UserError("--time-limit: must be positive")
    if workers < 0:
        raise UserError("--workers: must be 0 (all cores) or more")
    doc = load_district(read_path(district, "district"))
    pkg = load_package(read_path(package, "package"))
    chosen = [p.strip() for p in providers.split(",") if p.strip()] if providers else None
    prepare: Prepare | None = None
    if _needs_geodata(doc, pkg):
        from geodata.prepare import prepare as geodata_prepare

        prepare = geodata_prepare
    options = MatchOptions(min_cqc_rating=min_cqc_rating, providers=chosen,
                           time_limit=time_limit, workers=workers)
    result = match(doc, pkg, options, prepare)
    write_json(result.model_dump(mode="json", exclude_none=True), output)
    feasible = [pl.provider_id for pl in result.placements if pl.feasible]
    err.print(f"{len(result.placements)} provider(s) considered, {len(feasible)} can take the "
              f"whole package{': ' + ', '.join(feasible[:5]) if feasible else ''} "
              f"({result.solve_seconds:.1f}s)", highlight=False)
    if result.split is not None:
        err.print("split: " + " + ".join(s.provider_id for s in result.split.shares), highlight=False)
    for text in result.suggestions:
        err.print(f"suggestion: {text}", highlight=False, markup=False)


def generate_district_command(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the district here")] = None,
    providers: Annotated[int, typer.Option("--providers", min=1)] = 5,
    carers: Annotated[int, typer.Option("--carers", min=1, help="per provider")] = 15,
    clients: Annotated[int, typer.Option("--clients", min=1, help="per provider")] = 20,
    days: Annotated[int, typer.Option("--days", min=1, max=62)] = 7,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """A generated district: providers with committed rotas built by the rota engine."""
    from optimiser.district import DistrictOptions, generate_district

    doc = generate_district(DistrictOptions(providers=providers, carers=carers, clients=clients,
                                            days=days, seed=seed))
    write_json(doc.model_dump(mode="json", exclude_none=True), output)


def register(app: typer.Typer) -> None:
    """Add the matching commands to the `carerota` app."""
    app.command("match")(friendly(match_command))
    app.command("generate-district")(friendly(generate_district_command))
