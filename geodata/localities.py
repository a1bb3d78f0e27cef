"""Locality boundaries (GeoJSON) and point-in-polygon assignment of clients.

Boundaries are shapely geometries in an STRtree, so assigning thousands of
clients costs one bulk query. A point on a shared border belongs to the first
locality in document order that covers it, so the answer never depends on
the tree's internal order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from optimiser.domain.errors import FieldError

POLYGONAL = ("Polygon", "MultiPolygon")


def boundary_shape(geojson: dict[str, Any]) -> BaseGeometry:
    """A Polygon/MultiPolygon (or a Feature holding one) as shapely; ValueError why not."""
    geometry = geojson.get("geometry") if geojson.get("type") == "Feature" else geojson
    if not isinstance(geometry, dict) or geometry.get("type") not in POLYGONAL:
        raise ValueError("boundary must be a GeoJSON Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"boundary is not valid GeoJSON: {exc}") from exc
    if geom.is_empty:
        raise ValueError("boundary is empty")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


class LocalityIndex:
    """Locality ids and boundaries; `locate` finds the locality of (lat, lon) points."""

    def __init__(self, ids: Sequence[str], shapes: Sequence[BaseGeometry]) -> None:
        self.ids = list(ids)
        self.tree = shapely.STRtree(list(shapes))

    def locate(self, coords: Sequence[tuple[float, float]]) -> list[str | None]:
        """The first covering locality id per point (GeoJSON is lon, lat), else None."""
        if not coords or not self.ids:
            return [None] * len(coords)
        arr = np.asarray(coords, dtype=np.float64)
        points = shapely.points(arr[:, 1], arr[:, 0])
        hits = self.tree.query(points, predicate="covered_by")
        best = np.full(len(coords), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, hits[0], hits[1])
        return [self.ids[b] if b < len(self.ids) else None for b in best]


def index_from_problem(localities: Sequence[Any]) -> tuple[LocalityIndex, list[FieldError]]:
    """The index of a problem's `localities[]` that have a boundary, and errors for bad ones."""
    ids, shapes, errors = [], [], []
    for i, loc in enumerate(localities):
        if loc.boundary is None:
            continue
        try:
            shapes.append(boundary_shape(loc.boundary))
            ids.append(loc.id)
        except ValueError as exc:
            errors.append(FieldError(f"localities[{i}].boundary", str(exc)))
    return LocalityIndex(ids, shapes), errors


ID_PROPERTIES = ("id", "code", "ref", "name")


def read_geojson_localities(path: Path, id_property: str | None = None,
                            name_property: str = "name") -> list[dict[str, Any]]:
    """Spec localities `[{id, name, boundary}]` from a GeoJSON FeatureCollection or Feature.

    The id is `id_property` of each feature's properties, else the feature id,
    else the first of id/code/ref/name; ValueError names the feature at fault.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path} as GeoJSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a GeoJSON object")
    features = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    if not isinstance(features, list):
        raise ValueError(f"{path}: 'features' must be a list")
    out: list[dict[str, Any]] = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        props = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if feature is doc and doc.get("type") in POLYGONAL:
            geometry = doc
        try:
            boundary_shape(geometry if isinstance(geometry, dict) else {})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        keys = (id_property,) if id_property else ID_PROPERTIES
        ident = next((props[k] for k in keys if props.get(k) not in (None, "")), None)
        if ident is None and not id_property and isinstance(feature, dict):
            ident = feature.get("id")
        if ident is None:
            raise ValueError(f"{where}: no {id_property or 'id/code/ref/name'} property")
        entry: dict[str, Any] = {"id": str(ident), "boundary": geometry}
        if props.get(name_property) not in (None, ""):
            entry["name"] = str(props[name_property])
        out.append(entry)
    ids = [e["id"] for e in out]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ValueError(f"{path}: duplicate locality ids {dup}")
    return out
