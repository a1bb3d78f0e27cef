"""Many-to-many travel minutes over a network: KD-tree snapping plus csgraph Dijkstra.

Each point snaps to the nearest node of the mode's largest strongly connected
component (a KD-tree on coordinates projected to metres) and pays the straight
leg to it at `CONNECTOR_KMH` (drive) or the mode's own speed. The leg is
measured with geopy's WGS84 geodesic: one call per point, ~0.1 ms each, so it
adds well under a second even at 2,000 points, unlike the network's ~10^5
edges (vectorised haversine in `geodata.network`, which a per-pair geodesic
would slow by seconds). Routes come from
`scipy.sparse.csgraph.dijkstra` over the CSR, run from the distinct snapped
nodes in chunks so memory stays at chunk x nodes, not points x nodes.

Drive routes minimise time; to report their kilometres without a second
search, each edge weight packs both as integers: deciseconds * 2**30 +
decimetres. Sums stay below 2**53, so float64 Dijkstra adds them exactly,
ranks by time first (length breaks ties), and the total unpacks into the
route's time and length.

minutes = ceil(seconds / 60); 0 on the diagonal and between identical points.
Results are cached on disk keyed by network hash, mode, speed and point set.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from geopy.distance import geodesic
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geodata.network import Network
from optimiser.travel import EARTH_RADIUS_KM

log = logging.getLogger(__name__)

MATRIX_VERSION = "2"  # 2: geodesic snap legs
CONNECTOR_KMH = 20.0  # car on the straight leg between a door and the road network
DEFAULT_MAX_SNAP_M = 500.0
CHUNK_BYTES = 64 << 20  # Dijkstra rows per chunk: bounds peak memory, not speed
_PACK = float(2**30)
_WORD = {"drive": "drivable", "walk": "walkable", "cycle": "cyclable"}


class SnapError(ValueError):
    """Points too far from a mode's network: (point index, mode, metres) each."""

    def __init__(self, misses: list[tuple[int, str, float]], limit_m: float) -> None:
        self.misses = misses
        self.limit_m = limit_m
        super().__init__(f"{len(misses)} point(s) further than {limit_m:.0f} m from the network")

    @staticmethod
    def describe(mode: str, limit_m: float) -> str:
        return f"no {_WORD.get(mode, mode)} way within {limit_m:.0f} m"


@dataclass(frozen=True)
class ModeResult:
    """One mode's matrices over the points: minutes (int32) and route km (float64)."""

    minutes: np.ndarray
    km: np.ndarray


def project_m(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular metres about lat0: within 0.1% over a town or city, ample for snapping."""
    r = EARTH_RADIUS_KM * 1000.0
    x = np.radians(lon) * r * math.cos(math.radians(lat0))
    y = np.radians(lat) * r
    return np.column_stack([x, y])


def geodesic_m(lat: np.ndarray, lon: np.ndarray, lat2: np.ndarray,
               lon2: np.ndarray) -> np.ndarray:
    """WGS84 geodesic metres between paired points (geopy, Karney's algorithm)."""
    measure = geodesic().measure
    memo: dict[tuple[float, float, float, float], float] = {}
    out = np.empty(lat.shape[0], dtype=np.float64)
    for k, pair in enumerate(zip(lat.tolist(), lon.tolist(), lat2.tolist(), lon2.tolist(),
                                 strict=True)):
        if pair not in memo:  # shift locations often repeat a home
            memo[pair] = measure(pair[:2], pair[2:]) * 1000.0
        out[k] = memo[pair]
    return out


def snap(network: Network, mode: str, coords: np.ndarray,
         max_snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(node index, straight-leg metres) per point; SnapError lists points too far away."""
    graph = network.graphs.get(mode)
    if graph is None or graph.nodes.shape[0] == 0:
        raise SnapError([(i, mode, math.inf) for i in range(coords.shape[0])], max_snap_m)
    lat0 = float(np.mean(network.lat[graph.nodes]))
    tree = cKDTree(project_m(network.lat[graph.nodes], network.lon[graph.nodes], lat0))
    _, near = tree.query(project_m(coords[:, 0], coords[:, 1], lat0))
    nodes = graph.nodes[near]
    leg = geodesic_m(coords[:, 0], coords[:, 1], network.lat[nodes], network.lon[nodes])
    far = np.flatnonzero(leg > max_snap_m)
    if far.shape[0]:
        raise SnapError([(int(i), mode, float(leg[i])) for i in far], max_snap_m)
    return nodes.astype(np.int64), leg


def _weights(network: Network, mode: str) -> tuple[csr_matrix, bool]:
    """The CSR Dijkstra runs on, and whether its weights are packed (time, length)."""
    g = network.graphs[mode]
    n = network.size
    if g.time_s is not None:
        ds = np.round(g.time_s * 10.0)
        dm = np.maximum(np.round(g.length_m * 10.0), 1.0)
        data = ds * _PACK + dm
        packed = True
    else:
        data = np.maximum(g.length_m, 1e-3)  # csgraph may read explicit zeros as no edge
        packed = False
    return csr_matrix((data, g.indices, g.indptr), shape=(n, n)), packed


def route_matrix(network: Network, mode: str, sources: np.ndarray,
                 targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Network (seconds or metres, metres|None) between distinct source and target nodes."""
    csr, packed = _weights(network, mode)
    rows_per_chunk = max(1, CHUNK_BYTES // (8 * max(network.size, 1)))
    out = np.empty((sources.shape[0], targets.shape[0]), dtype=np.float64)
    for start in range(0, sources.shape[0], rows_per_chunk):
        chunk = sources[start : start + rows_per_chunk]
        dist = dijkstra(csr, directed=True, indices=chunk)
        out[start : start + chunk.shape[0]] = dist[:, targets]
    if np.isinf(out).any():  # cannot happen inside one strongly connected component
        raise RuntimeError(f"{mode}: unreachable pair inside the largest component")
    if not packed:
        return out, None
    ds = np.floor(out / _PACK)
    dm = out - ds * _PACK
    return ds / 10.0, dm / 10.0


def mode_matrix(network: Network, mode: str, coords: np.ndarray, speed_kmh: float,
                max_snap_m: float) -> ModeResult:
    """Door-to-door minutes and km between all points in one mode."""
    nodes, leg_m = snap(network, mode, coords, max_snap_m)
    uniq, inverse = np.unique(nodes, return_inverse=True)
    net, net_len = route_matrix(network, mode, uniq, uniq)
    net = net[np.ix_(inverse, inverse)]
    leg_speed = CONNECTOR_KMH if mode == "drive" else speed_kmh
    leg_s = leg_m / (leg_speed / 3.6)
    if net_len is None:  # lengths: seconds follow from the mode's speed
        length = net
        seconds = net / (speed_kmh / 3.6) + leg_s[:, None] + leg_s[None, :]
    else:
        length = net_len[np.ix_(inverse, inverse)]
        seconds = net + leg_s[:, None] + leg_s[None, :]
    km = (length + leg_m[:, None] + leg_m[None, :]) / 1000.0
    minutes = np.ceil(np.round(seconds / 60.0, 9)).astype(np.int32)
    same = (coords[:, None, 0] == coords[None, :, 0]) & (coords[:, None, 1] == coords[None, :, 1])
    minutes[same] = 0
    km[same] = 0.0
    return ModeResult(minutes, km)


def _cache_key(network: Network, mode: str, coords: np.ndarray, speed_kmh: float,
               max_snap_m: float) -> str:
    digest = hashlib.sha256()
    digest.update(f"{MATRIX_VERSION}|{network.key}|{mode}|{speed_kmh!r}|{max_snap_m!r}|".encode())
    digest.update(np.ascontiguousarray(coords, dtype=np.float64).tobytes())
    return digest.hexdigest()


def cached_mode_matrix(network: Network, mode: str, coords: np.ndarray, speed_kmh: float,
                       max_snap_m: float, cache: Path | None) -> ModeResult:
    """`mode_matrix` through the disk cache (a cache that cannot be written is skipped)."""
    if cache is None:
        return mode_matrix(network, mode, coords, speed_kmh, max_snap_m)
    path = cache / f"matrix-{_cache_key(network, mode, coords, speed_kmh, max_snap_m)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                log.debug("matrix cache hit %s", path.name)
                return ModeResult(data["minutes"], data["km"])
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable cached matrix %s", path)
    result = mode_matrix(network, mode, coords, speed_kmh, max_snap_m)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, minutes=result.minutes, km=result.km)
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache the matrix in %s: %s", cache, exc)
    return result


def network_travel(network: Network, coords: Sequence[tuple[float, float]], modes: Sequence[str],
                   speed_kmh: Mapping[str, float], max_snap_m: float = DEFAULT_MAX_SNAP_M,
                   cache: Path | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Minutes per mode (drive always) and drive km between all points.

    public_transport is approximated until GTFS support: the faster of walking
    and riding the fastest drive route's kilometres at speed_kmh['public_transport']
    (12 km/h by default, an average that includes waiting). SnapError collects
    every point too far from a network, over all modes.
    """
    arr = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    wanted = {*modes, "drive"}
    graph_modes = sorted((wanted - {"public_transport"}) | ({"walk"} if "public_transport" in wanted
                                                             else set()))
    results: dict[str, ModeResult] = {}
    misses: list[tuple[int, str, float]] = []
    for mode in graph_modes:
        try:
            results[mode] = cached_mode_matrix(network, mode, arr, speed_kmh[mode], max_snap_m,
                                               cache)
        except SnapError as exc:
            misses.extend(exc.misses)
    if misses:
        raise SnapError(misses, max_snap_m)
    minutes = {m: r.minutes for m, r in results.items() if m in wanted}
    if "public_transport" in wanted:
        ride = np.ceil(np.round(results["drive"].km / speed_kmh["public_transport"] * 60.0, 9))
        minutes["public_transport"] = np.minimum(results["walk"].minutes, ride.astype(np.int32))
    return minutes, results["drive"].km
