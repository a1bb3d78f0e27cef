"""A small OSM XML town generated in code: a street grid split by a river.

Rows 0..3 are the north bank, rows 4..7 the south bank; streets run along
every row and down every column on each bank. The only road bridge is at
column 0 (the west edge); a footbridge crosses in the middle column. Row 0 is
one-way eastbound. A footway cul-de-sac leads north from (0, 5) to a node no
car can reach. Two ways join (7, 0) and (7, 1): a fast road and a slow lane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

LAT0, LON0 = 53.9200, -1.8300
DLAT, DLON = 0.0009, 0.0015  # ~100 m both ways at this latitude
ROWS, COLS = 8, 9
MID = COLS // 2


def node_id(r: int, c: int) -> int:
    return 1000 + r * 100 + c


def at(r: float, c: float) -> tuple[float, float]:
    """(lat, lon) of grid position (row, column); rows go south."""
    return (LAT0 - r * DLAT, LON0 + c * DLON)


@dataclass
class Town:
    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)
    ways: list[tuple[list[int], dict[str, str]]] = field(default_factory=list)

    def way(self, refs: list[int], **tags: str) -> None:
        self.ways.append((refs, {k.replace("__", ":"): v for k, v in tags.items()}))

    def xml(self) -> str:
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        for nid, (lat, lon) in self.nodes.items():
            lines.append(f'  <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        for i, (refs, tags) in enumerate(self.ways):
            lines.append(f'  <way id="{50000 + i}">')
            lines.extend(f'    <nd ref="{r}"/>' for r in refs)
            lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            lines.append("  </way>")
        lines.append("</osm>")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path.write_text(self.xml(), encoding="utf-8")
        return path


FOOT_END = 9001  # reachable on foot only
RIVER_BANK_N, RIVER_BANK_S = 3, 4


def river_town() -> Town:
    town = Town()
    for r in range(ROWS):
        for c in range(COLS):
            town.nodes[node_id(r, c)] = at(r, c)
    for r in range(ROWS):
        tags = {"highway": "residential", "maxspeed": "30 mph"}
        if r == 0:
            tags["oneway"] = "yes"
        town.way([node_id(r, c) for c in range(COLS)], **tags)
    for c in range(COLS):
        town.way([node_id(r, c) for r in range(0, RIVER_BANK_N + 1)], highway="residential")
        town.way([node_id(r, c) for r in range(RIVER_BANK_S, ROWS)], highway="residential")
    town.way([node_id(RIVER_BANK_N, 0), node_id(RIVER_BANK_S, 0)], highway="tertiary",
             bridge="yes", maxspeed="30 mph")
    town.way([node_id(RIVER_BANK_N, MID), node_id(RIVER_BANK_S, MID)], highway="footway",
             bridge="yes")
    town.nodes[FOOT_END] = at(-1.5, 5)
    town.way([node_id(0, 5), FOOT_END], highway="footway")
    # A building outline: not a highway, so never part of any network.
    town.nodes[9100], town.nodes[9101] = at(5.5, 2.2), at(5.5, 2.4)
    town.way([9100, 9101, 9100], building="yes")
    # Parallel ways between the same two nodes: the faster must win.
    town.way([node_id(7, 0), node_id(7, 1)], highway="unclassified", maxspeed="5 mph")
    return town
