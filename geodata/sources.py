"""Read a network file (.osm XML, osmnx GraphML, Geofabrik .osm.pbf or our .npz).

OSM XML is read with a hand-written `xml.etree.iterparse` pass rather than
osmnx's `graph_from_xml`: osmnx would build a networkx MultiDiGraph of Python
dicts for every way (and needs geopandas, ~1.5 s just to import here) only for
us to filter ways per mode afterwards anyway, since it applies no mode filter
to XML. Streaming ways straight into arrays keeps the per-mode rules in one
place (`geodata.rules`) for XML, GraphML and PBF alike, and memory at the size
of the arrays.

Networks built from a source file are cached on disk by the file's hash, so a
problem that names `town.osm` parses it once.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from geodata.cache import cache_dir
from geodata.network import (
    BUILD_VERSION,
    Network,
    build_from_edges,
    build_from_ways,
    file_hash,
    load_network,
    save_network,
)
from geodata.rules import MODES

log = logging.getLogger(__name__)


class NetworkFileError(ValueError):
    """A network file is missing, unreadable or holds no usable way (message says which)."""


def kind_of(path: Path) -> str:
    """'osm', 'graphml', 'pbf' or 'npz' from the file name."""
    name = path.name.lower()
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith(".npz"):
        return "npz"
    return "osm"


def read_osm_xml(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                      list[tuple[list[int], dict[str, str]]]]:
    """(node ids, lats, lons, highway ways) of an OSM XML file, streamed."""
    ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    ways: list[tuple[list[int], dict[str, str]]] = []
    context = ET.iterparse(str(path), events=("end",))
    for _, elem in context:
        tag = elem.tag
        if tag == "node":
            ids.append(int(elem.attrib["id"]))
            lats.append(float(elem.attrib["lat"]))
            lons.append(float(elem.attrib["lon"]))
            elem.clear()
        elif tag == "way":
            tags = {t.attrib["k"]: t.attrib["v"] for t in elem.iter("tag")}
            if "highway" in tags:
                ways.append(([int(nd.attrib["ref"]) for nd in elem.iter("nd")], tags))
            elem.clear()
        elif tag == "relation":
            elem.clear()
    node_ids = np.asarray(ids, dtype=np.int64)
    lat = np.asarray(lats, dtype=np.float64)
    lon = np.asarray(lons, dtype=np.float64)
    # Keep only nodes some highway uses: buildings and POIs are most of a real extract.
    used = np.unique(np.fromiter((r for refs, _ in ways for r in refs), dtype=np.int64))
    keep = np.isin(node_ids, used)
    return node_ids[keep], lat[keep], lon[keep], ways


def _graphml_edges(graph) -> Iterator[tuple[int, int, Mapping[str, object]]]:
    for u, v, data in graph.edges(data=True):
        yield int(u), int(v), data


def read_graphml(path: Path, source_hash: str, modes: Sequence[str]) -> Network:
    """An osmnx-saved GraphML (node attrs x/y, edge tags) read with networkx."""
    try:
        import networkx as nx
    except ImportError as exc:  # pragma: no cover - networkx comes with the osm extra
        raise NetworkFileError("GraphML needs networkx: pip install 'carerota[osm]'") from exc
    graph = nx.read_graphml(path)
    nodes = list(graph.nodes(data=True))
    node_ids = np.array([int(n) for n, _ in nodes], dtype=np.int64)
    lat = np.array([float(d["y"]) for _, d in nodes], dtype=np.float64)
    lon = np.array([float(d["x"]) for _, d in nodes], dtype=np.float64)
    return build_from_edges(node_ids, lat, lon, _graphml_edges(graph), source_hash, modes)


PBF_TAGS = ("highway", "oneway", "maxspeed", "access", "foot", "bicycle", "motor_vehicle",
            "motorcar", "vehicle", "service", "junction", "area", "oneway:bicycle", "cycleway")


def read_pbf(path: Path, source_hash: str, modes: Sequence[str]) -> Network:
    """A Geofabrik .osm.pbf through pyrosm (osmnx cannot read PBF)."""
    try:
        from pyrosm import OSM
    except ImportError as exc:
        raise NetworkFileError(
            "reading .osm.pbf needs pyrosm: pip install pyrosm (or 'carerota[osm]'); "
            "alternatively convert it to .osm XML with osmium and use --osm"
        ) from exc
    nodes, edges = OSM(str(path)).get_network(network_type="all", nodes=True)
    if edges is None or len(edges) == 0:
        raise NetworkFileError("no highway ways in the PBF file")
    node_ids = nodes["id"].to_numpy(dtype=np.int64)
    lat = nodes["lat"].to_numpy(dtype=np.float64)
    lon = nodes["lon"].to_numpy(dtype=np.float64)
    columns = [c for c in PBF_TAGS if c in edges.columns]
    table = edges[["u", "v", *columns]].to_dict("records")
    # pyrosm yields one row per way segment in the way's node order: a 2-node way.
    ways = (([int(r["u"]), int(r["v"])], {c: r[c] for c in columns if r[c] is not None})
            for r in table)
    return build_from_ways(node_ids, lat, lon, ways, source_hash, modes)


def build_network(path: Path, modes: Sequence[str] = MODES) -> Network:
    """Parse a source file (not .npz) into a Network; NetworkFileError if it cannot."""
    if not path.exists():
        raise NetworkFileError(f"file not found: {path}")
    kind = kind_of(path)
    digest = file_hash(path)
    try:
        if kind == "pbf":
            network = read_pbf(path, digest, modes)
        elif kind == "graphml":
            network = read_graphml(path, digest, modes)
        else:
            node_ids, lat, lon, ways = read_osm_xml(path)
            network = build_from_ways(node_ids, lat, lon, ways, digest, modes)
    except NetworkFileError:
        raise
    except (ET.ParseError, OSError, ValueError, KeyError, TypeError) as exc:
        raise NetworkFileError(f"cannot read {path} as {kind.upper()}: {exc}") from exc
    if all(g.edges == 0 for g in network.graphs.values()):
        raise NetworkFileError(f"no usable highway in {path}")
    return network


def open_network(path: Path) -> Network:
    """The network of a .npz, or of a source file through the on-disk cache."""
    if not path.exists():
        raise NetworkFileError(f"file not found: {path}")
    if not os.access(path, os.R_OK) or path.is_dir():
        raise NetworkFileError(f"cannot read {path}")
    if kind_of(path) == "npz":
        try:
            return load_network(path)
        except (OSError, ValueError, KeyError) as exc:
            raise NetworkFileError(f"cannot read {path} as a carerota network: {exc}") from exc
    cached = cache_dir() / f"network-{file_hash(path)}-{BUILD_VERSION}.npz"
    if cached.exists():
        try:
            return load_network(cached)
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable cached network %s", cached)
    network = build_network(path)
    try:
        save_network(network, cached)
    except OSError as exc:
        log.warning("could not cache the network in %s: %s", cached.parent, exc)
    return network
