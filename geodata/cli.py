"""`carerota geodata ...`: build networks, fetch them, read locality boundaries, export matrices."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli import UserError, friendly, out, read_path, write_json

log = logging.getLogger(__name__)

geo = typer.Typer(
    name="geodata",
    help="Road/path networks, postcodes and locality boundaries for real travel times.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `geodata` sub-commands to the `carerota` app."""
    app.add_typer(geo, name="geodata")


def _modes(text: str) -> list[str]:
    from geodata.rules import MODES

    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UserError(f"--modes: unknown mode(s) {unknown}; use a comma list of {list(MODES)}")
    return sorted({*modes, "drive"})


@geo.command()
@friendly
def build(
    output: Annotated[Path, typer.Option("-o", "--output", help="network file to write (.npz)")],
    osm: Annotated[Path | None, typer.Option("--osm", help="OpenStreetMap XML extract")] = None,
    pbf: Annotated[Path | None, typer.Option("--pbf", help="Geofabrik .osm.pbf (needs pyrosm)")] = None,
    graphml: Annotated[Path | None, typer.Option("--graphml", help="osmnx GraphML")] = None,
    modes: Annotated[str, typer.Option(help="comma list of drive, walk, cycle")] = "drive,walk,cycle",
) -> None:
    """Build the compact per-mode network (.npz) that `travel.path` can name."""
    from geodata.network import save_network
    from geodata.sources import NetworkFileError, build_network, kind_of

    given = [p for p in (osm, pbf, graphml) if p is not None]
    if len(given) != 1:
        raise UserError("give exactly one of --osm, --pbf, --graphml")
    source = read_path(given[0], "network")
    if pbf is not None and kind_of(source) != "pbf":
        raise UserError(f"--pbf expects a .osm.pbf file, got {source.name}")
    if output.suffix != ".npz":
        raise UserError("-o must name a .npz file")
    t0 = time.perf_counter()
    try:
        network = build_network(source, _modes(modes))
    except NetworkFileError as exc:
        raise UserError(str(exc)) from None
    save_network(network, output)
    out.print(f"{output}: {network.size} nodes in {time.perf_counter() - t0:.1f} s")
    for mode, graph in sorted(network.graphs.items()):
        out.print(f"  {mode}: {graph.edges} edges, {graph.nodes.shape[0]} nodes in its largest "
                  "strongly connected component")


@geo.command()
@friendly
def fetch(
    output: Annotated[Path, typer.Option("-o", "--output", help="GraphML file to write")],
    place: Annotated[str | None, typer.Option(help='a place name, e.g. "Ilkley, UK"')] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north in degrees")] = None,
) -> None:
    """Download a network with osmnx (needs internet) and save it as GraphML."""
    if (place is None) == (bbox is None):
        raise UserError("give exactly one of --place or --bbox")
    try:
        import osmnx as ox
    except ImportError:
        raise UserError("fetch needs osmnx: pip install 'carerota[osm]'") from None
    # Keep every tag our per-mode rules read; 'all' keeps footways, cycleways and roads.
    ox.settings.useful_tags_way = sorted({*ox.settings.useful_tags_way, "foot", "bicycle",
                                          "motor_vehicle", "motorcar", "vehicle", "service",
                                          "junction", "area", "oneway:bicycle", "cycleway"})
    try:
        if place is not None:
            graph = ox.graph_from_place(place, network_type="all", simplify=False)
        else:
            try:
                west, south, east, north = (float(x) for x in (bbox or "").split(","))
            except ValueError:
                raise UserError("--bbox must be west,south,east,north numbers") from None
            graph = ox.graph_from_bbox((west, south, east, north), network_type="all",
                                       simplify=False)
    except UserError:
        raise
    except Exception as exc:  # osmnx raises requests/geocoder errors of many kinds
        raise UserError(f"could not download the network (needs internet): {exc}") from None
    ox.save_graphml(graph, output)
    out.print(f"{output}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")


@geo.command()
@friendly
def localities(
    geojson: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection of boundaries")],
    problem: Annotated[Path | None, typer.Argument(help="problem whose clients to assign")] = None,
    id_property: Annotated[str | None, typer.Option(help="feature property holding the id")] = None,
    name_property: Annotated[str, typer.Option(help="feature property holding the name")] = "name",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default stdout)")] = None,
) -> None:
    """Print spec localities from GeoJSON, or add them to a problem and assign its clients."""
    from geodata.localities import read_geojson_localities

    try:
        found = read_geojson_localities(read_path(geojson, "GeoJSON"), id_property, name_property)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if problem is None:
        write_json(found, output)
        return
    doc = assign_from_geojson(read_path(problem, "problem"), found)
    write_json(doc, output)


def assign_from_geojson(problem_path: Path, found: list[dict]) -> dict:
    """The problem document with these localities (replacing same ids) and clients assigned.

    Postcodes and addresses are resolved only to locate clients; the written document keeps them as given.
    """
    from geodata.prepare import assign_localities, resolve_places
    from optimiser.domain.documents import Locality
    from optimiser.domain.errors import DocumentError
    from optimiser.domain.loading import load_problem

    original = load_problem(problem_path)
    new_ids = {f["id"] for f in found}
    merged = [loc for loc in original.localities if loc.id not in new_ids]
    merged += [Locality.model_validate(f) for f in found]
    errors: list = []
    located = assign_localities(
        resolve_places(original.model_copy(update={"localities": merged}), errors), errors)
    if errors:
        raise DocumentError(errors, "problem")
    doc = original.model_dump(mode="json", exclude_unset=True)
    doc["localities"] = [loc.model_dump(mode="json", exclude_unset=True) for loc in merged]
    for entry, client in zip(doc.get("clients", []), located.clients, strict=True):
        if client.locality is not None:
            entry["locality"] = client.locality
    assigned = sum(1 for c in located.clients if c.locality is not None)
    log.info("%d of %d clients have a locality", assigned, len(located.clients))
    return doc


@geo.command()
@friendly
def matrix(
    problem: Annotated[Path, typer.Argument(help="problem JSON")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default stdout)")] = None,
) -> None:
    """Write the problem's travel as an explicit `matrix` source (keys + minutes per mode).

    Freezes OSM travel into the problem's own format, e.g. to share or audit it.
    """
    from api.cli import load_ready

    compiled = load_ready(problem)
    write_json({
        "source": "matrix",
        "keys": list(compiled.point_keys),
        "minutes": {m: mat.tolist() for m, mat in sorted(compiled.travel.minutes.items())},
    }, output)
