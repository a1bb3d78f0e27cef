"""Travel matrices the solver reads: integer minutes per mode, indexed by point.

Only the two sources that need no map live here (the spec's haversine formula
and an explicit matrix); road and footpath networks are built by `geodata`
and arrive as the same `TravelMatrices`, so the solver never sees a map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

EARTH_RADIUS_KM = 6371.0088
DEFAULT_CIRCUITY: dict[str, float] = {"drive": 1.35, "walk": 1.2, "cycle": 1.25, "public_transport": 1.4}
DEFAULT_SPEED_KMH: dict[str, float] = {"drive": 30, "walk": 4.5, "cycle": 14, "public_transport": 12}


@dataclass(frozen=True)
class TravelMatrices:
    """Travel between the problem's points.

    minutes: mode -> (n, n) int32 minutes; a missing mode falls back to drive.
    km: (n, n) float64 kilometres, used only for the reported `travel_km`.
    """

    minutes: Mapping[str, np.ndarray]
    km: np.ndarray

    def for_mode(self, mode: str) -> np.ndarray:
        return self.minutes.get(mode, self.minutes["drive"])

    @cached_property
    def rows(self) -> dict[str, list[list[int]]]:
        """Each mode's minutes as nested lists, which the insertion loops index several times
        faster than an array. Built once a problem: every `Builder` used to convert them,
        25 ms each at 1,000 points, which a 0.5 s solve spent 0.1 s on."""
        return {m: mat.tolist() for m, mat in self.minutes.items()}

    def __getstate__(self) -> dict[str, object]:
        # Rebuilt where needed: nested lists pickle far slower than arrays (spawned searches).
        return {k: v for k, v in self.__dict__.items() if k != "rows"}


def haversine_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """All-pairs great-circle kilometres (radius 6371.0088 km, as the spec fixes)."""
    phi = np.radians(lat)[:, None]
    phj = np.radians(lat)[None, :]
    dphi = phj - phi
    dlmb = np.radians(lon)[None, :] - np.radians(lon)[:, None]
    a = np.sin(dphi / 2) ** 2 + np.cos(phi) * np.cos(phj) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def haversine_travel(
    coords: Sequence[tuple[float, float]],
    modes: Sequence[str],
    circuity: Mapping[str, float] | None = None,
    speed_kmh: Mapping[str, float] | None = None,
) -> TravelMatrices:
    """minutes = ceil(km * circuity[mode] / speed_kmh[mode] * 60); 0 for the same point."""
    circ = {**DEFAULT_CIRCUITY, **(circuity or {})}
    speed = {**DEFAULT_SPEED_KMH, **(speed_kmh or {})}
    arr = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    km = haversine_km(arr[:, 0], arr[:, 1])
    same = km == 0.0
    minutes = {}
    for mode in {*modes, "drive"}:
        # Rounding to 9 decimals first keeps ceil() from turning 4.0000000001 into 5.
        raw = np.round(km * circ[mode] / speed[mode] * 60.0, 9)
        mat = np.ceil(raw).astype(np.int32)
        mat[same] = 0
        minutes[mode] = mat
    return TravelMatrices(minutes=minutes, km=km * circ["drive"])


def matrix_travel(
    keys: Sequence[str],
    minutes: Mapping[str, Sequence[Sequence[int]]],
    point_keys: Sequence[str],
    coords: Sequence[tuple[float, float]],
) -> TravelMatrices:
    """Select the problem's points out of an explicit matrix (keys 'home:<id>', 'client:<id>')."""
    index = {k: i for i, k in enumerate(keys)}
    rows = np.array([index[k] for k in point_keys], dtype=np.int64)
    out = {
        mode: np.asarray(mat, dtype=np.int32)[np.ix_(rows, rows)] for mode, mat in minutes.items()
    }
    arr = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    km = haversine_km(arr[:, 0], arr[:, 1])
    return TravelMatrices(minutes=out, km=km)
