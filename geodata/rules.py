"""Which OSM ways each travel mode may use, in which direction, and how fast a car goes.

osmnx's `graph_from_xml` keeps every way whatever the mode, so these rules
decide per mode, using osmnx's own network-type filters (`_overpass._get_osm_filter`:
"drive_service", "walk", "bike") as the reference, with UK adjustments:

- drive: any highway a car may use, service roads included (homes sit on
  them) except parking aisles, emergency access and private drives; never
  footway, path, pedestrian, steps, cycleway, bridleway, track; `oneway`,
  `junction=roundabout` and motorways are one-way.
- walk: every walkable way incl. footways, steps and footbridges, in both
  directions; no motorways; cycleways only when `foot` allows (UK shared paths
  usually say so); `foot=no` excluded.
- cycle: between the two: roads (no motorways), cycleways, paths, tracks and
  bridleways (cycling on bridleways is legal in England and Wales), footways
  only with `bicycle=yes|designated|permissive`; `oneway` respected unless
  `oneway:bicycle=no` or a contraflow cycleway.

`access=private|no` removes a way for every mode unless the mode's own tag
(`motor_vehicle`/`motorcar`, `foot`, `bicycle`) permits it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

MODES: tuple[str, ...] = ("drive", "walk", "cycle")

# Typical free-flow car speeds (km/h) in UK towns by highway type, used when a way has no
# usable maxspeed tag. They sit below the legal limits (30 mph = 48 km/h on a residential
# street) because junctions, parking and traffic calming keep average speeds lower; osmnx's
# default imputation would give plain residential streets 48 km/h.
UK_DRIVE_KMH: dict[str, float] = {
    "motorway": 96.0,
    "motorway_link": 64.0,
    "trunk": 80.0,
    "trunk_link": 56.0,
    "primary": 56.0,
    "primary_link": 40.0,
    "secondary": 48.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 32.0,
    "unclassified": 32.0,
    "residential": 28.0,
    "road": 28.0,
    "living_street": 16.0,
    "service": 16.0,
    "busway": 28.0,
}
DEFAULT_DRIVE_KMH = 28.0

# UK implicit limits written as maxspeed values.
_NAMED_MAXSPEED_KMH = {
    "gb:nsl_single": 96.6,  # national speed limit, single carriageway: 60 mph
    "gb:nsl_dual": 112.7,  # 70 mph
    "gb:motorway": 112.7,
    "national": 96.6,
    "uk:nsl_single": 96.6,
    "uk:nsl_dual": 112.7,
    "gb:zone20": 32.2,
    "gb:zone30": 48.3,
    "walk": 6.0,
}
MPH = 1.609344

_DRIVE_HIGHWAYS = frozenset(UK_DRIVE_KMH)
_NEVER = frozenset(
    [
        "abandoned",
        "bus_guideway",
        "construction",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
        "disused",
        "elevator",
        "escalator",
        "corridor",
    ]
)
_WALK_EXTRA = frozenset(
    ["footway", "path", "pedestrian", "steps", "track", "bridleway", "living_street", "service"]
)
_CYCLE_EXTRA = frozenset(["cycleway", "path", "track", "bridleway", "living_street", "service"])
_NO_CAR_SERVICE = frozenset(["emergency_access", "parking_aisle", "private", "driveway"])
_YES = frozenset(["yes", "designated", "permissive", "official", "destination"])
_DENY = frozenset(("no", "private"))
_ONEWAY_FWD = frozenset(("yes", "true", "1"))
_ONEWAY_BWD = frozenset(("-1", "reverse"))


def _first(value: object) -> str:
    """A tag value as a lower-case string; osmnx GraphML may hold "['a', 'b']" lists."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return _first(value[0]) if value else ""
    text = str(value).strip().lower()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].split(",")[0].strip().strip("'\"")
        return inner
    return text.split(";")[0].strip()


def _allowed(tags: Mapping[str, object], own: tuple[str, ...]) -> bool | None:
    """True/False if the mode's own access tags decide, else None."""
    for key in own:
        value = _first(tags.get(key))
        if value in _YES:
            return True
        if value in _DENY:
            return False
    return None


def _access_ok(tags: Mapping[str, object], own: tuple[str, ...]) -> bool:
    decided = _allowed(tags, own)
    if decided is not None:
        return decided
    return _first(tags.get("access")) not in _DENY


def directions(tags: Mapping[str, object]) -> dict[str, tuple[bool, bool]]:
    """Per mode (forward, backward) along the way's node order; absent = not usable."""
    highway = _first(tags.get("highway"))
    if not highway or highway in _NEVER or _first(tags.get("area")) == "yes":
        return {}
    out: dict[str, tuple[bool, bool]] = {}
    oneway = _first(tags.get("oneway"))
    junction = _first(tags.get("junction"))
    implied = junction in ("roundabout", "circular") or highway in ("motorway", "motorway_link")
    fwd_only = oneway in _ONEWAY_FWD or (implied and oneway not in ("no", *_ONEWAY_BWD))
    bwd_only = oneway in _ONEWAY_BWD

    def vehicle_dirs(ignore_oneway: bool) -> tuple[bool, bool]:
        if ignore_oneway:
            return True, True
        return (not bwd_only, not fwd_only)

    service = _first(tags.get("service"))
    if (
        highway in _DRIVE_HIGHWAYS
        and not (highway == "service" and service in _NO_CAR_SERVICE)
        and _access_ok(tags, ("motorcar", "motor_vehicle", "vehicle"))
    ):
        out["drive"] = vehicle_dirs(False)

    motorway = highway.startswith("motorway")
    if not motorway:
        if highway == "cycleway":
            walk_ok = _allowed(tags, ("foot",)) is True
        else:
            walk_ok = (highway in _DRIVE_HIGHWAYS or highway in _WALK_EXTRA) and _access_ok(
                tags, ("foot",)
            )
        if walk_ok and not (highway == "service" and service == "private"):
            out["walk"] = (True, True)

        if highway in ("footway", "pedestrian"):
            cycle_ok = _allowed(tags, ("bicycle",)) is True
        elif highway == "steps":
            cycle_ok = False
        else:
            cycle_ok = (highway in _DRIVE_HIGHWAYS or highway in _CYCLE_EXTRA) and _access_ok(
                tags, ("bicycle", "vehicle")
            )
        if cycle_ok:
            contraflow = _first(tags.get("oneway:bicycle")) == "no" or _first(
                tags.get("cycleway")
            ).startswith("opposite")
            out["cycle"] = vehicle_dirs(contraflow)
    return out


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


def parse_maxspeed(value: object) -> float | None:
    """A maxspeed tag in km/h ("30 mph", "50", "GB:nsl_single"); None if unusable.

    A bare number is km/h, as OSM defines; several values ("30;40") give the lowest.
    """
    text = _first(value) if not isinstance(value, str) else value.strip().lower()
    best: float | None = None
    for part in str(text).split(";"):
        part = part.strip().strip("'\"[]")
        if not part:
            continue
        if part in _NAMED_MAXSPEED_KMH:
            kmh = _NAMED_MAXSPEED_KMH[part]
        else:
            m = _NUMBER.match(part)
            if m is None:
                continue
            kmh = float(m.group(1)) * (MPH if m.group(2) == "mph" else 1.0)
        if kmh > 0:
            best = kmh if best is None else min(best, kmh)
    return best


def drive_kmh(tags: Mapping[str, object]) -> float:
    """Car speed on a way: its maxspeed tag, else the UK table by highway type."""
    tagged = parse_maxspeed(tags.get("maxspeed"))
    if tagged is not None:
        return tagged
    return UK_DRIVE_KMH.get(_first(tags.get("highway")), DEFAULT_DRIVE_KMH)
