"""A road/path network per travel mode as compact arrays, and its .npz file.

One node table (OSM id, lat, lon) is shared; each mode has its own directed
CSR graph (edges sorted by tail) restricted to its largest strongly connected
component, so every pair of snapped points has a route. Edges carry length in
metres and, for drive, seconds at the way's car speed (walk and cycle times
follow from length and the problem's speeds at matrix time).

Parallel edges (two ways between the same nodes, or an osmnx MultiDiGraph's
keys) keep the MINIMUM: building a scipy sparse matrix from COO would sum
them, which is what networkx's conversion does and is silently wrong.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geodata.rules import MODES, directions, drive_kmh
from optimiser.travel import EARTH_RADIUS_KM

log = logging.getLogger(__name__)

NETWORK_FORMAT = "carerota-network/1"
# Bump when the way rules or speeds change, so cached networks and matrices are rebuilt.
BUILD_VERSION = "1"


@dataclass(frozen=True)
class ModeGraph:
    """One mode's directed graph in CSR form over the network's node table."""

    indptr: np.ndarray  # int64 (n + 1)
    indices: np.ndarray  # int32 heads of the edges, sorted by tail
    length_m: np.ndarray  # float64 per edge
    time_s: np.ndarray | None  # float64 per edge (drive only)
    nodes: np.ndarray  # int32 node indices in this mode's component (snap targets)

    @property
    def edges(self) -> int:
        return int(self.indices.shape[0])

    def tails(self) -> np.ndarray:
        """The tail node of every edge (expanded from indptr)."""
        return np.repeat(np.arange(self.indptr.shape[0] - 1, dtype=np.int32), np.diff(self.indptr))


@dataclass(frozen=True)
class Network:
    """Nodes and per-mode graphs built from one source file (identified by its hash)."""

    source_hash: str
    node_id: np.ndarray  # int64 OSM ids
    lat: np.ndarray
    lon: np.ndarray
    graphs: Mapping[str, ModeGraph] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identifies the network in matrix cache keys."""
        return f"{self.source_hash}-{BUILD_VERSION}"

    @property
    def size(self) -> int:
        return int(self.node_id.shape[0])


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (streamed; networks may be hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray,
                lon2: np.ndarray) -> np.ndarray:
    """Great-circle metres, element-wise (the spec's earth radius)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * 1000.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def segment_lengths_m(lat: np.ndarray, lon: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Great-circle metres of each edge u -> v."""
    return haversine_m(lat[u], lon[u], lat[v], lon[v])


def mode_graph(n: int, u: np.ndarray, v: np.ndarray, length_m: np.ndarray,
               time_s: np.ndarray | None) -> ModeGraph:
    """One mode's CSR: no self-loops, the minimum of parallel edges, the largest SCC only."""
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    # float32 precision, as stored in the .npz, so a fresh and a reloaded network agree exactly.
    length_m = np.asarray(length_m, dtype=np.float32).astype(np.float64)
    cost = length_m if time_s is None else np.asarray(time_s, dtype=np.float32).astype(np.float64)
    keep = u != v
    u, v, length_m, cost = u[keep], v[keep], length_m[keep], cost[keep]
    # Sort by (tail, head, cost, length) so the first of each (tail, head) run is the minimum.
    order = np.lexsort((length_m, cost, v, u))
    u, v, length_m, cost = u[order], v[order], length_m[order], cost[order]
    first = np.ones(u.shape[0], dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, length_m, cost = u[first], v[first], length_m[first], cost[first]
    if u.shape[0]:
        adj = csr_matrix((np.ones(u.shape[0]), (u, v)), shape=(n, n))
        _, labels = connected_components(adj, directed=True, connection="strong")
        used = np.zeros(n, dtype=bool)
        used[u] = True
        used[v] = True
        counts = np.bincount(labels[used], minlength=int(labels.max()) + 1)
        big = labels == int(np.argmax(counts))
        inside = big[u] & big[v]
        u, v, length_m, cost = u[inside], v[inside], length_m[inside], cost[inside]
        nodes = np.flatnonzero(big & used).astype(np.int32)
    else:
        nodes = np.zeros(0, dtype=np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return ModeGraph(
        indptr=indptr,
        indices=v.astype(np.int32),
        length_m=length_m,
        time_s=None if time_s is None else cost,
        nodes=nodes,
    )


def build_from_ways(
    node_ids: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    ways: Iterable[tuple[Sequence[int], Mapping[str, object]]],
    source_hash: str,
    modes: Sequence[str] = MODES,
) -> Network:
    """Build per-mode graphs from OSM ways (node id lists + tags) via `geodata.rules`.

    Ways referring to nodes absent from the extract (cut at its edge) keep
    only their segments whose both ends are present.
    """
    node_ids = np.asarray(node_ids, dtype=np.int64)
    order = np.argsort(node_ids, kind="stable")
    sorted_ids = node_ids[order]
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {m: [] for m in modes}
    for refs, tags in ways:
        dirs = directions(tags)
        wanted = [m for m in modes if m in dirs]
        if not wanted or len(refs) < 2:
            continue
        ids = np.asarray(refs, dtype=np.int64)
        pos = np.searchsorted(sorted_ids, ids)
        pos[pos >= sorted_ids.shape[0]] = 0
        present = sorted_ids[pos] == ids
        idx = order[pos]
        ok = present[:-1] & present[1:]
        a, b = idx[:-1][ok], idx[1:][ok]
        if a.shape[0] == 0:
            continue
        speed = drive_kmh(tags) if "drive" in wanted else 0.0
        for m in wanted:
            fwd, bwd = dirs[m]
            if fwd:
                parts[m].append((a, b, speed))
            if bwd:
                parts[m].append((b, a, speed))
    return _assemble(node_ids, lat, lon, parts, source_hash)


def build_from_edges(
    node_ids: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    edges: Iterable[tuple[int, int, Mapping[str, object]]],
    source_hash: str,
    modes: Sequence[str] = MODES,
) -> Network:
    """Build from a directed edge list whose stored directions are those vehicles may use.

    That is how osmnx saves a graph (GraphML): a one-way street is one edge,
    a two-way street two. Walkers ignore one-way, so walk also gets the reverse;
    cycle gets it on contraflow ways.
    """
    node_ids = np.asarray(node_ids, dtype=np.int64)
    index = {int(k): i for i, k in enumerate(node_ids)}
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {m: [] for m in modes}
    for u, v, tags in edges:
        dirs = directions({**tags, "oneway": "yes"})
        a = np.array([index[int(u)]], dtype=np.int64)
        b = np.array([index[int(v)]], dtype=np.int64)
        speed = drive_kmh(tags)
        for m in modes:
            if m not in dirs:
                continue
            parts[m].append((a, b, speed))
            if m == "walk" or (m == "cycle" and dirs[m][1]):
                parts[m].append((b, a, speed))
    return _assemble(node_ids, lat, lon, parts, source_hash)


def _assemble(node_ids: np.ndarray, lat: np.ndarray, lon: np.ndarray,
              parts: Mapping[str, list[tuple[np.ndarray, np.ndarray, float]]],
              source_hash: str) -> Network:
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    n = node_ids.shape[0]
    graphs: dict[str, ModeGraph] = {}
    for mode, chunks in parts.items():
        if not chunks:
            u = v = np.zeros(0, dtype=np.int64)
            speeds = np.zeros(0)
        else:
            u = np.concatenate([c[0] for c in chunks])
            v = np.concatenate([c[1] for c in chunks])
            speeds = np.concatenate([np.full(c[0].shape[0], c[2]) for c in chunks])
        length = segment_lengths_m(lat, lon, u, v)
        time_s = length / (speeds / 3.6) if mode == "drive" else None
        graphs[mode] = mode_graph(n, u, v, length, time_s)
        log.info("%s graph: %d edges, %d nodes in its largest component", mode,
                 graphs[mode].edges, graphs[mode].nodes.shape[0])
    return Network(source_hash, node_ids, lat, lon, graphs)


def save_network(network: Network, path: Path) -> None:
    """Write the compact .npz (node ids, coordinates, per-mode CSR, source hash)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(NETWORK_FORMAT),
        "source_hash": np.array(network.source_hash),
        "build_version": np.array(BUILD_VERSION),
        "modes": np.array(sorted(network.graphs)),
        "node_id": network.node_id,
        "lat": network.lat,
        "lon": network.lon,
    }
    for mode, g in network.graphs.items():
        arrays[f"{mode}_indptr"] = g.indptr
        arrays[f"{mode}_indices"] = g.indices
        arrays[f"{mode}_length_m"] = g.length_m.astype(np.float32)
        arrays[f"{mode}_nodes"] = g.nodes
        if g.time_s is not None:
            arrays[f"{mode}_time_s"] = g.time_s.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def load_network(path: Path) -> Network:
    """Read a .npz written by `save_network`; ValueError if it is not one."""
    with np.load(path, allow_pickle=False) as data:
        if "format" not in data or str(data["format"]) != NETWORK_FORMAT:
            raise ValueError(f"not a {NETWORK_FORMAT} file")
        if str(data["build_version"]) != BUILD_VERSION:
            raise ValueError("built by another carerota version: rebuild it with `geodata build`")
        graphs = {}
        for mode in (str(m) for m in data["modes"]):
            time_key = f"{mode}_time_s"
            graphs[mode] = ModeGraph(
                indptr=data[f"{mode}_indptr"],
                indices=data[f"{mode}_indices"],
                length_m=data[f"{mode}_length_m"].astype(np.float64),
                time_s=data[time_key].astype(np.float64) if time_key in data else None,
                nodes=data[f"{mode}_nodes"],
            )
        return Network(str(data["source_hash"]), data["node_id"], data["lat"], data["lon"], graphs)
