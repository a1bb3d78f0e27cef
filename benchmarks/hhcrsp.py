"""Mankowska, Meisel & Bierwirth (2014) HHCRSP instances: reader and evaluator.

The set (published data, never committed here) lives in a folder given by
`--data` (default ../shared/benchmarks/mankowska-2014); its README documents
the text format and the objective this module implements:

    cost = (D + T + Tmax) / 3

with D the total float distance of all routes (depot to depot), T the
tardiness summed per (patient, service) pair and Tmax its maximum. The
evaluator is independent of carerota's model: it reads a solution in the
JSON shape of the published `best-solutions-ceschia2024/` files and checks
every hard rule of the set before pricing it, so our solutions are scored
exactly as the literature scores its own.

Naming: node indices are the text file's (0 = depot, 1..n = patients), staff
and services are 0-based in memory; the JSON shape names them `pK` (node K),
`cK` (staff K-1) and `sK` (service K-1).
"""

from __future__ import annotations

import csv
import gzip
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KEYWORDS = ("nbNodes", "nbVehi", "nbServi", "r", "DS", "a", "x", "y", "d", "p", "mind", "maxd",
            "e", "l")
#: Feasibility tolerance (minutes) for solution files whose times are rounded to 3 decimals.
TOLERANCE = 1e-3
PUBLISHED_AT = (
    "Mankowska, Meisel & Bierwirth (2014), Health Care Management Science 17:15-30, "
    "doi:10.1007/s10729-013-9243-1; mirrored on GitHub in afkummer/gecco2020-brkga "
    "(instances-HHCRSP/) with best solutions in iolab-uniud/hhcrsp (solutions/mankowska/)"
)


class HhcrspFormatError(ValueError):
    """An instance or solution file does not follow the set's format."""


@dataclass(frozen=True)
class HhcrspInstance:
    """One instance in the set's own terms (float minutes, 0-based indices).

    `distance[i][j]` is both the distance and the travel time; `earliest` and
    `latest` bound the START of service (`latest` is soft: lateness is
    tardiness). Double-service patients need two services s1 < s2, done by
    two different staff members: together when `min_gap == max_gap == 0`,
    otherwise s2 starts `min_gap..max_gap` minutes after s1.
    """

    name: str
    n_nodes: int
    n_staff: int
    n_services: int
    requires: tuple[tuple[int, ...], ...]
    double: frozenset[int]
    qualified: tuple[frozenset[int], ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    distance: np.ndarray = field(repr=False)
    processing: np.ndarray = field(repr=False)
    min_gap: tuple[float, ...]
    max_gap: tuple[float, ...]
    earliest: tuple[float, ...]
    latest: tuple[float, ...]

    @property
    def patients(self) -> range:
        return range(1, self.n_nodes - 1)

    @property
    def end_depot(self) -> int:
        return self.n_nodes - 1

    def services(self) -> list[tuple[int, int]]:
        """Every required (patient, service) pair, in node then service order."""
        return [(i, s) for i in self.patients for s in self.requires[i]]

    def duration(self, node: int, staff: int, service: int) -> float:
        return float(self.processing[node, staff, service])

    def synchronised(self, node: int) -> bool:
        return self.min_gap[node] == 0 and self.max_gap[node] == 0


def instance_name(path: Path) -> str:
    """File name without `.txt` / `.txt.gz` (the name solution files use)."""
    name = path.name
    for suffix in (".gz", ".txt"):
        name = name.removesuffix(suffix)
    return name


def _blocks(text: str, source: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        token = line.strip()
        if not token:
            continue
        if token in KEYWORDS:
            current = token
            blocks[current] = []
        elif current is None:
            raise HhcrspFormatError(f"{source}: data before the first keyword: {token[:40]!r}")
        else:
            blocks[current].extend(token.split())
    missing = [k for k in KEYWORDS if k not in blocks]
    if missing:
        raise HhcrspFormatError(f"{source}: missing block(s) {', '.join(missing)}")
    return blocks


def _numbers(blocks: dict[str, list[str]], key: str, count: int, source: str) -> list[float]:
    raw = blocks[key]
    if len(raw) != count:
        raise HhcrspFormatError(f"{source}: block {key!r} has {len(raw)} numbers, expected {count}")
    try:
        return [float(v) for v in raw]
    except ValueError as exc:
        raise HhcrspFormatError(f"{source}: block {key!r}: {exc}") from exc


def parse_instance(text: str, name: str = "instance") -> HhcrspInstance:
    """Parse the set's whitespace-separated text format (see its README)."""
    blocks = _blocks(text, name)
    n, v, s = (int(_numbers(blocks, k, 1, name)[0]) for k in ("nbNodes", "nbVehi", "nbServi"))
    if n < 3 or v < 1 or s < 1:
        raise HhcrspFormatError(f"{name}: nbNodes={n}, nbVehi={v}, nbServi={s} is not an instance")
    r = np.array(_numbers(blocks, "r", n * s, name)).reshape(n, s)
    a = np.array(_numbers(blocks, "a", v * s, name)).reshape(v, s)
    requires = tuple(tuple(int(k) for k in np.flatnonzero(row)) for row in r)
    double = frozenset(int(x) - 1 for x in _numbers(blocks, "DS", len(blocks["DS"]), name))
    for i in (i for i in range(1, n - 1) if len(requires[i]) not in (1, 2)):
        raise HhcrspFormatError(f"{name}: patient node {i} needs {len(requires[i])} services")
    for i in double:
        if not 1 <= i <= n - 2 or len(requires[i]) != 2:
            raise HhcrspFormatError(f"{name}: DS lists node {i} (1-based {i + 1}), which does not "
                                    "need two services")
    return HhcrspInstance(
        name=name, n_nodes=n, n_staff=v, n_services=s, requires=requires, double=double,
        qualified=tuple(frozenset(int(k) for k in np.flatnonzero(row)) for row in a),
        x=tuple(_numbers(blocks, "x", n, name)), y=tuple(_numbers(blocks, "y", n, name)),
        distance=np.array(_numbers(blocks, "d", n * n, name)).reshape(n, n),
        processing=np.array(_numbers(blocks, "p", n * v * s, name)).reshape(n, v, s),
        min_gap=tuple(_numbers(blocks, "mind", n, name)),
        max_gap=tuple(_numbers(blocks, "maxd", n, name)),
        earliest=tuple(_numbers(blocks, "e", n, name)),
        latest=tuple(_numbers(blocks, "l", n, name)),
    )


def read_instance(path: Path) -> HhcrspInstance:
    """Read a `.txt` or gzipped `.txt.gz` instance file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise HhcrspFormatError(f"cannot read {path}: {exc}") from exc
    return parse_instance(text, instance_name(path))


# --- best-known values ---------------------------------------------------------


@dataclass(frozen=True)
class KnownResult:
    """A row of the set's `bks.csv`: where an instance's file is and its best-known cost.

    bks: the best cost reported by any source (rounded to 0.1 in the literature);
    verified: the cost of the published solution file (Ceschia et al. 2024).
    """

    code: str
    instance: str
    patients: int
    bks: float | None
    verified: float | None
    lower_bound: float | None
    solution_file: str | None


def read_bks(path: Path) -> dict[str, KnownResult]:
    """Rows of `bks.csv` by code (A1..G10), in file order."""

    def num(text: str) -> float | None:
        try:
            return float(text)
        except (TypeError, ValueError):
            return None

    rows: dict[str, KnownResult] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["code"]] = KnownResult(
                code=row["code"], instance=row["instance"], patients=int(row["patients"]),
                bks=num(row.get("bks_reported", "")), verified=num(row.get("bks_verified", "")),
                lower_bound=num(row.get("LB_best", "")),
                solution_file=row.get("ceschia2024_solution_file") or None,
            )
    return rows


def instance_path(data: Path, instance: str) -> Path:
    """The instance file for a name from `bks.csv` (`.txt` or `.txt.gz`)."""
    for suffix in (".txt", ".txt.gz"):
        candidate = data / "instances" / f"{instance}{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no instance file {instance}.txt(.gz) under {data / 'instances'}")


# --- evaluation ------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A solution priced in the set's objective, with every broken hard rule."""

    distance: float
    total_tardiness: float
    max_tardiness: float
    violations: tuple[str, ...]

    @property
    def cost(self) -> float:
        return (self.distance + self.total_tardiness + self.max_tardiness) / 3

    @property
    def feasible(self) -> bool:
        return not self.violations


def _index(text: Any, prefix: str, what: str) -> int:
    if not isinstance(text, str) or not text.startswith(prefix) or not text[1:].isdigit():
        raise HhcrspFormatError(f"{what} {text!r} is not {prefix}<number>")
    return int(text[1:])


def parse_routes(
    inst: HhcrspInstance, solution: Mapping[str, Any]
) -> dict[int, list[tuple[int, int, float]]]:
    """staff -> [(node, service, start)] from the published JSON shape."""
    routes: dict[int, list[tuple[int, int, float]]] = {}
    raw = solution.get("routes")
    if not isinstance(raw, list):
        raise HhcrspFormatError("solution: 'routes' must be a list")
    for ri, route in enumerate(raw):
        staff = _index(route.get("caregiver_id"), "c", f"routes[{ri}].caregiver_id") - 1
        if not 0 <= staff < inst.n_staff:
            raise HhcrspFormatError(f"routes[{ri}].caregiver_id: no staff member c{staff + 1}")
        if staff in routes:
            raise HhcrspFormatError(f"routes[{ri}]: c{staff + 1} has two routes")
        stops = []
        for li, loc in enumerate(route.get("locations") or []):
            where = f"routes[{ri}].locations[{li}]"
            node = _index(loc.get("patient"), "p", f"{where}.patient")
            service = _index(loc.get("service"), "s", f"{where}.service") - 1
            if node not in inst.patients or not 0 <= service < inst.n_services:
                raise HhcrspFormatError(f"{where}: no patient/service {loc.get('patient')}/"
                                        f"{loc.get('service')}")
            try:
                start = float(loc["arrival_time"])
            except (KeyError, TypeError, ValueError) as exc:
                raise HhcrspFormatError(f"{where}.arrival_time: missing or not a number") from exc
            stops.append((node, service, start))
        routes[staff] = stops
    return routes


def evaluate(
    inst: HhcrspInstance, solution: Mapping[str, Any], tol: float = TOLERANCE
) -> Evaluation:
    """Check and price a solution (JSON shape of `best-solutions-ceschia2024/`)."""
    routes = parse_routes(inst, solution)
    bad: list[str] = []
    d = inst.distance
    distance = 0.0
    served: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for staff, stops in sorted(routes.items()):
        where, ready = 0, 0.0
        for node, service, start in stops:
            served[node, service].append((staff, start))
            if service not in inst.qualified[staff]:
                bad.append(f"c{staff + 1} is not qualified for s{service + 1} at p{node}")
            if service not in inst.requires[node]:
                bad.append(f"p{node} does not need s{service + 1}")
            arrive = ready + d[where, node]
            if start < arrive - tol:
                bad.append(f"c{staff + 1} starts p{node}/s{service + 1} at {start:.3f} but cannot "
                           f"arrive before {arrive:.3f}")
            if start < inst.earliest[node] - tol:
                bad.append(f"p{node}/s{service + 1} starts at {start:.3f}, before its window opens "
                           f"at {inst.earliest[node]:g}")
            distance += d[where, node]
            where, ready = node, start + inst.duration(node, staff, service)
        if stops:
            distance += d[where, inst.end_depot]
    tardiness: list[float] = []
    for node, service in inst.services():
        done = served.get((node, service), [])
        if len(done) != 1:
            bad.append(f"p{node}/s{service + 1} is served {len(done)} times, not once")
        if done:
            tardiness.append(max(0.0, done[0][1] - inst.latest[node]))
    bad.extend(_double_service_errors(inst, served, tol))
    return Evaluation(distance=distance, total_tardiness=sum(tardiness),
                      max_tardiness=max(tardiness, default=0.0), violations=tuple(bad))


def _double_service_errors(
    inst: HhcrspInstance, served: Mapping[tuple[int, int], list[tuple[int, float]]], tol: float
) -> Iterable[str]:
    for node in sorted(inst.double):
        s1, s2 = inst.requires[node]
        if not served.get((node, s1)) or not served.get((node, s2)):
            continue
        (v1, t1), (v2, t2) = served[node, s1][0], served[node, s2][0]
        if v1 == v2:
            yield f"p{node}: both services by the same staff member c{v1 + 1}"
        gap = t2 - t1
        lo, hi = inst.min_gap[node], inst.max_gap[node]
        if not lo - tol <= gap <= hi + tol:
            kind = "synchronised" if inst.synchronised(node) else "precedence"
            yield (f"p{node}: s{s2 + 1} starts {gap:.3f} after s{s1 + 1}; the {kind} rule needs "
                   f"{lo:g}..{hi:g}")


def published_cost(solution: Mapping[str, Any]) -> float | None:
    """The cost a published solution file states about itself, when it does."""
    for key in ("total_cost", "cost", "objective"):
        value = solution.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None
