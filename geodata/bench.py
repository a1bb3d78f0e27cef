"""Benchmark: matrix build time on a synthetic city network (`python -m geodata.bench`).

A 200 x 200 street grid (~40k nodes, 80 m blocks, jittered) with arterial
roads every 10 streets, 10% one-way streets, 8% of blocks missing and a
footpath mesh, built through the same way rules as a real extract. Reports
network build time, drive (and walk) matrix time for 500 and 2,000 points,
peak memory (tracemalloc, which sees numpy's buffers) and the cache-hit time.
Not a test: it takes tens of seconds and wants a quiet machine.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from geodata.matrix import cached_mode_matrix
from geodata.network import Network, build_from_ways

log = logging.getLogger(__name__)


def synthetic_city(side: int = 200, block_m: float = 80.0, seed: int = 0) -> Network:
    """A city-sized grid network (side**2 nodes) with roads, one-ways and footpaths."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = 53.80, -1.55
    dlat = block_m / 111_195.0
    dlon = dlat / np.cos(np.radians(lat0))
    r, c = np.divmod(np.arange(side * side), side)
    lat = lat0 - r * dlat + rng.normal(0, dlat * 0.1, r.shape)
    lon = lon0 + c * dlon + rng.normal(0, dlon * 0.1, c.shape)
    ids = np.arange(side * side, dtype=np.int64) + 1

    def nid(row: int, col: int) -> int:
        return row * side + col + 1

    ways: list[tuple[list[int], dict[str, str]]] = []
    for line in range(side):
        arterial = line % 10 == 0
        for horizontal in (True, False):
            # Each street is cut into blocks so single blocks can be missing or one-way.
            for k in range(side - 1):
                a = nid(line, k) if horizontal else nid(k, line)
                b = nid(line, k + 1) if horizontal else nid(k + 1, line)
                if arterial:
                    ways.append(([a, b], {"highway": "primary", "maxspeed": "40 mph"}))
                    continue
                roll = rng.random()
                if roll < 0.08:
                    ways.append(([a, b], {"highway": "footway"}))
                elif roll < 0.18:
                    ways.append(([a, b], {"highway": "residential", "oneway": "yes"}))
                else:
                    ways.append(([a, b], {"highway": "residential"}))
    return build_from_ways(ids, lat, lon, ways, source_hash=f"synthetic-{side}-{seed}")


def _points(network: Network, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(network.lat.min(), network.lat.max(), n)
    lon = rng.uniform(network.lon.min(), network.lon.max(), n)
    return np.column_stack([lat, lon])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=200, help="grid side (nodes = side**2)")
    parser.add_argument("--points", default="500,2000", help="comma list of point counts")
    parser.add_argument("--modes", default="drive,walk")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    network = synthetic_city(args.side)
    print(f"network: {network.size} nodes, "
          + ", ".join(f"{m} {g.edges} edges" for m, g in sorted(network.graphs.items()))
          + f"; built in {time.perf_counter() - t0:.1f} s")
    speeds = {"drive": 30.0, "walk": 4.5, "cycle": 14.0}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for n in (int(x) for x in args.points.split(",")):
            coords = _points(network, n, seed=n)
            for mode in args.modes.split(","):
                tracemalloc.start()
                t0 = time.perf_counter()
                cached_mode_matrix(network, mode, coords, speeds[mode], 500.0, cache)
                built = time.perf_counter() - t0
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                t0 = time.perf_counter()
                cached_mode_matrix(network, mode, coords, speeds[mode], 500.0, cache)
                hit = time.perf_counter() - t0
                print(f"{n:>5} points {mode:>5}: {built:6.2f} s, peak {peak / 2**20:6.0f} MiB "
                      f"traced, cache hit {hit * 1000:6.1f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
