"""Make a problem ready for the solver: resolve places, assign localities, build travel.

Places: a location with lat/lon is kept; else its postcode is looked up offline;
else its address is geocoded, only if a geopy geocoder is configured
(`geodata.geocode`: `$CAREROTA_GEOCODER` or `travel.geocoder`).

The one entry point the CLI and API call before `optimiser.compile_problem`, so
the optimiser itself never touches maps, postcodes or polygons. The problem
passed in is never mutated: a new one is returned (pydantic `model_copy`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from geodata.cache import cache_dir
from geodata.geocode import GeocodeError, Geocoder, GeocoderConfig
from geodata.localities import index_from_problem
from geodata.postcodes import PostcodeError, lookup
from optimiser.domain.compiled import problem_points
from optimiser.domain.documents import Carer, Location, Problem
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.travel import DEFAULT_SPEED_KMH, TravelMatrices

log = logging.getLogger(__name__)


def prepare(problem: Problem) -> tuple[Problem, TravelMatrices | None]:
    """Return the problem with places and localities resolved, and OSM travel if asked.

    Travel is None for the haversine and matrix sources: the optimiser builds those
    itself. Every fault (unknown postcode, an address with no geocoder configured,
    bad boundary, missing network file, a location far from any usable way) is
    reported at once as a DocumentError naming its field.
    """
    errors: list[FieldError] = []
    problem = resolve_places(problem, errors)
    problem = assign_localities(problem, errors)
    if errors:
        raise DocumentError(errors)
    if problem.travel.source != "osm":
        return problem, None
    return problem, osm_travel(problem)


def geocoder_for(problem: Problem, errors: list[FieldError]) -> Geocoder:
    """The problem's geocoder: `travel.geocoder` (a geopy service name) over the environment.

    Unconfigured is not an error here; only an address that needs it is.
    """
    service = (problem.travel.model_extra or {}).get("geocoder")
    if service is not None and (not isinstance(service, str) or not service.strip()):
        errors.append(FieldError("travel.geocoder",
                                 "must be a geopy service name, e.g. 'nominatim'"))
        service = None
    return Geocoder(GeocoderConfig.from_env(service), cache_dir())


class _Places:
    """Resolves one problem's locations, collecting errors by field path."""

    def __init__(self, problem: Problem, errors: list[FieldError]) -> None:
        self.problem = problem
        self.errors = errors
        self._geocoder: Geocoder | None = None

    def geocoder(self) -> Geocoder:
        if self._geocoder is None:
            self._geocoder = geocoder_for(self.problem, self.errors)
        return self._geocoder

    def __call__(self, loc: Location | None, path: str) -> Location | None:
        if loc is None or loc.lat is not None:
            return loc
        try:
            if loc.postcode:
                lat, lon = lookup(loc.postcode)
            elif loc.address is not None:
                lat, lon = self.geocoder().locate(loc.address)
            else:
                return loc
        except PostcodeError as exc:
            self.errors.append(FieldError(f"{path}.postcode", str(exc)))
            return loc
        except GeocodeError as exc:
            self.errors.append(FieldError(f"{path}.address", str(exc)))
            return loc
        return loc.model_copy(update={"lat": lat, "lon": lon})


def resolve_places(problem: Problem, errors: list[FieldError]) -> Problem:
    """Give every location without lat/lon its postcode centroid or geocoded address."""
    resolve = _Places(problem, errors)
    resolve.geocoder()  # checks travel.geocoder even when no address needs it
    carers: list[Carer] = []
    for i, carer in enumerate(problem.carers):
        update: dict[str, object] = {"home": resolve(carer.home, f"carers[{i}].home")}
        shifts = []
        for j, shift in enumerate(carer.shifts):
            changes = {
                f"{end}_location": resolve(getattr(shift, f"{end}_location"),
                                           f"carers[{i}].shifts[{j}].{end}_location")
                for end in ("start", "end")
                if getattr(shift, f"{end}_location") is not None
            }
            shifts.append(shift.model_copy(update=changes) if changes else shift)
        update["shifts"] = shifts
        carers.append(carer.model_copy(update=update))
    clients = [
        c.model_copy(update={"location": resolve(c.location, f"clients[{i}].location")})
        for i, c in enumerate(problem.clients)
    ]
    return problem.model_copy(update={"carers": carers, "clients": clients})


def assign_localities(problem: Problem, errors: list[FieldError]) -> Problem:
    """Clients without a locality get the first locality whose boundary covers them."""
    index, bad = index_from_problem(problem.localities)
    errors.extend(bad)
    todo = [i for i, c in enumerate(problem.clients)
            if c.locality is None and c.location.lat is not None]
    if not index.ids or not todo:
        return problem
    points: list[tuple[float, float]] = []
    for i in todo:
        loc = problem.clients[i].location
        assert loc.lat is not None and loc.lon is not None  # a lat comes with its lon
        points.append((loc.lat, loc.lon))
    found = index.locate(points)
    clients = list(problem.clients)
    for i, locality in zip(todo, found, strict=True):
        if locality is None:
            log.info("client %s lies in no locality boundary", clients[i].id)
            continue
        clients[i] = clients[i].model_copy(update={"locality": locality})
    return problem.model_copy(update={"clients": clients})


def osm_travel(problem: Problem) -> TravelMatrices:
    """Network travel over exactly `problem_points(problem)`, per carer mode plus drive.

    `travel.max_snap_m` (an optional extra field, default 500) bounds the straight
    leg from a location to its network. travel.speed_kmh sets walk, cycle and
    public_transport speeds; drive speeds come from the map (maxspeed, UK table).
    """
    # Here, not at module level: scipy's graph and KD-tree modules took half a second
    # of every `carerota solve`, which on the default (haversine) travel never needs them.
    from geodata.matrix import DEFAULT_MAX_SNAP_M, SnapError, network_travel
    from geodata.sources import NetworkFileError, open_network

    travel = problem.travel
    if not travel.path:
        raise DocumentError([FieldError("travel.path", "required when travel.source is 'osm'")])
    try:
        network = open_network(Path(travel.path).expanduser())
    except NetworkFileError as exc:
        raise DocumentError([FieldError("travel.path", str(exc))]) from exc
    extra = travel.model_extra or {}
    max_snap = extra.get("max_snap_m", DEFAULT_MAX_SNAP_M)
    if not isinstance(max_snap, int | float) or max_snap <= 0:
        raise DocumentError([FieldError("travel.max_snap_m", "must be a positive number (metres)")])
    keys, coords, where = problem_points(problem)
    resolved = [c for c in coords if c is not None]
    if len(resolved) < len(coords):  # only when called without resolve_places first
        raise DocumentError([FieldError(where[k], "location not resolved: run geodata.prepare")
                             for k, c in zip(keys, coords, strict=True) if c is None])
    modes = sorted({c.travel_mode for c in problem.carers} | {"drive"})
    speeds = {**DEFAULT_SPEED_KMH, **travel.speed_kmh}
    try:
        minutes, km = network_travel(network, resolved, modes, speeds, float(max_snap), cache_dir())
    except SnapError as exc:
        raise DocumentError([
            FieldError(where[keys[i]], SnapError.describe(mode, exc.limit_m))
            for i, mode, _ in exc.misses
        ]) from exc
    return TravelMatrices(minutes=minutes, km=km)
